"""Cold start, per configuration path, against a bare functions-framework hello (bench only).

What a scale-from-zero user waits for is process start to the first webhook answered
with its pod labeled.  Three servers are started the same way (functions-framework's
production server, as deployed), each timed from spawn to the full answer of its first
POST, in interleaved rounds so that all see the same machine:

- hello: bench/hello.py, the least any function served this way can cost;
- in-cluster: the function as in a pod: KUBERNETES_SERVICE_HOST/PORT and a service
  account directory (token and ca.crt) standing in for /var/run/secrets/...; the
  kubeconfig variable points at nothing, so a silent fallback would fail the run;
- kubeconfig: the function as in development (`make run`), through the client's loader.

Peak RSS (VmHWM) of the server (and of gunicorn's worker, for the hello) is read right
after that first answer.  An import profile (`python -X importtime`) of the in-cluster path, less what
the hello imports too, names where the remaining start-up time goes.
"""

from __future__ import annotations

import collections
import http.client
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import BenchError, Proc, median, ms, vm_hwm_mb
from testbed.functionserver import server_argv

PY = sys.executable
INCLUSTER_RATIO = 1.3  # ours in-cluster over hello, median cold start (issue 13)
PROFILE_RUNS = 3  # import profiles taken; the fastest is shown (the others warm the page cache)


@dataclass
class Runs:
    """The cold starts of one path: seconds, and peak RSS of master and worker (MiB)."""

    seconds: list[float] = field(default_factory=list)
    master_mb: list[float] = field(default_factory=list)
    worker_mb: list[float] = field(default_factory=list)

    def describe(self) -> str:
        s = self.seconds
        return f"{ms(median(s))} (median of {len(s)}; min {ms(min(s))}, max {ms(max(s))})"

    def rss(self) -> str:
        return (
            f"master {max(self.master_mb):.1f} MB, worker {max(self.worker_mb):.1f} MB "
            f"(highest of {len(self.seconds)})"
        )


def service_account(apiserver, directory: Path) -> Path:
    """A pod's service account mount: the admin token and the cluster CA."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "token").write_text(apiserver.users["admin"][0] + "\n")
    (directory / "ca.crt").write_bytes((apiserver.dir / "ca.crt").read_bytes())
    return directory


def in_cluster_env(env: dict, apiserver, directory: Path) -> dict:
    return {
        **env,
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(apiserver.port),
        "SERVICE_ACCOUNT_DIR": str(directory),
        "KUBECONFIG": str(directory / "no-kubeconfig"),
    }


def server(name: str, source: Path | str, target: str, env: dict, work: Path, port: int) -> Proc:
    """Ours under its production server (function.server), anything else under functions-framework's."""
    return Proc(name, server_argv(target, source, port), env, work, port)


def cold_once(proc: Proc, body: bytes, runs: Runs, *, labeled: int | None) -> None:
    """Spawn `proc`, POST `body` until it listens; record the time to the full answer and RSS."""
    proc.start()
    try:
        status, data = _first_answer(proc, body)
        runs.seconds.append(time.perf_counter() - proc.running.started)
        runs.master_mb.append(vm_hwm_mb(proc.running.pid))
        # function.server with WORKERS=1 serves in its own process; gunicorn in a worker.
        runs.worker_mb.append(sum(vm_hwm_mb(pid) for pid in proc.running.children()) or runs.master_mb[-1])
        if status != 200:
            raise BenchError(f"{proc.name}: {status} {data[:200]!r}")
        if labeled is not None and json.loads(data)["counts"].get("labeled") != labeled:
            raise BenchError(f"{proc.name}: pod not labeled: {data[:300]!r}")
    finally:
        proc.stop()


def _first_answer(proc: Proc, body: bytes) -> tuple[int, bytes]:
    deadline = proc.running.started + 60
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=60)
            conn.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            return resp.status, data
        except (ConnectionRefusedError, ConnectionResetError):
            proc.running.check_alive()
            if time.perf_counter() > deadline:
                raise BenchError(f"{proc.name}: no answer within 60 s") from None
            time.sleep(0.002)


def import_profile(env: dict, cwd: Path) -> tuple[float, list[tuple[str, float]]]:
    """(ms to import function.main beyond what hello imports, [(top-level package, ms)])."""
    best: tuple[float, list] | None = None
    for _ in range(PROFILE_RUNS):
        hello = _importtime("import functions_framework", env, cwd)
        ours = _importtime("import functions_framework; import function.main", env, cwd)
        extra = {name: us for name, us in ours.items() if name not in hello}
        by_package: dict[str, float] = collections.defaultdict(float)
        for name, us in extra.items():
            by_package[name.split(".")[0]] += us / 1000
        total = sum(by_package.values())
        if best is None or total < best[0]:
            best = (total, sorted(by_package.items(), key=lambda item: -item[1])[:6])
    assert best is not None  # PROFILE_RUNS >= 1
    return best


def _importtime(code: str, env: dict, cwd: Path) -> dict[str, int]:
    """Self time in µs of every module `code` imports (python -X importtime)."""
    result = subprocess.run(
        [PY, "-X", "importtime", "-c", code],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    selves = {}
    for line in result.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[0].strip().isdigit():
            selves[parts[2].strip()] = int(parts[0])
    return selves
