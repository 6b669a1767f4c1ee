"""Benchmarks: the function against the old design and against the API server's floor.

Usage: `make bench` (or `.venv/bin/python bench/run.py [--smoke] [--keep]`).

One kube-apiserver (tests/apiserver.py) serves every measurement of the run,
so the figures compare like with like; the table is printed at the end, with
the machine it ran on.  Sections, in the order they run:

- classification: in process, the native batch call, its wrapper, and the
  Python work per alert before any API call (bench/micro.py);
- cold start: process start to the first webhook answered with its pod
  labeled (production server), in-cluster and from a kubeconfig, against a
  bare functions-framework function (bench/hello.py) started the same way,
  runs interleaved; peak RSS at that answer; an import profile
  (bench/coldstart.py);
- throughput and latency: payloads of N alerts over N pods, each payload
  flipping every pod, through the production server (gunicorn as
  functions-framework configures it: 1 worker, cpu*4 threads);
- the floor: at the largest N, rounds of the function's own requests sent by
  a minimal client (bench/floor.py), interleaved with the function's payloads
  so that both see the same machine;
- the old design (bench/old/, baseline only): Flask + a process per alert +
  `kubectl label`, same API server, same payloads;
- memory: VmHWM of a fresh production server after 10k and 50k alerts.

`--smoke` shrinks every size so the whole run takes well under a minute; its
figures mean nothing, it only proves the tooling works (tests/test_bench_smoke.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import coldstart  # noqa: E402
from apiserver import ApiServer, free_port  # noqa: E402
from floor import Floor  # noqa: E402
from harness import (Admin, BenchError, Clock, Fleet, Proc, Series, Table, Webhook,  # noqa: E402
                     median, ms, server_env, vm_hwm_mb)

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


FULL = Sizes(sizes=(10, 100, 1000), payloads={10: 20, 100: 10, 1000: 5},
             old_sizes=(10, 100), old_payloads={10: 5, 100: 3}, old_big=1000, old_budget=70.0,
             floor_seq_rounds=3, cold_runs=5, mem_payload=1000, mem_checkpoints=(10_000, 50_000),
             classify_alerts=10_000)
SMOKE = Sizes(sizes=(4, 8, 16), payloads={4: 2, 8: 2, 16: 2},
              old_sizes=(4, 8), old_payloads={4: 1, 8: 1}, old_big=16, old_budget=70.0,
              floor_seq_rounds=1, cold_runs=2, mem_payload=16, mem_checkpoints=(32, 64),
              classify_alerts=1000)

_STARTED = time.monotonic()


def note(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


# -- the function's processes ---------------------------------------------------------------
class Bench:
    """One run: the API server, the fleets of pods, the processes, the results."""

    def __init__(self, sizes: Sizes, work: Path):
        self.sizes, self.work = sizes, work
        self.table, self.failed = Table(), False
        self.clock = Clock()
        (work / "kube").mkdir()
        self.apiserver = ApiServer(work / "kube")
        self.admin: Admin | None = None
        self.kubeconfig: Path | None = None
        self.env: dict = {}
        self.results: dict = {}

    def start(self) -> None:
        note("starting etcd + kube-apiserver")
        self.apiserver.start()
        self.admin = Admin(self.apiserver)
        self.kubeconfig = self.apiserver.kubeconfig()
        from function.config import documented  # only to strip the function's own variables

        drop = tuple(name for name, _, _ in documented())
        self.env = server_env(self.kubeconfig, self.work, drop=drop)

    def stop(self) -> None:
        self.apiserver.stop()

    def fleet(self, namespace: str, n: int) -> Fleet:
        fleet = Fleet.named(namespace, n, self.clock)
        self.admin.create_pods(namespace, fleet.pods)
        return fleet

    def function(self, name: str) -> Proc:
        port = free_port()
        return Proc(name, [PY, "-m", "functions_framework", "--target", "handle",
                           "--source", "function/main.py", "--host", "127.0.0.1",
                           "--port", str(port)],
                    self.env, self.work / f"{name}.log", port)

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


# -- sections ---------------------------------------------------------------------------------
def classification(bench: Bench) -> None:
    from micro import classification as measure

    n = bench.sizes.classify_alerts
    per = measure(n)
    native_ns = per["native"] * 1e9
    bench.table.judge(f"classification: native lib.cal_classify, {n:,} alerts",
                      f"{native_ns:.1f} ns/alert", f"<= {NATIVE_NS:.0f} ns/alert",
                      native_ns <= NATIVE_NS)
    bench.table.add(f"classification: Classifier.classify (wrapper), {n:,} alerts",
                    f"{per['wrapper'] * 1e9:,.0f} ns/alert (cffi arrays built from Python)")
    bench.table.add(f"classification: Python side, parse + classify + plan, {n:,} alerts",
                    f"{per['python'] * 1e6:.1f} us/alert (no API)")


def cold_start(bench: Bench) -> None:
    """Interleaved rounds: hello-world, ours in-cluster, ours from a kubeconfig (bench/coldstart.py)."""
    account = coldstart.service_account(bench.apiserver, bench.work / "serviceaccount")
    envs = {"in-cluster": coldstart.in_cluster_env(bench.env, bench.apiserver, account),
            "from a kubeconfig": bench.env}
    fleets = {path: bench.fleet(f"cold-{i}", 1) for i, path in enumerate(envs)}
    hello, ours = coldstart.Runs(), {path: coldstart.Runs() for path in envs}
    for i in range(bench.sizes.cold_runs):
        proc = coldstart.server(f"cold-hello-{i}", "bench/hello.py", "hello", bench.env, bench.work,
                                free_port())
        coldstart.cold_once(proc, b"{}", hello, labeled=None)
        for k, (path, env) in enumerate(envs.items()):
            proc = coldstart.server(f"cold-{k}-{i}", "function/main.py", "handle", env, bench.work,
                                    free_port())
            coldstart.cold_once(proc, fleets[path].next_payload(), ours[path], labeled=1)
    for fleet in fleets.values():
        bench.admin.check_labels(fleet)
    table, hello_s = bench.table, median(hello.seconds)
    table.add("cold start: hello-world functions-framework, process start -> answer", hello.describe())
    for path, runs in ours.items():
        seconds = median(runs.seconds)
        table.judge(f"cold start: ours {path}, process start -> webhook answered, pod labeled",
                    runs.describe(), f"<= {COLD_START * 1000:.0f} ms", seconds <= COLD_START)
    for path, runs in ours.items():
        ratio = median(runs.seconds) / hello_s
        if path == "in-cluster":
            table.judge(f"cold start: ours {path} / hello-world", f"{ratio:.2f}x",
                        f"<= {coldstart.INCLUSTER_RATIO}x", ratio <= coldstart.INCLUSTER_RATIO)
        else:
            table.add(f"cold start: ours {path} / hello-world", f"{ratio:.2f}x")
    for name, runs in [("hello-world", hello), *((f"ours {p}", r) for p, r in ours.items())]:
        table.add(f"cold start: peak RSS at the first answer, {name}", runs.rss())
    total, top = coldstart.import_profile(envs["in-cluster"], ROOT)
    table.add("cold start: import of function.main beyond hello-world's, in-cluster (-X importtime)",
              f"{total:.0f} ms: " + ", ".join(f"{name} {t:.0f}" for name, t in top))


def throughput(bench: Bench) -> None:
    """Ours at every size; at the largest, interleaved with the floor's rounds."""
    sizes = bench.sizes
    fleets = {n: bench.fleet(f"ours-{n}", n) for n in sizes.sizes}
    big = sizes.sizes[-1]
    floor_fleet = bench.fleet(f"floor-{big}", big)
    # Its own pods: a bare PATCH moves their resourceVersion under the conditional floor.
    patch_fleet = bench.fleet(f"patch-{big}", big)
    proc = bench.function("ours").start().wait_ready()
    try:
        hook = Webhook(proc.port)
        for n in sizes.sizes[:-1]:
            note(f"ours N={n}")
            series, problems = Series(n), []
            for k in range(1 + sizes.payloads[n]):
                seconds, problem = post_checked(hook, fleets[n].next_payload(), n)
                if k:  # the first payload warms up (the client is built in the worker)
                    series.seconds.append(seconds)
                problems += [problem] if problem else []
            bench.admin.check_labels(fleets[n])
            bench.results[("ours", n)] = series
            bench.table.add(f"throughput: ours, N={n}", series.describe() + incomplete(problems),
                            "", "INCOMPLETE" if problems else "")
        _big_block(bench, hook, fleets[big], floor_fleet, patch_fleet)
    finally:
        proc.stop()


