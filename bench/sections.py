"""The sections of a benchmark run, in the order they run; each adds its rows to the table.

See bench.run for what each measures and why the runs are interleaved.
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import time

from bench.floor import Floor
from bench.harness import (
    BenchError,
    Fleet,
    Proc,
    Series,
    Webhook,
    median,
    ms,
    vm_hwm_mb,
)
from bench.session import (
    BENCH,
    COLD_START,
    FLOOR_CONCURRENCY,
    FLOOR_RATIO,
    NATIVE_NS,
    OLD_SPEEDUP,
    PY,
    RSS_FLAT_MB,
    RSS_MB,
    Bench,
    incomplete,
    note,
    post_checked,
)
from testbed.net import free_port


def classification(bench: Bench) -> None:
    from bench.micro import classification as measure

    n = bench.sizes.classify_alerts
    per = measure(n)
    native_ns = per["native"] * 1e9
    bench.table.judge(
        f"classification: native lib.cal_classify, {n:,} alerts",
        f"{native_ns:.1f} ns/alert",
        f"<= {NATIVE_NS:.0f} ns/alert",
        native_ns <= NATIVE_NS,
    )
    bench.table.add(
        f"classification: Classifier.classify (wrapper), {n:,} alerts",
        f"{per['wrapper'] * 1e9:,.0f} ns/alert (cffi arrays built from Python)",
    )
    bench.table.add(
        f"classification: Python side, parse + classify + plan, {n:,} alerts",
        f"{per['python'] * 1e6:.1f} us/alert (no API)",
    )


def cold_start(bench: Bench) -> None:
    """Interleaved: ours (start -> pod labeled), then hello-world (start -> answer)."""
    fleet = bench.fleet("cold", 1)
    ours, hello = [], []
    for i in range(bench.sizes.cold_runs):
        ours.append(_cold_once(bench.function(f"cold-ours-{i}"), fleet.next_payload(), labeled=1))
        port = free_port()
        proc = Proc(
            f"cold-hello-{i}",
            [
                PY,
                "-m",
                "functions_framework",
                "--target",
                "hello",
                "--source",
                "bench/hello.py",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            bench.env,
            bench.work,
            port,
        )
        hello.append(_cold_once(proc, b"{}", labeled=None))
    bench.admin.check_labels(fleet)
    ours_s, hello_s = median(ours), median(hello)
    runs = f"median of {len(ours)}; min {ms(min(ours))}, max {ms(max(ours))}"
    bench.table.judge(
        "cold start: ours, process start -> webhook answered, pod labeled",
        f"{ms(ours_s)} ({runs})",
        f"<= {COLD_START * 1000:.0f} ms",
        ours_s <= COLD_START,
    )
    bench.table.add(
        "cold start: hello-world functions-framework, process start -> answer",
        f"{ms(hello_s)} (median of {len(hello)}; min {ms(min(hello))}, max {ms(max(hello))})",
    )
    bench.table.add("cold start: ours / hello-world", f"{ours_s / hello_s:.2f}x")


def _cold_once(proc: Proc, body: bytes, *, labeled: int | None) -> float:
    """Seconds from spawning `proc` to the full answer of its first POST (retried until it listens)."""
    proc.start()
    try:
        deadline = proc.running.started + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=60)
                conn.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                seconds = time.perf_counter() - proc.running.started
                conn.close()
                break
            except (ConnectionRefusedError, ConnectionResetError):
                proc.running.check_alive()
                if time.perf_counter() > deadline:
                    raise BenchError(f"{proc.name}: no answer within 60 s") from None
                time.sleep(0.002)
        if resp.status != 200:
            raise BenchError(f"{proc.name}: {resp.status} {data[:200]!r}")
        if labeled is not None and json.loads(data)["counts"].get("labeled") != labeled:
            raise BenchError(f"{proc.name}: pod not labeled: {data[:300]!r}")
        return seconds
    finally:
        proc.stop()


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
            bench.table.add(
                f"throughput: ours, N={n}",
                series.describe() + incomplete(problems),
                "",
                "INCOMPLETE" if problems else "",
            )
        _big_block(bench, hook, fleets[big], floor_fleet, patch_fleet)
    finally:
        proc.stop()


def _big_block(bench: Bench, hook: Webhook, fleet: Fleet, floor_fleet: Fleet, patch_fleet: Fleet) -> None:
    n, sizes = len(fleet.pods), bench.sizes
    floor = Floor(bench.admin)
    cases = {
        "ours": Series(n),
        "same16": Series(n),
        "same1": Series(n),
        "patch16": Series(n),
        "patch1": Series(n),
    }
    problems: list[str] = []
    for k in range(1 + sizes.payloads[n]):  # round 0 warms every case up
        note(f"N={n}: round {k} (ours, then the floor's cases)")
        seconds, problem = post_checked(hook, fleet.next_payload(), n)
        problems += [problem] if problem else []
        timed = {
            "ours": seconds,
            "same16": floor.round(floor_fleet, concurrency=FLOOR_CONCURRENCY),
            "patch16": floor.round(patch_fleet, concurrency=FLOOR_CONCURRENCY, patch_only=True),
        }
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
    table.add(
        f"throughput: ours, N={n}",
        cases["ours"].describe() + incomplete(problems),
        "",
        "INCOMPLETE" if problems else "",
    )
    label = "conditional PATCH + Event POST; GET first for a pod not written before"
    table.add(f"floor: same requests ({label}), sequential, N={n}", cases["same1"].describe("alerts/s"))
    table.add(
        f"floor: same requests, {FLOOR_CONCURRENCY} in flight, N={n}", cases["same16"].describe("alerts/s")
    )
    table.add(f"floor: PATCH only (reference), sequential, N={n}", cases["patch1"].describe("pods/s"))
    table.add(
        f"floor: PATCH only (reference), {FLOOR_CONCURRENCY} in flight, N={n}",
        cases["patch16"].describe("pods/s"),
    )
    ratio = cases["ours"].p(0.5) / cases["same16"].p(0.5)
    table.judge(
        f"ours / floor (same requests, {FLOOR_CONCURRENCY} in flight), N={n}, time per payload p50",
        f"{ratio:.2f}x (ours {ms(cases['ours'].p(0.5))}, floor {ms(cases['same16'].p(0.5))})",
        f"<= {FLOOR_RATIO}x",
        ratio <= FLOOR_RATIO and not problems,
    )


def old_design(bench: Bench) -> None:
    sizes = bench.sizes
    binary = bench.work / "old" / "classify_and_label"
    binary.parent.mkdir()
    subprocess.run(
        ["g++", "-O2", "-std=c++17", "-o", str(binary), str(BENCH / "old" / "classify_and_label.cpp")],
        check=True,
        timeout=120,
    )
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise BenchError("kubectl is not installed")
    env = dict(bench.env, OLD_CLASSIFIER=str(binary), KUBECTL_CACHE_DIR=str(bench.work / "kcache"))
    port = free_port()
    proc = (
        Proc("old", [PY, str(BENCH / "old" / "app.py")], dict(env, PORT=str(port)), bench.work, port)
        .start()
        .wait_ready()
    )
    try:
        hook = Webhook(port, "/alert", read_timeout=bench.sizes.old_budget * 2 + 30)
        warm = bench.fleet("old-warm", sizes.old_sizes[0])
        _old_payload(hook, warm)  # fills kubectl's discovery cache, as on a running server
        for n in sizes.old_sizes:
            fleet = bench.fleet(f"old-{n}", n)
            series = Series(n, [_old_payload(hook, fleet) for _ in range(sizes.old_payloads[n])])
            bench.admin.check_labels(fleet)
            bench.results[("old", n)] = series
            bench.table.add(f"old design: Flask + process per alert + kubectl, N={n}", series.describe())
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
        bench.table.add(
            f"old design: N={n}",
            f"skipped (too slow): estimated {estimate:.0f} s per payload (> {sizes.old_budget:.0f} s)",
        )
        return
    note(f"old N={n}: one payload, estimated {estimate:.0f} s")
    fleet = bench.fleet(f"old-{n}", n)
    series = Series(n, [_old_payload(hook, fleet)])
    bench.admin.check_labels(fleet)
    bench.results[("old", n)] = series
    bench.table.add(
        f"old design: Flask + process per alert + kubectl, N={n}",
        series.describe() + f"; estimated {estimate:.0f} s",
    )


def _old_ratios(bench: Bench) -> None:
    target_n = bench.sizes.sizes[1]
    for (kind, n), old in sorted(bench.results.items()):
        ours = bench.results.get(("ours", n))
        if kind != "old" or ours is None:
            continue
        speedup = ours.rate / old.rate
        measure = f"ours vs old design, N={n}, alerts/s ratio"
        if n == target_n:
            bench.table.judge(
                measure, f"{speedup:,.1f}x faster", f">= {OLD_SPEEDUP:.0f}x", speedup >= OLD_SPEEDUP
            )
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
            workers = proc.running.children()
            peaks.append(
                (sent, vm_hwm_mb(proc.running.pid), sum(vm_hwm_mb(w) for w in workers), list(problems))
            )
            note(f"memory after {sent:,} alerts: master {peaks[-1][1]:.1f} MB, worker {peaks[-1][2]:.1f} MB")
        bench.admin.check_labels(fleet)
    finally:
        proc.stop()
    for count, master, worker, so_far in peaks:
        bench.table.judge(
            f"memory: VmHWM after {count:,} alerts ({n}-alert payloads)",
            f"worker {worker:.1f} MB, master {master:.1f} MB, sum "
            f"{master + worker:.1f} MB" + incomplete(so_far),
            f"<= {RSS_MB:.0f} MB per process",
            max(master, worker) <= RSS_MB,
        )
    (c1, m1, w1, _), (c2, m2, w2, _) = peaks
    growth = max(w2 - w1, m2 - m1)
    bench.table.judge(
        f"memory: growth {c1:,} -> {c2:,} alerts",
        f"worker {w2 - w1:+.1f} MB, master {m2 - m1:+.1f} MB",
        f"flat (<= {RSS_FLAT_MB:.0f} MB)",
        growth <= RSS_FLAT_MB,
    )
