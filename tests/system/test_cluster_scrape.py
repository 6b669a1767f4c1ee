"""We test these aspects: kube-state-metrics (built from the Go module proxy, pinned) on the
real test apiserver, and Prometheus finding its targets through Kubernetes service discovery
against that apiserver, with kube-prometheus' job names and relabelling
(testbed/chain/configs.py, kubernetes_scrape_configs), validated by promtool.

- kube-state-metrics exports the CPU limit of a pod created on the apiserver, and Prometheus
  scrapes it under job="kube-state-metrics";
- Prometheus (2.53, built from the Go module proxy: Debian's has no Kubernetes service
  discovery) finds the kubelet through the Node object (its address and kubelet port as the
  API reports them) and scrapes both /metrics/cadvisor and /metrics/resource under
  job="kubelet", each labelled with its metrics_path; the shipped recording rule, fed the
  real kube-state-metrics limit, reads the pod at its true percentage, not twice it;
- Prometheus finds the function's pod through pod discovery (label
  app.kubernetes.io/name=cpu-alert-labeler, port http1, as monitoring/podmonitor.yaml
  asks) and scrapes the real function server's /metrics, labelled as the operator would.

No kubelet runs here (the node tier brings a real one): the Node object points at a
stand-in kubelet (testbed/chain/metrics_target.py), and the function pod's status is set to
Running on 127.0.0.1, where the real function listens, so the API describes them as a
kubelet would.  Every wait is bounded and is no speed claim.
"""

import json
import secrets
import subprocess
import urllib.request
import uuid
from datetime import datetime, timezone

import pytest

from testbed.chain import builds, configs
from testbed.chain.loopback import Function, Prometheus, wait_for
from testbed.chain.metrics_target import MetricsTarget
from testbed.net import free_port
from testbed.process import Process
from testbed.tools import require

KSM_VERSION = builds.KSM_VERSION
KUBE_STATE_METRICS = builds.kube_state_metrics()
# Debian's prometheus has no Kubernetes service discovery: this one is built with it.
PROMETHEUS = builds.prometheus()
PROMTOOL = builds.promtool()  # Debian's cannot read kubernetes_sd_configs either
SCRAPE_TIMEOUT = 60.0  # service discovery and the first scrapes take a few seconds


def expect(apiserver, status: int, method: str, path: str, body: object = None,
           content_type: str = "application/json") -> dict:
    code, doc = apiserver.request(method, path, body, content_type=content_type)
    assert code == status, f"{method} {path}: {code} {doc.get('message', doc)}"
    return doc


def run_on_loopback(apiserver, namespace: str, pod: str) -> None:
    """Set the pod's status as a kubelet would for a pod running at 127.0.0.1."""
    expect(apiserver, 200, "PATCH", f"/api/v1/namespaces/{namespace}/pods/{pod}/status",
           {"status": {"phase": "Running", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]}},
           content_type="application/merge-patch+json")