def _big_block(bench: Bench, hook: Webhook, fleet: Fleet, floor_fleet: Fleet,
               patch_fleet: Fleet) -> None:
    n, sizes = len(fleet.pods), bench.sizes
    floor = Floor(bench.admin)
    cases = {"ours": Series(n), "same16": Series(n), "same1": Series(n),
             "patch16": Series(n), "patch1": Series(n)}
    problems: list[str] = []
    for k in range(1 + sizes.payloads[n]):  # round 0 warms every case up
        note(f"N={n}: round {k} (ours, then the floor's cases)")
        seconds, problem = post_checked(hook, fleet.next_payload(), n)
        problems += [problem] if problem else []
        timed = {"ours": seconds,
                 "same16": floor.round(floor_fleet, concurrency=FLOOR_CONCURRENCY),
                 "patch16": floor.round(patch_fleet, concurrency=FLOOR_CONCURRENCY,
                                        patch_only=True)}
        if k <= sizes.floor_seq_rounds:
            timed["same1"] = floor.round(floor_fleet, concurrency=1)
            timed["patch1"] = floor.round(patch_fleet, concurrency=1, patch_only=True)
        if k:
            for case, value in timed.items():
                cases[case].seconds.append(value)
    bench.admin.check_labels(fleet)
    bench.admin.check_labels(floor_fleet)
    bench.admin.check_labels(patch_fleet)
    bench.results[("ours", n)] = cases["ours"]
    table = bench.table
    table.add(f"throughput: ours, N={n}", cases["ours"].describe() + incomplete(problems), "",
              "INCOMPLETE" if problems else "")
    label = "conditional PATCH + Event POST; GET first for a pod not written before"
    table.add(f"floor: same requests ({label}), sequential, N={n}",
              cases["same1"].describe("alerts/s"))
    table.add(f"floor: same requests, {FLOOR_CONCURRENCY} in flight, N={n}",
              cases["same16"].describe("alerts/s"))
    table.add(f"floor: PATCH only (reference), sequential, N={n}",
              cases["patch1"].describe("pods/s"))
    table.add(f"floor: PATCH only (reference), {FLOOR_CONCURRENCY} in flight, N={n}",
              cases["patch16"].describe("pods/s"))
    ratio = cases["ours"].p(0.5) / cases["same16"].p(0.5)
    table.judge(f"ours / floor (same requests, {FLOOR_CONCURRENCY} in flight), N={n}, "
                "time per payload p50", f"{ratio:.2f}x (ours {ms(cases['ours'].p(0.5))}, floor "
                f"{ms(cases['same16'].p(0.5))})", f"<= {FLOOR_RATIO}x",
                ratio <= FLOOR_RATIO and not problems)


