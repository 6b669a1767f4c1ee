"""Node figures for `make bench`: the function as a pod on a real Kubernetes v1.34 node.

Usage: `.venv/bin/python -m bench.node` (part of `make bench`). Brings the node up with
testbed.clusters.node (or reuses the one `make cluster` left running; a node it started itself it
takes down again), then measures:

- cold start on a real node: the Deployment scaled 0 -> 1; seconds until the new pod is
  Ready, and until the first webhook POSTed to the Service's ClusterIP is answered with
  its target pod labeled (kube-proxy must have the new endpoint by then);
- container memory: the container's cgroup (memory.usage_in_bytes and
  memory.max_usage_in_bytes, cgroup v1) after 10k alerts, sent as 100-alert payloads
  over 100 pods, every payload flipping every pod's level (10k label writes).

The target pods are Pending on purpose (a node selector nothing matches): a label works
the same on them, and 100 running sandboxes would measure the node, not the function.
"""

from __future__ import annotations

import json
import ssl
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

from testbed.clusters.node import cluster, deploy
from testbed.clusters.node.layout import Layout

NS = "bench-node"
PODS = 100
ALERTS = 10_000
LEVELS = (("PodCpuFailure", "97"), ("PodCpuNormal", "5"))
START = datetime(2026, 1, 1)
"""Alert times increase with every payload, so the order guard applies each one."""


class Api:
    """Raw admin calls to the node's apiserver (faster to poll than kubectl)."""

    def __init__(self, layout: Layout):
        self.url = layout.url
        self.token = (layout.pki / "admin.token").read_text()
        self.ctx = ssl.create_default_context(cafile=str(layout.pki / "ca.crt"))

    def call(
        self, method: str, path: str, body: object = None, content_type: str = "application/json"
    ) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": content_type},
        )
        with urllib.request.urlopen(req, context=self.ctx, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")


def post(url: str, token: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, {}
    except OSError:
        return 0, {}


def payload(pods: list[str], round_: int) -> dict:
    name, cpu = LEVELS[round_ % 2]
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": name, "namespace": NS, "pod": pod},
            "annotations": {"cpu_usage": cpu},
            "startsAt": (START + timedelta(seconds=round_)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": f"{round_:016x}",
        }
        for pod in pods
    ]
    return {"version": "4", "status": "firing", "receiver": "bench", "alerts": alerts}


def make_pods(layout: Layout, api: Api, count: int = PODS) -> list[str]:
    """`count` Pending pods in NS (a namespace a previous run is still deleting is awaited)."""
    deploy.kubectl(
        layout, "wait", "--for=delete", f"namespace/{NS}", "--timeout=120s", check=False, timeout=150
    )
    deploy.kubectl(layout, "create", "namespace", NS)
    names = [f"p{i:03d}" for i in range(count)]
    for name in names:
        api.call(
            "POST",
            f"/api/v1/namespaces/{NS}/pods",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name},
                "spec": {
                    "nodeSelector": {"bench": "nowhere"},
                    "containers": [{"name": "c", "image": "localhost/pause:calb-1"}],
                },
            },
        )
    return names


def function_pod(api: Api) -> dict | None:
    pods = api.call(
        "GET",
        f"/api/v1/namespaces/{deploy.NAMESPACE}/pods"
        "?labelSelector=app.kubernetes.io%2Fname%3Dcpu-alert-labeler",
    )["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    return live[0] if live else None


def is_ready(pod: dict | None) -> bool:
    conditions = (pod or {}).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def scale(api: Api, replicas: int) -> None:
    api.call(
        "PATCH",
        f"/apis/apps/v1/namespaces/{deploy.NAMESPACE}/deployments/{deploy.NAME}/scale",
        {"spec": {"replicas": replicas}},
        "application/merge-patch+json",
    )


def cold_start(layout: Layout, api: Api, url: str, token: str, target: str) -> tuple[float, float]:
    scale(api, 0)
    while function_pod(api) is not None:
        time.sleep(0.2)
    began = time.monotonic()
    scale(api, 1)
    while not is_ready(function_pod(api)):
        time.sleep(0.05)
    ready = time.monotonic() - began
    body = payload([target], 0)
    while True:
        status, summary = post(url, token, body)
        if status == 200 and summary.get("counts", {}).get("labeled") == 1:
            return ready, time.monotonic() - began
        time.sleep(0.05)


def container_memory(pod: dict) -> tuple[float, float]:
    uid = pod["metadata"]["uid"]
    cid = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
    base = Path("/sys/fs/cgroup/memory/kubepods")
    found = [p for p in base.rglob(f"pod{uid}/{cid}") if p.is_dir()]
    if not found:
        raise RuntimeError(f"no memory cgroup for container {cid[:12]}")
    read = lambda f: int((found[0] / f).read_text()) / 2**20  # noqa: E731
    return read("memory.usage_in_bytes"), read("memory.max_usage_in_bytes")


def memory(api: Api, url: str, token: str, pods: list[str]) -> tuple[float, float, float]:
    began, sent, round_ = time.monotonic(), 0, 1
    while sent < ALERTS:
        status, summary = post(url, token, payload(pods, round_))
        if status != 200:
            raise RuntimeError(f"payload {round_}: {status} {summary}")
        sent += len(pods)
        round_ += 1
    rate = sent / (time.monotonic() - began)
    pod = function_pod(api)
    if pod is None:
        raise RuntimeError("the function pod is gone")
    usage, peak = container_memory(pod)
    return usage, peak, rate


def main() -> int:
    layout = Layout()
    reused = layout.state.exists() and cluster.healthy(layout)
    up = cluster.up(layout)
    api = Api(layout)
    try:
        url, token = f"http://{deploy.service_ip(layout)}/", deploy.webhook_token(layout)
        pods = make_pods(layout, api)
        ready, answered = cold_start(layout, api, url, token, pods[0])
        usage, peak, rate = memory(api, url, token, pods)
    finally:
        deploy.kubectl(layout, "delete", "namespace", NS, "--wait=false", check=False)
        if not reused:
            cluster.down(layout)
    print("node (Kubernetes v1.34.4, containerd 1.6, runc; the function from the Dockerfile)")
    print(f"  bring-up: {'reused' if reused else f'{up:.0f} s'}")
    print(
        f"  cold start: scaled 0 -> 1 -> pod Ready {ready:.2f} s -> first webhook answered, "
        f"pod labeled {answered:.2f} s"
    )
    print(
        f"  container memory after {ALERTS:,} alerts ({PODS} pods per payload): "
        f"{usage:.1f} MiB now, {peak:.1f} MiB peak (cgroup); {rate:.0f} alerts/s through the ClusterIP"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
