"""Campaign `concurrency`: shuffled, repeated states sent at once; no stale label may win.

Several function servers, many sender threads, each pod's states shuffled,
repeated and sent at once to random servers (through the fault proxy at a lower
fault rate); the newest state must win on every pod (no stale overwrite).
"""

from __future__ import annotations

import queue
import random
import time
from dataclasses import dataclass
from pathlib import Path

from testbed.campaigns.figures import Figure
from testbed.campaigns.scenarios import State, pod_notifications
from testbed.campaigns.sender import deliver
from testbed.campaigns.targets import SentThroughProxy, new_pods, run_threads, servers_behind_proxy
from testbed.clusters import Cluster

NAME = "concurrency"


@dataclass(frozen=True)
class Size:
    processes: int
    senders: int
    pods: int
    states: int  # states per pod
    repeat: float  # share of notifications sent again (Alertmanager repeats)
    rate: float  # injected fault rate
    seconds: float  # the senders give up past this: a hang fails, never waits


SIZES = {
    "full": Size(processes=4, senders=64, pods=60, states=8, repeat=0.3, rate=0.1, seconds=240),
    "small": Size(processes=4, senders=50, pods=12, states=4, repeat=0.3, rate=0.1, seconds=90),
}


@dataclass
class ConcurrencyResult(SentThroughProxy):
    """The concurrency campaign's measures, as figures; also how many servers and senders."""

    processes: int = 0
    senders: int = 0

    def figures(self) -> list[Figure]:
        t, p = self.tally, self.proxy
        injected = self.injected()
        outcomes = ", ".join(f"{k} {n}" for k, n in sorted(t.outcomes.items()))
        return [
            Figure(
                "concurrency", "function processes / sender threads", f"{self.processes} / {self.senders}"
            ),
            Figure("concurrency", "notifications / re-sends", f"{t.notifications} / {t.resends}"),
            Figure(
                "concurrency", "API faults injected (of requests)", f"{injected} of {p.get('requests', 0)}"
            ),
            Figure("concurrency", "pod outcomes", outcomes),
            Figure("concurrency", "notifications dropped (4xx) or given up", t.undelivered, zero=True),
            *self.check.figures("concurrency", "stale overwrites (final label not the newest state's)"),
            Figure("concurrency", "seconds", round(self.seconds, 1)),
        ]


def run(apiserver: Cluster, size: Size, seed: int, workdir: Path) -> ConcurrencyResult:
    """Every pod's states shuffled, repeated and sent at once to random processes."""
    rng = random.Random(seed)
    pods = [f"c{i}-app" for i in range(size.pods)]
    namespace = new_pods(apiserver, "rel-conc", pods)
    jobs: list[bytes] = []
    truth: dict[str, State] = {}
    for pod in pods:
        sent, truth[pod] = pod_notifications(rng, namespace, pod, size.states, size.repeat)
        jobs.extend(sent)
    rng.shuffle(jobs)
    work: queue.SimpleQueue[bytes] = queue.SimpleQueue()
    for body in jobs:
        work.put(body)
    result = ConcurrencyResult(processes=size.processes, senders=size.senders)
    started = time.perf_counter()
    with servers_behind_proxy(
        apiserver, workdir, "conc", size.processes, size.rate, seed + 1, 100, result.proxy
    ) as started_servers:
        urls = [s.url for s in started_servers]
        until = time.monotonic() + size.seconds

        def sender() -> None:
            while True:
                try:
                    body = work.get_nowait()
                except queue.Empty:
                    return
                result.tally.add(deliver(lambda: random.choice(urls), body, until=until))

        run_threads(sender, [()] * size.senders, "sender", size.seconds + 45)
    result.check.compare(apiserver, namespace, truth)
    result.seconds = time.perf_counter() - started
    return result
