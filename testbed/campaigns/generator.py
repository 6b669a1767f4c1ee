"""The request generator of the fuzz campaigns: valid, mutated and hostile webhook requests.

One vocabulary for both campaigns: a `Request` says what to send (body, method, path,
headers, content type, WSGI environ overrides such as a lying Content-Length, which app:
open or with credentials), how it was made (`kind`, `ops`) and what the answer must be
(JSON unless /metrics or HEAD; as many entries as alerts for a valid body).  `Generator`
makes them from one seeded random source, so a run can be replayed and the generator
checked in the unit tier (tests/unit/test_reliability_generator.py).  Two mixes:

- `fuzzed()`, the fuzz campaign (fuzz.py): a captured payload or a scenario body, mutated
  in structure and in bytes, sent with any content type, sometimes with another method or
  path, or with credentials right, wrong or malformed;
- `mixed()`, the 100,000-request campaign (fuzz100k.py): a third each of `valid()`
  (Alertmanager webhooks generated from scratch), `mutated()` (one of those, mutated) and
  `hostile()` (injection, another namespace, JSON bombs, oversize bodies, lying lengths,
  too many alerts, forged credentials, other routes and content types).

The tables hold the inputs that once broke, or could break, a webhook handler: odd
Unicode (lone surrogates, bidi overrides, non-ASCII digits), times at the edge of the
representable range, CPU texts that float() accepts but should not.  `Raw` and `Pairs`
let a body hold what `json.dumps` cannot write (deep nesting, NaN, 1e999, duplicate keys).
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from function.config import Settings
from testbed.campaigns.scenarios import T0, alert_json, random_state
from testbed.paths import PAYLOADS, ROOT
from testbed.webhooks import webhook

DEFAULTS = Settings()  # the function's defaults: the key and prefix it writes, its limits
LABEL_KEY, PREFIX = DEFAULTS.label_key, DEFAULTS.annotation_prefix


# == what a generated request is ==========================================================
@dataclass
class Request:
    """One request: what to send, how it was made, and what its answer must be."""

    kind: str  # valid | mutated | hostile
    ops: list[str]  # the mutations and attacks that made it, for replaying a failure
    body: bytes
    method: str = "POST"
    path: str = "/"
    headers: dict = field(default_factory=dict)
    content_type: str | None = "application/json"
    environ: dict = field(default_factory=dict)  # WSGI environ overrides (a lying Content-Length)
    auth: bool = False  # sent to the app that requires credentials
    alerts: int | None = None  # alerts in a valid body: the entries a 200 answer must hold

    @property
    def json_expected(self) -> bool:
        """Webhook answers and errors are JSON objects; /metrics is text, HEAD has no body."""
        return self.method == "POST" or (self.method != "HEAD" and self.path != "/metrics")


class Raw(str):
    """JSON text emitted as is (deep nesting, NaN, 1e999)."""


class Pairs(list):
    """An object as (key, value) pairs: duplicate keys survive."""


def dump(node: Any) -> str:
    """JSON text of a tree that may hold `Raw` and `Pairs`."""
    if isinstance(node, Raw):
        return str(node)
    if isinstance(node, Pairs):
        return "{" + ",".join(f"{json.dumps(k)}:{dump(v)}" for k, v in node) + "}"
    if isinstance(node, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dump(v)}" for k, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ",".join(dump(v) for v in node) + "]"
    return json.dumps(node)


# == the tables ===========================================================================
# fmt: off
ODD_TEXT = [
    "é", "😀", "\u202e", "e\u0301", "\ufeff", "\ud800", "\udfff", "ß", "İ", "٩٢", "９２",
    "\u2028", "\x7f", "\x1b[31m", "Ω", "日本", "\U0010ffff", "\\", '"', "/", "%00",
]
TIMES = [
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "0001-01-01T00:30:00+01:00",
    "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59.999999999Z", "2026-02-30T00:00:00Z",
    "2026-11-24T24:00:00Z", "2026-11-24t09:00:00z", "2026-11-24T09:00:00.123456789Z",
    "2026-11-24T09:00:00.1234567891Z", "2026-11-24T09:00:00+25:00", "2026-11-24 09:00:00Z", "",
    "now", "0999-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "٢٠٢٦-11-24T09:00:00Z",
    "2026-11-24T09:00:00-00:00", "1970-01-01T00:00:00Z", "2026-11-24T09:00:00+23:59",
    "2026-11-24T09:00:00", "2026-11-24T09:00:60Z", 1732437600, None, 1.5, [], {},
]
CPUS = [
    "92", "92.5%", " 66 % ", "1e2", "nan", "inf", "-5", "+5", "0x10", "٩٢", "９２", "9" * 40, "",
    "%", "..", "1.", ".5", "50%%", "5 0", "\t7\t", "33", "32.999999999999999", "66.0",
    "1" + "0" * 31, "\x0050", 92, None, True, ["92"],
]
# Requests other than a webhook POST: methods, paths and content types a broken or hostile
# sender uses.
METHODS = ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
PATHS = ["/", "/", "/", "/alert", "/x/../..", "/%00", "/healthz", "/_/ready", "/metrics", "/a" * 200, "/\u2028"]
CONTENT_TYPES = [
    "application/json", "application/json", "text/plain", None, "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x", "application/json; charset=utf-16", "application/octet-stream",
]
# Shell, path, header, template and lookup injection, for pod, namespace and alert names.
INJECT = [
    "; rm -rf /", "$(id)", "`id`", "a && touch /tmp/pwned", "|cat /etc/passwd", "../../etc/passwd",
    "..", ".", "%2e%2e%2fsecrets", "x/../../kube-system", "pod\r\nX-Injected: 1", "pod\x00evil",
    "a" * 254, "a" * 10_000, "POD-UPPER", "-leading", "trailing-", "x?dryRun=All", "x#frag", "x y",
    "*", "' OR 1=1 --", "{{7*7}}", "${jndi:ldap://x/a}", "\\\\share\\x",
]
# Any value where a value stands: every JSON type, numbers past int64 and float, the tables.
VALUES = [None, True, False, 0, -1, 2**64, 10**30, 1.5, -0.0, 1e308, "", "x", [], {}, [1, "a"],
          {"a": 1}, Raw("NaN"), Raw("-Infinity"), Raw("1e999"), "firing", "resolved"]
# (alertname, cpu_usage annotation) of a valid alert.
NAMES = [("PodCpuNormal", None), ("PodHighCpuUsage", "48.2"), ("PodCpuFailure", "97.3"),
         ("PodCpuUsage", "12.5%"), ("PodCpuUsage", " 45 "), ("PodCpuUsage", "91"),
         ("KubePodCrashLooping", None), ("", "70")]
ZONES = ["Z", "z", "+00:00", "+01:00", "-07:30", "+14:00"]
# What `hostile()` does to a valid request.
ATTACKS = ["inject", "decoy", "bomb", "oversize", "length", "many", "auth", "route", "type"]
JUNK = [b"\x00", b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b",", b"}", b"]", b'"']
# fmt: on


def auth_header(rng: random.Random, token: str, user: str, password: str) -> str | None:
    """An Authorization header, right, wrong or malformed, for the configured credentials."""
    good_basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    return rng.choice(
        [
            None,
            "",
            f"Bearer {token}",
            f"bearer  {token} ",
            f"Bearer {token}x",
            f"Bearer {token[:-1]}",
            "Bearer",
            "Basic",
            f"Basic {good_basic}",
            f"basic {good_basic}",
            "Basic ###",
            "Basic " + base64.b64encode(b"\xff\xfe:\x00").decode(),
            "Basic " + base64.b64encode(b"nocolon").decode(),
            f"Basic {good_basic[:-2]}",
            "Basic é",
            "Digest x",
            "Bearer " + "t" * 10_000,
            "Bearer \xff\xfe",
            f"Bearer {token}\x00",
            "Bearer " + token.upper(),
            f"{token}",
        ]
    )


def _is_dict(node: Any) -> bool:
    return isinstance(node, dict) and not isinstance(node, Pairs)


def _is_list(node: Any) -> bool:
    return isinstance(node, list) and not isinstance(node, Pairs)


class Generator:
    """Requests of every kind, from one seeded random source (a run can be replayed).

    `pods` are the campaign's pods in `namespace`; `decoy` a namespace holding pods of the
    same names that the function must not touch; `credentials` (token, user, password)
    those of the app that requires them; `max_body` and `max_alerts` the function's limits,
    which the sizes of big bodies straddle (a big body far past the limit costs time and
    tests nothing more).
    """

    def __init__(
        self,
        rng: random.Random,
        namespace: str,
        pods: list[str],
        *,
        decoy: str = "kube-system",
        credentials: tuple[str, str, str] = ("token", "alertmanager", "password"),
        max_body: int = DEFAULTS.max_body_bytes,
        max_alerts: int = DEFAULTS.max_alerts,
    ):
        self.rng, self.namespace, self.pods, self.decoy = rng, namespace, pods, decoy
        self.credentials, self.max_body, self.max_alerts = credentials, max_body, max_alerts

    # -- documents ------------------------------------------------------------------------
    @functools.cached_property
    def seeds(self) -> list[dict]:
        """The captured payloads (in the campaign's namespace) and 12 scenario bodies."""
        seeds = []
        for path in sorted(PAYLOADS.glob("*.json")) + [ROOT / "alert.json"]:
            doc = json.loads(path.read_text())
            for item in doc.get("alerts", []):
                if "namespace" in item.get("labels", {}):
                    item["labels"]["namespace"] = self.namespace
            seeds.append(doc)
        for i in range(12):
            at = T0 + timedelta(minutes=self.rng.randrange(10_000))
            pods = self.rng.sample(self.pods, self.rng.randint(1, len(self.pods)))
            states = [alert_json(self.namespace, pod, random_state(self.rng, at), self.rng) for pod in pods]
            seeds.append(webhook(states, group_key=f"{{}}:{{seed{i}}}"))
        return seeds

    def time(self, when: datetime) -> str:
        """`when` in RFC 3339, in any zone, with 0 to 9 fraction digits."""
        zone = self.rng.choice(ZONES)
        sign = 1 if zone[0] == "+" else -1
        offset = 0 if zone.upper() == "Z" else sign * (int(zone[1:3]) * 60 + int(zone[4:6]))
        local = when + timedelta(minutes=offset)
        digits = self.rng.choice([0, 3, 6, 9])
        frac = f".{local.microsecond:06d}000"[: digits + 1] if digits else ""
        return local.strftime("%Y-%m-%dT%H:%M:%S") + frac + zone

    def alert(self, pod: str, namespace: str | None) -> dict:
        """A valid alert: any name, level, status, severity, time precision and zone."""
        r = self.rng
        name, cpu = r.choice(NAMES)
        status = r.choice(["firing", "firing", "resolved"])
        starts = T0 + timedelta(seconds=r.randrange(10**7), microseconds=r.randrange(10**6))
        labels = {"alertname": name, "pod": pod, "severity": r.choice(["critical", "warning", "info"])}
        if namespace is not None:
            labels["namespace"] = namespace
        ends = self.time(starts + timedelta(minutes=5)) if status == "resolved" else "0001-01-01T00:00:00Z"
        alert = {
            "status": status,
            "labels": labels,
            "annotations": {"summary": f"CPU of {pod}"} | ({"cpu_usage": cpu} if cpu else {}),
            "startsAt": self.time(starts),
            "endsAt": ends,
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": f"{r.getrandbits(64):016x}",
        }
        if r.random() < 0.1:
            del alert["status"]  # no status means firing, as in the old minimal form
        return alert

    def valid_doc(self) -> dict:
        """A version 4 webhook (or the old minimal form) over the pods and some that do not exist."""
        r = self.rng
        count = r.choice([1, 1, 1, 2, 3, 6])  # each alert costs API calls: most payloads are small
        pods = [
            r.choice(self.pods) if r.random() < 0.85 else f"ghost-{r.randrange(50)}" for _ in range(count)
        ]
        alerts = [self.alert(pod, self.namespace if r.random() < 0.9 else None) for pod in pods]
        if r.random() < 0.1:
            return {"alerts": [{"labels": a["labels"], "annotations": a["annotations"]} for a in alerts]}
        doc = {
            "version": "4",
            "groupKey": f'{{}}:{{pod="{pods[0]}"}}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "cpu-alert-labeler",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": alerts,
        }
        if r.random() < 0.2:
            doc[r.choice(["notification_reason", "routeLabels"])] = r.choice(["alert_group", {"a": "b"}])
        return doc

    # -- the tree -------------------------------------------------------------------------
    def _slots(self, holder: list) -> list[tuple[Any, Any]]:
        """(container, key) of every value in the tree, bounded."""
        slots: list[tuple[Any, Any]] = []
        stack: list[Any] = [holder]
        while stack and len(slots) < 3000:
            node = stack.pop()
            keys = list(node) if _is_dict(node) else (range(len(node)) if _is_list(node) else ())
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
        alerts = holder[0].get("alerts") if _is_dict(holder[0]) else []
        return [a for a in alerts if _is_dict(a)] if _is_list(alerts) else []

    def _value(self):
        r = self.rng
        return r.choice(
            VALUES
            + [r.choice(ODD_TEXT), copy.deepcopy(r.choice(TIMES)), copy.deepcopy(r.choice(CPUS))]
            + ["x" * r.choice([300, 70_000])]
        )

    def _text(self) -> str:
        return "".join(
            self.rng.choice(ODD_TEXT + ["a", "-", ".", "0"]) for _ in range(self.rng.randint(1, 12))
        )

    # -- structural mutations -------------------------------------------------------------
    def m_type(self, h):
        node, key = self._pick(h)
        node[key] = self._value()

    def m_drop_key(self, h):
        node, key = self._pick(h, lambda v: _is_dict(v) and v)
        target = node[key]
        if _is_dict(target) and target:
            del target[self.rng.choice(list(target))]

    def m_dup_key(self, h):
        node, key = self._pick(h, lambda v: _is_dict(v) and v)
        target = node[key]
        if _is_dict(target) and target:
            k = self.rng.choice(list(target))
            pairs = Pairs(target.items())
            pairs.insert(self.rng.randrange(len(pairs) + 1), (k, self._value()))
            node[key] = pairs

    def m_huge(self, h):
        node, key = self._pick(h, lambda v: isinstance(v, str))
        # The last: a quarter of the limit, in characters of 1 to 12 bytes once written.
        size = self.rng.choice([300, 5000, 70_000, 70_000, self.max_body // 4 + 1])
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
        array = self.rng.random() < 0.5
        node[key] = Raw("[" * depth + "0" + "]" * depth if array else '{"a":' * depth + "0" + "}" * depth)

    def m_time(self, h):
        """An edge time in an alert's startsAt or endsAt, or anywhere."""
        if self.rng.random() < 0.25:
            node, key = self._pick(h)
            node[key] = copy.deepcopy(self.rng.choice(TIMES))
            return
        for item in self._alerts(h) or [{}]:
            item[self.rng.choice(["startsAt", "endsAt"])] = copy.deepcopy(self.rng.choice(TIMES))

    def m_cpu(self, h):
        """An odd CPU text in the first alerts' annotation (named for a CPU alert), or anywhere."""
        if self.rng.random() < 0.25:
            node, key = self._pick(h)
            node[key] = copy.deepcopy(self.rng.choice(CPUS))
            return
        for item in self._alerts(h)[:2]:
            notes = item.setdefault("annotations", {})
            if _is_dict(notes):
                notes["cpu_usage"] = copy.deepcopy(self.rng.choice(CPUS))
            if _is_dict(item.setdefault("labels", {})):
                item["labels"]["alertname"] = self.rng.choice(["PodCpuUsage", "PodCpuFailure", "", "X"])

    def m_name(self, h):
        names = self.pods * 3 + ["", "A", "a" * 253, "a" * 254, "-a", "a-", "a..b", "../x", "x/y", "x?y=1"]
        names += ["x%2F", "é", "x\0", "default", "a.b.c", self._text()]
        spaces = [self.namespace] * 4 + ["default", "kube-system", "", "NS", "a" * 64, self.namespace + "\0"]
        for item in self._alerts(h)[:3]:
            labels = item.setdefault("labels", {})
            if _is_dict(labels):
                labels["pod"] = self.rng.choice(names)
                if self.rng.random() < 0.5:
                    labels["namespace"] = self.rng.choice(spaces)
                elif self.rng.random() < 0.3:
                    labels.pop("namespace", None)

    def m_status(self, h):
        for item in self._alerts(h)[:3] or [h[0] if isinstance(h[0], dict) else {}]:
            item["status"] = self.rng.choice(["firing", "resolved", "FIRING", "", None, 1, "pending"])

    def m_many(self, h):
        """Many alerts: the document's own repeated, the same small one, or distinct pods."""
        doc = h[0]
        if not _is_dict(doc):
            return
        limit = self.max_alerts
        count = self.rng.choice([10, 40, 50, limit - 1, limit, limit + 1, limit * 5 // 2, 300])
        if count in (10, 40):
            if _is_list(doc.get("alerts")) and doc["alerts"]:
                doc["alerts"] = doc["alerts"] * count
        elif count == 300:  # many distinct pods: one API read each
            doc["alerts"] = [
                {"labels": {"alertname": "PodCpuFailure", "pod": f"ghost-{i}", "namespace": self.namespace}}
                for i in range(count)
            ]
        else:
            pod = self.rng.choice(self.pods)
            small = {"labels": {"alertname": "PodCpuFailure", "pod": pod, "namespace": self.namespace}}
            doc["alerts"] = [copy.deepcopy(small) for _ in range(count)]

    def m_unknown(self, h):
        node, key = self._pick(h, _is_dict)
        if _is_dict(node[key]):
            name = self.rng.choice(["notification_reason", "routeLabels", "x", "", "alerts "])
            node[key][name] = self._value()

    def m_swap(self, h):
        node, key = self._pick(h, lambda v: isinstance(v, (dict, list)))
        value = node[key]
        if isinstance(value, dict):
            node[key] = list(value.values())
        elif isinstance(value, list):
            node[key] = {str(i): v for i, v in enumerate(value)}

    # -- byte mutations -------------------------------------------------------------------
    def b_truncate(self, b):
        return b[: self.rng.randrange(len(b) + 1)]

    def b_flip(self, b):
        data = bytearray(b)
        for _ in range(self.rng.randint(1, 8)):
            if data:
                data[self.rng.randrange(len(data))] = self.rng.randrange(256)
        return bytes(data)

    def b_insert(self, b):
        at = self.rng.randint(0, len(b))
        junk = self.rng.choice(JUNK + [self.rng.randbytes(self.rng.randint(1, 64))])
        return b[:at] + junk + b[at:]

    def b_random(self, b):
        return self.rng.randbytes(self.rng.choice([0, 1, 2, 16, 1000]))

    def b_encoding(self, b):
        """Re-encoded: UTF-16 (with and without a BOM), UTF-32, a UTF-8 BOM, Latin-1."""
        text = b.decode("utf-8", "surrogatepass")
        return self.rng.choice(
            [
                lambda: text.encode("utf-16", "surrogatepass"),
                lambda: text.encode("utf-16-be", "surrogatepass"),
                lambda: text.encode("utf-32", "surrogatepass"),
                lambda: b"\xef\xbb\xbf" + b,
                lambda: text.encode("latin-1", "replace"),
            ]
        )()

    def b_text(self, b):
        return self.rng.choice(
            [
                b.replace(b"{", b"[", 1),
                b[:-1],
                b + b",",
                b.replace(b'"', b"'"),
                b + b" garbage",
                b" \n\t" + b,
                b"",
                b"   ",
                b"null",
                b"[]",
                b'"alerts"',
                b"{}",
                b'{"alerts": null}',
                b"1" * 5000,
            ]
        )

    STRUCT = (
        "m_type",
        "m_drop_key",
        "m_dup_key",
        "m_huge",
        "m_unicode",
        "m_nul",
        "m_deep",
        "m_time",
        "m_cpu",
        "m_name",
        "m_status",
        "m_many",
        "m_unknown",
        "m_swap",
    )
    BYTES = ("b_truncate", "b_flip", "b_insert", "b_random", "b_encoding", "b_text")

    def mutate(self, doc: Any, rounds: list[int], ops: list[str]) -> bytes:
        """`doc` with a number of structural mutations drawn from `rounds`, as bytes."""
        holder = [doc]
        for _ in range(self.rng.choice(rounds)):
            op = self.rng.choice(self.STRUCT)
            if op == "m_huge" and self.rng.random() < 0.7:  # huge bodies are slow: rarer
                op = "m_unicode"
            getattr(self, op)(holder)
            ops.append(op)
        return dump(holder[0]).encode("utf-8", "surrogatepass")

    def mutate_bytes(self, body: bytes, ops: list[str]) -> bytes:
        op = self.rng.choice(self.BYTES)
        ops.append(op)
        return getattr(self, op)(body)

    # -- request-level tricks -------------------------------------------------------------
    def route(self, request: Request, methods: list[str]) -> None:
        """Another method (one of `methods`) and path."""
        request.method, request.path = self.rng.choice(methods), self.rng.choice(PATHS)
        request.ops.append(f"route {request.method} {request.path[:20]}")

    def credentials_header(self, request: Request) -> None:
        """Sent to the app that requires credentials, with a right, wrong or malformed header."""
        header = auth_header(self.rng, *self.credentials)
        request.auth, request.headers = True, {} if header is None else {"Authorization": header}
        request.ops.append(f"auth {header[:16]!r}" if header is not None else "auth none")

    # -- the kinds ------------------------------------------------------------------------
    def valid(self) -> Request:
        doc = self.valid_doc()
        body = json.dumps(doc, ensure_ascii=self.rng.random() < 0.5).encode()
        return Request("valid", [], body, alerts=len(doc["alerts"]))

    def mutated(self) -> Request:
        """A valid document mutated in its structure and/or its bytes (at least once)."""
        ops: list[str] = []
        doc = self.valid_doc()
        body = self.mutate(doc, [1, 1, 2, 3] if self.rng.random() < 0.75 else [0], ops)
        if not ops or self.rng.random() < 0.3:
            body = self.mutate_bytes(body, ops)
        return Request("mutated", ops, body)

    def hostile(self) -> Request:
        r = self.rng
        attack = r.choice(ATTACKS)
        doc = self.valid_doc()
        request = Request("hostile", [], b"")
        if attack == "inject":
            for alert in doc["alerts"]:
                labels = alert.setdefault("labels", {})
                labels[r.choice(["pod", "namespace", "alertname"])] = r.choice(INJECT)
                if r.random() < 0.3:
                    labels[LABEL_KEY] = r.choice(INJECT)  # an alert label named like ours
                    alert.setdefault("annotations", {})[f"{PREFIX}/level"] = "critical"
        elif attack == "decoy":  # real pod names, in a namespace the function must not touch
            for alert in doc["alerts"]:
                alert.setdefault("labels", {})["namespace"] = r.choice([self.decoy, "kube-system", "default"])
        elif attack == "many":
            doc["alerts"] = [doc["alerts"][0]] * r.choice([self.max_alerts, self.max_alerts + 1, 5000])
        request.body = json.dumps(doc).encode("utf-8", "surrogatepass")
        if attack == "bomb":
            request.body = self.bomb()
        elif attack == "oversize":
            request.body = b'{"alerts":[' + b" " * (self.max_body + r.choice([0, 1, 5000])) + b"]}"
        elif attack == "length":  # a Content-Length that lies, either way
            lie = r.choice([0, 1, len(request.body) // 2, self.max_body * 10])
            request.environ = {"CONTENT_LENGTH": str(lie)}
        elif attack == "auth":
            self.credentials_header(request)
        elif attack == "route":
            self.route(request, METHODS + ["POST"])
        elif attack == "type":
            request.content_type = r.choice(CONTENT_TYPES)
        request.ops = request.ops or [attack]  # route and auth name what they sent
        return request

    def bomb(self) -> bytes:
        """A JSON bomb: deep nesting, a 10^5-digit number, 1e999, a duplicate key, NaN."""
        depth = self.rng.choice([1000, 100_000])
        return self.rng.choice(
            [
                b"[" * depth + b"]" * depth,
                b'{"alerts":' * depth + b"0" + b"}" * depth,
                b'{"alerts":[' + b"1" * 100_000 + b"]}",
                b'{"alerts":[1e999]}',
                b'{"alerts":[{"labels":{"pod":"a"}}],"alerts":"dup"}',
                b"NaN",
            ]
        )

    # -- the mixes ------------------------------------------------------------------------
    def mixed(self) -> Request:
        """The 100,000-request campaign's mix: valid, mutated and hostile, a third each."""
        roll = self.rng.random()
        return self.valid() if roll < 0.34 else self.mutated() if roll < 0.67 else self.hostile()

    def fuzzed(self) -> Request:
        """The fuzz campaign's mix: a captured or scenario body, mutated 0-3 times in structure
        and sometimes in bytes; mostly a POST on /, sometimes another route or credentials;
        any content type."""
        ops: list[str] = []
        body = self.mutate(copy.deepcopy(self.rng.choice(self.seeds)), [0, 1, 1, 2, 3], ops)
        if self.rng.random() < 0.3:
            body = self.mutate_bytes(body, ops)
        request = Request("mutated" if ops else "valid", ops, body)
        roll = self.rng.random()
        if roll < 0.05:
            self.route(request, METHODS)
        elif roll < 0.10:
            self.route(request, ["POST"])
        elif roll < 0.22:
            self.credentials_header(request)
        if roll < 0.22:
            request.kind = "hostile"
        request.content_type = self.rng.choice(CONTENT_TYPES)
        return request
