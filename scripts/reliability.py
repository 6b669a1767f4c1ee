#!/usr/bin/env python3
"""Reliability campaigns against the real kube-apiserver: fuzz, faults, concurrency and load.

`make reliability` runs them at full size and prints a table of figures; `--small`
is the size the test suite runs (tests/test_reliability.py imports this module).
One test apiserver (tests/apiserver.py) serves every campaign, each in its own
namespace.  The exit status is non-zero when a figure that must be zero is not.

- fuzz: generated and mutated webhook bodies (from tests/payloads/ and alert.json)
  POSTed to the function in process (functions-framework's test client) against a
  healthy apiserver: any 5xx is a handler bug, since nothing retryable can fail;
- faults: pods receive sequences of notifications through tests/faultproxy.py at a
  24 % injected fault rate (500, 503, 429, delays past the client timeout, dropped
  connections, writes whose answer is dropped), sent by an Alertmanager-like
  sender that re-sends on 5xx and transport errors; every pod's final label, read
  straight from the apiserver, must be the level of the newest state sent;
- concurrency: several function servers, many sender threads, each pod's states
  shuffled, repeated and sent at once to random servers (through the proxy at a
  lower fault rate); the newest state must win on every pod (no stale overwrite);
- load: concurrent senders against the production server (gunicorn, several
  workers): errors, p50 and p99 latency, throughput.  Speed figures are printed,
  never judged.

The sender backs off from 50 ms (Alertmanager starts at 500 ms) so that a campaign
stays short; the order of events is what matters, not the pace.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import copy
import http.client
import json
import logging
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from apiserver import ADMIN, APISERVER, ApiServer, free_port  # noqa: E402
from faultproxy import KINDS, FaultProxy  # noqa: E402

SOURCE = ROOT / "function" / "main.py"
PAYLOADS = ROOT / "tests" / "payloads"
LABELS = {"normal": "normal", "moderate": "moderate", "critical": "panne"}  # the default values
ALERT_TIME = "cpu-alert-labeler/alert-time"
ZERO_TIME = "0001-01-01T00:00:00Z"
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Size:
    """How big each campaign is."""

    fuzz: int
    fault_pods: int
    fault_steps: int  # state changes per pod
    fault_rate: float
    conc_processes: int
    conc_senders: int
    conc_pods: int
    conc_states: int  # states per pod
    conc_repeat: float  # share of notifications sent again (Alertmanager repeats)
    conc_fault_rate: float
    load_workers: int
    load_senders: int
    load_requests: int  # per sender
    load_pods: int
    campaign_seconds: float  # a campaign's senders give up past this: a hang fails, never waits


FULL = Size(fuzz=5000, fault_pods=20, fault_steps=10, fault_rate=0.24, conc_processes=4,
            conc_senders=64, conc_pods=60, conc_states=8, conc_repeat=0.3, conc_fault_rate=0.1,
            load_workers=3, load_senders=16, load_requests=150, load_pods=24, campaign_seconds=240)
SMALL = Size(fuzz=400, fault_pods=6, fault_steps=5, fault_rate=0.24, conc_processes=4,
             conc_senders=50, conc_pods=12, conc_states=4, conc_repeat=0.3, conc_fault_rate=0.1,
             load_workers=2, load_senders=8, load_requests=20, load_pods=8, campaign_seconds=90)


@dataclass(frozen=True)
class Figure:
    """One printed figure; `zero` marks those that must be 0."""

    campaign: str
    name: str
    value: object
    zero: bool = False

    @property
    def failed(self) -> bool:
        return self.zero and self.value != 0


# == notifications ======================================================================
@dataclass(frozen=True)
class State:
    """One alert state of a pod, and the label it must lead to."""

    name: str
    status: str
    at: datetime
    cpu: str | None
    level: str  # normal | moderate | critical

    @property
    def label(self) -> str:
        return LABELS["normal" if self.status == "resolved" else self.level]


# (alertname, cpu annotation, level): by name, and by CPU for names the function does not know.
_FIRING = [("PodCpuNormal", None, "normal"), ("PodHighCpuUsage", "48.2", "moderate"),
           ("PodCpuFailure", "97.3", "critical"), ("PodCpuUsage", "12.5%", "normal"),
           ("PodCpuUsage", " 45 ", "moderate"), ("PodCpuUsage", "91.0%", "critical")]
_RESOLVABLE = [("PodHighCpuUsage", "58.1", "moderate"), ("PodCpuFailure", "88", "critical")]


def random_state(rng: random.Random, at: datetime) -> State:
    """A firing state of any level, or a resolved moderate/critical alert (-> normal).

    A resolved *normal* alert changes nothing by design, so it never ends a sequence here.
    """
    if rng.random() < 0.3:
        name, cpu, level = rng.choice(_RESOLVABLE)
        return State(name, "resolved", at, cpu, level)
    name, cpu, level = rng.choice(_FIRING)
    return State(name, "firing", at, cpu, level)


def rfc3339(when: datetime, rng: random.Random | None = None) -> str:
    """Go's RFC3339Nano as Alertmanager writes it (ms here, or µs/ns when rng says so)."""
    base = when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    digits = rng.choice((3, 6, 9)) if rng else 3
    frac = f"{when.microsecond:06d}000"[:digits]
    return f"{base}.{frac}Z"


def alert_json(namespace: str, pod: str, state: State, rng: random.Random | None = None) -> dict:
    firing = state.status == "firing"
    starts = state.at if firing else state.at - timedelta(minutes=5)
    return {
        "status": state.status,
        "labels": {"alertname": state.name, "namespace": namespace, "pod": pod,
                   "severity": state.level},
        "annotations": ({"cpu_usage": state.cpu} if state.cpu is not None else {}) | {
            "summary": f"Pod {namespace}/{pod} CPU"},
        "startsAt": rfc3339(starts, rng),
        "endsAt": ZERO_TIME if firing else rfc3339(state.at, rng),
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": f"{zlib.crc32(f'{namespace}/{pod}/{state.name}'.encode()):016x}",
    }


