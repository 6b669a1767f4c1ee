"""Knative figures for `make bench`: the function on Knative Serving on the real node.

Usage: `.venv/bin/python -m bench.knative` (part of `make bench`). Brings the node up (or
reuses a running one; a node it started itself it takes down again), installs Knative
Serving (testbed.platforms.serving) and deploys the function with the README's `kn` command, then:

- wake-up from zero, WAKEUPS times: the Revision at zero (no pod), a webhook POSTed to its
  public Service (the activator holds it); seconds until the answer, 200 with the target
  pod labeled, and until the API shows the new pod Ready (polled every 50 ms; often later
  than the answer, since the activator probes the pod itself); the median and the range;
- back to zero: seconds from that answer until the Revision has no pod, with the test's
  short durations (stable window 6 s, grace 6 s) and once with Knative's defaults
  (60 s stable window, 30 s grace period);
- memory: working set of each Knative component (and CoreDNS, and the queue-proxy
  sidecar of the function's pod while awake), from the kubelet's /stats/summary.

The Route stays not Ready: the node has no networking layer (testbed.platforms.serving.install).
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
import urllib.request

from bench.node import Api, is_ready
from testbed.chain import in_node
from testbed.clusters.node import cluster, deploy, dns
from testbed.clusters.node.layout import Layout
from testbed.platforms.serving import install, service

NS = "bench-knative"
WAKEUPS = 5


def revision_pod(api: Api, namespace: str, revision: str) -> dict | None:
    pods = api.call(
        "GET",
        f"/api/v1/namespaces/{namespace}/pods?labelSelector=serving.knative.dev%2Frevision%3D{revision}",
    )["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    return live[0] if live else None


def no_pod(api: Api, namespace: str, revision: str) -> bool:
    pods = api.call(
        "GET",
        f"/api/v1/namespaces/{namespace}/pods?labelSelector=serving.knative.dev%2Frevision%3D{revision}",
    )["items"]
    return not pods


def wait_zero(api: Api, namespace: str, revision: str, timeout: float = 300) -> float:
    began = time.monotonic()
    while not no_pod(api, namespace, revision):
        if time.monotonic() - began > timeout:
            raise RuntimeError(f"{namespace}/{revision} still has a pod after {timeout:.0f}s")
        time.sleep(0.2)
    return time.monotonic() - began


def target_pod(layout: Layout, api: Api) -> str:
    deploy.kubectl(layout, "create", "namespace", NS)
    api.call(
        "POST",
        f"/api/v1/namespaces/{NS}/pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "target"},
            # Pending on purpose (bench.node does the same): a label works the same on it.
            "spec": {
                "nodeSelector": {"bench": "nowhere"},
                "containers": [{"name": "c", "image": "localhost/pause:calb-1"}],
            },
        },
    )
    return "target"


def alert(level: str, round_: int) -> dict:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "bench",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": level, "namespace": NS, "pod": "target"},
                "annotations": {},
                "startsAt": f"2026-01-01T00:{round_ // 60:02d}:{round_ % 60:02d}Z",
                "endsAt": "0001-01-01T00:00:00Z",
            }
        ],
    }


def post_host(url: str, host: str, token: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}", "Host": host},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except OSError as err:
        return getattr(err, "code", 0), {}


def wake(api: Api, layout: Layout, revision: str, round_: int) -> tuple[float, float]:
    """(seconds to pod Ready, seconds to the 200 with the label written), from zero."""
    ns = service.KN_NAMESPACE
    wait_zero(api, ns, revision)
    url = f"http://{service.public_service_ip(layout, ns, revision)}/"
    ready_at: list[float] = []
    began = time.monotonic()

    def watch() -> None:
        while time.monotonic() - began < 60:
            if is_ready(revision_pod(api, ns, revision)):
                ready_at.append(time.monotonic() - began)
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    level = ("PodCpuFailure", "PodCpuNormal")[round_ % 2]
    status, summary = post_host(
        url, service.host(layout, ns, revision), deploy.webhook_token(layout), alert(level, round_)
    )
    answered = time.monotonic() - began
    watcher.join()
    if status != 200 or summary.get("counts", {}).get("labeled") != 1:
        raise RuntimeError(f"wake-up {round_}: {status} {summary}")
    return (ready_at[0] if ready_at else float("nan")), answered


def memory(layout: Layout) -> dict[str, float]:
    """Working set (MiB) of the Knative and CoreDNS containers and the function's queue-proxy."""
    with urllib.request.urlopen(f"http://{layout.node_ip}:10255/stats/summary", timeout=10) as resp:
        summary = json.loads(resp.read())
    found = {}
    for pod in summary["pods"]:
        ns = pod["podRef"]["namespace"]
        for c in pod.get("containers", []):
            wanted = ns in (install.NAMESPACE, dns.NAMESPACE) or (
                ns == service.KN_NAMESPACE and c["name"] == "queue-proxy"
            )
            if wanted and "workingSetBytes" in c.get("memory", {}):
                found[c["name"]] = c["memory"]["workingSetBytes"] / 2**20
    return found


