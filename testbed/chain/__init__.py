"""The monitoring chain on loopback, for the end-to-end test (tests/system/test_e2e.py).

- metrics_target: a fake kubelet (cAdvisor) and kube-state-metrics whose pods' CPU
  usage the test sets over time;
- configs: the shipped monitoring files, rewritten only where a test needs seconds
  instead of minutes, each rewrite explicit and counted;
- chain: Prometheus, Alertmanager and the function wired together, and a diagnosis
  that names the first broken link when a pod does not get its label.
"""
