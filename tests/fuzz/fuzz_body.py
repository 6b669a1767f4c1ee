"""Coverage-guided fuzzing of the webhook body parser (function/alerts.py) with atheris.

Usage (from the repository root; `make fuzz-python` runs it):

    PYTHONPATH=. .venv/bin/python tests/fuzz/fuzz_body.py -runs=20000 -dict=tests/fuzz/body.dict \
        .cache/fuzz/corpus-body tests/fuzz/corpus

The first directory receives what libFuzzer finds; the second is the seed corpus kept in
the repository (read only).  Each input is a request body exactly as the handler reads it.
The parser must either return a Payload that keeps its promises (checked below, and then
classified by the real native library, as the handler does next) or raise PayloadError;
any other exception is a crash, which atheris saves as `crash-*` for tests/fuzz/regressions/
(replayed by tests/unit/test_fuzz_corpus.py).

Half of the mutations are structural: an input that is JSON is decoded, one value is
replaced by a value the parser must handle (times, CPU texts, wrong types, huge and odd
strings, many alerts) and encoded again; byte-level mutation alone rarely keeps JSON valid
deep enough to reach the alert fields.
"""

import json
import random
import sys
from datetime import timezone

import atheris

with atheris.instrument_imports():
    from function import alerts
    from function.errors import PayloadError

from function.classifier import Classifier

MAX_ALERTS = 50  # small, so that the limit is reached by mutation
CLASSIFIER = Classifier(moderate=33.0, critical=66.0,
                        by_name=(("PodCpuNormal", "normal"), ("PodCpuFailure", "critical")))
VALUES = [None, True, 0, -1, 2 ** 70, 1.5, 1e308, "", "firing", "resolved", "FIRING", [], {},
          "0001-01-01T00:00:00Z", "2026-11-24T09:12:41.503Z", "2026-11-24T09:00:00.1234567891Z",
          "9999-12-31T23:59:59-01:00", "0001-01-01T00:30:00+01:00", "2026-02-30T00:00:00Z",
          "92", "92.5%", " 66 % ", "nan", "1e2", "٩٢", "9" * 40, "\u0000", "\ud800", "é" * 300,
          "PodCpuFailure", "PodCpuNormal", {"alertname": "PodCpuFailure", "pod": "p"}]


def check(body: bytes) -> None:
    """Parse `body` as the handler does; raise AssertionError if a promise is broken."""
    try:
        payload = alerts.parse_body(body, max_alerts=MAX_ALERTS, pod_label="pod",
                                    namespace_label="namespace", cpu_annotation="cpu_usage")
    except PayloadError:
        return
    assert isinstance(payload.group_key, str)
    assert 1 <= len(payload.alerts) <= MAX_ALERTS
    for alert in payload.alerts:
        assert alert.status in (alerts.FIRING, alerts.RESOLVED)
        assert isinstance(alert.name, str) and isinstance(alert.fingerprint, str)
        assert all(v is None or isinstance(v, str) for v in (alert.namespace, alert.pod, alert.cpu))
        if alert.at is not None:
            assert alert.at.tzinfo is not None and alert.at.utcoffset() == timezone.utc.utcoffset(None)
            assert alerts.parse_time(alerts.format_time(alert.at)) == alert.at
    levels = CLASSIFIER.classify([(a.name, a.cpu) for a in payload.alerts])
    assert len(levels) == len(payload.alerts)


def _slots(node, out: list, depth: int = 0) -> list:
    """(container, key) of every value in a decoded JSON tree, bounded."""
    if depth > 20 or len(out) > 2000:
        return out
    keys = list(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else ()
    for key in keys:
        out.append((node, key))
        _slots(node[key], out, depth + 1)
    return out


def mutate(data: bytes, max_size: int, seed: int) -> bytes:
    """A structural mutation of a JSON input, else libFuzzer's own byte mutation."""
    rng = random.Random(seed)
    if rng.random() < 0.5:
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            doc = None
        slots = _slots(doc, []) if isinstance(doc, (dict, list)) else []
        if slots:
            node, key = rng.choice(slots)
            roll = rng.random()
            if roll < 0.7:
                node[key] = rng.choice(VALUES)
            elif roll < 0.85 and isinstance(node, list):
                node.extend([node[key]] * rng.choice([1, 5, MAX_ALERTS]))
            elif isinstance(node, dict):
                del node[key]
            out = json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
            if len(out) <= max_size:
                return out
    return atheris.Mutate(data, max_size)


def main() -> None:
    atheris.Setup(sys.argv, check, custom_mutator=mutate)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