def main() -> int:
    layout = Layout()
    reused = layout.state.exists() and cluster.healthy(layout)
    cluster.up(layout)
    api = Api(layout)
    prior = install.autoscaler_settings(layout)  # a reused Knative gets its own durations back
    aimed = service.aimed_at_a_revision(layout)
    if aimed:  # its re-sends would keep the Revision awake: the function takes them meanwhile
        in_node.point_alertmanager(layout, in_node.function_webhook(layout))
    revision = ""
    try:
        install.install(layout, install.TEST_AUTOSCALER)
        service.deploy_kn(layout)
        revision = service.revision(layout, service.KN_NAMESPACE)["metadata"]["name"]
        target_pod(layout, api)
        runs = []
        for round_ in range(WAKEUPS):
            ready, answered = wake(api, layout, revision, round_)
            runs.append((ready, answered, wait_zero(api, service.KN_NAMESPACE, revision)))
        wake(api, layout, revision, WAKEUPS)
        answered_at = time.monotonic()
        awake = memory(layout)
        install.set_autoscaler(layout, install.DEFAULT_AUTOSCALER)
        wait_zero(api, service.KN_NAMESPACE, revision, timeout=400)
        default_zero = time.monotonic() - answered_at
    finally:
        if revision:
            install.set_autoscaler(layout, {**install.TEST_AUTOSCALER, **(prior or {})})
        deploy.kubectl(layout, "delete", "namespace", NS, "--wait=false", check=False)
        if aimed and revision:
            in_node.point_alertmanager(
                layout, service.revision_webhook(layout, service.KN_NAMESPACE, revision)
            )
        if not reused:
            cluster.down(layout)
    ready_s, answered_s, zero_s = (sorted(r[i] for r in runs) for i in range(3))
    print(
        f"Knative Serving {install.VERSION} on the node (no networking layer: Revisions reached "
        f"through their public Service; the function deployed with the README's kn command)"
    )
    print(
        f"  wake-up from zero, {WAKEUPS} runs: webhook sent -> 200 with the label written median "
        f"{statistics.median(answered_s):.2f} s ({answered_s[0]:.2f}-{answered_s[-1]:.2f}); the new pod "
        f"Ready in the API median {statistics.median(ready_s):.2f} s ({ready_s[0]:.2f}-{ready_s[-1]:.2f}; "
        f"the activator probes the pod itself, so the answer can come first)"
    )
    print(
        f"  back to zero after the answer: median {statistics.median(zero_s):.1f} s with stable window 6 s "
        f"and grace 6 s; {default_zero:.1f} s with Knative's defaults (60 s, 30 s)"
    )
    print(
        "  memory (working set, kubelet /stats/summary): "
        + ", ".join(f"{name} {mib:.0f} MiB" for name, mib in sorted(awake.items()))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
