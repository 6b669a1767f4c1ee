"""One benchmark run's shared state: sizes and targets, the API server, the function's processes.

bench.run drives it; bench.sections measures with it.  Everything talks to
127.0.0.1, and the table collects every figure with the target it is judged by.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.harness import (
    Admin,
    BenchError,
    Clock,
    Fleet,
    Proc,
    Table,
    Webhook,
    server_env,
)
from testbed.clusters.loopback import ApiServer
from testbed.functionserver import server_argv
from testbed.net import free_port
from testbed.paths import SOURCE

BENCH = Path(__file__).resolve().parent

PY = sys.executable
FLOOR_CONCURRENCY = 16  # the function's PATCH_CONCURRENCY default

# Targets, from the issue.
OLD_SPEEDUP = 30.0  # ours alerts/s over the old design's, at N=100
FLOOR_RATIO = 1.3  # ours time per payload over the floor's, at N=1000
COLD_START = 0.5  # seconds
RSS_MB = 80.0  # peak RSS of each process
RSS_FLAT_MB = 5.0  # growth of the peak between the two memory checkpoints
NATIVE_NS = 100.0  # per alert, the native batch call


@dataclass(frozen=True)
class Sizes:
    """How much each section does; FULL is the real run, SMOKE only exercises the tooling."""

    sizes: tuple[int, ...]  # alerts (= pods) per payload; the last one meets the floor
    payloads: dict[int, int]  # counted payloads per size, after one warm-up
    old_sizes: tuple[int, ...]
    old_payloads: dict[int, int]
    old_big: int  # measured only if the estimate from old_sizes[-1] fits old_budget
    old_budget: float  # seconds
    floor_seq_rounds: int  # sequential floor rounds (16-in-flight ones match payloads)
    cold_runs: int
    mem_payload: int
    mem_checkpoints: tuple[int, int]  # alerts
    classify_alerts: int


FULL = Sizes(
    sizes=(10, 100, 1000),
    payloads={10: 20, 100: 10, 1000: 5},
    old_sizes=(10, 100),
    old_payloads={10: 5, 100: 3},
    old_big=1000,
    old_budget=70.0,
    floor_seq_rounds=3,
    cold_runs=5,
    mem_payload=1000,
    mem_checkpoints=(10_000, 50_000),
    classify_alerts=10_000,
)
SMOKE = Sizes(
    sizes=(4, 8, 16),
    payloads={4: 2, 8: 2, 16: 2},
    old_sizes=(4, 8),
    old_payloads={4: 1, 8: 1},
    old_big=16,
    old_budget=70.0,
    floor_seq_rounds=1,
    cold_runs=2,
    mem_payload=16,
    mem_checkpoints=(32, 64),
    classify_alerts=1000,
)

STARTED = time.monotonic()


def note(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


class Bench:
    """One run: the API server, the fleets of pods, the processes, the results."""

    def __init__(self, sizes: Sizes, work: Path):
        self.sizes, self.work = sizes, work
        self.table, self.failed = Table(), False
        self.clock = Clock()
        (work / "kube").mkdir()
        self.apiserver = ApiServer(work / "kube")
        self._admin: Admin | None = None
        self.kubeconfig: Path | None = None
        self.env: dict = {}
        self.results: dict = {}

    def start(self) -> None:
        note("starting etcd + kube-apiserver")
        self.apiserver.start()
        self._admin = Admin(self.apiserver)
        self.kubeconfig = self.apiserver.kubeconfig()
        from function.config import documented  # only to strip the function's own variables

        drop = tuple(name for name, _, _ in documented())
        self.env = server_env(self.kubeconfig, self.work, drop=drop)

    def stop(self) -> None:
        self.apiserver.stop()

    @property
    def admin(self) -> Admin:
        """The API server's admin client, once start() has run."""
        if self._admin is None:
            raise BenchError("the bench was not started")
        return self._admin

    def fleet(self, namespace: str, n: int) -> Fleet:
        fleet = Fleet.named(namespace, n, self.clock)
        self.admin.create_pods(namespace, fleet.pods)
        return fleet

    def function(self, name: str) -> Proc:
        port = free_port()
        return Proc(
            name,
            server_argv("handle", SOURCE, port),
            self.env,
            self.work,
            port,
        )

    def section(self, name: str, fn) -> None:
        """Run one section; an error becomes a row, and the run's exit status."""
        note(name)
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - any failure is reported in the table
            self.failed = True
            self.table.add(f"{name}: ERROR", f"{type(exc).__name__}: {str(exc)[:160]}", "", "ERROR")
            note(f"{name} failed: {exc!r}")


def post_checked(hook: Webhook, body: bytes, n: int) -> tuple[float, str | None]:
    """Send one payload to the function; (seconds, None) if every pod was labeled."""
    seconds, status, data = hook.post(body)
    try:
        counts = json.loads(data).get("counts", {})
    except ValueError:
        counts = {}
    if status != 200 or counts.get("labeled") != n:
        return seconds, f"{status} {counts}"
    return seconds, None


def incomplete(problems: list[str]) -> str:
    return f"; {len(problems)} payload(s) NOT fully labeled: {problems[0]}" if problems else ""
