"""The shipped monitoring files, rewritten for a test that runs in seconds, not hours.

The end-to-end test must run the very rules and route that users apply, so each
builder starts from the file in monitoring/ and changes only durations and
addresses, with one explicit substitution per change.  Every substitution states
how often it must match: if the shipped file changes shape, the test fails here,
naming the substitution, rather than silently testing something else.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "monitoring" / "prometheus-rules.yml"
ALERTMANAGER = ROOT / "monitoring" / "alertmanager.yml"
# kube-prometheus-stack's default Alertmanager configuration (the file says where from).
KUBE_PROMETHEUS_STACK = ROOT / "tests" / "fixtures" / "kube-prometheus-stack-alertmanager.yml"
RECEIVER = "cpu-alert-labeler"

# Prometheus scrapes and evaluates every second, so the test's durations follow.
INTERVAL = "1s"
# `for:` and `keep_firing_for:` (2m shipped) become 2 evaluations.  Both get the same
# value, as the shipped file requires (an upper alert resolves in the evaluation in which
# PodCpuNormal fires; between the two upper alerts, which are cumulative, the warning
# fires throughout, so no handover depends on this timing).
HOLD = "2s"
# The rate window (5m shipped, 5-10 scrapes at the usual 30s-1m scrape interval)
# becomes 10 scrapes at 1s: the same ratio, so a missed scrape still leaves a value.
RATE_WINDOW = "10s"
# Alertmanager's route (10s / 1m / 1h shipped): a new group goes out after 1s, a
# change within 1s, and an unchanged state is re-sent every 10s, so the test also
# sees re-sends, which the function must take as no-ops.
GROUP_WAIT, GROUP_INTERVAL, REPEAT_INTERVAL = "1s", "1s", "10s"


@dataclass(frozen=True)
class Pace:
    """Every duration a test rewrites, as Prometheus and Alertmanager spell them ("10s")."""

    scrape: str = INTERVAL
    """Scrape interval (and timeout): how often each target is read."""
    evaluation: str = INTERVAL
    """Rule evaluation interval."""
    hold: str = HOLD
    """`for:` and `keep_firing_for:` of the three alerts (always equal, see the rules file)."""
    rate_window: str = RATE_WINDOW
    """The recording rule's rate() window: must always hold two samples of the counter."""
    group_wait: str = GROUP_WAIT
    group_interval: str = GROUP_INTERVAL
    repeat_interval: str = REPEAT_INTERVAL


LOOPBACK = Pace()
"""The stand-in target's pace (above): it serves a fresh value at every 1s scrape."""
CADVISOR = Pace(
    scrape="2s",
    evaluation="2s",
    hold="4s",
    rate_window="20s",
    group_wait="1s",
    group_interval="1s",
    repeat_interval="15s",
)
"""A real kubelet's pace, on the test node.  Its cAdvisor exports each value with the
timestamp of the sample it took, so what a rate() window holds depends on how often
cAdvisor samples: every 10-20 s by default (housekeeping, jittered), every 1-2 s on the
test node (testbed/clusters/node/kubelet.py says why).  Scraped every 2 s, a 20 s window holds
about ten samples, as the shipped 5m does at the defaults; with the default sampling, 30 s
and 45 s windows (two or three samples) read a pod at 90% as low as 62% at times, because
rate() extrapolates a sparse window only part of the way to its edges.  `for:` 4s is two
evaluations.  An unchanged state is re-sent every 15 s, so a label lost to a fault is
written back within that."""


def substitute(text: str, pattern: str, replacement: str, count: int, source: Path) -> str:
    """re.subn over lines, failing unless `pattern` matched exactly `count` times."""
    result, found = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    if found != count:
        raise AssertionError(
            f"{source.name}: {pattern!r} matched {found} times, expected {count}: "
            f"the shipped file changed; update testbed/chain/configs.py"
        )
    return result


def rules(pace: Pace = LOOPBACK) -> str:
    """monitoring/prometheus-rules.yml with `for:`, `keep_firing_for:` and the rate window shortened."""
    text = RULES.read_text()
    # Only the labeling group: the chain has no use for the alerts on the function itself,
    # whose windows are hours.
    text = substitute(text, r"^  # The function watches itself[\s\S]*", "", 1, RULES)
    # The three alerts: `for: 2m` -> `for: 2s`.
    text = substitute(text, r"^(\s+for: )\S+$", rf"\g<1>{pace.hold}", 3, RULES)
    # The three alerts: `keep_firing_for: 2m` -> `keep_firing_for: 2s`.
    text = substitute(text, r"^(\s+keep_firing_for: )\S+$", rf"\g<1>{pace.hold}", 3, RULES)
    # The recording rule's `rate(...[5m])` -> `[10s]`.  Without it the percentage
    # would take minutes to follow a change.  The rule's name (…:rate5m) stays.
    return substitute(text, r"\[5m\]", f"[{pace.rate_window}]", 1, RULES)


