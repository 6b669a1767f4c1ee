"""The sections of a benchmark run, in the order they run; each adds its rows to the table.

See bench.run for what each measures and why the runs are interleaved.
"""

from __future__ import annotations

import subprocess

from bench import coldstart
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
from testbed.clusters.node.layout import pinned_kubectl
from testbed.net import free_port
from testbed.paths import ROOT, SOURCE


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
    """Interleaved rounds: hello-world, ours in-cluster, ours from a kubeconfig (bench/coldstart.py)."""
    account = coldstart.service_account(bench.apiserver, bench.work / "serviceaccount")
    envs = {
        "in-cluster": coldstart.in_cluster_env(bench.env, bench.apiserver, account),
        "from a kubeconfig": bench.env,
    }
    fleets = {path: bench.fleet(f"cold-{i}", 1) for i, path in enumerate(envs)}
    hello, ours = coldstart.Runs(), {path: coldstart.Runs() for path in envs}
    for i in range(bench.sizes.cold_runs):
        proc = coldstart.server(
            f"cold-hello-{i}", "bench/hello.py", "hello", bench.env, bench.work, free_port()
        )
        coldstart.cold_once(proc, b"{}", hello, labeled=None)
        for k, (path, env) in enumerate(envs.items()):
            proc = coldstart.server(f"cold-{k}-{i}", SOURCE, "handle", env, bench.work, free_port())
            coldstart.cold_once(proc, fleets[path].next_payload(), ours[path], labeled=1)
    for fleet in fleets.values():
        bench.admin.check_labels(fleet)
    table, hello_s = bench.table, median(hello.seconds)
    table.add("cold start: hello-world functions-framework, process start -> answer", hello.describe())
    for path, runs in ours.items():
        seconds = median(runs.seconds)
        table.judge(
            f"cold start: ours {path}, process start -> webhook answered, pod labeled",
            runs.describe(),
            f"<= {COLD_START * 1000:.0f} ms",
            seconds <= COLD_START,
        )
    for path, runs in ours.items():
        ratio = median(runs.seconds) / hello_s
        if path == "in-cluster":
            limit = coldstart.INCLUSTER_RATIO
            table.judge(
                f"cold start: ours {path} / hello-world", f"{ratio:.2f}x", f"<= {limit}x", ratio <= limit
            )
        else:
            table.add(f"cold start: ours {path} / hello-world", f"{ratio:.2f}x")
    for name, runs in [("hello-world", hello), *((f"ours {p}", r) for p, r in ours.items())]:
        table.add(f"cold start: peak RSS at the first answer, {name}", runs.rss())
    total, top = coldstart.import_profile(envs["in-cluster"], ROOT)
    table.add(
        "cold start: import of function.main beyond hello-world's, in-cluster (-X importtime)",
        f"{total:.0f} ms: " + ", ".join(f"{name} {t:.0f}" for name, t in top),
    )


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
    kubectl = pinned_kubectl()  # the pinned build, first on the old program's PATH
    if not kubectl.exists():
        raise BenchError(f"{kubectl} is missing: make node-binaries")
    path = f"{kubectl.parent}:{bench.env.get('PATH', '')}"
    env = dict(bench.env, PATH=path, OLD_CLASSIFIER=str(binary), KUBECTL_CACHE_DIR=str(bench.work / "kcache"))
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
            # function.server with WORKERS=1 (as deployed) serves in its one process.
            peaks.append((sent, vm_hwm_mb(proc.running.pid), list(problems)))
            note(f"memory after {sent:,} alerts: server {peaks[-1][1]:.1f} MB")
        bench.admin.check_labels(fleet)
    finally:
        proc.stop()
    for count, peak, so_far in peaks:
        bench.table.judge(
            f"memory: VmHWM after {count:,} alerts ({n}-alert payloads)",
            f"server {peak:.1f} MB" + incomplete(so_far),
            f"<= {RSS_MB:.0f} MB",
            peak <= RSS_MB,
        )
    (c1, p1, _), (c2, p2, _) = peaks
    bench.table.judge(
        f"memory: growth {c1:,} -> {c2:,} alerts",
        f"{p2 - p1:+.1f} MB",
        f"flat (<= {RSS_FLAT_MB:.0f} MB)",
        p2 - p1 <= RSS_FLAT_MB,
    )
