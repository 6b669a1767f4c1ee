"""Campaign `faults`: notification sequences through a fault proxy; the newest state must stand.

Pods receive sequences of notifications, grouped as Alertmanager groups them,
through testbed.faultproxy at a 24 % injected fault rate (500, 503, 429, delays
past the client timeout, dropped connections, writes whose answer is dropped),
sent by an Alertmanager-like sender that re-sends on 5xx and transport errors.
Every pod's final label, read straight from the apiserver, must be the level of
the newest state sent.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

from testbed.campaigns.figures import Figure
from testbed.campaigns.scenarios import State, group_sequence, groups_of
from testbed.campaigns.sender import deliver
from testbed.campaigns.targets import SentThroughProxy, new_pods, run_threads, servers_behind_proxy
from testbed.clusters import Cluster
from testbed.faultproxy import KINDS

NAME = "faults"


@dataclass(frozen=True)
class Size:
    pods: int
    steps: int  # state changes per pod
    rate: float  # injected fault rate
    seconds: float  # the senders give up past this: a hang fails, never waits


SIZES = {
    "full": Size(pods=20, steps=10, rate=0.24, seconds=240),
    "small": Size(pods=6, steps=5, rate=0.24, seconds=90),
}


@dataclass
class FaultResult(SentThroughProxy):
    """The fault campaign's measures, as figures."""

    def figures(self) -> list[Figure]:
        p, t = self.proxy, self.tally
        injected = self.injected()
        rate = injected / p["requests"] if p.get("requests") else 0.0
        return [
            Figure(
                "faults",
                "API requests through the proxy / forwarded upstream",
                f"{p.get('requests', 0)} / {p.get('forwarded', 0)}",
            ),
            Figure("faults", "API calls failed by injection (rate)", f"{injected} ({rate:.0%})"),
            *[Figure("faults", f"  injected {kind}", p.get(kind, 0)) for kind in KINDS],
            Figure(
                "faults",
                "notifications / re-sends after 5xx or transport error",
                f"{t.notifications} / {t.resends}",
            ),
            Figure("faults", "notifications dropped (4xx) or given up", t.undelivered, zero=True),
            Figure("faults", "failed pods inside 2xx answers", t.failed_entries, zero=True),
            *self.check.figures("faults", "pods with a wrong or missing final label"),
            Figure("faults", "seconds", round(self.seconds, 1)),
        ]


def run(apiserver: Cluster, size: Size, seed: int, workdir: Path) -> FaultResult:
    """Per-group notification sequences through the fault proxy; the newest state must stand."""
    rng = random.Random(seed)
    pods = [f"f{i}-app" for i in range(size.pods)]
    namespace = new_pods(apiserver, "rel-faults", pods)
    truth: dict[str, State] = {}
    sequences = []
    for g, group in enumerate(groups_of(rng, pods)):
        bodies, newest = group_sequence(rng, namespace, f'{{}}:{{group="{g}"}}', group, size.steps)
        truth.update(newest)
        sequences.append(bodies)
    result = FaultResult()
    started = time.perf_counter()
    with servers_behind_proxy(apiserver, workdir, "faults", 1, size.rate, seed, 50, result.proxy) as (
        server,
    ):
        until = time.monotonic() + size.seconds

        def send_group(bodies: list[bytes]) -> None:
            for body in bodies:  # in order, each until it is delivered, as Alertmanager does
                result.tally.add(deliver(server.url, body, until=until))

        run_threads(send_group, [(bodies,) for bodies in sequences], "group", size.seconds + 45)
    result.check.compare(apiserver, namespace, truth)
    result.seconds = time.perf_counter() - started
    return result