def prometheus(*, rules_file: Path, target: str, alertmanager: str) -> str:
    """A Prometheus configuration: the metrics target scraped as kube-prometheus would, the rules, one Alertmanager."""
    config = {
        "global": {"scrape_interval": INTERVAL, "scrape_timeout": INTERVAL, "evaluation_interval": INTERVAL},
        "rule_files": [str(rules_file)],
        "alerting": {
            "alertmanagers": [{"api_version": "v2", "static_configs": [{"targets": [alertmanager]}]}]
        },
        "scrape_configs": scrape_configs(target),
    }
    return json.dumps(config, indent=1)  # JSON is YAML


def _job(name: str, job: str, path: str, target: str, *, instance: str | None = None) -> dict:
    """One scrape of `path` whose series carry kube-prometheus' labels: `job`, and `metrics_path`
    as its kubelet ServiceMonitor adds it (from __metrics_path__)."""
    relabel = [
        {"target_label": "job", "replacement": job},
        {"source_labels": ["__metrics_path__"], "target_label": "metrics_path"},
    ]
    if instance:
        relabel.append({"target_label": "instance", "replacement": instance})
    return {
        "job_name": name,
        "metrics_path": path,
        "honor_labels": True,
        "static_configs": [{"targets": [target]}],
        "relabel_configs": relabel,
    }


def scrape_configs(target: str) -> list[dict]:
    """The stand-in scraped as kube-prometheus scrapes a cluster, with the traps the rule must avoid.

    The kubelet job scrapes both /metrics/cadvisor and /metrics/resource (same metric name:
    counted twice without the rule's `metrics_path` matcher), and kube-state-metrics is
    scraped as two replicas (each limit twice: halved without the rule's `max by`).
    `honor_labels` as kube-prometheus sets it for both: the exporters' own `namespace`
    and `pod` labels are the ones that count.
    """
    return [
        _job("kubelet-cadvisor", "kubelet", "/metrics/cadvisor", target),
        _job("kubelet-resource", "kubelet", "/metrics/resource", target),
        _job("kube-state-metrics-0", "kube-state-metrics", "/metrics", target, instance="ksm-0"),
        _job("kube-state-metrics-1", "kube-state-metrics", "/metrics", target, instance="ksm-1"),
    ]


ROUTES = 2  # routes with timers: ours, and its child for PodCpuNormal


def alertmanager(
    *,
    url: str,
    token_file: Path,
    pace: Pace = LOOPBACK,
    scale: float | None = None,
    source: Path = ALERTMANAGER,
) -> str:
    """monitoring/alertmanager.yml pointed at the function's `url`, with seconds-long timers:
    `pace`'s on both routes, or with `scale` every shipped timer divided by it (each route
    keeps its own, in the same proportions).  `source`: another file of the same shape
    (an earlier design, with one route only, for a before/after figure)."""
    text = source.read_text()
    routes = ROUTES if source == ALERTMANAGER else max(1, len(re.findall(r"^\s+group_wait: ", text, re.M)))
    # The function's address: the Knative cluster-local URL -> the function on loopback.
    text = substitute(text, r"^(\s+- url: )\S+$", rf"\g<1>{url}", 1, source)
    # The bearer token's file: the mounted Secret's path -> a temporary file.
    text = substitute(text, r"^(\s+credentials_file: )\S+$", rf"\g<1>{token_file}", 1, source)
    # The routes' timers (see GROUP_WAIT above).
    for timer in ("group_wait", "group_interval", "repeat_interval"):
        pattern = rf"^(\s+{timer}: )(\S+)$"
        if scale is None:
            text = substitute(text, pattern, rf"\g<1>{getattr(pace, timer)}", routes, source)
        else:
            found = re.findall(pattern, text, flags=re.MULTILINE)
            if len(found) != routes:
                substitute(text, pattern, "", routes, source)  # fails, naming the pattern
            text = re.sub(
                pattern,
                lambda m: m.group(1) + f"{round(seconds(m.group(2)) * 1000 / scale)}ms",
                text,
                flags=re.MULTILINE,
            )
    return text


