"""The monitoring side of the node, as kube-prometheus-stack runs it: kube-state-metrics,
Prometheus (Kubernetes service discovery, kube-prometheus' job names, the shipped rules) and
Alertmanager (the chart's default configuration with the shipped route and receiver merged
in), delivering to a webhook: the function's ClusterIP Service by default.

They run as host processes managed like the node's daemons (testbed.process.Daemon: a
session each, logs and pid files under the state directory, so `down` stops them even
after a crash), not as pods, because:
- the host already reaches all that they need, as a pod would: the apiserver and the
  kubelet at the node's address, pod IPs over the bridge, ClusterIPs through kube-proxy;
- they run from what is already built or installed (kube-state-metrics and Prometheus
  from the Go module proxy, Debian's Alertmanager): no image to build for each;
- `make cluster` keeps them up the way it keeps the kubelet up, with no operator.
What stays as in a cluster: each reads the API as its own ServiceAccount, bound to the
permissions kube-prometheus-stack gives it (a token Secret, as a mounted token would be),
and Alertmanager reads the webhook's bearer token from a file, as the operator mounts a
Secret.

The webhook is a parameter (`Webhook`: URL and token file), so another target (a Knative
Revision, say) can take the function's place: `point_alertmanager()` rewrites the
configuration and reloads Alertmanager. Durations are the test's, shortened to a real
kubelet's pace (configs.CADVISOR), never the shipped ones.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import signal
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from testbed.clusters.node import NodeError, deploy, kubelet
from testbed.clusters.node.health import ok
from testbed.clusters.node.layout import Layout
from testbed.clusters.node.pki import kubeconfig
from testbed.private import write_private
from testbed.process import Daemon, run

from . import builds, configs

NAMESPACE = "cpu-alert-labeler-monitoring"
"""Where the monitoring identities live (the programs themselves run on the host)."""
PACE = configs.CADVISOR
KSM_ADDRESS = "127.0.0.1:19080"
KSM_TELEMETRY = "127.0.0.1:19081"
PROMETHEUS_ADDRESS = "127.0.0.1:19090"
ALERTMANAGER_ADDRESS = "127.0.0.1:19093"
"""Fixed, on loopback: one node per host, and its users find them at these addresses."""
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
AMTOOL = "/usr/bin/amtool"
NAMES = ("kube-state-metrics", "prometheus", "alertmanager")
"""In start order; stopped in reverse."""


@dataclass(frozen=True)
class Webhook:
    """Where Alertmanager delivers, and the file holding the bearer token it presents."""

    url: str
    token_file: Path
    proxy_url: str | None = None
    """Where to connect instead of resolving `url`'s host: the host has no cluster DNS, so a
    URL that must carry a Service's DNS name as its Host (a Knative Revision's, which the
    activator routes by) goes to that Service's ClusterIP as an HTTP proxy, which receives
    the request with that Host, as the Service would from a pod that resolved the name."""
    namespace: str | None = None
    """Only alerts of this namespace go to the receiver (a test's own), as an
    AlertmanagerConfig in that namespace would have it (the prometheus-operator adds the
    same matcher); None: every namespace's, as shipped."""


def home(layout: Layout) -> Path:
    return layout.state / "monitoring"


def daemon(layout: Layout, name: str) -> Daemon:
    """One monitoring program; its argv names only paths, so `down` can rebuild it from a layout."""
    d = home(layout) / name
    argv = {
        "kube-state-metrics": [
            str(builds.kube_state_metrics()),
            f"--kubeconfig={d / 'kubeconfig'}",
            "--resources=pods",
            f"--host={KSM_ADDRESS.split(':')[0]}",
            f"--port={KSM_ADDRESS.split(':')[1]}",
            f"--telemetry-host={KSM_TELEMETRY.split(':')[0]}",
            f"--telemetry-port={KSM_TELEMETRY.split(':')[1]}",
        ],
        "prometheus": [
            str(builds.prometheus()),
            f"--config.file={d / 'prometheus.yml'}",
            f"--storage.tsdb.path={d / 'data'}",
            f"--web.listen-address={PROMETHEUS_ADDRESS}",
            "--storage.tsdb.retention.time=1d",
        ],
        "alertmanager": [
            ALERTMANAGER,
            f"--config.file={d / 'alertmanager.yml'}",
            f"--storage.path={d / 'data'}",
            f"--web.listen-address={ALERTMANAGER_ADDRESS}",
            # No cluster: with one, the first notification waits for gossip to settle.
            "--cluster.listen-address=",
        ],
    }[name]
    return Daemon(name, argv, layout.logs, layout.pids)


HEALTH = {
    "kube-state-metrics": f"http://{KSM_ADDRESS}/healthz",
    "prometheus": f"http://{PROMETHEUS_ADDRESS}/-/ready",
    "alertmanager": f"http://{ALERTMANAGER_ADDRESS}/-/ready",
}


def ready(name: str) -> bool:
    return ok(HEALTH[name])


# -- identities ----------------------------------------------------------------------------
def _rbac() -> list[dict]:
    """ServiceAccounts with kube-prometheus-stack's read permissions, and a token Secret each."""
    rules = {
        "prometheus": [
            {
                "apiGroups": [""],
                "resources": ["nodes", "nodes/metrics", "pods", "services", "endpoints"],
                "verbs": ["get", "list", "watch"],
            },
            {"nonResourceURLs": ["/metrics", "/metrics/cadvisor"], "verbs": ["get"]},
        ],
        "kube-state-metrics": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]}],
    }
    objects: list[dict] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}]
    for name, granted in rules.items():
        full = f"{NAMESPACE}-{name}"
        subject = {"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}
        objects += [
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": name, "namespace": NAMESPACE},
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": full},
                "rules": granted,
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": full},
                "subjects": [subject],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": full},
            },
            # A token that does not expire, for programs `make cluster` keeps up for days.
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "kubernetes.io/service-account-token",
                "metadata": {
                    "name": f"{name}-token",
                    "namespace": NAMESPACE,
                    "annotations": {"kubernetes.io/service-account.name": name},
                },
            },
        ]
    return objects


