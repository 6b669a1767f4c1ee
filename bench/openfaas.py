"""OpenFaaS figures for `make bench`: the function behind OpenFaaS' gateway on the real node.

Usage: `.venv/bin/python -m bench.openfaas` (part of `make bench`). Brings the node up (or
reuses a running one; a node it started itself it takes down again), installs OpenFaaS
(testbed.platforms.faas) and deploys the function with the README's faas-cli commands unless it
is deployed, then, in the same run, for the two paths a webhook can take to the one
function pod:

- direct: the function's own Service (faas-netes makes one per function, port 8080);
- gateway: the gateway's Service, /function/cpu-alert-labeler, the URL
  monitoring/alertmanager-openfaas.yml ships (the gateway asks faas-netes for the
  function's endpoints and proxies to a pod);

measures
- latency: ROUNDS sequential webhooks of one alert each, the two paths interleaved
  (so drift on a shared machine hits both alike), every one flipping its pod's label
  (a PATCH each); median, 90th and 99th percentiles;
- throughput: CLIENTS concurrent senders, each on its own pod, PER_CLIENT webhooks each,
  one path after the other; webhooks per second;
- wake-up from zero through the gateway, WAKEUPS times: the Deployment scaled to 0 with
  kubectl (this Community Edition refuses 0 through its own API: docs/platforms.md), a
  webhook sent to the gateway, which scales the function to 1 and holds the request until
  the Deployment is available; seconds until the 200 with the label written (a 503 re-sent,
  as Alertmanager would: wake() says when the gateway answers one).

Target pods are bench.node's: Pending on purpose, in its namespace.
"""

from __future__ import annotations

import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from bench.node import NS, Api, make_pods, payload, post
from testbed.chain import in_node
from testbed.clusters.node import cluster, deploy
from testbed.clusters.node.layout import Layout
from testbed.platforms.faas import install, service

ROUNDS = 200
CLIENTS = 8
PER_CLIENT = 50
WAKEUPS = 5


def send(url: str, token: str, pod: str, round_: int) -> float:
    """Seconds for one webhook flipping `pod`'s label; raises unless 200 with it written."""
    began = time.monotonic()
    status, summary = post(url, token, payload([pod], round_))
    took = time.monotonic() - began
    if status != 200 or summary.get("counts", {}).get("labeled") != 1:
        raise RuntimeError(f"{url} round {round_}: {status} {summary}")
    return took


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return f"median {statistics.median(ordered) * 1000:.1f} ms, p90 {pick(0.9):.1f}, p99 {pick(0.99):.1f}"


def throughput(url: str, token: str, pods: list[str], first_round: int) -> float:
    def client(pod: str) -> None:
        for i in range(PER_CLIENT):
            send(url, token, pod, first_round + i)

    began = time.monotonic()
    with ThreadPoolExecutor(len(pods)) as pool:
        list(pool.map(client, pods))
    return len(pods) * PER_CLIENT / (time.monotonic() - began)


def wake(layout: Layout, url: str, token: str, pod: str, round_: int) -> tuple[float, int]:
    """(seconds from the first send to the 200 with the label, 503s before it), from zero.
    A 503 is re-sent at once, as Alertmanager re-sends a 5xx: the gateway can forward as
    soon as the Deployment is available, before faas-netes' Endpoints cache holds the new
    pod, and faas-provider's proxy then answers "No endpoints available"."""
    deploy.kubectl(
        layout, "-n", install.FUNCTION_NAMESPACE, "scale", f"deployment/{service.NAME}", "--replicas=0"
    )
    deadline = time.monotonic() + 120
    while service.pods(layout):
        if time.monotonic() > deadline:
            raise RuntimeError("the function still has a pod 120 s after scaling to 0")
        time.sleep(0.2)
    began = time.monotonic()
    for refused in range(5):
        status, summary = post(url, token, payload([pod], round_))
        if status == 200 and summary.get("counts", {}).get("labeled") == 1:
            return time.monotonic() - began, refused
        if status != 503:
            raise RuntimeError(f"wake-up {round_}: {status} {summary}")
    raise RuntimeError(f"wake-up {round_}: 503 five times")


def main() -> int:
    layout = Layout()
    reused = layout.state.exists() and cluster.healthy(layout)
    cluster.up(layout)
    api = Api(layout)
    aimed = service.aimed_at_the_gateway(layout)
    if aimed:  # its re-sends (every 15 s at the test pace) would wake the function at once
        in_node.point_alertmanager(layout, in_node.function_webhook(layout))
    try:
        install.install(layout)
        if not service.describe(layout):
            service.deploy_function(layout)
        token = deploy.webhook_token(layout)
        gateway = f"{install.gateway_url(layout)}/function/{service.NAME}"
        service_ip = deploy.kubectl(
            layout,
            "-n",
            install.FUNCTION_NAMESPACE,
            "get",
            "svc",
            service.NAME,
            "-o",
            "jsonpath={.spec.clusterIP}",
        ).stdout.strip()
        direct = f"http://{service_ip}:8080/"
        pods = make_pods(layout, api, CLIENTS)  # bench.node's, in its namespace
        latency: dict[str, list[float]] = {"direct": [], "gateway": []}
        for round_ in range(ROUNDS):
            latency["direct"].append(send(direct, token, pods[0], 2 * round_))
            latency["gateway"].append(send(gateway, token, pods[0], 2 * round_ + 1))
        rates = {
            "direct": throughput(direct, token, pods, 10_000),
            "gateway": throughput(gateway, token, pods, 20_000),
        }
        woken = [wake(layout, gateway, token, pods[0], 30_000 + i) for i in range(WAKEUPS)]
        wakeups = sorted(seconds for seconds, _ in woken)
    finally:
        deploy.kubectl(layout, "delete", "namespace", NS, "--wait=false", check=False)
        if aimed:
            in_node.point_alertmanager(layout, service.gateway_webhook(layout))
        if not reused:
            cluster.down(layout)
    extra = statistics.median(latency["gateway"]) - statistics.median(latency["direct"])
    print(
        f"OpenFaaS gateway {install.GATEWAY} + faas-netes {install.FAAS_NETES} on the node, "
        "one function pod, each webhook one alert and one label PATCH"
    )
    for path in ("direct", "gateway"):
        print(
            f"  {path:8s} latency ({ROUNDS} sequential): {percentiles(latency[path])}; "
            f"throughput ({CLIENTS} clients x {PER_CLIENT}): {rates[path]:.0f} webhooks/s"
        )
    print(f"  the gateway adds {extra * 1000:.1f} ms at the median")
    print(
        f"  wake-up from zero through the gateway, {WAKEUPS} runs: webhook sent -> 200 with the label "
        f"median {statistics.median(wakeups):.2f} s ({wakeups[0]:.2f}-{wakeups[-1]:.2f}); "
        f"answered 503 first (re-sent) in {sum(1 for _, refused in woken if refused)} of {WAKEUPS}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