def webhook(group_key: str, alerts: list[dict]) -> dict:
    return {"version": "4", "groupKey": group_key, "truncatedAlerts": 0,
            "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
            "receiver": "cpu-alert-labeler", "groupLabels": {}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "alerts": alerts}


# == an Alertmanager-like sender ========================================================
@dataclass
class Delivery:
    status: int | None  # the last HTTP status; None after a transport error
    attempts: int
    answer: dict | None
    gave_up: bool = False

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def dropped(self) -> bool:
        return self.status is not None and 400 <= self.status < 500


def post(url: str, body: bytes, *, headers: dict | None = None, timeout: float = 30.0,
         conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    """One POST; a fresh connection unless one is given."""
    parts = urllib.parse.urlsplit(url)
    own = conn is None
    conn = conn or http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("POST", parts.path or "/", body=body, headers={
            "Content-Type": "application/json", "User-Agent": "Alertmanager/0.28.1 (reliability)",
            **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if own:
            conn.close()


def _json(data: bytes):
    try:
        return json.loads(data)
    except ValueError:
        return None


def deliver(pick_url, body: bytes, *, until: float, max_attempts: int = 60,
            first_backoff: float = 0.05, max_backoff: float = 1.0) -> Delivery:
    """Send like Alertmanager: again on 5xx or a transport error, with backoff; 2xx/4xx end it.

    Gives up after max_attempts, or once time.monotonic() passes `until`.
    """
    backoff, attempts = first_backoff, 0
    while True:
        if time.monotonic() > until:
            return Delivery(None, attempts, None, gave_up=True)
        attempts += 1
        url = pick_url() if callable(pick_url) else pick_url
        try:
            status, data = post(url, body)
            answer = _json(data)
        except (OSError, http.client.HTTPException):
            status, answer = None, None
        if status is not None and status < 500:
            return Delivery(status, attempts, answer)
        if attempts >= max_attempts or time.monotonic() > until:
            return Delivery(status, attempts, answer, gave_up=True)
        time.sleep(backoff * random.uniform(0.5, 1.5))
        backoff = min(backoff * 2, max_backoff)


# == function servers ===================================================================
class FunctionServer:
    """`python -m functions_framework` (gunicorn) serving function/main.py on its own port."""

    def __init__(self, workdir: Path, name: str, env: dict[str, str], *, workers: int = 1):
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        environ = {k: v for k, v in os.environ.items()
                   if k not in ("KUBERNETES_SERVICE_HOST", "DEBUG", "FUNCTION_USE_ASGI", "KUBECONFIG")}
        # gunicorn puts its control socket in $XDG_RUNTIME_DIR: one directory per server.
        environ.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", HOME=str(self.dir),
                       XDG_RUNTIME_DIR=str(self.dir), WORKERS=str(workers), LOG_LEVEL="WARNING")
        environ.update(env)
        self._log = open(self.dir / "server.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "functions_framework", "--target", "handle", "--source",
             str(SOURCE), "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT, env=environ, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 90.0) -> "FunctionServer":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"function server exited early; see {self.dir / 'server.log'}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"function server not ready after {timeout}s; see {self.dir}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # gunicorn's master stops its workers
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # our own session, started above
                self.proc.wait(5)
        self._log.close()


@contextlib.contextmanager
def servers(workdir: Path, prefix: str, count: int, env: dict[str, str], workers: int = 1):
    started = []
    try:
        for i in range(count):
            started.append(FunctionServer(workdir, f"{prefix}-{i}", env, workers=workers))
        for server in started:
            server.wait_ready()
        yield started
    finally:
        for server in started:
            server.stop()


@contextlib.contextmanager
def environ(**env: str | None):
    """Set (or, with None, unset) environment variables for the block."""
    saved = {k: os.environ.get(k) for k in env}
    try:
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def new_namespace(apiserver: ApiServer, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    apiserver.create_namespace(name)
    return name


def new_pods(apiserver: ApiServer, prefix: str, pods: list[str]) -> str:
    """A fresh namespace holding `pods`; its name."""
    namespace = new_namespace(apiserver, prefix)
    for pod in pods:
        apiserver.create_pod(namespace, pod)
    return namespace


def read_pod_state(apiserver: ApiServer, namespace: str, pod: str) -> tuple[str | None, datetime | None]:
    """(label, recorded alert time), straight from the apiserver, not through any proxy."""
    meta = apiserver.get_pod(namespace, pod)["metadata"]
    text = (meta.get("annotations") or {}).get(ALERT_TIME)
    return (meta.get("labels") or {}).get("status"), _parse_time(text)


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _proxy(apiserver: ApiServer, workdir: Path, name: str, rate: float, seed: int,
           deck: int) -> tuple[FaultProxy, Path]:
    proxy = FaultProxy(apiserver.url, apiserver.dir / "ca.crt", rates=FaultProxy.spread(rate),
                       seed=seed, delay=1.5, deck=deck)
    return proxy, proxy.kubeconfig(workdir / f"kubeconfig-{name}", apiserver.users[ADMIN][0])


# A 1 s API timeout keeps the 1.5 s delay faults cheap; two tries per pod (default 4) let
# enough faults through to the 503 answer that Alertmanager's re-send path is exercised too.
_FAULTY_API_ENV = {"API_TIMEOUT_SECONDS": "1", "API_ATTEMPTS": "2", "THREADS": "8"}


@contextlib.contextmanager
def _servers_behind_proxy(apiserver: ApiServer, workdir: Path, name: str, count: int,
                          rate: float, seed: int, deck: int, result):
    """`count` function servers whose API traffic crosses a fault proxy; on a clean exit the
    proxy's summary is stored in result.proxy; the proxy is always closed."""
    proxy, kubeconfig = _proxy(apiserver, workdir, name, rate, seed, deck=deck)
    try:
        with servers(workdir, name, count, {"KUBECONFIG": str(kubeconfig), **_FAULTY_API_ENV}) as started:
            yield started
        result.proxy = proxy.summary()
    finally:
        proxy.close()


def _run_threads(target, args_list: list[tuple], name: str, timeout: float = 600.0) -> None:
    threads = [threading.Thread(target=target, args=args, name=f"{name}-{i}", daemon=True)
               for i, args in enumerate(args_list)]
    for thread in threads:
        thread.start()
    end = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(end - time.monotonic(), 0.1))  # senders are bounded by their own deadline


# == fuzz ===============================================================================
class Raw(str):
    """JSON text emitted as is (deep nesting, NaN, 1e999)."""


class Pairs(list):
    """An object as (key, value) pairs: duplicate keys survive."""


def dump(node) -> str:
    if isinstance(node, Raw):
        return str(node)
    if isinstance(node, Pairs):
        return "{" + ",".join(f"{json.dumps(k)}:{dump(v)}" for k, v in node) + "}"
    if isinstance(node, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dump(v)}" for k, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ",".join(dump(v) for v in node) + "]"
    return json.dumps(node)


_ODD_TEXT = ["é", "😀", "\u202e", "e\u0301", "\ufeff", "\ud800", "\udfff", "ß", "İ", "٩٢", "９２",
             "\u2028", "\x7f", "\x1b[31m", "Ω", "日本", "\U0010ffff", "\\", '"', "/", "%00"]
_TIMES = ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "0001-01-01T00:30:00+01:00",
          "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59.999999999Z", "2026-02-30T00:00:00Z",
          "2026-11-24T24:00:00Z", "2026-11-24t09:00:00z", "2026-11-24T09:00:00.123456789Z",
          "2026-11-24T09:00:00.1234567891Z", "2026-11-24T09:00:00+25:00", "2026-11-24 09:00:00Z",
          "", "now", "0999-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "٢٠٢٦-11-24T09:00:00Z",
          "2026-11-24T09:00:00-00:00", "1970-01-01T00:00:00Z", "2026-11-24T09:00:00+23:59",
          "2026-11-24T09:00:00", "2026-11-24T09:00:60Z", 1732437600, None, 1.5, [], {}]
_CPUS = ["92", "92.5%", " 66 % ", "1e2", "nan", "inf", "-5", "+5", "0x10", "٩٢", "９２", "9" * 40,
         "", "%", "..", "1.", ".5", "50%%", "5 0", "\t7\t", "33", "32.999999999999999", "66.0",
         "1" + "0" * 31, "\x0050", 92, None, True, ["92"]]


class Fuzzer:
    """Webhook bodies: captured and generated payloads, mutated in structure and in bytes."""

    def __init__(self, rng: random.Random, namespace: str, pods: list[str]):
        self.rng, self.namespace, self.pods = rng, namespace, pods
        self.seeds = self._seeds()

    def _seeds(self) -> list[dict]:
        seeds = []
        files = sorted(PAYLOADS.glob("*.json")) + [ROOT / "alert.json"]
        for path in files:
            doc = json.loads(path.read_text())
            for item in doc.get("alerts", []):
                if "namespace" in item.get("labels", {}):
                    item["labels"]["namespace"] = self.namespace
            seeds.append(doc)
        for i in range(12):
            at = T0 + timedelta(minutes=self.rng.randrange(10_000))
            pods = self.rng.sample(self.pods, self.rng.randint(1, len(self.pods)))
            seeds.append(webhook(f"{{}}:{{seed{i}}}", [
                alert_json(self.namespace, pod, random_state(self.rng, at), self.rng) for pod in pods]))
        return seeds

    # -- the tree ------------------------------------------------------------------------
    def _slots(self, holder: list) -> list[tuple[object, object]]:
        """(container, key) of every value in the tree, bounded."""
        slots, stack = [], [holder]
        while stack and len(slots) < 3000:
            node = stack.pop()
            keys = list(node) if isinstance(node, dict) and not isinstance(node, Pairs) else (
                range(len(node)) if isinstance(node, list) and not isinstance(node, Pairs) else ())
            for key in keys:
                slots.append((node, key))
                child = node[key]
                if isinstance(child, (dict, list)) and not isinstance(child, (Raw, Pairs)):
                    stack.append(child)
        return slots

    def _pick(self, holder: list, want=None):
        slots = self._slots(holder)
        if want is not None:
            slots = [s for s in slots if want(s[0][s[1]])] or slots
        return self.rng.choice(slots)

    def _alerts(self, holder: list) -> list[dict]:
        doc = holder[0]
        alerts = doc.get("alerts") if isinstance(doc, dict) and not isinstance(doc, Pairs) else None
        return [a for a in alerts if isinstance(a, dict) and not isinstance(a, Pairs)] if isinstance(
            alerts, list) and not isinstance(alerts, Pairs) else []

    def _value(self):
        r = self.rng
        return r.choice([None, True, False, 0, -1, 2 ** 64, 10 ** 30, 1.5, -0.0, 1e308, "", "x",
                         [], {}, [1, "a"], {"a": 1}, Raw("NaN"), Raw("-Infinity"), Raw("1e999"),
                         r.choice(_ODD_TEXT), "firing", "resolved"])

    def _text(self) -> str:
        return "".join(self.rng.choice(_ODD_TEXT + ["a", "-", ".", "0"]) for _ in range(self.rng.randint(1, 12)))

    # -- structural mutations --------------------------------------------------------------
    def m_type(self, h):
        node, key = self._pick(h)
        node[key] = self._value()

    def m_drop_key(self, h):
        node, key = self._pick(h, lambda v: isinstance(v, dict) and not isinstance(v, Pairs) and v)
        target = node[key]
        if isinstance(target, dict) and target:
            del target[self.rng.choice(list(target))]

    def m_dup_key(self, h):
        node, key = self._pick(h, lambda v: isinstance(v, dict) and not isinstance(v, Pairs) and v)
        target = node[key]
        if isinstance(target, dict) and target and not isinstance(target, Pairs):
            k = self.rng.choice(list(target))
            pairs = Pairs(target.items())
            pairs.insert(self.rng.randrange(len(pairs) + 1), (k, self._value()))
            node[key] = pairs

    def m_huge(self, h):
        node, key = self._pick(h, lambda v: isinstance(v, str))
        size = self.rng.choice([300, 5000, 70_000, 70_000, 1_100_000])
        node[key] = self.rng.choice(["a", "é", "\0", "9", "-", "😀"]) * size

    def m_unicode(self, h):
        node, key = self._pick(h, lambda v: isinstance(v, str))
        node[key] = self._text()

    def m_nul(self, h):
        node, key = self._pick(h, lambda v: isinstance(v, str))
        text = node[key] if isinstance(node[key], str) else ""
        at = self.rng.randint(0, len(text))
        node[key] = text[:at] + "\0" + text[at:]

    def m_deep(self, h):
        node, key = self._pick(h)
        depth = self.rng.choice([10, 100, 900, 1100, 5000, 100_000])
        node[key] = Raw("[" * depth + "0" + "]" * depth if self.rng.random() < 0.5
                        else '{"a":' * depth + "0" + "}" * depth)

    def m_time(self, h):
        for item in self._alerts(h) or [{}]:
            item[self.rng.choice(["startsAt", "endsAt"])] = copy.deepcopy(self.rng.choice(_TIMES))

    def m_cpu(self, h):
        for item in self._alerts(h)[:2]:
            notes = item.setdefault("annotations", {})
            if isinstance(notes, dict) and not isinstance(notes, Pairs):
                notes["cpu_usage"] = copy.deepcopy(self.rng.choice(_CPUS))
            item.setdefault("labels", {})
            if isinstance(item["labels"], dict) and not isinstance(item["labels"], Pairs):
                item["labels"]["alertname"] = self.rng.choice(["PodCpuUsage", "PodCpuFailure", "", "X"])

    def m_name(self, h):
        names = self.pods * 3 + ["", "A", "a" * 253, "a" * 254, "-a", "a-", "a..b", "../x", "x/y",
                                 "x?y=1", "x%2F", "é", "x\0", "default", "a.b.c", self._text()]
        spaces = [self.namespace] * 4 + ["default", "kube-system", "", "NS", "a" * 64, self.namespace + "\0"]
        for item in self._alerts(h)[:3]:
            labels = item.setdefault("labels", {})
            if isinstance(labels, dict) and not isinstance(labels, Pairs):
                labels["pod"] = self.rng.choice(names)
                if self.rng.random() < 0.5:
                    labels["namespace"] = self.rng.choice(spaces)
                elif self.rng.random() < 0.3:
                    labels.pop("namespace", None)

    def m_status(self, h):
        for item in self._alerts(h)[:3] or [h[0] if isinstance(h[0], dict) else {}]:
            item["status"] = self.rng.choice(["firing", "resolved", "FIRING", "", None, 1, "pending"])

    def m_many(self, h):
        doc = h[0]
        if not isinstance(doc, dict) or isinstance(doc, Pairs):
            return
        count = self.rng.choice([50, 1999, 2000, 2001, 5000, 300])
        if count == 300:  # many distinct pods: one API read each
            doc["alerts"] = [{"labels": {"alertname": "PodCpuFailure", "pod": f"ghost-{i}",
                                         "namespace": self.namespace}} for i in range(count)]
        else:
            small = {"labels": {"alertname": "PodCpuFailure", "pod": self.rng.choice(self.pods),
                                "namespace": self.namespace}}
            doc["alerts"] = [copy.deepcopy(small) for _ in range(count)]

    def m_unknown(self, h):
        node, key = self._pick(h, lambda v: isinstance(v, dict) and not isinstance(v, Pairs))
        if isinstance(node[key], dict) and not isinstance(node[key], Pairs):
            node[key][self.rng.choice(["notification_reason", "routeLabels", "x", "", "alerts "])] = self._value()

    def m_swap(self, h):
        node, key = self._pick(h, lambda v: isinstance(v, (dict, list)))
        value = node[key]
        if isinstance(value, dict):
            node[key] = list(value.values())
        elif isinstance(value, list):
            node[key] = {str(i): v for i, v in enumerate(value)}

    # -- byte mutations -------------------------------------------------------------------
    def b_truncate(self, b):
        return b[:self.rng.randrange(len(b) + 1)]

    def b_flip(self, b):
        data = bytearray(b)
        for _ in range(self.rng.randint(1, 8)):
            if data:
                data[self.rng.randrange(len(data))] = self.rng.randrange(256)
        return bytes(data)

    def b_insert(self, b):
        at = self.rng.randint(0, len(b))
        junk = self.rng.choice([b"\x00", b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b",", b"}", b"]",
                                b'"', self.rng.randbytes(self.rng.randint(1, 64))])
        return b[:at] + junk + b[at:]

    def b_random(self, b):
        return self.rng.randbytes(self.rng.choice([0, 1, 2, 16, 1000]))

    def b_encoding(self, b):
        text = b.decode("utf-8", "surrogatepass")
        return self.rng.choice([
            lambda: text.encode("utf-16", "surrogatepass"), lambda: text.encode("utf-16-be", "surrogatepass"),
            lambda: text.encode("utf-32", "surrogatepass"), lambda: b"\xef\xbb\xbf" + b,
            lambda: text.encode("latin-1", "replace")])()

    def b_text(self, b):
        return self.rng.choice([b.replace(b"{", b"[", 1), b[:-1], b + b",", b.replace(b'"', b"'"),
                                b + b" garbage", b" \n\t" + b, b"", b"   ", b"null", b"[]", b'"alerts"',
                                b"{}", b'{"alerts": null}', b"1" * 5000])

    STRUCT = ("m_type", "m_drop_key", "m_dup_key", "m_huge", "m_unicode", "m_nul", "m_deep",
              "m_time", "m_cpu", "m_name", "m_status", "m_many", "m_unknown", "m_swap")
    BYTES = ("b_truncate", "b_flip", "b_insert", "b_random", "b_encoding", "b_text")

    def case(self) -> tuple[bytes, list[str]]:
        """A body and the names of the mutations that made it."""
        holder = [copy.deepcopy(self.rng.choice(self.seeds))]
        ops = []
        for _ in range(self.rng.choice([0, 1, 1, 2, 3])):
            op = self.rng.choice(self.STRUCT)
            if op == "m_huge" and self.rng.random() < 0.7:  # huge bodies are slow: rarer
                op = "m_unicode"
            getattr(self, op)(holder)
            ops.append(op)
        body = dump(holder[0]).encode("utf-8", "surrogatepass")
        if self.rng.random() < 0.3:
            op = self.rng.choice(self.BYTES)
            body = getattr(self, op)(body)
            ops.append(op)
        return body, ops


class _ErrorCapture(logging.Handler):
    """Counts the exceptions the function logs, named by the last frame inside function/."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.errors: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[0] is not None:
            frames = [f for f in traceback.extract_tb(record.exc_info[2]) if "/function/" in f.filename]
            where = f" at function/{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
            self.errors[f"{record.exc_info[0].__name__}{where}"] += 1


@contextlib.contextmanager
def capture_function_errors():
    """Route the function's log records to a counter for the block (its stderr stays quiet)."""
    logger = logging.getLogger("cpu-alert-labeler")
    saved = logger.handlers[:]
    capture = _ErrorCapture()
    logger.handlers = [capture]
    try:
        yield capture
    finally:
        logger.handlers = saved


@dataclass
class FuzzResult:
    sent: int = 0
    statuses: collections.Counter = field(default_factory=collections.Counter)
    bugs: int = 0  # 5xx
    not_json: int = 0  # answers that are not a JSON object
    samples: list[tuple[int, list[str], bytes]] = field(default_factory=list)
    exceptions: collections.Counter = field(default_factory=collections.Counter)
    seconds: float = 0.0

    def record(self, status: int, answer, json_expected: bool, ops: list[str], body: bytes) -> None:
        self.sent += 1
        self.statuses[status] += 1
        problems = []
        if status >= 500:
            self.bugs += 1
            problems.append(str(status))
        if json_expected and not isinstance(answer, dict):
            self.not_json += 1
            problems.append("not JSON")
        if problems and len(self.samples) < 8:
            self.samples.append((status, ops + problems[1:], body[:200]))

    def figures(self) -> list[Figure]:
        top = ", ".join(f"{s}x{n}" for s, n in sorted(self.statuses.items()))
        return [Figure("fuzz", "requests sent (bodies, methods, auth headers)", self.sent),
                Figure("fuzz", "answers by status", top),
                Figure("fuzz", "5xx caused by handler bugs", self.bugs, zero=True),
                Figure("fuzz", "answers that are not a JSON object", self.not_json, zero=True),
                Figure("fuzz", "exceptions logged by the function",
                       "; ".join(f"{k} x{n}" for k, n in self.exceptions.most_common()) or "none"),
                Figure("fuzz", "seconds", round(self.seconds, 1))]


_METHODS = ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
_PATHS = ["/", "/", "/", "/alert", "/x/../..", "/%00", "/healthz", "/_/ready", "/metrics", "/a" * 200]
_TYPES = ["application/json", "application/json", "text/plain", None, "application/x-www-form-urlencoded",
          "multipart/form-data; boundary=x", "application/json; charset=utf-16", "application/octet-stream"]


def _auth_header(rng: random.Random, token: str, user: str, password: str) -> str | None:
    good_basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    return rng.choice([
        None, "", f"Bearer {token}", f"bearer  {token} ", f"Bearer {token}x", f"Bearer {token[:-1]}",
        "Bearer", "Basic", f"Basic {good_basic}", f"basic {good_basic}", "Basic ###",
        "Basic " + base64.b64encode(b"\xff\xfe:\x00").decode(), "Basic " + base64.b64encode(b"nocolon").decode(),
        f"Basic {good_basic[:-2]}", "Basic é", "Digest x", "Bearer " + "t" * 10_000,
        "Bearer \xff\xfe", f"Bearer {token}\x00", "Bearer " + token.upper(), f"{token}"])


def _fuzz_apps(apiserver: ApiServer, namespace: str, credentials: tuple[str, str, str]):
    """The function loaded twice in process: open, and with a token and basic auth."""
    import functions_framework  # after sys.path holds the repo root

    token, user, password = credentials
    base = dict(KUBECONFIG=str(apiserver.kubeconfig()), KUBERNETES_SERVICE_HOST=None, LOG_LEVEL="ERROR",
                NAMESPACE_ALLOW=namespace, DEFAULT_NAMESPACE=namespace, WEBHOOK_TOKEN=None,
                WEBHOOK_TOKEN_FILE=None, WEBHOOK_USERNAME=None, WEBHOOK_PASSWORD=None,
                WEBHOOK_PASSWORD_FILE=None)
    with environ(**base):
        open_app = functions_framework.create_app("handle", str(SOURCE)).test_client()
        with environ(WEBHOOK_TOKEN=token, WEBHOOK_USERNAME=user, WEBHOOK_PASSWORD=password):
            auth_app = functions_framework.create_app("handle", str(SOURCE)).test_client()
    return open_app, auth_app


def _fuzz_request(rng: random.Random, ops: list[str], credentials: tuple[str, str, str]) -> tuple:
    """(method, path, headers, authenticated?): mostly a POST on /, sometimes not."""
    roll = rng.random()
    if roll < 0.05:
        method, path = rng.choice(_METHODS), rng.choice(_PATHS)
        ops.append(f"{method} {path[:20]}")
        return method, path, {}, False
    if roll < 0.10:
        path = rng.choice(_PATHS)
        ops.append(f"POST {path[:20]}")
        return "POST", path, {}, False
    if roll < 0.22:
        header = _auth_header(rng, *credentials)
        ops.append(f"auth {header[:16]!r}" if header is not None else "auth none")
        return "POST", "/", {} if header is None else {"Authorization": header}, True
    return "POST", "/", {}, False


def run_fuzz(apiserver: ApiServer, size: Size, seed: int, workdir: Path) -> FuzzResult:
    """POST size.fuzz generated and mutated requests in process; count 5xx (each one a bug)."""
    rng = random.Random(seed)
    pods = ["checkout-7d9f8b6c5-x2k4p", "worker-0", "api-1", "web-0"]
    namespace = new_pods(apiserver, "rel-fuzz", pods)
    fuzzer = Fuzzer(rng, namespace, pods)
    credentials = (uuid.uuid4().hex, "alertmanager", uuid.uuid4().hex)
    result = FuzzResult()
    started = time.perf_counter()
    open_app, auth_app = _fuzz_apps(apiserver, namespace, credentials)
    # After the apps exist: loading main.py installs the function's own stderr handler.
    with capture_function_errors() as capture:
        for _ in range(size.fuzz):
            body, ops = fuzzer.case()
            method, path, headers, authenticated = _fuzz_request(rng, ops, credentials)
            app = auth_app if authenticated else open_app
            response = app.open(path, method=method, data=body, headers=headers,
                                content_type=rng.choice(_TYPES))
            # JSON is promised for webhook answers and errors; /metrics is text, HEAD has no body.
            json_expected = method == "POST" or (method != "HEAD" and path != "/metrics")
            result.record(response.status_code, response.get_json(silent=True), json_expected, ops, body)
        result.exceptions = capture.errors
    result.seconds = time.perf_counter() - started
    return result


# == faults =============================================================================
@dataclass
class CampaignCheck:
    """The end state of a campaign's pods against the truth (the newest state sent)."""

    pods: int = 0
    wrong_label: int = 0
    wrong_time: int = 0
    details: list[str] = field(default_factory=list)

    def compare(self, apiserver: ApiServer, namespace: str, truth: dict[str, State]) -> None:
        for pod, state in sorted(truth.items()):
            self.pods += 1
            label, recorded = read_pod_state(apiserver, namespace, pod)
            if label != state.label:
                self.wrong_label += 1
                self.details.append(f"{namespace}/{pod}: label {label!r}, want {state.label!r}")
            if recorded != state.at:
                self.wrong_time += 1
                self.details.append(f"{namespace}/{pod}: alert-time {recorded}, want {state.at}")

    def figures(self, campaign: str, wrong_label: str) -> list["Figure"]:
        """The must-be-zero end-state figures, as every campaign reports them."""
        return [Figure(campaign, wrong_label, self.wrong_label, zero=True),
                Figure(campaign, "pods whose alert-time is not the newest state's",
                       self.wrong_time, zero=True),
                Figure(campaign, "pods checked", self.pods)]


@dataclass
class SendTally:
    notifications: int = 0
    attempts: int = 0
    undelivered: int = 0  # 4xx or given up
    failed_entries: int = 0  # "failed" pods inside a 2xx answer
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, delivery: Delivery) -> None:
        with self.lock:
            self.notifications += 1
            self.attempts += delivery.attempts
            if not delivery.delivered:
                self.undelivered += 1
                return
            for entry in (delivery.answer or {}).get("alerts", []):
                outcome = entry.get("outcome")
                if outcome == "unchanged" and "stale" in entry.get("reason", ""):
                    outcome = "unchanged (stale, refused)"
                self.outcomes[outcome] += 1
                if entry.get("outcome") == "failed":
                    self.failed_entries += 1

    @property
    def resends(self) -> int:
        return self.attempts - self.notifications


