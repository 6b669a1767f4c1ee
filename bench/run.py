"""Benchmarks: the function against the old design and against the API server's floor.

Usage: `make bench` (or `.venv/bin/python -m bench.run [--smoke] [--keep] [--only SECTION]`);
KUBE_VERSION=1.34 runs it against kube-apiserver 1.34 instead of 1.20 (`make bench` runs the
throughput and floor section on both, then bench/node.py on a real node).

One kube-apiserver (testbed.clusters.loopback) serves every measurement of the run,
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
  flipping every pod, through the production server (function/server.py, as deployed: 1 worker,
  THREADS=8);
- the floor: at the largest N, rounds of the function's own requests sent by
  a minimal client (bench/floor.py), interleaved with the function's payloads
  so that both see the same machine;
- the old design (bench/old/, baseline only): Flask + a process per alert +
  `kubectl label`, same API server, same payloads;
- memory: VmHWM of a fresh production server after 10k and 50k alerts.

`--smoke` shrinks every size so the whole run takes well under a minute; its
figures mean nothing, it only proves the tooling works (tests/system/test_bench_smoke.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.sections import classification, cold_start, memory, old_design, throughput
from bench.session import FULL, SMOKE, STARTED, Bench, note
from testbed.clusters.loopback import APISERVER, KUBE_VERSION


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"machine: nproc {len(os.sched_getaffinity(0))} ({os.cpu_count()} online), {model}; "
        f"Python {platform.python_version()} ({sys.executable})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the tooling only")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (logs)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="SECTION",
        help="run only this section (repeatable), e.g. 'throughput and floor'",
    )
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    work = Path(tempfile.mkdtemp(prefix="cal-bench-"))
    load_before = os.getloadavg()
    bench = Bench(sizes, work)
    try:
        bench.start()
        sections = {
            "classification": classification,
            "cold start": cold_start,
            "throughput and floor": throughput,
            "old design": old_design,
            "memory": memory,
        }
        for name, fn in sections.items():
            if not args.only or name in args.only:
                bench.section(name, lambda fn=fn: fn(bench))
    finally:
        bench.stop()
        if args.keep or bench.failed:
            note(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    print(machine())
    print(f"kube-apiserver {KUBE_VERSION} ({APISERVER})")
    print(
        f"load average (1 min): {load_before[0]:.2f} at start, {load_after[0]:.2f} at end; "
        f"run took {time.monotonic() - STARTED:.0f} s"
        + ("; SMOKE RUN: sizes shrunk, figures meaningless" if args.smoke else "")
    )
    print()
    print(bench.table.render())
    return 1 if bench.failed else 0


if __name__ == "__main__":
    sys.exit(main())
