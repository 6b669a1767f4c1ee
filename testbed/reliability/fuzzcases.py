"""Requests for the 100,000-request fuzz campaign (fuzz100k): valid, mutated and hostile.

Pure and seeded: the same seed gives the same requests.  See fuzz100k.py for what the
campaign checks and why it runs in process.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from testbed.reliability.hostile import CONTENT_TYPES, CPUS, METHODS, ODD_TEXT, PATHS, TIMES, auth_header

LABEL_KEY, PREFIX = "status", "cpu-alert-labeler"
VALUES = {"normal", "moderate", "panne"}
MAX_BODY = 65_536  # MAX_BODY_BYTES for the campaign: small, so the limit is reached often
MAX_ALERTS = 32  # MAX_BODY / 2048: the most the function's start-up check allows
PODS = ["checkout-7d9f8b6c5-x2k4p", "worker-0", "api-1", "web-0", "db-0", "cache-0"]
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
# What the production server (waitress, like gunicorn) puts in every WSGI environ and the test client does
# not: with it, werkzeug reads the body as the server hands it over.  Without it, a body
# shorter than its Content-Length makes werkzeug raise ClientDisconnected inside
# functions-framework's after-request hook (a 500 no client receives, since it has gone);
# under a real server the read simply ends short, and the function answers 400.
SERVER_ENVIRON = {"wsgi.input_terminated": True}


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


_NAMES = [
    ("PodCpuNormal", None),
    ("PodHighCpuUsage", "48.2"),
    ("PodCpuFailure", "97.3"),
    ("PodCpuUsage", "12.5%"),
    ("PodCpuUsage", " 45 "),
    ("PodCpuUsage", "91"),
    ("KubePodCrashLooping", None),
    ("", "70"),
]
_ZONES = ["Z", "z", "+00:00", "+01:00", "-07:30", "+14:00"]
_INJECT = [
    "; rm -rf /",
    "$(id)",
    "`id`",
    "a && touch /tmp/pwned",
    "|cat /etc/passwd",
    "../../etc/passwd",
    "..",
    ".",
    "%2e%2e%2fsecrets",
    "x/../../kube-system",
    "pod\r\nX-Injected: 1",
    "pod\x00evil",
    "a" * 254,
    "a" * 10_000,
    "POD-UPPER",
    "-leading",
    "trailing-",
    "x?dryRun=All",
    "x#frag",
    "x y",
    "*",
    "' OR 1=1 --",
    "{{7*7}}",
    "${jndi:ldap://x/a}",
    "\\\\share\\x",
]


class Generator:
    """Requests of every kind, from one seeded random source (a run can be replayed)."""

    def __init__(self, rng: random.Random, namespace: str, decoy: str, token: str, user: str, password: str):
        self.rng, self.namespace, self.decoy = rng, namespace, decoy
        self.token, self.user, self.password = token, user, password

    # -- valid --------------------------------------------------------------------------
    def time(self, when: datetime) -> str:
        zone = self.rng.choice(_ZONES)
        offset = (
            0
            if zone.upper() == "Z"
            else (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 60 + int(zone[4:6]))
        )
        local = when + timedelta(minutes=offset)
        digits = self.rng.choice([0, 3, 6, 9])
        frac = f".{local.microsecond:06d}000"[: digits + 1] if digits else ""
        return local.strftime("%Y-%m-%dT%H:%M:%S") + frac + zone

    def alert(self, pod: str, namespace: str | None) -> dict:
        r = self.rng
        name, cpu = r.choice(_NAMES)
        status = r.choice(["firing", "firing", "resolved"])
        starts = T0 + timedelta(seconds=r.randrange(10**7), microseconds=r.randrange(10**6))
        labels = {"alertname": name, "pod": pod, "severity": r.choice(["critical", "warning", "info"])}
        if namespace is not None:
            labels["namespace"] = namespace
        alert = {
            "status": status,
            "labels": labels,
            "annotations": {"summary": f"CPU of {pod}"} | ({"cpu_usage": cpu} if cpu else {}),
            "startsAt": self.time(starts),
            "endsAt": self.time(starts + timedelta(minutes=5))
            if status == "resolved"
            else "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": f"{r.getrandbits(64):016x}",
        }
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

    def valid(self) -> Case:
        doc = self.valid_doc()
        return Case(
            "valid",
            [],
            json.dumps(doc, ensure_ascii=self.rng.random() < 0.5).encode(),
            alerts=len(doc["alerts"]),
        )

    # -- mutated ------------------------------------------------------------------------
    def _slots(self, doc) -> list:
        slots: list = []
        stack = [doc]
        while stack and len(slots) < 500:
            node = stack.pop()
            for key in list(node) if isinstance(node, dict) else range(len(node)):
                slots.append((node, key))
                if isinstance(node[key], (dict, list)):
                    stack.append(node[key])
        return slots

    def _value(self):
        r = self.rng
        return r.choice(
            [
                None,
                True,
                0,
                -1,
                2**64,
                1.5,
                "",
                [],
                {},
                [1, "a"],
                {"a": 1},
                r.choice(ODD_TEXT),
                "firing",
                "resolved",
                r.choice(TIMES),
                r.choice(CPUS),
                "x" * r.choice([300, 70_000]),
            ]
        )

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
                node[key] = r.choice(TIMES)
            elif op == "cpu":
                node[key] = r.choice(CPUS)
            elif op == "odd":
                node[key] = "".join(r.choice(ODD_TEXT + ["a", "-"]) for _ in range(r.randint(1, 12)))
            elif op == "swap" and isinstance(node[key], (dict, list)):
                value = node[key]
                node[key] = (
                    list(value.values())
                    if isinstance(value, dict)
                    else {str(i): v for i, v in enumerate(value)}
                )
            elif op == "many" and isinstance(doc.get("alerts"), list) and doc["alerts"]:
                doc["alerts"] = doc["alerts"] * r.choice([10, 40])

    def mutate_bytes(self, body: bytes, ops: list[str]) -> bytes:
        r = self.rng
        op = r.choice(["truncate", "flip", "insert", "utf16", "bom", "latin1"])
        ops.append(op)
        if op == "truncate":
            return body[: r.randrange(len(body) + 1)]
        if op == "flip":
            data = bytearray(body)
            for _ in range(r.randint(1, 8)):
                data[r.randrange(len(data))] = r.randrange(256)
            return bytes(data)
        if op == "insert":
            at = r.randint(0, len(body))
            return (
                body[:at]
                + r.choice([b"\x00", b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b",", b"}"])
                + body[at:]
            )
        text = body.decode("utf-8", "surrogatepass")
        if op == "utf16":
            return text.encode("utf-16", "surrogatepass")
        if op == "bom":
            return b"\xef\xbb\xbf" + body
        return text.encode("latin-1", "replace")

    def mutated(self) -> Case:
        doc, ops = self.valid_doc(), list[str]()
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
            case.body = r.choice(
                [
                    b"[" * depth + b"]" * depth,
                    b'{"alerts":' * depth + b"0" + b"}" * depth,
                    b'{"alerts":[' + b"1" * 100_000 + b"]}",
                    b'{"alerts":[1e999]}',
                    b'{"alerts":[{"labels":{"pod":"a"}}],"alerts":"dup"}',
                    b"NaN",
                ]
            )
        elif attack == "oversize":
            case.body = b'{"alerts":[' + b" " * (MAX_BODY + r.choice([0, 1, 5000])) + b"]}"
        elif attack == "length":  # a Content-Length that lies, either way
            case.environ = {"CONTENT_LENGTH": str(r.choice([0, 1, len(case.body) // 2, MAX_BODY * 10]))}
        elif attack == "auth":
            case.auth = True
            header = auth_header(self.rng, self.token, self.user, self.password)
            case.headers = {} if header is None else {"Authorization": header}
        elif attack == "route":
            case.method, case.path = r.choice(METHODS + ["POST"]), r.choice(PATHS)
        elif attack == "type":
            case.content_type = r.choice(CONTENT_TYPES)
        return case

    def case(self) -> Case:
        roll = self.rng.random()
        return self.valid() if roll < 0.34 else self.mutated() if roll < 0.67 else self.hostile()


# == the run ==============================================================================
