"""Plumbing shared by the benchmarks: the API server's admin client, payloads, processes, figures.

Bench-only.  Everything talks to 127.0.0.1 and every wait is bounded: HTTP
calls carry timeouts, polling loops carry deadlines, processes are stopped by
the id this module started them with.  Payloads always do real work: each one
flips every pod between two states (critical firing, then resolved -> normal)
at a strictly later alert time, so neither the function nor the old design can
answer "already labeled" and skip the API.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import urllib3

from testbed.campaigns.storm import Api
from testbed.net import responds
from testbed.paths import ROOT
from testbed.process import Process
from testbed.webhooks import ZERO_TIME, alert, rfc3339, webhook

LABEL = "status"
META = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
META_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
SETUP_CONCURRENCY = 16


class BenchError(RuntimeError):
    """A measurement could not be made, or did not do the work it claims to time."""


# -- the API server, as admin ----------------------------------------------------------
class Admin(Api):
    """A keep-alive urllib3 client to the API server as admin: set-up, checks, the floor."""

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> urllib3.BaseHTTPResponse:
        return self.http.request(method, self.url + path, body=body, headers={**self.auth, **(headers or {})})

    def expect(
        self, status: int, method: str, path: str, doc: object = None, headers: dict | None = None
    ) -> dict:
        body = None if doc is None else json.dumps(doc).encode()
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        resp = self.request(method, path, body, hdrs)
        if resp.status != status:
            raise BenchError(f"{method} {path}: {resp.status} {resp.data[:300]!r}")
        return json.loads(resp.data or b"{}")

    def create_pods(self, namespace: str, names: list[str]) -> None:
        """A namespace holding pods `names` (Pending forever: no scheduler, labels work)."""
        self.expect(
            201,
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        )

        def create(name: str) -> None:
            self.expect(
                201,
                "POST",
                f"/api/v1/namespaces/{namespace}/pods",
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": name, "labels": {"app": "bench"}},
                    "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]},
                },
            )

        run_concurrently(names, create, SETUP_CONCURRENCY)

    def labels(self, namespace: str) -> dict[str, str | None]:
        """pod name -> value of the `status` label, for every pod of `namespace`."""
        doc = self.expect(200, "GET", f"/api/v1/namespaces/{namespace}/pods", headers={"Accept": META_LIST})
        return {
            item["metadata"]["name"]: (item["metadata"].get("labels") or {}).get(LABEL)
            for item in doc["items"]
        }

    def check_labels(self, fleet: Fleet) -> None:
        """Every pod of `fleet` carries the value of its last state, or BenchError."""
        found = self.labels(fleet.namespace)
        wrong = [name for name in fleet.pods if found.get(name) != fleet.value]
        if wrong:
            raise BenchError(
                f"{len(wrong)}/{len(fleet.pods)} pods of {fleet.namespace} are not "
                f"{LABEL}={fleet.value} (e.g. {wrong[0]}={found.get(wrong[0])})"
            )


def run_concurrently(items: list, fn, concurrency: int) -> None:
    """fn(item) for every item, `concurrency` at a time; the first error is raised."""
    if concurrency <= 1:
        for item in items:
            fn(item)
        return
    feed, lock = iter(items), threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        while not errors:
            with lock:
                item = next(feed, None)
            if item is None:
                return
            try:
                fn(item)
            except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(exc)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


# -- payloads ----------------------------------------------------------------------------
class Clock:
    """Alert times that only go forward, one second apart, shared by every fleet."""

    def __init__(self):
        self._next = datetime(2030, 1, 1, tzinfo=timezone.utc)

    def tick(self) -> datetime:
        self._next += timedelta(seconds=1)
        return self._next


@dataclass
class Fleet:
    """Pods of one namespace and the state they flip between, payload after payload."""

    namespace: str
    pods: list[str]
    clock: Clock
    firing: bool = False  # the state last sent; the first payload fires
    value: str | None = None  # the label value every pod should now carry
    fired_at: datetime | None = None
    at: datetime | None = None

    @classmethod
    def named(cls, namespace: str, n: int, clock: Clock) -> Fleet:
        return cls(namespace, [f"pod-{i:04d}" for i in range(n)], clock)

    def flip(self) -> tuple[bool, datetime]:
        """Move to the other state at a later time: (firing, alert time)."""
        self.firing, self.at = not self.firing, self.clock.tick()
        if self.firing:
            self.fired_at = self.at
        self.value = "panne" if self.firing else "normal"
        return self.firing, self.at

    def next_payload(self) -> bytes:
        """An Alertmanager v4 webhook flipping every pod (serialized before any timing)."""
        firing, at = self.flip()
        assert self.fired_at is not None
        status = "firing" if firing else "resolved"
        alerts = [
            alert(
                pod,
                self.namespace,
                status=status,
                cpu="92",
                starts_at=rfc3339(self.fired_at),
                ends_at=ZERO_TIME if firing else rfc3339(at),
                fp=f"{i:016x}",
                labels={"severity": "critical"},
                annotations={"summary": f"CPU of {pod} is at 92%"},
            )
            for i, pod in enumerate(self.pods)
        ]
        return json.dumps(
            webhook(
                alerts,
                group_key=f'{{}}:{{namespace="{self.namespace}"}}',
                groupLabels={"namespace": self.namespace},
                commonLabels={"alertname": "PodCpuFailure", "namespace": self.namespace},
            )
        ).encode()


# -- processes -----------------------------------------------------------------------------
@dataclass
class Proc:
    """A server the bench starts (as a testbed Process) and stops by its own id, never by name."""

    name: str
    argv: list[str]
    env: dict
    log_dir: Path
    port: int
    process: Process | None = None

    def start(self) -> Proc:
        self.process = Process(self.name, self.argv, self.log_dir, env=self.env, cwd=ROOT)
        return self

    @property
    def running(self) -> Process:
        if self.process is None:
            raise BenchError(f"{self.name} was never started")
        return self.process

    def wait_ready(self, path: str = "/healthz", timeout: float = 30.0) -> Proc:
        # Any answer below 500 will do: the old design has no health route.
        url = f"http://127.0.0.1:{self.port}{path}"
        self.running.wait_ready(lambda: responds(url), timeout)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(20)


def vm_hwm_mb(pid: int) -> float:
    """Peak resident set size of `pid` (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmHWM for {pid}")


def server_env(kubeconfig: Path, scratch: Path, *, drop: tuple[str, ...] = ()) -> dict:
    """The environment a server runs with: as deployed, pointed at the bench's API server.

    Every variable the function reads is removed first (`drop`), so a developer's
    shell cannot change what is measured; so are functions-framework's own knobs.
    """
    env = {k: v for k, v in os.environ.items() if k not in drop}
    for key in (
        "KUBERNETES_SERVICE_HOST",
        "KUBERNETES_SERVICE_PORT",
        "WORKERS",
        "THREADS",
        "DEBUG",
        "FUNCTION_TARGET",
        "FUNCTION_SOURCE",
        "FUNCTION_SIGNATURE_TYPE",
        "PORT",
        "FUNCTION_USE_ASGI",
        "CLOUD_RUN_TIMEOUT_SECONDS",
        "PYTHONPROFILEIMPORTTIME",
    ):
        env.pop(key, None)
    # gunicorn (25.1+) puts its control socket under $XDG_RUNTIME_DIR: keep it in scratch.
    env.update(PYTHONPATH=str(ROOT), KUBECONFIG=str(kubeconfig), XDG_RUNTIME_DIR=str(scratch))
    return env


# -- webhooks -------------------------------------------------------------------------------
class Webhook:
    """POSTs pre-serialized bodies to one server over one keep-alive connection."""

    def __init__(self, port: int, path: str = "/", *, read_timeout: float = 60.0):
        self.path = path
        self.pool = urllib3.HTTPConnectionPool(
            "127.0.0.1",
            port,
            maxsize=1,
            block=True,
            retries=False,
            timeout=urllib3.Timeout(connect=5, read=read_timeout),
        )

    def post(self, body: bytes) -> tuple[float, int, bytes]:
        """(seconds from send to full answer, status, answer body)."""
        started = time.perf_counter()
        resp = self.pool.urlopen("POST", self.path, body=body, headers={"Content-Type": "application/json"})
        data = resp.data
        return time.perf_counter() - started, resp.status, data

    def close(self) -> None:
        self.pool.close()


# -- figures ---------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (q in 0..1)."""
    if not values:
        raise BenchError("no samples")
    data = sorted(values)
    pos = q * (len(data) - 1)
    low = int(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def median(values: list[float]) -> float:
    return percentile(values, 0.5)


@dataclass
class Series:
    """Per-payload latencies of one case, each payload carrying `n` alerts."""

    n: int
    seconds: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Alerts per second over all counted payloads."""
        return self.n * len(self.seconds) / sum(self.seconds)

    def p(self, q: float) -> float:
        return percentile(self.seconds, q)

    def describe(self, unit: str = "alerts/s") -> str:
        return (
            f"{self.rate:,.0f} {unit}; p50 {ms(self.p(0.5))}, p99 {ms(self.p(0.99))} "
            f"({len(self.seconds)} payload{'s' if len(self.seconds) != 1 else ''})"
        )


def ms(seconds: float) -> str:
    value = seconds * 1000
    if value >= 100:
        return f"{value:,.0f} ms"
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


@dataclass
class Table:
    """The one table the bench prints: measure, figure, target, verdict."""

    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, measure: str, figure: str, target: str = "", verdict: str = "") -> None:
        self.rows.append((measure, figure, target, verdict))

    def judge(self, measure: str, figure: str, target: str, ok: bool) -> None:
        self.add(measure, figure, target, "PASS" if ok else "MISS")

    def render(self) -> str:
        head = ("measure", "figure", "target", "verdict")
        widths = [max(len(r[i]) for r in [head, *self.rows]) for i in range(4)]
        line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
        rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        return "\n".join([line(head), rule, *map(line, self.rows)])