@dataclass
class FaultResult:
    proxy: dict = field(default_factory=dict)
    tally: SendTally = field(default_factory=SendTally)
    check: CampaignCheck = field(default_factory=CampaignCheck)
    seconds: float = 0.0

    def figures(self) -> list[Figure]:
        p, t = self.proxy, self.tally
        injected = sum(p.get(k, 0) for k in KINDS)
        rate = injected / p["requests"] if p.get("requests") else 0.0
        return [Figure("faults", "API requests through the proxy / forwarded upstream",
                       f"{p.get('requests', 0)} / {p.get('forwarded', 0)}"),
                Figure("faults", "API calls failed by injection (rate)", f"{injected} ({rate:.0%})"),
                *[Figure("faults", f"  injected {kind}", p.get(kind, 0)) for kind in KINDS],
                Figure("faults", "notifications / re-sends after 5xx or transport error",
                       f"{t.notifications} / {t.resends}"),
                Figure("faults", "notifications dropped (4xx) or given up", t.undelivered, zero=True),
                Figure("faults", "failed pods inside 2xx answers", t.failed_entries, zero=True),
                *self.check.figures("faults", "pods with a wrong or missing final label"),
                Figure("faults", "seconds", round(self.seconds, 1))]


def run_faults(apiserver: ApiServer, size: Size, seed: int, workdir: Path) -> FaultResult:
    """Per-group notification sequences through the fault proxy; the newest state must stand."""
    rng = random.Random(seed)
    pods = [f"f{i}-app" for i in range(size.fault_pods)]
    namespace = new_pods(apiserver, "rel-faults", pods)
    groups, rest = [], pods[:]
    rng.shuffle(rest)
    while rest:  # Alertmanager groups: one to three pods per group
        take = rng.randint(1, 3)
        groups.append(rest[:take])
        rest = rest[take:]
    truth: dict[str, State] = {}
    sequences = []
    for g, group in enumerate(groups):
        current: dict[str, State] = {}
        steps = [pod for pod in group for _ in range(size.fault_steps)]
        rng.shuffle(steps)
        at, bodies = T0, []
        for pod in steps:
            at += timedelta(seconds=rng.randint(1, 90), milliseconds=rng.randint(0, 999))
            current[pod] = random_state(rng, at)
            alerts = [alert_json(namespace, p, s, rng) for p, s in current.items()]
            bodies.append(json.dumps(webhook(f"{{}}:{{group=\"{g}\"}}", alerts)).encode())
        truth.update(current)
        sequences.append(bodies)
    result = FaultResult()
    started = time.perf_counter()
    with _servers_behind_proxy(apiserver, workdir, "faults", 1, size.fault_rate, seed, 50,
                               result) as (server,):
        until = time.monotonic() + size.campaign_seconds

        def send_group(bodies: list[bytes]) -> None:
            for body in bodies:  # in order, each until it is delivered, as Alertmanager does
                result.tally.add(deliver(server.url, body, until=until))

        _run_threads(send_group, [(bodies,) for bodies in sequences], "group",
                     size.campaign_seconds + 45)
    result.check.compare(apiserver, namespace, truth)
    result.seconds = time.perf_counter() - started
    return result


