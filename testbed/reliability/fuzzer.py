"""Hostile webhook bodies: captured and generated payloads, mutated in structure and in bytes.

Pure: a seeded RNG in, (body bytes, the mutations applied) out, so a failing case
can be replayed and the generator checked in the unit tier.  `Raw` and `Pairs`
let a body hold what `json.dumps` cannot write (deep nesting, NaN, duplicate keys).
"""

from __future__ import annotations

import copy
import json
import random
from datetime import timedelta
from typing import Any

from testbed.paths import PAYLOADS, ROOT
from testbed.reliability.hostile import CPUS, ODD_TEXT, TIMES, Pairs, Raw, dump
from testbed.reliability.scenarios import T0, alert_json, random_state
from testbed.webhooks import webhook


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
            seeds.append(
                webhook(
                    [alert_json(self.namespace, pod, random_state(self.rng, at), self.rng) for pod in pods],
                    group_key=f"{{}}:{{seed{i}}}",
                )
            )
        return seeds

    # -- the tree ------------------------------------------------------------------------
    def _slots(self, holder: list) -> list[tuple[Any, Any]]:
        """(container, key) of every value in the tree, bounded."""
        slots: list[tuple[Any, Any]] = []
        stack: list[Any] = [holder]
        while stack and len(slots) < 3000:
            node = stack.pop()
            keys = (
                list(node)
                if isinstance(node, dict) and not isinstance(node, Pairs)
                else (range(len(node)) if isinstance(node, list) and not isinstance(node, Pairs) else ())
            )
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
        return (
            [a for a in alerts if isinstance(a, dict) and not isinstance(a, Pairs)]
            if isinstance(alerts, list) and not isinstance(alerts, Pairs)
            else []
        )

    def _value(self):
        r = self.rng
        return r.choice(
            [
                None,
                True,
                False,
                0,
                -1,
                2**64,
                10**30,
                1.5,
                -0.0,
                1e308,
                "",
                "x",
                [],
                {},
                [1, "a"],
                {"a": 1},
                Raw("NaN"),
                Raw("-Infinity"),
                Raw("1e999"),
                r.choice(ODD_TEXT),
                "firing",
                "resolved",
            ]
        )

    def _text(self) -> str:
        return "".join(
            self.rng.choice(ODD_TEXT + ["a", "-", ".", "0"]) for _ in range(self.rng.randint(1, 12))
        )

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
        node[key] = Raw(
            "[" * depth + "0" + "]" * depth
            if self.rng.random() < 0.5
            else '{"a":' * depth + "0" + "}" * depth
        )

    def m_time(self, h):
        for item in self._alerts(h) or [{}]:
            item[self.rng.choice(["startsAt", "endsAt"])] = copy.deepcopy(self.rng.choice(TIMES))

    def m_cpu(self, h):
        for item in self._alerts(h)[:2]:
            notes = item.setdefault("annotations", {})
            if isinstance(notes, dict) and not isinstance(notes, Pairs):
                notes["cpu_usage"] = copy.deepcopy(self.rng.choice(CPUS))
            item.setdefault("labels", {})
            if isinstance(item["labels"], dict) and not isinstance(item["labels"], Pairs):
                item["labels"]["alertname"] = self.rng.choice(["PodCpuUsage", "PodCpuFailure", "", "X"])

    def m_name(self, h):
        names = self.pods * 3 + [
            "",
            "A",
            "a" * 253,
            "a" * 254,
            "-a",
            "a-",
            "a..b",
            "../x",
            "x/y",
            "x?y=1",
            "x%2F",
            "é",
            "x\0",
            "default",
            "a.b.c",
            self._text(),
        ]
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
            doc["alerts"] = [
                {"labels": {"alertname": "PodCpuFailure", "pod": f"ghost-{i}", "namespace": self.namespace}}
                for i in range(count)
            ]
        else:
            small = {
                "labels": {
                    "alertname": "PodCpuFailure",
                    "pod": self.rng.choice(self.pods),
                    "namespace": self.namespace,
                }
            }
            doc["alerts"] = [copy.deepcopy(small) for _ in range(count)]

    def m_unknown(self, h):
        node, key = self._pick(h, lambda v: isinstance(v, dict) and not isinstance(v, Pairs))
        if isinstance(node[key], dict) and not isinstance(node[key], Pairs):
            node[key][self.rng.choice(["notification_reason", "routeLabels", "x", "", "alerts "])] = (
                self._value()
            )

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
        junk = self.rng.choice(
            [
                b"\x00",
                b"\xff\xfe",
                b"\xc3\x28",
                b"\xed\xa0\x80",
                b",",
                b"}",
                b"]",
                b'"',
                self.rng.randbytes(self.rng.randint(1, 64)),
            ]
        )
        return b[:at] + junk + b[at:]

    def b_random(self, b):
        return self.rng.randbytes(self.rng.choice([0, 1, 2, 16, 1000]))

    def b_encoding(self, b):
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
