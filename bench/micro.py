"""Classification and the Python pipeline, in process: no HTTP, no API.

Three figures over the same batch of alerts:
- the raw native call `lib.cal_classify` on cffi arrays built beforehand: what
  the C++ library costs per alert;
- `Classifier.classify`, the wrapper the function calls, which also builds
  those arrays from Python strings (most of its cost);
- the Python side per alert: `parse_body` + `Classifier.classify` + `plan`,
  i.e. everything the function does with a payload before its first API call.
Each is the median of several repetitions, after one warm-up.
"""

from __future__ import annotations

import json
import time

from bench.harness import median
from testbed.webhooks import alert, webhook

_NAMED = ("PodCpuNormal", "PodHighCpuUsage", "PodCpuFailure")
_CPUS = ("12", "45.5", "92%", " 70 ", "abc", None)


def _pairs(n: int) -> list[tuple[str | None, str | None]]:
    """A mix of alerts classified by name, by CPU text, and not at all."""
    pairs: list[tuple[str | None, str | None]] = []
    for i in range(n):
        if i % 3 == 0:
            pairs.append((_NAMED[i % len(_NAMED)], None))
        else:
            pairs.append((f"HighCpu{i % 7}", _CPUS[i % len(_CPUS)]))
    return pairs


def _body(pairs: list[tuple[str | None, str | None]]) -> bytes:
    alerts = [
        alert(
            f"pod-{i:05d}",
            "bench",
            name=name or "",
            cpu=cpu,
            fp=f"{i:016x}",
            starts_at="2030-01-01T00:00:00.123456789Z",
        )
        for i, (name, cpu) in enumerate(pairs)
    ]
    return json.dumps(webhook(alerts)).encode()


def _time(fn, repeat: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return median(samples)


def classification(n: int) -> dict[str, float]:
    """Seconds per alert: {'native', 'wrapper', 'python'} over `n` alerts."""
    from function._classifier import ffi, lib
    from function.alerts import parse_body
    from function.config import Settings
    from function.labeler import Labeler
    from function.plan import plan

    # The function's own construction of the rules and scope (no client is built yet).
    settings = Settings()
    labeler = Labeler(settings)
    classifier, scope = labeler.classifier, labeler.scope
    pairs = _pairs(n)

    # The raw call: arrays built once, outside the timing (the wrapper's `_rules` is
    # private; reaching it is acceptable in a benchmark, nowhere else).
    keep = [
        (
            ffi.new("char[]", a.encode()) if a is not None else ffi.NULL,
            ffi.new("char[]", b.encode()) if b is not None else ffi.NULL,
        )
        for a, b in pairs
    ]
    names = ffi.new("const char *[]", [k[0] for k in keep])
    cpus = ffi.new("const char *[]", [k[1] for k in keep])
    levels = ffi.new("int8_t[]", n)
    rules = classifier._rules

    def raw() -> None:
        if lib.cal_classify(rules, n, names, cpus, levels) != lib.CAL_OK:
            raise RuntimeError("cal_classify failed")

    native = _time(raw, 50)
    wrapped = classifier.classify(pairs)
    if [w if w is not None else -1 for w in wrapped] != list(levels):
        raise RuntimeError("the wrapper and the raw call disagree")
    wrapper = _time(lambda: classifier.classify(pairs), 7)

    body = _body(pairs)

    def pipeline() -> None:
        payload = parse_body(
            body,
            max_alerts=n,
            pod_label=settings.pod_label,
            namespace_label=settings.namespace_label,
            cpu_annotation=settings.cpu_annotation,
        )
        found = classifier.classify([(a.name, a.cpu) for a in payload.alerts])
        plan(payload.alerts, found, scope)

    python = _time(pipeline, 5)
    return {"native": native / n, "wrapper": wrapper / n, "python": python / n}