# == concurrency ========================================================================
@dataclass
class ConcurrencyResult:
    processes: int = 0
    senders: int = 0
    proxy: dict = field(default_factory=dict)
    tally: SendTally = field(default_factory=SendTally)
    check: CampaignCheck = field(default_factory=CampaignCheck)
    seconds: float = 0.0

    def figures(self) -> list[Figure]:
        t, p = self.tally, self.proxy
        injected = sum(p.get(k, 0) for k in KINDS)
        outcomes = ", ".join(f"{k} {n}" for k, n in sorted(t.outcomes.items()))
        return [Figure("concurrency", "function processes / sender threads", f"{self.processes} / {self.senders}"),
                Figure("concurrency", "notifications / re-sends", f"{t.notifications} / {t.resends}"),
                Figure("concurrency", "API faults injected (of requests)",
                       f"{injected} of {p.get('requests', 0)}"),
                Figure("concurrency", "pod outcomes", outcomes),
                Figure("concurrency", "notifications dropped (4xx) or given up", t.undelivered, zero=True),
                *self.check.figures("concurrency", "stale overwrites (final label not the newest state's)"),
                Figure("concurrency", "seconds", round(self.seconds, 1))]


def run_concurrency(apiserver: ApiServer, size: Size, seed: int, workdir: Path) -> ConcurrencyResult:
    """Every pod's states shuffled, repeated and sent at once to random processes."""
    rng = random.Random(seed)
    pods = [f"c{i}-app" for i in range(size.conc_pods)]
    namespace = new_pods(apiserver, "rel-conc", pods)
    jobs, truth = [], {}
    for pod in pods:
        at = T0
        for _ in range(size.conc_states):
            at += timedelta(seconds=rng.randint(1, 600), microseconds=rng.randint(0, 999) * 1000)
            state = random_state(rng, at)
            alerts = [alert_json(namespace, pod, state, rng)]
            body = json.dumps(webhook(f"{{}}:{{pod=\"{pod}\"}}", alerts)).encode()
            jobs.extend([body] * (1 + (rng.random() < size.conc_repeat) + (rng.random() < size.conc_repeat / 3)))
            truth[pod] = state  # the last one is the newest
    rng.shuffle(jobs)
    work: queue.SimpleQueue = queue.SimpleQueue()
    for body in jobs:
        work.put(body)
    result = ConcurrencyResult(processes=size.conc_processes, senders=size.conc_senders)
    started = time.perf_counter()
    with _servers_behind_proxy(apiserver, workdir, "conc", size.conc_processes,
                               size.conc_fault_rate, seed + 1, 100, result) as started_servers:
        urls = [s.url for s in started_servers]
        until = time.monotonic() + size.campaign_seconds

        def sender() -> None:
            while True:
                try:
                    body = work.get_nowait()
                except queue.Empty:
                    return
                result.tally.add(deliver(lambda: random.choice(urls), body, until=until))

        _run_threads(sender, [()] * size.conc_senders, "sender", size.campaign_seconds + 45)
    result.check.compare(apiserver, namespace, truth)
    result.seconds = time.perf_counter() - started
    return result