def secret_value(layout: Layout, namespace: str, secret: str, key: str) -> str | None:
    res = deploy.kubectl(
        layout, "-n", namespace, "get", "secret", secret, "-o", f"jsonpath={{.data.{key}}}", check=False
    )
    return base64.b64decode(res.stdout).decode() if res.returncode == 0 and res.stdout else None


def _identities(layout: Layout) -> None:
    """Apply the RBAC (idempotent) and write each program's token where it reads it."""
    deploy.kubectl(
        layout, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": _rbac()})
    )
    for name in ("prometheus", "kube-state-metrics"):
        deadline = time.monotonic() + 30
        while (token := secret_value(layout, NAMESPACE, f"{name}-token", "token")) is None:
            if time.monotonic() > deadline:
                raise NodeError(f"the token controller never filled {NAMESPACE}/{name}-token")
            time.sleep(0.5)
        write_private(home(layout) / name / "token", token)
    d = home(layout) / "kube-state-metrics"
    kubeconfig(layout, "kube-state-metrics", d / "kubeconfig", token=(d / "token").read_text())


# -- configuration -------------------------------------------------------------------------
def function_webhook(layout: Layout) -> Webhook:
    """The function's ClusterIP Service, with the token of its Secret copied into a file."""
    token = secret_value(layout, deploy.NAMESPACE, f"{deploy.NAME}-token", "token")
    if token is None:
        raise NodeError(f"no Secret {deploy.NAMESPACE}/{deploy.NAME}-token: is the function deployed?")
    path = write_private(home(layout) / "secrets" / deploy.NAME / "token", token)
    return Webhook(f"http://{deploy.service_ip(layout)}/", path)