def create_node(apiserver, name: str, kubelet_port: int) -> None:
    """A Node whose kubelet, by the API's account, listens on 127.0.0.1:kubelet_port."""
    expect(apiserver, 201, "POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
    expect(apiserver, 200, "PATCH", f"/api/v1/nodes/{name}/status", {"status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}}}},
        content_type="application/merge-patch+json")


def notify(url: str, token: str, namespace: str, pod: str) -> None:
    """One Alertmanager-shaped webhook with a firing PodCpuFailure for the pod, answered 200."""
    body = {"version": "4", "status": "firing", "receiver": "cpu-alert-labeler", "groupKey": "test",
            "alerts": [{"status": "firing", "labels": {"alertname": "PodCpuFailure", "namespace": namespace,
                                                         "pod": pod, "severity": "critical"},
                        "annotations": {"cpu_usage": "90.0"},
                        "startsAt": datetime.now(timezone.utc).isoformat()}]}
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200


@pytest.fixture
def cluster(apiserver, namespace, tmp_path):
    """kube-state-metrics, a stand-in kubelet, the function and Prometheus around the test apiserver."""
    require(KUBE_STATE_METRICS.exists(), f"{KUBE_STATE_METRICS} (make kube-state-metrics)")
    require(PROMETHEUS.exists() and PROMTOOL.exists(), f"{PROMETHEUS} and promtool (make prometheus)")
    node = f"node-{uuid.uuid4().hex[:6]}"
    target = MetricsTarget().start()
    started = []
    try:
        create_node(apiserver, node, int(target.address.rsplit(":", 1)[1]))
        ksm_port = free_port()
        ksm = Process("kube-state-metrics", [
            str(KUBE_STATE_METRICS), f"--kubeconfig={apiserver.kubeconfig()}", "--resources=pods,nodes",
            "--host=127.0.0.1", f"--port={ksm_port}", "--telemetry-host=127.0.0.1",
            f"--telemetry-port={free_port()}"], tmp_path)
        started.append(ksm)
        ksm.wait_ready(f"http://127.0.0.1:{ksm_port}/healthz", 60)
        token = secrets.token_hex(16)
        function = Function(tmp_path, apiserver.kubeconfig(), token)
        started.append(function.process)
        token_file = tmp_path / "sd-token"
        token_file.write_text(apiserver.users["admin"][0])
        jobs = configs.kubernetes_scrape_configs(
            api_server=apiserver.url, ca_file=apiserver.dir / "ca.crt", token_file=token_file,
            kube_state_metrics=f"127.0.0.1:{ksm_port}", function_namespace=namespace, kubelet_scheme="http")

        def build(rules):
            return configs.cluster_prometheus(rules_file=rules, alertmanager=None, scrape_configs=jobs)

        prometheus = Prometheus(tmp_path, str(PROMETHEUS), target.address, None, build=build)
        started.append(prometheus.process)
        check = subprocess.run([str(PROMTOOL), "check", "config", str(prometheus.config)], capture_output=True,
                               text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        yield target, function, token, prometheus, ksm
    finally:
        for process in reversed(started):
            process.stop()
        target.stop()
        apiserver.request("DELETE", f"/api/v1/nodes/{node}")


def test_kube_state_metrics_and_service_discovery_feed_the_rule(apiserver, namespace, cluster):
    """Real kube-state-metrics limits, the kubelet found through its Node, the function found through
    its pod: every target up under kube-prometheus' job names, and the pod read at 90%, not 180%."""
    target, function, token, prometheus, ksm = cluster
    # A workload pod with a 500m CPU limit, burning 90% of it by the stand-in kubelet's account.
    expect(apiserver, 201, "POST", f"/api/v1/namespaces/{namespace}/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "burner"},
        "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1",
                                 "resources": {"limits": {"cpu": "500m"}}}]}})
    target.add_pod(namespace, "burner", {"app": 0.5}, percent=90)
    # The function's pod, as deploy/ runs it: its label and named port, at the real server's port.
    port = int(function.url.rstrip("/").rsplit(":", 1)[1])
    expect(apiserver, 201, "POST", f"/api/v1/namespaces/{namespace}/pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "cpu-alert-labeler-0", "labels": {"app.kubernetes.io/name": "cpu-alert-labeler"}},
        "spec": {"containers": [{"name": "cpu-alert-labeler", "image": "registry.invalid/fn:1",
                                 "ports": [{"name": "http1", "containerPort": port}]}]}})
    run_on_loopback(apiserver, namespace, "cpu-alert-labeler-0")
    # One webhook, so the function's counters have series to show (and the pod its label).
    notify(function.url, token, namespace, "burner")
    assert apiserver.get_pod(namespace, "burner")["metadata"]["labels"].get("status") == "panne"

    def up() -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for r in prometheus.query("up"):
            found.setdefault(r["metric"]["job"], []).append(r["value"][1])
        return found

    wanted = {"kubelet": ["1", "1"], "kube-state-metrics": ["1"], "cpu-alert-labeler/cpu-alert-labeler": ["1"]}
    limit_query = f'kube_pod_container_resource_limits{{namespace="{namespace}", pod="burner", resource="cpu"}}'
    record_query = f'namespace_pod:cpu_usage_percent_of_limit:rate5m{{namespace="{namespace}", pod="burner"}}'

    def explain() -> str:
        return (f"up: {up()}\nlimit: {prometheus.query(limit_query)}\nrecord: {prometheus.query(record_query)}\n"
                + "\n".join(p.tail() for p in (prometheus.process, ksm, function.process)))

    wait_for(lambda: up() == wanted, SCRAPE_TIMEOUT, explain)
    # kube-state-metrics' target can be up before its informer has seen the pod: a scrape
    # later, the limit is there.
    wait_for(lambda: len(prometheus.query(limit_query)) == 1, SCRAPE_TIMEOUT, explain)
    (limit,) = prometheus.query(limit_query)
    assert float(limit["value"][1]) == 0.5 and limit["metric"]["job"] == "kube-state-metrics", explain()
    paths = {r["metric"]["metrics_path"] for r in prometheus.query(
        f'container_cpu_usage_seconds_total{{namespace="{namespace}", pod="burner", job="kubelet"}}')}
    assert paths == {"/metrics/cadvisor", "/metrics/resource"}, explain()
    # The rate window (10s here) fills within a few scrapes; until then the value reads low.
    wait_for(lambda: any(80 <= float(r["value"][1]) <= 100 for r in prometheus.query(record_query)),
             SCRAPE_TIMEOUT, explain)
    scraped = prometheus.query('up{job="cpu-alert-labeler/cpu-alert-labeler"}')
    assert {(r["metric"]["namespace"], r["metric"]["pod"], r["metric"]["container"]) for r in scraped} == {
        (namespace, "cpu-alert-labeler-0", "cpu-alert-labeler")}
    received = f'cpu_alert_labeler_alerts_received_total{{job="cpu-alert-labeler/cpu-alert-labeler", namespace="{namespace}"}}'
    wait_for(lambda: sum(float(r["value"][1]) for r in prometheus.query(received)) >= 1, SCRAPE_TIMEOUT, explain)
    (record,) = prometheus.query(record_query)
    print(f"\nkube-state-metrics {KSM_VERSION}: limit {limit['value'][1]} cores; targets up {up()}; "
          f"recorded {float(record['value'][1]):.1f}% of the limit (stand-in usage 90%)")
