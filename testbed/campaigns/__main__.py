"""Run the campaigns and print their figures: `python -m testbed.campaigns [--small] [--only ...]`.

A new campaign is one module (see the package docstring) added to CAMPAIGNS.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

from testbed.campaigns import concurrency, faults, fuzz, load, pressure, slowclients
from testbed.campaigns.figures import Result, table
from testbed.clusters.loopback import ApiServer, missing

CAMPAIGNS: list[ModuleType] = [fuzz, faults, concurrency, load, slowclients, pressure]
NAMES = [campaign.NAME for campaign in CAMPAIGNS]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m testbed.campaigns",
        description="Reliability campaigns against the real kube-apiserver.",
    )
    parser.add_argument("--small", action="store_true", help="the test suite's size (about a minute)")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--only", default=",".join(NAMES), help=f"comma-separated among {', '.join(NAMES)}")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args(argv)
    args.chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    if unknown := set(args.chosen) - set(NAMES):
        parser.error(f"unknown campaigns: {', '.join(sorted(unknown))}")
    return args


def run_all(args: argparse.Namespace, workdir: Path) -> dict[str, Result]:
    """Start one apiserver, run the chosen campaigns in order, stop it."""
    (workdir / "kube").mkdir()
    apiserver = ApiServer(workdir / "kube")
    results: dict[str, Result] = {}
    began = time.perf_counter()
    try:
        apiserver.start()
        for campaign in CAMPAIGNS:
            if campaign.NAME in args.chosen:
                print(f"[{time.perf_counter() - began:6.1f}s] {campaign.NAME} ...", flush=True)
                size = campaign.SIZES["small" if args.small else "full"]
                results[campaign.NAME] = campaign.run(apiserver, size, args.seed, workdir)
    finally:
        apiserver.stop()
    return results


def report(results: dict[str, Result]) -> int:
    """Print the table, and the details of what failed; the exit status."""
    figures = [f for result in results.values() for f in result.figures()]
    print(table(figures))
    failed = [f for f in figures if f.failed]
    if not failed:
        return 0
    print("\nnot zero: " + "; ".join(f"{f.campaign}: {f.name} = {f.value}" for f in failed))
    for name, result in results.items():
        for line in result.details():
            print(f"  {name}: {line}")
    return 1


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if problem := missing():
        print(f"needs {problem}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="reliability-"))
    began = time.perf_counter()
    try:
        results = run_all(args, workdir)
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"\n{'small' if args.small else 'full'} size, seed {args.seed}, "
        f"{time.perf_counter() - began:.0f} s in all\n"
    )
    return report(results)


if __name__ == "__main__":
    sys.exit(main())
