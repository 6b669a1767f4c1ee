#!/usr/bin/env python3
"""The fuzz campaign at the scale the project promises: 100,000 generated requests, 0 handler 5xx.

Usage: `make reliability` runs it at full size; `python scripts/reliability_fuzz100k.py
--requests 2000` is the size tests/system/test_fuzz100k.py runs.

Requests come in three kinds, a third of the mix each (roughly):
- valid: Alertmanager version 4 webhooks (and the old minimal form) generated from
  scratch: 1-8 alerts over the campaign's real pods and some that do not exist, every
  status, level, time precision and zone, unknown fields that newer Alertmanagers add;
- mutated: a valid one changed in its structure (wrong types, keys dropped or doubled,
  huge or odd strings, impossible times, CPU texts, nesting) and/or in its bytes
  (truncated, flipped, re-encoded);
- hostile: what an attacker or a broken sender would send: shell and path injection in
  pod and namespace names, pods of another namespace, NUL and CRLF, JSON bombs (deep
  nesting, 10^5-digit numbers, 1e999), bodies over MAX_BODY_BYTES, lying Content-Length,
  too many alerts, forged credentials, other methods and paths.

Why in process, through functions-framework's WSGI test client, against a real
kube-apiserver: every layer the function owns runs for real (its Flask app as
functions-framework builds it, auth, body limits, parsing, the native classifier, the
planner, the real API calls with their answers), and an exception is caught where it
happens, with its frame, rather than read back from a server log.  What it leaves out is
gunicorn's HTTP parsing, which is not the function's code (the load campaign in
scripts/reliability.py drives the real server).  It also keeps 100,000 requests within a
few minutes on 2 cores: no socket, no HTTP parsing, one process next to the apiserver.

Checked, each must be 0: answers 5xx; answers that are not a JSON object (to a POST);
200 answers whose entries do not match the alerts sent; a label or annotation written
outside the configured key and prefix, or a label value not one of the three configured;
any change to the decoy namespace's pods, whose names hostile alerts target while
NAMESPACE_ALLOW excludes them.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import json
import logging
import multiprocessing
import os
import random
import signal
import shutil
import sys
import tempfile
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The repository root and tests/ (for the apiserver launcher), as scripts/reliability.py does.
for _path in (ROOT, ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from apiserver import APISERVER, ApiServer  # noqa: E402

SOURCE = ROOT / "function" / "main.py"
LABEL_KEY, PREFIX = "status", "cpu-alert-labeler"
VALUES = {"normal", "moderate", "panne"}
MAX_BODY = 65_536  # MAX_BODY_BYTES for the campaign: small, so the limit is reached often
MAX_ALERTS = 100
PODS = ["checkout-7d9f8b6c5-x2k4p", "worker-0", "api-1", "web-0", "db-0", "cache-0"]
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
# What the production server (gunicorn) puts in every WSGI environ and the test client does
# not: with it, werkzeug reads the body as the server hands it over.  Without it, a body
# shorter than its Content-Length makes werkzeug raise ClientDisconnected inside
# functions-framework's after-request hook (a 500 no client receives, since it has gone);
# under gunicorn the read simply ends short, and the function answers 400.
GUNICORN_ENVIRON = {"wsgi.input_terminated": True}


# == generation ===========================================================================
@dataclass
class Case:
    """One request: what to send and how it was made."""

    kind: str  # valid | mutated | hostile
    ops: list[str]
    body: bytes
    method: str = "POST"
    path: str = "/"
    headers: dict = field(default_factory=dict)
    content_type: str | None = "application/json"
    environ: dict = field(default_factory=dict)  # WSGI environ overrides (a lying Content-Length)
    auth: bool = False  # sent to the app that requires credentials
    alerts: int | None = None  # alerts in a valid body, for the answer check


_NAMES = [("PodCpuNormal", None), ("PodHighCpuUsage", "48.2"), ("PodCpuFailure", "97.3"),
          ("PodCpuUsage", "12.5%"), ("PodCpuUsage", " 45 "), ("PodCpuUsage", "91"),
          ("KubePodCrashLooping", None), ("", "70")]
_ZONES = ["Z", "z", "+00:00", "+01:00", "-07:30", "+14:00"]
_ODD = ["é", "😀", "\u202e", "\ufeff", "\ud800", "ß", "İ", "٩٢", "\u2028", "\x7f", "\x1b[31m", "日本",
        "\U0010ffff", "\\", '"', "/", "%00", "\x00"]
_INJECT = ["; rm -rf /", "$(id)", "`id`", "a && touch /tmp/pwned", "|cat /etc/passwd", "../../etc/passwd",
           "..", ".", "%2e%2e%2fsecrets", "x/../../kube-system", "pod\r\nX-Injected: 1", "pod\x00evil",
           "a" * 254, "a" * 10_000, "POD-UPPER", "-leading", "trailing-", "x?dryRun=All",
           "x#frag", "x y", "*", "' OR 1=1 --", "{{7*7}}", "${jndi:ldap://x/a}", "\\\\share\\x"]
_TIMES = ["0001-01-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-11-24T24:00:00Z",
          "2026-11-24T09:00:00.1234567891Z", "2026-11-24T09:00:00+25:00", "2026-11-24 09:00:00Z",
          "", "now", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59-01:00", "0001-01-01T00:30:00+01:00",
          "2026-11-24T09:00:60Z", 1732437600, None, 1.5, [], {}]
_CPUS = ["92", "92.5%", " 66 % ", "1e2", "nan", "inf", "-5", "+5", "0x10", "٩٢", "9" * 40, "", "%",
         "..", "1.", ".5", "50%%", "5 0", "\t7\t", "33", "32.999999999999999", "1" + "0" * 31, 92, None,
         True, ["92"]]
_METHODS = ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
_PATHS = ["/", "/alert", "/x/../..", "/%00", "/healthz", "/_/ready", "/metrics", "/a" * 300, "/\u2028"]
_TYPES = ["application/json", "text/plain", None, "application/x-www-form-urlencoded",
          "multipart/form-data; boundary=x", "application/json; charset=utf-16", "application/octet-stream"]


class Generator:
    """Requests of every kind, from one seeded random source (a run can be replayed)."""

    def __init__(self, rng: random.Random, namespace: str, decoy: str, token: str, user: str, password: str):
        self.rng, self.namespace, self.decoy = rng, namespace, decoy
        self.token, self.user, self.password = token, user, password

    # -- valid --------------------------------------------------------------------------
    def time(self, when: datetime) -> str:
        zone = self.rng.choice(_ZONES)
        offset = 0 if zone.upper() == "Z" else (1 if zone[0] == "+" else -1) * (
            int(zone[1:3]) * 60 + int(zone[4:6]))
        local = when + timedelta(minutes=offset)
        digits = self.rng.choice([0, 3, 6, 9])
        frac = f".{local.microsecond:06d}000"[:digits + 1] if digits else ""
        return local.strftime("%Y-%m-%dT%H:%M:%S") + frac + zone

    def alert(self, pod: str, namespace: str | None) -> dict:
        r = self.rng
        name, cpu = r.choice(_NAMES)
        status = r.choice(["firing", "firing", "resolved"])
        starts = T0 + timedelta(seconds=r.randrange(10**7), microseconds=r.randrange(10**6))
        labels = {"alertname": name, "pod": pod, "severity": r.choice(["critical", "warning", "info"])}
        if namespace is not None:
            labels["namespace"] = namespace
        alert = {"status": status, "labels": labels,
                 "annotations": {"summary": f"CPU of {pod}"} | ({"cpu_usage": cpu} if cpu else {}),
                 "startsAt": self.time(starts),
                 "endsAt": self.time(starts + timedelta(minutes=5)) if status == "resolved"
                 else "0001-01-01T00:00:00Z",
                 "generatorURL": "http://prometheus:9090/graph", "fingerprint": f"{r.getrandbits(64):016x}"}
        if r.random() < 0.1:
            del alert["status"]  # no status means firing, as in the old minimal form
        return alert

    def valid_doc(self) -> dict:
        r = self.rng
        count = r.choice([1, 1, 1, 2, 3, 6])  # each alert costs API calls: most payloads are small
        pods = [r.choice(PODS) if r.random() < 0.85 else f"ghost-{r.randrange(50)}" for _ in range(count)]
        alerts = [self.alert(pod, self.namespace if r.random() < 0.9 else None) for pod in pods]
        if r.random() < 0.1:
            return {"alerts": [{"labels": a["labels"], "annotations": a["annotations"]} for a in alerts]}
        doc = {"version": "4", "groupKey": f"{{}}:{{pod=\"{pods[0]}\"}}", "truncatedAlerts": 0,
               "status": "firing", "receiver": "cpu-alert-labeler", "groupLabels": {}, "commonLabels": {},
               "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "alerts": alerts}
        if r.random() < 0.2:
            doc[r.choice(["notification_reason", "routeLabels"])] = r.choice(["alert_group", {"a": "b"}])
        return doc

    def valid(self) -> Case:
        doc = self.valid_doc()
        return Case("valid", [], json.dumps(doc, ensure_ascii=self.rng.random() < 0.5).encode(),
                    alerts=len(doc["alerts"]))

    # -- mutated ------------------------------------------------------------------------
    def _slots(self, doc) -> list:
        slots, stack = [], [doc]
        while stack and len(slots) < 500:
            node = stack.pop()
            for key in (list(node) if isinstance(node, dict) else range(len(node))):
                slots.append((node, key))
                if isinstance(node[key], (dict, list)):
                    stack.append(node[key])
        return slots

    def _value(self):
        r = self.rng
        return r.choice([None, True, 0, -1, 2**64, 1.5, "", [], {}, [1, "a"], {"a": 1}, r.choice(_ODD),
                         "firing", "resolved", r.choice(_TIMES), r.choice(_CPUS), "x" * r.choice([300, 70_000])])

    def mutate_doc(self, doc: dict, ops: list[str]) -> None:
        r = self.rng
        for _ in range(r.choice([1, 1, 2, 3])):
            slots = self._slots(doc)
            if not slots:
                return
            node, key = r.choice(slots)
            op = r.choice(["type", "drop", "time", "cpu", "odd", "swap", "many"])
            ops.append(op)
            if op == "type":
                node[key] = self._value()
            elif op == "drop" and isinstance(node, dict):
                del node[key]
            elif op == "time":
                node[key] = r.choice(_TIMES)
            elif op == "cpu":
                node[key] = r.choice(_CPUS)
            elif op == "odd":
                node[key] = "".join(r.choice(_ODD + ["a", "-"]) for _ in range(r.randint(1, 12)))
            elif op == "swap" and isinstance(node[key], (dict, list)):
                value = node[key]
                node[key] = list(value.values()) if isinstance(value, dict) else {str(i): v for i, v in enumerate(value)}
            elif op == "many" and isinstance(doc.get("alerts"), list) and doc["alerts"]:
                doc["alerts"] = doc["alerts"] * r.choice([10, 40])

    def mutate_bytes(self, body: bytes, ops: list[str]) -> bytes:
        r = self.rng
        op = r.choice(["truncate", "flip", "insert", "utf16", "bom", "latin1"])
        ops.append(op)
        if op == "truncate":
            return body[:r.randrange(len(body) + 1)]
        if op == "flip":
            data = bytearray(body)
            for _ in range(r.randint(1, 8)):
                data[r.randrange(len(data))] = r.randrange(256)
            return bytes(data)
        if op == "insert":
            at = r.randint(0, len(body))
            return body[:at] + r.choice([b"\x00", b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b",", b"}"]) + body[at:]
        text = body.decode("utf-8", "surrogatepass")
        if op == "utf16":
            return text.encode("utf-16", "surrogatepass")
        if op == "bom":
            return b"\xef\xbb\xbf" + body
        return text.encode("latin-1", "replace")

    def mutated(self) -> Case:
        doc, ops = self.valid_doc(), []
        if self.rng.random() < 0.75:
            self.mutate_doc(doc, ops)
        body = json.dumps(doc).encode("utf-8", "surrogatepass")
        if not ops or self.rng.random() < 0.3:
            body = self.mutate_bytes(body, ops)
        return Case("mutated", ops, body)

    # -- hostile ------------------------------------------------------------------------
    def hostile(self) -> Case:
        r = self.rng
        attack = r.choice(["inject", "decoy", "bomb", "oversize", "length", "many", "auth", "route", "type"])
        doc = self.valid_doc()
        case = Case("hostile", [attack], b"")
        if attack == "inject":
            for alert in doc["alerts"]:
                labels = alert.setdefault("labels", {})
                labels[r.choice(["pod", "namespace", "alertname"])] = r.choice(_INJECT)
                if r.random() < 0.3:
                    labels[LABEL_KEY] = r.choice(_INJECT)  # an alert label named like ours
                    alert.setdefault("annotations", {})[f"{PREFIX}/level"] = "critical"
        elif attack == "decoy":  # real pod names, in a namespace the function must not touch
            for alert in doc["alerts"]:
                alert.setdefault("labels", {})["namespace"] = r.choice([self.decoy, "kube-system", "default"])
        elif attack == "many":
            doc["alerts"] = [doc["alerts"][0]] * r.choice([MAX_ALERTS, MAX_ALERTS + 1, 5000])
        case.body = json.dumps(doc).encode("utf-8", "surrogatepass")
        if attack == "bomb":
            depth = r.choice([1000, 100_000])
            case.body = r.choice([b"[" * depth + b"]" * depth, b'{"alerts":' * depth + b"0" + b"}" * depth,
                                  b'{"alerts":[' + b"1" * 100_000 + b"]}", b'{"alerts":[1e999]}',
                                  b'{"alerts":[{"labels":{"pod":"a"}}],"alerts":"dup"}', b"NaN"])
        elif attack == "oversize":
            case.body = b'{"alerts":[' + b" " * (MAX_BODY + r.choice([0, 1, 5000])) + b"]}"
        elif attack == "length":  # a Content-Length that lies, either way
            case.environ = {"CONTENT_LENGTH": str(r.choice([0, 1, len(case.body) // 2, MAX_BODY * 10]))}
        elif attack == "auth":
            case.auth = True
            header = self._auth_header()
            case.headers = {} if header is None else {"Authorization": header}
        elif attack == "route":
            case.method, case.path = r.choice(_METHODS + ["POST"]), r.choice(_PATHS)
        elif attack == "type":
            case.content_type = r.choice(_TYPES)
        return case

    def _auth_header(self) -> str | None:
        good = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        token = self.token
        return self.rng.choice([
            None, "", f"Bearer {token}", f"bearer  {token} ", f"Bearer {token}x", f"Bearer {token[:-1]}",
            "Bearer", "Basic", f"Basic {good}", "Basic ###", "Basic " + base64.b64encode(b"\xff:\x00").decode(),
            f"Basic {good[:-2]}", "Digest x", "Bearer " + "t" * 10_000, "Bearer \xff\xfe",
            f"Bearer {token}\x00", "Bearer " + token.upper(), token])

    def case(self) -> Case:
        roll = self.rng.random()
        return self.valid() if roll < 0.34 else self.mutated() if roll < 0.67 else self.hostile()


# == the run ==============================================================================
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

    def problem(self, what: str, case: Case, status: int) -> None:
        if len(self.samples) < 10:
            self.samples.append(f"{what}: {case.kind} {case.ops} {case.method} {case.path[:30]!r} -> {status}: "
                                f"body {case.body[:160]!r}")


class _ExceptionCounter(logging.Handler):
    """Counts the exceptions the function logs, named by their last frame inside function/."""

    def __init__(self, counter: collections.Counter):
        super().__init__(logging.ERROR)
        self.counter = counter

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[0] is not None:
            frames = [f for f in traceback.extract_tb(record.exc_info[2]) if "/function/" in f.filename]
            where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
            self.counter[f"{record.exc_info[0].__name__}{where}"] += 1


@contextlib.contextmanager
def environment(**env: str | None):
    saved = {k: os.environ.get(k) for k in env}
    try:
        for key, value in env.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
        yield
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def apps(apiserver: ApiServer, namespace: str, token: str, user: str, password: str):
    """The function loaded twice in process, as functions-framework loads it: open, and with auth."""
    import functions_framework

    base = dict(KUBECONFIG=str(apiserver.kubeconfig()), KUBERNETES_SERVICE_HOST=None, LOG_LEVEL="ERROR",
                NAMESPACE_ALLOW=namespace, DEFAULT_NAMESPACE=namespace, MAX_BODY_BYTES=str(MAX_BODY),
                MAX_ALERTS=str(MAX_ALERTS), PROMETHEUS_MULTIPROC_DIR=None, WEBHOOK_TOKEN=None,
                WEBHOOK_TOKEN_FILE=None, WEBHOOK_USERNAME=None, WEBHOOK_PASSWORD=None, WEBHOOK_PASSWORD_FILE=None)
    with environment(**base):
        open_app = functions_framework.create_app("handle", str(SOURCE)).test_client()
        with environment(WEBHOOK_TOKEN=token, WEBHOOK_USERNAME=user, WEBHOOK_PASSWORD=password):
            auth_app = functions_framework.create_app("handle", str(SOURCE)).test_client()
    return open_app, auth_app


def check_answer(result: Result, case: Case, status: int, answer) -> None:
    if status >= 500:
        result.server_errors += 1
        result.problem("5xx", case, status)
    if case.method == "POST" and not isinstance(answer, dict):
        result.not_json += 1
        result.problem("not a JSON object", case, status)
    if status == 200 and case.method == "POST" and case.path == "/" and isinstance(answer, dict):
        entries = answer.get("alerts")
        ok = isinstance(entries, list) and (case.alerts is None or len(entries) == case.alerts) and all(
            e.get("outcome") in ("labeled", "unchanged", "skipped", "failed") for e in entries)
        ok = ok and sum(answer.get("counts", {}).values()) == len(entries)
        result.outcomes.update(e.get("outcome") for e in entries or [])
        if not ok:
            result.bad_entries += 1
            result.problem("answer does not match the alerts", case, status)


def run(apiserver: ApiServer, requests: int, seed: int, progress: bool = True) -> tuple[Result, dict]:
    """Send `requests` generated requests; the result and the end-state checks."""
    rng = random.Random(seed)
    namespace, decoy = f"fuzz-{uuid.uuid4().hex[:8]}", f"decoy-{uuid.uuid4().hex[:8]}"
    for ns in (namespace, decoy):
        apiserver.create_namespace(ns)
        for pod in PODS:
            apiserver.create_pod(ns, pod)
    decoy_before = {pod: apiserver.get_pod(decoy, pod)["metadata"]["resourceVersion"] for pod in PODS}
    token, user, password = uuid.uuid4().hex, "alertmanager", uuid.uuid4().hex
    generator = Generator(rng, namespace, decoy, token, user, password)
    open_app, auth_app = apps(apiserver, namespace, token, user, password)
    result = Result()
    logger = logging.getLogger("cpu-alert-labeler")
    saved, logger.handlers = logger.handlers[:], [_ExceptionCounter(result.exceptions)]
    started = time.perf_counter()
    try:
        for i in range(requests):
            case = generator.case()
            app = auth_app if case.auth else open_app
            response = app.open(case.path, method=case.method, data=case.body, headers=case.headers,
                                content_type=case.content_type,
                                environ_overrides={**GUNICORN_ENVIRON, **case.environ})
            result.sent += 1
            result.kinds[case.kind] += 1
            result.statuses[response.status_code] += 1
            check_answer(result, case, response.status_code, response.get_json(silent=True))
            if progress and (i + 1) % 10_000 == 0:
                print(f"  {i + 1:,} requests, {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        logger.handlers = saved
    result.seconds = time.perf_counter() - started
    return result, end_state(apiserver, namespace, decoy, decoy_before)


def end_state(apiserver: ApiServer, namespace: str, decoy: str, decoy_before: dict) -> dict:
    """What the campaign left on the pods: only our key, prefix and values; the decoy untouched."""
    foreign = []
    for pod in PODS:
        meta = apiserver.get_pod(namespace, pod)["metadata"]
        labels, notes = meta.get("labels") or {}, meta.get("annotations") or {}
        foreign += [f"{pod}: label {k}={v!r}" for k, v in labels.items()
                    if (k, v) != ("app", "demo") and (k != LABEL_KEY or v not in VALUES)]
        foreign += [f"{pod}: annotation {k}" for k in notes if not k.startswith(PREFIX + "/")]
    touched = [pod for pod in PODS
               if apiserver.get_pod(decoy, pod)["metadata"]["resourceVersion"] != decoy_before[pod]]
    labeled = sum(LABEL_KEY in (apiserver.get_pod(namespace, p)["metadata"].get("labels") or {}) for p in PODS)
    return {"foreign": foreign, "decoy_touched": touched, "labeled_pods": labeled}


_SHARED: dict = {}  # set before the fork: the children inherit it (an ApiServer does not pickle)


def _worker(job: tuple[int, int]) -> tuple[Result, dict]:
    requests, seed = job
    return run(_SHARED["apiserver"], requests, seed, progress=False)


def run_parallel(apiserver: ApiServer, requests: int, seed: int, workers: int) -> tuple[Result, dict]:
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
        ("alert outcomes in 200 answers", ", ".join(f"{k} {n:,}" for k, n in sorted(result.outcomes.items())), None),
        ("answers 5xx (handler bugs)", result.server_errors, 0),
        ("answers to a POST that are not a JSON object", result.not_json, 0),
        ("200 answers not matching the alerts sent", result.bad_entries, 0),
        ("labels/annotations outside our key, prefix and values", len(state["foreign"]), 0),
        ("decoy pods changed (namespace not allowed)", len(state["decoy_touched"]), 0),
        ("campaign pods labeled (positive control, > 0)", state["labeled_pods"], None),
        ("exceptions logged by the function", "; ".join(f"{k} x{n}" for k, n in result.exceptions.most_common())
         or "none", None),
        ("seconds, requests/s", f"{result.seconds:.0f} s, {result.sent / max(result.seconds, 1e-9):,.0f}/s", None),
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
    if not APISERVER.exists() or shutil.which("etcd") is None:
        print(f"needs {APISERVER} and etcd: run `make apiserver deps`", file=sys.stderr)
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
