"""Campaign `load`: concurrent keep-alive senders against the production server (function.server).

Mostly repeats, some changes, several workers: errors must be zero; p50 and p99
latency and throughput are printed, never judged.
"""

from __future__ import annotations

import collections
import http.client
import random
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from testbed.campaigns.figures import Figure
from testbed.campaigns.scenarios import T0, State, alert_json, body, random_state
from testbed.campaigns.sender import post
from testbed.campaigns.targets import new_pods, run_threads, servers
from testbed.clusters import Cluster

NAME = "load"


@dataclass(frozen=True)
class Size:
    workers: int  # server worker processes (WORKERS)
    senders: int
    requests: int  # per sender
    pods: int
    seconds: float  # the senders stop past this: a hang fails, never waits


SIZES = {
    "full": Size(workers=3, senders=16, requests=150, pods=24, seconds=240),
    "small": Size(workers=2, senders=8, requests=20, pods=8, seconds=90),
}


@dataclass
class LoadResult:
    workers: int = 0
    senders: int = 0
    requests: int = 0
    alerts: int = 0
    errors: int = 0
    error_kinds: collections.Counter = field(default_factory=collections.Counter)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else 0.0

    def details(self) -> list[str]:
        return []

    def figures(self) -> list[Figure]:
        per = self.requests // self.senders if self.senders else 0
        return [
            Figure("load", "server workers / senders x payloads", f"{self.workers} / {self.senders} x {per}"),
            Figure("load", "requests answered / alerts in them", f"{self.requests} / {self.alerts}"),
            Figure("load", "errors (non-2xx or transport)", self.errors, zero=True),
            Figure("load", "errors by kind", dict(self.error_kinds) or "none"),
            Figure(
                "load", "latency p50 / p99 (ms)", f"{self.percentile(0.5):.1f} / {self.percentile(0.99):.1f}"
            ),
            Figure(
                "load",
                "throughput (requests/s)",
                round(self.requests / self.seconds, 1) if self.seconds else 0,
            ),
            Figure("load", "seconds", round(self.seconds, 1)),
        ]


def run(apiserver: Cluster, size: Size, seed: int, workdir: Path) -> LoadResult:
    """Concurrent keep-alive senders against the production server; mostly repeats, some changes."""
    pods = [f"l{i}-app" for i in range(size.pods)]
    namespace = new_pods(apiserver, "rel-load", pods)
    clock = [T0]
    clock_lock = threading.Lock()

    def tick() -> datetime:
        with clock_lock:
            clock[0] += timedelta(milliseconds=10)
            return clock[0]

    result = LoadResult(workers=size.workers, senders=size.senders)
    lock = threading.Lock()
    env = {"KUBECONFIG": str(apiserver.kubeconfig())}
    with servers(workdir, "load", 1, env, workers=size.workers) as (server,):
        parts = urllib.parse.urlsplit(server.url)

        def sender(index: int, count: int, record: bool) -> None:
            rng = random.Random(seed * 1000 + index)
            last: dict[str, State] = {}
            conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
            for _ in range(count):
                if time.monotonic() > until:  # requests not sent show as missing from the count
                    break
                group = rng.sample(pods, rng.randint(1, 3))
                for pod in group:
                    if pod not in last or rng.random() < 0.2:
                        last[pod] = random_state(rng, tick())
                sent = body("{}:{load}", [alert_json(namespace, p, last[p]) for p in group])
                begun = time.perf_counter()
                try:
                    status, _ = post(server.url, sent, conn=conn)
                    error = None if 200 <= status < 300 else str(status)
                except (OSError, http.client.HTTPException) as exc:
                    error = type(exc).__name__
                    conn.close()
                    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
                elapsed = time.perf_counter() - begun
                if record:
                    with lock:
                        result.requests += 1
                        result.alerts += len(group)
                        result.latencies.append(elapsed)
                        if error:
                            result.errors += 1
                            result.error_kinds[error] += 1
            conn.close()

        until = time.monotonic() + size.seconds
        # Warm-up (not measured): every worker builds its client and thread pool.
        run_threads(sender, [(-1 - i, 4, False) for i in range(size.workers * 2)], "warm")
        started = time.perf_counter()
        run_threads(sender, [(i, size.requests, True) for i in range(size.senders)], "load")
        result.seconds = time.perf_counter() - started
    return result
