"""Quiet when nothing changes: a steady cluster's notifications per hour, and the share of
time a function scaled to zero by Knative could stay there.

Usage: `.venv/bin/python -m bench.quiet [--pods 1000] [--scale 1800] [--window 150]
[--route FILE]`.  A 1.34 apiserver with the pods (KWOK, namespaces of 500), the function,
and Alertmanager on the shipped route (or `--route FILE`, an earlier design) with every
timer divided by `scale`; every pod's PodCpuNormal fires (the steady state of a cluster
where no level changes), and after one repeat_interval (the first re-sends) the function's
log is read over `window` seconds, which at
that scale stand for window x scale seconds of a real cluster.  Knative keeps a Revision
up for its stable window plus the grace period (60 s + 30 s by default) after the last
request: each notification holds it up from its arrival for its duration plus 90 s (real
time), and the rest is the share at zero.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from testbed.campaigns import storm
from testbed.chain import configs

KNATIVE_IDLE = 60.0 + 30.0  # stable window + scale-to-zero grace period, Knative's defaults


def share_at_zero(arrivals: list[tuple[float, float]], span: float, idle: float = KNATIVE_IDLE) -> float:
    """The share of `span` seconds not covered by [arrival, arrival + duration + idle] of any
    notification, (arrival, duration) pairs in real seconds from the window's start."""
    covered, end = 0.0, 0.0
    for start, duration in sorted(arrivals):
        stop = min(span, start + duration + idle)
        if stop > end:
            covered += stop - max(start, end)
            end = stop
    return max(0.0, 1 - covered / span)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--scale", type=float, default=1800.0, help="every route timer divided by this")
    parser.add_argument("--window", type=float, default=150.0, help="seconds listened to (scaled time)")
    parser.add_argument("--route", type=Path, help="another Alertmanager configuration (an earlier design)")
    args = parser.parse_args(argv)
    if problem := storm.missing():
        raise SystemExit(problem)
    work = Path(tempfile.mkdtemp(prefix="cal-quiet-"))
    cluster = storm.KwokCluster(work, args.pods).start()
    try:
        harness = storm.Storm(
            cluster,
            amtool=shutil.which("amtool") or "amtool",
            alertmanager=shutil.which("prometheus-alertmanager") or "prometheus-alertmanager",
            scale=args.scale,
            route=args.route,
        )
        try:
            steady = harness.steady(300)
            # Past the first notifications, one repeat_interval: the steady state's re-sends.
            text = harness.alertmanager.config.read_text()
            time.sleep(max(configs.seconds(t) for t in re.findall(r"repeat_interval: (\d+ms)", text)))
            began, webhooks, requests = harness.listen(args.window)
        finally:
            harness.stop()
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    real = args.window * args.scale  # the real time the window stands for
    arrivals = [((storm.arrival(w) - began) * args.scale, w.get("duration_ms", 0) / 1000) for w in webhooks]
    per_hour = len(webhooks) / real * 3600
    print(
        f"{args.pods} pods steady ({len(cluster.namespaces)} namespaces), route "
        f"{args.route or 'shipped'}, timers / {args.scale:g}; listened {args.window:g} s = {real / 3600:.1f} h real"
    )
    print(f"steady phase: every pod normal: {not steady.wrong}")
    print(
        f"notifications per hour: {per_hour:,.1f} (mean gap {3600 / per_hour if per_hour else float('inf'):,.0f} s)"
    )
    print(f"API requests per hour: {sum(requests.values()) / real * 3600:,.1f} {dict(requests)}")
    print(
        f"share of time a Knative Revision could be at zero (60 s stable + 30 s grace): "
        f"{share_at_zero(arrivals, real):.1%}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