# == load ===============================================================================
@dataclass
class LoadResult:
    workers: int = 0
    senders: int = 0
    requests: int = 0
    alerts: int = 0
    errors: int = 0
    error_kinds: collections.Counter = field(default_factory=collections.Counter)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else 0.0

    def figures(self) -> list[Figure]:
        per = self.requests // self.senders if self.senders else 0
        return [Figure("load", "gunicorn workers / senders x payloads",
                       f"{self.workers} / {self.senders} x {per}"),
                Figure("load", "requests answered / alerts in them", f"{self.requests} / {self.alerts}"),
                Figure("load", "errors (non-2xx or transport)", self.errors, zero=True),
                Figure("load", "errors by kind", dict(self.error_kinds) or "none"),
                Figure("load", "latency p50 / p99 (ms)",
                       f"{self.percentile(0.5):.1f} / {self.percentile(0.99):.1f}"),
                Figure("load", "throughput (requests/s)",
                       round(self.requests / self.seconds, 1) if self.seconds else 0),
                Figure("load", "seconds", round(self.seconds, 1))]


def run_load(apiserver: ApiServer, size: Size, seed: int, workdir: Path) -> LoadResult:
    """Concurrent keep-alive senders against the production server; mostly repeats, some changes."""
    pods = [f"l{i}-app" for i in range(size.load_pods)]
    namespace = new_pods(apiserver, "rel-load", pods)
    clock = [T0]
    clock_lock = threading.Lock()

    def tick() -> datetime:
        with clock_lock:
            clock[0] += timedelta(milliseconds=10)
            return clock[0]

    result = LoadResult(workers=size.load_workers, senders=size.load_senders)
    lock = threading.Lock()
    env = {"KUBECONFIG": str(apiserver.kubeconfig())}
    with servers(workdir, "load", 1, env, workers=size.load_workers) as (server,):
        parts = urllib.parse.urlsplit(server.url)

        def sender(index: int, count: int, record: bool) -> None:
            rng = random.Random(seed * 1000 + index)
            last: dict[str, State] = {}
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            for _ in range(count):
                if time.monotonic() > until:  # requests not sent show as missing from the count
                    break
                group = rng.sample(pods, rng.randint(1, 3))
                for pod in group:
                    if pod not in last or rng.random() < 0.2:
                        last[pod] = random_state(rng, tick())
                alerts = [alert_json(namespace, p, last[p]) for p in group]
                body = json.dumps(webhook("{}:{load}", alerts)).encode()
                begun = time.perf_counter()
                try:
                    status, _ = post(server.url, body, conn=conn)
                    error = None if 200 <= status < 300 else str(status)
                except (OSError, http.client.HTTPException) as exc:
                    error = type(exc).__name__
                    conn.close()
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                elapsed = time.perf_counter() - begun
                if record:
                    with lock:
                        result.requests += 1
                        result.alerts += len(group)
                        result.latencies.append(elapsed)
                        if error:
                            result.errors += 1
                            result.error_kinds[error] += 1
            conn.close()

        until = time.monotonic() + size.campaign_seconds
        # Warm-up (not measured): every worker builds its client and thread pool.
        _run_threads(sender, [(-1 - i, 4, False) for i in range(size.load_workers * 2)], "warm")
        started = time.perf_counter()
        _run_threads(sender, [(i, size.load_requests, True) for i in range(size.load_senders)], "load")
        result.seconds = time.perf_counter() - started
    return result