def _write_prometheus(layout: Layout) -> None:
    """Write the rules and configuration, checked by promtool; a running Prometheus reloads them."""
    d = home(layout) / "prometheus"
    rules = d / "prometheus-rules.yml"
    rules.write_text(configs.rules(PACE))
    jobs = configs.kubernetes_scrape_configs(
        api_server=layout.url,
        ca_file=layout.pki / "ca.crt",
        token_file=d / "token",
        kube_state_metrics=KSM_ADDRESS,
        function_namespace=deploy.NAMESPACE,
    )
    config = d / "prometheus.yml"
    config.write_text(
        configs.cluster_prometheus(
            rules_file=rules, alertmanager=ALERTMANAGER_ADDRESS, scrape_configs=jobs, pace=PACE
        )
    )
    run(builds.promtool(), "check", "config", config)
    pid = daemon(layout, "prometheus").pid()
    if pid is not None:
        os.kill(pid, signal.SIGHUP)  # Prometheus' reload signal; unchanged files cost nothing


def _write_alertmanager(layout: Layout, webhook: Webhook) -> bool:
    """Write the configuration for `webhook`, checked by amtool; True if it changed."""
    config = home(layout) / "alertmanager" / "alertmanager.yml"
    config.parent.mkdir(parents=True, exist_ok=True)
    text = configs.kube_prometheus_stack_alertmanager(
        url=webhook.url,
        token_file=webhook.token_file,
        pace=PACE,
        proxy_url=webhook.proxy_url,
        namespace=webhook.namespace,
    )
    if config.exists() and config.read_text() == text:
        return False
    config.write_text(text)
    run(AMTOOL, "check-config", config)
    return True


def point_alertmanager(layout: Layout, webhook: Webhook) -> None:
    """Deliver to `webhook` from now on: the configuration rewritten, a running Alertmanager reloaded."""
    if _write_alertmanager(layout, webhook) and daemon(layout, "alertmanager").running():
        req = urllib.request.Request(f"http://{ALERTMANAGER_ADDRESS}/-/reload", method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            if resp.status != 200:
                raise NodeError(f"Alertmanager refused the new configuration: {resp.status}")


# -- lifecycle -----------------------------------------------------------------------------
def _kubelet_samples_pods(layout: Layout) -> None:
    """Refuse a running kubelet without kubelet.py's cAdvisor flags (a node brought up by an
    older checkout): without them its CPU series carry no pod labels, or come every 10-20 s.
    Restarting someone's kubelet behind their back is not ours to do: recreate the node."""
    pid = kubelet.daemon(layout).pid()
    if pid is None:
        raise NodeError("the kubelet is not running: bring the node up first")
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    missing = [flag for flag in ("--containerd", "--housekeeping-interval") if flag.encode() not in argv]
    if missing:
        raise NodeError(
            f"the running kubelet lacks {' '.join(missing)} (a node from an older checkout): "
            "make cluster-down && make cluster"
        )


def start(layout: Layout, webhook: Webhook | None = None, log=print) -> float:
    """Bring the monitoring side up (what already runs is kept); returns the seconds it took."""
    began = time.monotonic()
    for exe in (builds.kube_state_metrics(), builds.prometheus(), Path(ALERTMANAGER)):
        if not exe.exists():
            raise NodeError(f"missing {exe} (make kube-state-metrics prometheus deps-monitoring)")
    _kubelet_samples_pods(layout)
    _identities(layout)
    _write_prometheus(layout)
    point_alertmanager(layout, webhook or function_webhook(layout))
    for name in NAMES:
        d = daemon(layout, name)
        if not d.running():
            d.launch(functools.partial(ready, name), 60, "readiness")
            log(f"{name} ready")
    return time.monotonic() - began


def deliver(layout: Layout, webhook: Webhook, to: str, log=print) -> None:
    """Start the monitoring side delivering to `webhook` (`to` says what it reaches), and say
    where Prometheus and Alertmanager answer: the platforms' `up` ends with this."""
    start(layout, webhook=webhook, log=log)
    log(
        f"monitoring: Prometheus http://{PROMETHEUS_ADDRESS}, Alertmanager "
        f"http://{ALERTMANAGER_ADDRESS}, delivering to {to}"
    )


def stop(layout: Layout) -> None:
    """Stop the three programs (found by pid file); their files go with the state directory."""
    for name in reversed(NAMES):
        daemon(layout, name).stop()


def status(layout: Layout) -> dict[str, bool]:
    return {name: daemon(layout, name).running() for name in NAMES}