def old_design(bench: Bench) -> None:
    sizes = bench.sizes
    binary = bench.work / "old" / "classify_and_label"
    binary.parent.mkdir()
    subprocess.run(["g++", "-O2", "-std=c++17", "-o", str(binary),
                    str(BENCH / "old" / "classify_and_label.cpp")], check=True, timeout=120)
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise BenchError("kubectl is not installed")
    env = dict(bench.env, OLD_CLASSIFIER=str(binary), KUBECTL_CACHE_DIR=str(bench.work / "kcache"))
    port = free_port()
    proc = Proc("old", [PY, str(BENCH / "old" / "app.py")], dict(env, PORT=str(port)),
                bench.work / "old.log", port).start().wait_ready()
    try:
        hook = Webhook(port, "/alert", read_timeout=bench.sizes.old_budget * 2 + 30)
        warm = bench.fleet("old-warm", sizes.old_sizes[0])
        _old_payload(hook, warm)  # fills kubectl's discovery cache, as on a running server
        for n in sizes.old_sizes:
            fleet = bench.fleet(f"old-{n}", n)
            series = Series(n, [_old_payload(hook, fleet) for _ in range(sizes.old_payloads[n])])
            bench.admin.check_labels(fleet)
            bench.results[("old", n)] = series
            bench.table.add(f"old design: Flask + process per alert + kubectl, N={n}",
                            series.describe())
        _old_big(bench, hook)
    finally:
        proc.stop()
    _old_ratios(bench)


def _old_payload(hook: Webhook, fleet: Fleet) -> float:
    seconds, status, data = hook.post(fleet.next_payload())
    if status != 200:
        raise BenchError(f"old design answered {status}: {data[:200]!r}")
    return seconds


