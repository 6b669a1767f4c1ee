"""The storm table: 1k / 5k / 10k KWOK pods side by side (testbed/campaigns/storm.py runs each).

Usage: `.venv/bin/python -m bench.storm [--sizes 1000,5000,10000] [--workers 1]
[--no-events-run]`; `make bench` runs it with the defaults.  Each size is a fresh cluster
(1.34 apiserver, KWOK, namespaces of 500 pods, 10 fake nodes), Alertmanager on the shipped
route (its timers as shipped; `--scale 3` divides them as the test does) and one function
server: a steady phase (every pod `normal`), the storm (every pod to `panne`), the
calm (every pod back to `normal`), then the floor.  A run with
EMIT_EVENTS=false at the first size gives the requests per pod without Events.

Times: "from the first notification" (the function's own log) is what the function and the
API spend; "from the post" adds Alertmanager's wait (group_wait for the storm, up to
group_interval for the calm).  ours / floor compares the first with a minimal
keep-alive client patching the same pods' label, as many in flight as the function's
PATCH_CONCURRENCY x WORKERS, after the calm phase (the function and Alertmanager idle).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Table
from bench.run import machine
from function.config import Settings
from testbed.campaigns import storm
from testbed.platforms.clis import KWOK_VERSION

TARGETS = {
    "seconds": 120.0,  # 5k pods right within this and 3x the floor
    "floor": 3.0,
    "calls": 2.2,  # API requests per changed pod, Events on
    "calls_quiet": 1.2,  # Events off
    "growth": 1.5,  # per-pod cost at 10k / at 1k
}


def run_size(pods: int, workers: int, env: dict, keep: bool, scale: float) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"cal-storm-{pods}-"))
    started = time.monotonic()
    cluster = storm.KwokCluster(work, pods).start()
    setup = time.monotonic() - started
    result: dict = {"pods": pods, "namespaces": len(cluster.namespaces), "setup": setup}
    try:
        harness = storm.Storm(
            cluster,
            amtool=_tool("amtool"),
            alertmanager=_tool("prometheus-alertmanager"),
            env={"WORKERS": str(workers), **env},
            scale=scale,
        )
        try:
            result["phases"] = [harness.steady(300), harness.storm(300), harness.calm(300)]
            # The floor once the phases are done: the function and Alertmanager idle, KWOK done
            # with the pods' status (right after set-up it still loads the apiserver).  Not
            # between phases: its writes would make the function's last write of each pod
            # stale (a 409, a read and a second PATCH: a cost the storm would then show).
            result["floor"] = cluster.floor(Settings().patch_concurrency * workers)
            result["rss"] = harness.rss_mb()
        finally:
            harness.stop()  # the function sends the Events still in its outbox before it exits
        # One Event per label change: none -> normal -> panne -> normal (Events on).
        events = harness.events()
        want = 0 if env.get("EMIT_EVENTS") == "false" else 3
        result["duplicate_events"] = sum(max(0, events[k] - want) for k in cluster.pods)
        result["missing_events"] = sum(max(0, want - events[k]) for k in cluster.pods)
    finally:
        cluster.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"storm {pods}: logs kept in {work}", file=sys.stderr)
    return result


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} is missing: run `make deps-monitoring`")
    return path


def _s(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.1f} s"


def table(results: list[dict], quiet: dict | None) -> Table:
    t = Table()
    sizes = " / ".join(f"{r['pods']:,}" for r in results)
    t.add("pods (namespaces of 500, 10 fake nodes)", sizes)

    def row(measure: str, cell, target: str = "", ok=None) -> None:
        figure = " / ".join(cell(r) for r in results)
        if ok is None:
            t.add(measure, figure, target)
        else:
            t.judge(measure, figure, target, ok)

    for i, name in ((1, "storm (-> panne)"), (2, "calm (-> normal)")):
        row(
            f"{name}: every pod right, from the first notification (from the post)",
            lambda r, i=i: f"{_s(r['phases'][i].from_first)} ({_s(r['phases'][i].from_post)})",
        )
        row(f"{name}: pods/s", lambda r, i=i: f"{r['phases'][i].rate or 0:,.0f}")
        row(
            f"{name}: API requests per changed pod",
            lambda r, i=i: f"{r['phases'][i].per_pod:.2f}",
            f"<= {TARGETS['calls']}",
            all(r["phases"][i].per_pod <= TARGETS["calls"] for r in results),
        )
        row(f"{name}: requests by kind", lambda r, i=i: _kinds(r["phases"][i]))
        row(
            f"{name}: wrong labels at the end",
            lambda r, i=i: str(len(r["phases"][i].wrong)),
            "0",
            all(not r["phases"][i].wrong for r in results),
        )
    row("429s the apiserver answered (both phases)", lambda r: str(sum(p.throttled for p in r["phases"])))
    row(
        "Alertmanager: notifications / failed requests / failed notifications",
        lambda r: " ".join(
            f"{p.notifications}/{p.failed_requests}/{p.failed_notifications}" for p in r["phases"]
        ),
        "0 failed notifications",
        all(p.failed_notifications == 0 for r in results for p in r["phases"]),
    )
    row("function's peak RSS", lambda r: f"{r['rss']:.1f} MB")
    row(
        "CpuLevelChanged Events: duplicate / missing (3 changes per pod)",
        lambda r: f"{r['duplicate_events']} / {r['missing_events']}",
        "0 / 0",
        all(r["duplicate_events"] == 0 and r["missing_events"] == 0 for r in results),
    )
    row("floor: PATCH every pod's label, same concurrency", lambda r: f"{r['floor']:.1f} s")
    ratios = {r["pods"]: (r["phases"][1].from_first or float("inf")) / r["floor"] for r in results}
    five = next((r for r in results if r["pods"] == 5000), None)
    row(
        "storm: ours / floor",
        lambda r: f"{ratios[r['pods']]:.1f}x",
        f"5k: <= {TARGETS['floor']:g}x and <= {TARGETS['seconds']:g} s",
        five is None
        or (ratios[5000] <= TARGETS["floor"] and (five["phases"][1].from_first or 1e9) <= TARGETS["seconds"]),
    )
    per_pod = {r["pods"]: (r["phases"][1].from_first or float("inf")) / r["pods"] * 1000 for r in results}
    first = results[0]["pods"]
    row(
        "storm: per-pod cost (ms), and / the smallest size",
        lambda r: f"{per_pod[r['pods']]:.2f} ({per_pod[r['pods']] / per_pod[first]:.2f}x)",
        f"10k: <= {TARGETS['growth']}x of 1k",
        10000 not in per_pod or per_pod[10000] / per_pod[first] <= TARGETS["growth"],
    )
    row("cluster set-up (pods created, Running)", lambda r: f"{r['setup']:.0f} s")
    row(
        "steady: every pod labeled normal, from the post (the normal route's group_wait, scaled)",
        lambda r: _s(r["phases"][0].from_post),
    )
    if quiet is not None:
        per = max(p.per_pod for p in quiet["phases"][1:])
        t.judge(
            f"API requests per changed pod, EMIT_EVENTS=false ({quiet['pods']:,} pods; storm / calm)",
            " / ".join(f"{p.per_pod:.2f}" for p in quiet["phases"][1:]),
            f"<= {TARGETS['calls_quiet']}",
            per <= TARGETS["calls_quiet"],
        )
    return t


def _kinds(phase: storm.Phase) -> str:
    return ", ".join(f"{kind} {count / phase.pods:.2f}" for kind, count in sorted(phase.requests.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--workers", type=int, default=1, help="function processes sharing one socket")
    parser.add_argument("--no-events-run", action="store_true", help="skip the EMIT_EVENTS=false run")
    parser.add_argument("--keep", action="store_true", help="keep each size's scratch directory (logs)")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="divide the route's timers (1: as shipped; the test uses 3)"
    )
    args = parser.parse_args(argv)
    if problem := storm.missing():
        raise SystemExit(problem)
    sizes = [int(s) for s in args.sizes.split(",")]
    began = time.monotonic()
    keep = args.keep
    results = [run_size(n, args.workers, {}, keep, args.scale) for n in sizes]
    quiet = (
        None
        if args.no_events_run
        else run_size(sizes[0], args.workers, {"EMIT_EVENTS": "false"}, keep, args.scale)
    )
    print(machine())
    print(
        f"kube-apiserver {storm.RELEASES['1.34']}, KWOK {KWOK_VERSION}, function WORKERS={args.workers}; "
        f"the shipped route's timers divided by {args.scale:g}; run took {time.monotonic() - began:.0f} s"
    )
    print()
    print(table(results, quiet).render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