# == the run ============================================================================
CAMPAIGNS = {"fuzz": run_fuzz, "faults": run_faults, "concurrency": run_concurrency, "load": run_load}


def table(figures: list[Figure]) -> str:
    width = max(len(f"{f.campaign}: {f.name}") for f in figures)
    lines = [f"{'figure':<{width}}  {'value':>10}  must be 0", "-" * (width + 26)]
    for f in figures:
        check = ("FAIL" if f.failed else "ok") if f.zero else ""
        lines.append(f"{f'{f.campaign}: {f.name}':<{width}}  {str(f.value):>10}  {check}")
    return "\n".join(lines)


def details(results: dict) -> list[str]:
    """What a failing figure needs for a diagnosis."""
    out = []
    fuzz = results.get("fuzz")
    for status, ops, body in getattr(fuzz, "samples", []):
        out.append(f"fuzz {status}: mutations {ops}: body {body[:120]!r}")
    for name in ("faults", "concurrency"):
        for line in getattr(getattr(results.get(name), "check", None), "details", [])[:20]:
            out.append(f"{name}: {line}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="the test suite's size (about a minute)")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--only", default=",".join(CAMPAIGNS),
                        help=f"comma-separated campaigns among {', '.join(CAMPAIGNS)}")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args(argv)
    chosen = [c.strip() for c in args.only.split(",") if c.strip()]
    if unknown := set(chosen) - set(CAMPAIGNS):
        parser.error(f"unknown campaigns: {', '.join(sorted(unknown))}")
    if not APISERVER.exists() or shutil.which("etcd") is None:
        print(f"needs {APISERVER} and etcd: run `make apiserver deps`", file=sys.stderr)
        return 2
    size = SMALL if args.small else FULL
    workdir = Path(tempfile.mkdtemp(prefix="reliability-"))
    (workdir / "kube").mkdir()
    apiserver = ApiServer(workdir / "kube")
    results: dict = {}
    began = time.perf_counter()
    try:
        apiserver.start()
        for name in chosen:
            print(f"[{time.perf_counter() - began:6.1f}s] {name} ...", flush=True)
            results[name] = CAMPAIGNS[name](apiserver, size, args.seed, workdir)
    finally:
        apiserver.stop()
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    figures = [f for r in results.values() for f in r.figures()]
    print(f"\n{'small' if args.small else 'full'} size, seed {args.seed}, "
          f"{time.perf_counter() - began:.0f} s in all\n")
    print(table(figures))
    failed = [f for f in figures if f.failed]
    if failed:
        print("\nnot zero: " + "; ".join(f"{f.campaign}: {f.name} = {f.value}" for f in failed))
        for line in details(results):
            print("  " + line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