def seconds(duration: str) -> float:
    """A Prometheus duration of one unit ("10s", "1m", "24h") in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h|d)", duration).groups()  # type: ignore[union-attr]
    return int(number) * units[unit]


def kube_prometheus_stack_alertmanager(
    *,
    url: str,
    token_file: Path,
    pace: Pace = LOOPBACK,
    proxy_url: str | None = None,
    namespace: str | None = None,
) -> str:
    """kube-prometheus-stack's default configuration with the shipped route and receiver merged in.

    As README tells users: the route goes first among the default routes (the first
    matching route wins and ours does not `continue`), the receiver joins the others;
    everything else, the inhibit rules above all, stays the chart's.  The shipped
    parts are taken from alertmanager(), so they carry the same test-only rewrites.
    """
    shipped = yaml.safe_load(alertmanager(url=url, token_file=token_file, pace=pace))
    (route,) = [r for r in shipped["route"]["routes"] if r["receiver"] == RECEIVER]
    (receiver,) = [r for r in shipped["receivers"] if r["name"] == RECEIVER]
    config = yaml.safe_load(KUBE_PROMETHEUS_STACK.read_text())
    if proxy_url:  # Alertmanager connects there and names `url`'s host (testbed.chain.in_node.Webhook)
        receiver["webhook_configs"][0]["http_config"]["proxy_url"] = proxy_url
    if namespace:  # a test's own namespace only, the matcher an AlertmanagerConfig there gets
        route["matchers"] = [*route["matchers"], f'namespace="{namespace}"']
    config["route"]["routes"].insert(0, route)
    config["receivers"].append(receiver)
    return yaml.safe_dump(config, sort_keys=False)


def kubernetes_scrape_configs(
    *,
    api_server: str,
    ca_file: Path,
    token_file: Path,
    kube_state_metrics: str,
    function_namespace: str,
    kubelet_scheme: str = "https",
) -> list[dict]:
    """Scrape jobs for a cluster, with kube-prometheus' job names and relabelling, found through
    Prometheus' Kubernetes service discovery against `api_server`.

    - `kubelet`: every Node's kubelet (its address and kubeletEndpoint port, as the API
      reports them), twice: /metrics/cadvisor and /metrics/resource, each series labelled
      with its `metrics_path` and `node`, as kube-prometheus-stack's kubelet ServiceMonitor does;
    - `kube-state-metrics`: the given address, `honor_labels` so its own namespace/pod
      labels stand (kube-prometheus-stack finds it through its Service; one address here);
    - the function's pods, as monitoring/podmonitor.yaml asks the prometheus-operator to:
      pods of `function_namespace` labelled app.kubernetes.io/name=cpu-alert-labeler, their
      container port named http1, /metrics, with the operator's `job` (namespace/name),
      `namespace`, `pod` and `container` target labels.
    """
    sd_auth = {
        "api_server": api_server,
        "authorization": {"credentials_file": str(token_file)},
        "tls_config": {"ca_file": str(ca_file)},
    }
    # The kubelet's port 10250 as kube-prometheus-stack's kubelet ServiceMonitor reads it: the
    # service account's bearer token (the kubelet asks the apiserver whether it may read
    # nodes/metrics) and no certificate check, since a kubelet serves a self-signed certificate.
    kubelet_auth = (
        {"authorization": {"credentials_file": str(token_file)}, "tls_config": {"insecure_skip_verify": True}}
        if kubelet_scheme == "https"
        else {}
    )

    def kubelet(path: str) -> dict:
        return {
            "job_name": f"kubelet{path.replace('/', '-')}",
            "metrics_path": path,
            "scheme": kubelet_scheme,
            "honor_labels": True,
            **kubelet_auth,
            "kubernetes_sd_configs": [{"role": "node", **sd_auth}],
            "relabel_configs": [
                {"target_label": "job", "replacement": "kubelet"},
                {"source_labels": ["__metrics_path__"], "target_label": "metrics_path"},
                {"source_labels": ["__meta_kubernetes_node_name"], "target_label": "node"},
            ],
        }

    function = {
        "job_name": "podMonitor/cpu-alert-labeler",
        "metrics_path": "/metrics",
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [function_namespace]}, **sd_auth}],
        "relabel_configs": [
            {
                "source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
                "regex": "cpu-alert-labeler",
                "action": "keep",
            },
            {
                "source_labels": ["__meta_kubernetes_pod_container_port_name"],
                "regex": "http1",
                "action": "keep",
            },
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
            {"target_label": "job", "replacement": "cpu-alert-labeler/cpu-alert-labeler"},
        ],
    }
    return [
        kubelet("/metrics/cadvisor"),
        kubelet("/metrics/resource"),
        {
            "job_name": "kube-state-metrics",
            "honor_labels": True,
            "static_configs": [{"targets": [kube_state_metrics]}],
        },
        function,
    ]


def cluster_prometheus(
    *, rules_file: Path, alertmanager: str | None, scrape_configs: list[dict], pace: Pace = LOOPBACK
) -> str:
    """A Prometheus configuration for a cluster: these scrape jobs, the rules, an Alertmanager if any."""
    config: dict = {
        "global": {
            "scrape_interval": pace.scrape,
            "scrape_timeout": pace.scrape,
            "evaluation_interval": pace.evaluation,
        },
        "rule_files": [str(rules_file)],
        "scrape_configs": scrape_configs,
    }
    if alertmanager:
        config["alerting"] = {
            "alertmanagers": [{"api_version": "v2", "static_configs": [{"targets": [alertmanager]}]}]
        }
    return json.dumps(config, indent=1)