def _old_big(bench: Bench, hook: Webhook) -> None:
    sizes = bench.sizes
    n, last = sizes.old_big, bench.results[("old", sizes.old_sizes[-1])]
    estimate = last.p(0.5) / last.n * n
    if estimate > sizes.old_budget:
        bench.table.add(f"old design: N={n}",
                        f"skipped (too slow): estimated {estimate:.0f} s per payload "
                        f"(> {sizes.old_budget:.0f} s)")
        return
    note(f"old N={n}: one payload, estimated {estimate:.0f} s")
    fleet = bench.fleet(f"old-{n}", n)
    series = Series(n, [_old_payload(hook, fleet)])
    bench.admin.check_labels(fleet)
    bench.results[("old", n)] = series
    bench.table.add(f"old design: Flask + process per alert + kubectl, N={n}",
                    series.describe() + f"; estimated {estimate:.0f} s")


def _old_ratios(bench: Bench) -> None:
    target_n = bench.sizes.sizes[1]
    for (kind, n), old in sorted(bench.results.items()):
        ours = bench.results.get(("ours", n))
        if kind != "old" or ours is None:
            continue
        speedup = ours.rate / old.rate
        measure = f"ours vs old design, N={n}, alerts/s ratio"
        if n == target_n:
            bench.table.judge(measure, f"{speedup:,.1f}x faster", f">= {OLD_SPEEDUP:.0f}x",
                              speedup >= OLD_SPEEDUP)
        else:
            bench.table.add(measure, f"{speedup:,.1f}x faster")


def memory(bench: Bench) -> None:
    sizes = bench.sizes
    n = sizes.mem_payload
    fleet = bench.fleet(f"mem-{n}", n)
    proc = bench.function("memory").start().wait_ready()
    try:
        hook = Webhook(proc.port)
        sent, problems, peaks = 0, [], []
        for checkpoint in sizes.mem_checkpoints:
            while sent < checkpoint:
                _, problem = post_checked(hook, fleet.next_payload(), n)
                problems += [problem] if problem else []
                sent += n
            workers = proc.children()
            peaks.append((sent, vm_hwm_mb(proc.popen.pid), sum(vm_hwm_mb(w) for w in workers),
                          list(problems)))
            note(f"memory after {sent:,} alerts: master {peaks[-1][1]:.1f} MB, "
                 f"worker {peaks[-1][2]:.1f} MB")
        bench.admin.check_labels(fleet)
    finally:
        proc.stop()
    for count, master, worker, so_far in peaks:
        bench.table.judge(f"memory: VmHWM after {count:,} alerts ({n}-alert payloads)",
                          f"worker {worker:.1f} MB, master {master:.1f} MB, sum "
                          f"{master + worker:.1f} MB" + incomplete(so_far),
                          f"<= {RSS_MB:.0f} MB per process", max(master, worker) <= RSS_MB)
    (c1, m1, w1, _), (c2, m2, w2, _) = peaks
    growth = max(w2 - w1, m2 - m1)
    bench.table.judge(f"memory: growth {c1:,} -> {c2:,} alerts",
                      f"worker {w2 - w1:+.1f} MB, master {m2 - m1:+.1f} MB",
                      f"flat (<= {RSS_FLAT_MB:.0f} MB)", growth <= RSS_FLAT_MB)


# -- the run -------------------------------------------------------------------------------------
def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"machine: nproc {len(os.sched_getaffinity(0))} ({os.cpu_count()} online), {model}; "
            f"Python {platform.python_version()} ({sys.executable})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the tooling only")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (logs)")
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    work = Path(tempfile.mkdtemp(prefix="cal-bench-"))
    load_before = os.getloadavg()
    bench = Bench(sizes, work)
    try:
        bench.start()
        bench.section("classification", lambda: classification(bench))
        bench.section("cold start", lambda: cold_start(bench))
        bench.section("throughput and floor", lambda: throughput(bench))
        bench.section("old design", lambda: old_design(bench))
        bench.section("memory", lambda: memory(bench))
    finally:
        bench.stop()
        if args.keep or bench.failed:
            note(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    print(machine())
    print(f"load average (1 min): {load_before[0]:.2f} at start, {load_after[0]:.2f} at end; "
          f"run took {time.monotonic() - _STARTED:.0f} s"
          + ("; SMOKE RUN: sizes shrunk, figures meaningless" if args.smoke else ""))
    print()
    print(bench.table.render())
    return 1 if bench.failed else 0


if __name__ == "__main__":
    sys.exit(main())
