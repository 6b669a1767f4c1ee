"""The fuzz campaign at the scale the project promises: 100,000 generated requests, 0 handler 5xx.

Usage: `make reliability` runs it at full size; `python -m testbed.campaigns.fuzz100k
--requests 2000` is the size tests/system/test_fuzz100k.py runs.  The requests are the
generator's `mixed()` mix (generator.py).

Requests come in three kinds, a third of the mix each (roughly):
- valid: Alertmanager version 4 webhooks (and the old minimal form) generated from
  scratch: 1-6 alerts over the campaign's real pods and some that do not exist, every
  status, level, time precision and zone, unknown fields that newer Alertmanagers add;
- mutated: a valid one changed in its structure (wrong types, keys dropped or doubled,
  huge or odd strings, NUL, impossible times, CPU texts, odd pod and namespace names and
  statuses, many alerts, unknown fields, nesting) and/or in its bytes (truncated,
  flipped, junk inserted, replaced, re-encoded, made into other JSON);
- hostile: what an attacker or a broken sender would send: shell and path injection in
  pod and namespace names, pods of another namespace, NUL and CRLF, JSON bombs (deep
  nesting, 10^5-digit numbers, 1e999), bodies over MAX_BODY_BYTES, lying Content-Length,
  too many alerts, forged credentials, other methods and paths.

Why in process, through functions-framework's WSGI test client, against a real
kube-apiserver: every layer the function owns runs for real (its Flask app as
functions-framework builds it, auth, body limits, parsing, the native classifier, the
planner, the real API calls with their answers), and an exception is caught where it
happens, with its frame, rather than read back from a server log.  What it leaves out is
the server's HTTP parsing (the load and slow-clients campaigns drive the real server).  It also keeps 100,000 requests within a
few minutes on 2 cores: no socket, no HTTP parsing, one process next to the apiserver.

Checked, each must be 0: answers 5xx; answers that are not a JSON object (but /metrics and HEAD);
200 answers whose entries do not match the alerts sent; a label or annotation written
outside the configured key and prefix, or a label value not one of the three configured;
any change to the decoy namespace's pods, whose names hostile alerts target while
NAMESPACE_ALLOW excludes them.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from testbed.campaigns.fuzz import capture_function_errors, function_apps, send
from testbed.campaigns.generator import DEFAULTS, LABEL_KEY, PREFIX, Generator, Request
from testbed.campaigns.targets import new_pods
from testbed.clusters import Cluster
from testbed.clusters.loopback import ApiServer, missing

VALUES = set(DEFAULTS.label_values)  # the label values the function may write
MAX_BODY = 65_536  # MAX_BODY_BYTES for the campaign: small, so the limit is reached often
MAX_ALERTS = 32  # MAX_BODY / 2048: the most the function's start-up check allows
PODS = ["checkout-7d9f8b6c5-x2k4p", "worker-0", "api-1", "web-0", "db-0", "cache-0"]


@dataclass
class Result:
    sent: int = 0
    kinds: collections.Counter = field(default_factory=collections.Counter)
    statuses: collections.Counter = field(default_factory=collections.Counter)
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    server_errors: int = 0
    not_json: int = 0
    bad_entries: int = 0
    exceptions: collections.Counter = field(default_factory=collections.Counter)
    samples: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def problem(self, what: str, request: Request, status: int) -> None:
        if len(self.samples) < 10:
            self.samples.append(
                f"{what}: {request.kind} {request.ops} {request.method} {request.path[:30]!r} -> {status}: "
                f"body {request.body[:160]!r}"
            )


def check_answer(result: Result, request: Request, status: int, answer) -> None:
    if status >= 500:
        result.server_errors += 1
        result.problem("5xx", request, status)
    if request.json_expected and not isinstance(answer, dict):
        result.not_json += 1
        result.problem("not a JSON object", request, status)
    if status == 200 and request.method == "POST" and request.path == "/" and isinstance(answer, dict):
        entries = answer.get("alerts")
        ok = (
            isinstance(entries, list)
            and (request.alerts is None or len(entries) == request.alerts)
            and all(e.get("outcome") in ("labeled", "unchanged", "skipped", "failed") for e in entries)
        )
        ok = ok and sum(answer.get("counts", {}).values()) == len(entries or [])
        result.outcomes.update(e.get("outcome") for e in entries or [])
        if not ok:
            result.bad_entries += 1
            result.problem("answer does not match the alerts", request, status)


def run(apiserver: Cluster, requests: int, seed: int, progress: bool = True) -> tuple[Result, dict]:
    """Send `requests` generated requests; the result and the end-state checks."""
    rng = random.Random(seed)
    namespace, decoy = new_pods(apiserver, "fuzz", PODS), new_pods(apiserver, "decoy", PODS)
    decoy_before = {pod: apiserver.get_pod(decoy, pod)["metadata"]["resourceVersion"] for pod in PODS}
    token, user, password = uuid.uuid4().hex, "alertmanager", uuid.uuid4().hex
    generator = Generator(
        rng,
        namespace,
        PODS,
        decoy=decoy,
        credentials=(token, user, password),
        max_body=MAX_BODY,
        max_alerts=MAX_ALERTS,
    )
    apps = function_apps(
        apiserver,
        namespace,
        (token, user, password),
        MAX_BODY_BYTES=str(MAX_BODY),
        MAX_ALERTS=str(MAX_ALERTS),
        PROMETHEUS_MULTIPROC_DIR=None,
    )
    result = Result()
    started = time.perf_counter()
    with capture_function_errors() as capture:
        for i in range(requests):
            request = generator.mixed()
            response = send(apps, request)
            result.sent += 1
            result.kinds[request.kind] += 1
            result.statuses[response.status_code] += 1
            check_answer(result, request, response.status_code, response.get_json(silent=True))
            if progress and (i + 1) % 10_000 == 0:
                print(f"  {i + 1:,} requests, {time.perf_counter() - started:.0f} s", flush=True)
    result.exceptions.update(capture.errors)
    result.seconds = time.perf_counter() - started
    return result, end_state(apiserver, namespace, decoy, decoy_before)


def end_state(apiserver: Cluster, namespace: str, decoy: str, decoy_before: dict) -> dict:
    """What the campaign left on the pods: only our key, prefix and values; the decoy untouched."""
    foreign = []
    for pod in PODS:
        meta = apiserver.get_pod(namespace, pod)["metadata"]
        labels, notes = meta.get("labels") or {}, meta.get("annotations") or {}
        foreign += [
            f"{pod}: label {k}={v!r}"
            for k, v in labels.items()
            if (k, v) != ("app", "demo") and (k != LABEL_KEY or v not in VALUES)
        ]
        foreign += [f"{pod}: annotation {k}" for k in notes if not k.startswith(PREFIX + "/")]
    touched = [
        pod
        for pod in PODS
        if apiserver.get_pod(decoy, pod)["metadata"]["resourceVersion"] != decoy_before[pod]
    ]
    labeled = sum(
        LABEL_KEY in (apiserver.get_pod(namespace, p)["metadata"].get("labels") or {}) for p in PODS
    )
    return {"foreign": foreign, "decoy_touched": touched, "labeled_pods": labeled}


_SHARED: dict = {}  # set before the fork: the children inherit it (an ApiServer does not pickle)


def _worker(job: tuple[int, int]) -> tuple[Result, dict]:
    requests, seed = job
    return run(_SHARED["apiserver"], requests, seed, progress=False)


def run_parallel(apiserver: Cluster, requests: int, seed: int, workers: int) -> tuple[Result, dict]:
    """`workers` forked processes, each with its own seed, namespaces and function apps.

    One process keeps one core busy at most (the GIL); the apiserver and etcd use the
    other, so two or more workers finish 100,000 requests sooner on a 2-core machine.
    """
    if workers <= 1:
        return run(apiserver, requests, seed)
    shares = [requests // workers + (i < requests % workers) for i in range(workers)]
    started = time.perf_counter()
    _SHARED["apiserver"] = apiserver
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        parts = pool.map(_worker, [(n, seed + i) for i, n in enumerate(shares)], chunksize=1)
    total, state = Result(), {"foreign": [], "decoy_touched": [], "labeled_pods": 0}
    for result, part in parts:
        for name in ("sent", "server_errors", "not_json", "bad_entries"):
            setattr(total, name, getattr(total, name) + getattr(result, name))
        for name in ("kinds", "statuses", "outcomes", "exceptions"):
            getattr(total, name).update(getattr(result, name))
        total.samples += result.samples
        for key in ("foreign", "decoy_touched", "labeled_pods"):
            state[key] += part[key]
    total.seconds = time.perf_counter() - started
    return total, state


def report(result: Result, state: dict, seed: int) -> int:
    rows = [
        ("requests sent", f"{result.sent:,}", None),
        ("by kind", ", ".join(f"{k} {n:,}" for k, n in sorted(result.kinds.items())), None),
        ("answers by status", ", ".join(f"{s}x{n:,}" for s, n in sorted(result.statuses.items())), None),
        (
            "alert outcomes in 200 answers",
            ", ".join(f"{k} {n:,}" for k, n in sorted(result.outcomes.items())),
            None,
        ),
        ("answers 5xx (handler bugs)", result.server_errors, 0),
        ("answers that are not a JSON object (but /metrics, HEAD)", result.not_json, 0),
        ("200 answers not matching the alerts sent", result.bad_entries, 0),
        ("labels/annotations outside our key, prefix and values", len(state["foreign"]), 0),
        ("decoy pods changed (namespace not allowed)", len(state["decoy_touched"]), 0),
        ("campaign pods labeled (positive control, > 0)", state["labeled_pods"], None),
        (
            "exceptions logged by the function",
            "; ".join(f"{k} x{n}" for k, n in result.exceptions.most_common()) or "none",
            None,
        ),
        (
            "seconds, requests/s",
            f"{result.seconds:.0f} s, {result.sent / max(result.seconds, 1e-9):,.0f}/s",
            None,
        ),
    ]
    width = max(len(name) for name, _, _ in rows)
    print(f"\nfuzz campaign, seed {seed}\n")
    for name, value, must in rows:
        verdict = "" if must is None else ("ok" if value == must else "FAIL")
        print(f"{name:<{width}}  {value}  {verdict}".rstrip())
    for line in result.samples + state["foreign"][:10] + state["decoy_touched"][:10]:
        print("  " + line)
    failed = any(must is not None and value != must for _, value, must in rows)
    return 1 if failed or state["labeled_pods"] == 0 else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--workers", type=int, default=3, help="processes sending (seeds seed..seed+n-1)")
    args = parser.parse_args(argv)
    # A SIGTERM unwinds like an error, so the apiserver and etcd below are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if problem := missing():
        print(f"needs {problem}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="fuzz100k-"))
    apiserver = ApiServer(workdir)
    try:
        apiserver.start()
        print(f"sending {args.requests:,} requests (seed {args.seed}, {args.workers} workers)", flush=True)
        result, state = run_parallel(apiserver, args.requests, args.seed, args.workers)
    finally:
        apiserver.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return report(result, state, args.seed)


if __name__ == "__main__":
    sys.exit(main())
