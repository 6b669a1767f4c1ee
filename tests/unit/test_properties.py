"""We test these aspects: properties that hold for any input, checked with generated cases.

- alerts.parse_body: any JSON value, any webhook-shaped document, any bytes either read
  or raise PayloadError (never another exception, which main.py would answer with 500);
  times the parser accepts are written back in a form it reads;
- the native classifier agrees with a small pure-Python model of the rules, for generated
  alert names and CPU strings (floats formatted many ways, `%`, blanks, junk, NUL, length);
- plan.plan: items keep payload order and count, at most one target per pod, the target is
  the most severe firing level (normal when only resolved alerts remain), as new as the
  newest alert of its pod;
- plan.decide: a patch writes only the configured label key, the prefixed annotations and
  the resourceVersion precondition; never a patch for a target older than the recorded
  state; applying a patch and deciding again writes nothing (repeats are free).
"""

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from function.alerts import FIRING, RESOLVED, Alert, Payload, format_time, parse_body, parse_time
from function.classifier import Classifier
from function.config import Settings
from function.errors import PayloadError
from function.k8snames import is_dns_label, is_dns_subdomain
from function.model import Level, PodMeta
from function.plan import Keys, Scope, Skip, Target, decide, plan, recorded_time

UTC = timezone.utc
SOME = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])



def decide_on(target, labels, annotations, rv, *, keys, value, trust_until=None):
    """decide() on loose metadata, as (patch, reason)."""
    d = decide(target, PodMeta("uid", rv, labels, annotations), keys=keys, value=value,
               ours=(VALUES), trust_until=trust_until)
    return d.patch, d.reason

def parse(body: bytes, max_alerts: int = 50):
    return parse_body(body, max_alerts=max_alerts, pod_label="pod", namespace_label="namespace",
                      cpu_annotation="cpu_usage")


def parses_or_payload_error(body: bytes) -> Payload | None:
    """The property itself: a Payload, or PayloadError; anything else fails the test."""
    try:
        return parse(body)
    except PayloadError:
        return None


# == parse_body ==========================================================================
json_scalars = (st.none() | st.booleans() | st.integers() | st.floats()
                | st.text(max_size=12) | st.sampled_from(["firing", "resolved", "", "\0", "\ud800"]))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=16)


@st.composite
def rfc3339_texts(draw):
    """Times across the whole range the parser reads, with offsets, precisions and case."""
    when = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
                | st.sampled_from([datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59)]))
    digits = draw(st.sampled_from(["", ".1", ".123", ".123456", ".123456789"]))
    zone = draw(st.sampled_from(["Z", "z", "+00:00", "-00:00", "+01:00", "-01:00", "+23:59", "-23:59"]))
    sep = draw(st.sampled_from(["T", "t"]))
    return f"{when.year:04d}-{when:%m-%d}{sep}{when:%H:%M:%S}{digits}{zone}"


times = rfc3339_texts() | st.sampled_from(["0001-01-01T00:00:00Z", "", "now", "2026-02-30T00:00:00Z",
                                           "2026-11-24T24:00:00Z", "٢٠٢٦-11-24T09:00:00Z"]) | json_scalars
string_maps = st.dictionaries(st.sampled_from(["alertname", "pod", "namespace", "cpu_usage", "x"])
                              | st.text(max_size=4), st.text(max_size=12) | json_scalars, max_size=5)
alert_docs = st.fixed_dictionaries({}, optional={
    "status": st.sampled_from([FIRING, RESOLVED]) | json_scalars,
    "labels": string_maps | json_values, "annotations": string_maps | json_values,
    "startsAt": times, "endsAt": times, "fingerprint": st.text(max_size=8) | json_scalars,
    "generatorURL": json_values})
webhook_docs = st.fixed_dictionaries({}, optional={
    "version": st.just("4") | json_scalars, "groupKey": st.text(max_size=10) | json_scalars,
    "status": json_scalars, "alerts": st.lists(alert_docs | json_values, max_size=5) | json_values,
    "commonLabels": json_values})


@SOME
@given(st.one_of(json_values, webhook_docs))
def test_any_json_reads_or_is_a_payload_error(doc):
    """Any JSON document is read into records or refused with PayloadError, nothing else."""
    payload = parses_or_payload_error(json.dumps(doc).encode())
    if payload is not None:
        assert len(payload.alerts) == len(doc["alerts"])
        for a in payload.alerts:
            assert a.status in (FIRING, RESOLVED)
            assert a.at is None or a.at.utcoffset() == timedelta(0)


@SOME
@given(st.sampled_from([FIRING, RESOLVED]), times)
def test_any_alert_time_reads_or_is_a_payload_error(status, text):
    """Any startsAt (firing) or endsAt (resolved) value, every year and offset, reads or is a 400."""
    key = "startsAt" if status == FIRING else "endsAt"
    payload = parses_or_payload_error(json.dumps({"alerts": [{"status": status, key: text}]}).encode())
    if payload is not None and payload.alerts[0].at is not None:
        assert payload.alerts[0].at.utcoffset() == timedelta(0)


@SOME
@given(st.binary(max_size=300) | webhook_docs.map(lambda d: json.dumps(d).encode()).flatmap(
    lambda b: st.integers(0, len(b)).map(lambda n: b[:n])))
@example(b"\xef\xbb\xbf{}")
@example('{"alerts": [{}]}'.encode("utf-16"))
def test_any_bytes_read_or_are_a_payload_error(body):
    """Random and truncated bytes, other encodings included, never raise anything but PayloadError."""
    parses_or_payload_error(body)


@pytest.mark.parametrize("body", [
    b"[" * 100_000,
    b'{"alerts": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"alerts": [{"labels": {"pod": ' + b'{"a":' * 3000 + b"0" + b"}" * 3000 + b"}}]}",
], ids=["top-level", "alerts", "labels"])
def test_deeply_nested_body_is_a_payload_error(body):
    """JSON nested deeper than Python's recursion limit (well within MAX_BODY_BYTES) is a 400.

    json.loads raises RecursionError here, not ValueError: uncaught, the webhook would
    answer 500 and Alertmanager would re-send it for as long as it retries.
    """
    with pytest.raises(PayloadError):
        parse(body)


@pytest.mark.parametrize("status,key,text", [
    ("firing", "startsAt", "0001-01-01T00:00:00+01:00"),
    ("firing", "startsAt", "0001-01-01T00:29:59.999+00:30"),
    ("resolved", "endsAt", "9999-12-31T23:59:59-01:00"),
])
def test_times_out_of_range_in_utc_are_payload_errors(status, key, text):
    """A syntactically valid time whose UTC equivalent falls outside years 1-9999 is a 400.

    astimezone() raises OverflowError for these, not ValueError: uncaught, the webhook
    would answer 500.
    """
    with pytest.raises(PayloadError, match=key):
        parse(json.dumps({"alerts": [{"status": status, key: text}]}).encode())


@pytest.mark.parametrize("when", [datetime(999, 12, 31, 23, 59, 59, 5, tzinfo=UTC),
                                  datetime(1, 1, 1, 0, 0, 1, tzinfo=UTC),
                                  datetime(2026, 11, 24, 9, 0, tzinfo=UTC)])
def test_every_time_the_parser_reads_is_written_back_readably(when):
    """format_time writes what parse_time reads back, for every year parse_time accepts.

    Years before 1000 matter: glibc's strftime('%Y') does not pad them to four digits, and
    an unreadable alert-time annotation would cost the pod its ordering guard.
    """
    assert parse_time(format_time(when)) == when


# == the classifier against a model ======================================================
def model_percent(text: str) -> float | None:
    """cal_parse_percent, in Python: blanks, one trailing %, blanks; then a plain decimal."""
    raw = text.encode("utf-8", "replace")
    if len(raw) > 32:
        return None
    s = raw.lstrip(b" \t").rstrip(b" \t")
    if s.endswith(b"%"):
        s = s[:-1].rstrip(b" \t")
    if not re.fullmatch(rb"[0-9]*\.?[0-9]*", s) or not re.search(rb"[0-9]", s):
        return None
    return float(s)


def model_level(name, cpu, *, moderate: float, critical: float, by_name: dict) -> Level | None:
    """The classification rules: a mapped name wins, else the CPU percent against thresholds."""
    if name is not None and "\0" not in name:
        raw = name.encode("utf-8", "replace")
        if len(raw) <= 256 and raw in by_name:
            return by_name[raw]
    if cpu is None or "\0" in cpu:
        return None
    pct = model_percent(cpu)
    if pct is None:
        return None
    return Level.NORMAL if pct < moderate else Level.MODERATE if pct < critical else Level.CRITICAL


DEFAULT_NAMES = [name for name, _ in Settings().alert_levels]
LONG_NAME = "L" * 256  # the longest name the library maps


@st.composite
def cpu_texts(draw):
    """A number formatted one of many ways, with blanks, % and junk around it."""
    number = draw(st.floats(0, 1e6) | st.integers(0, 10 ** 6) | st.floats() | st.sampled_from(
        [33, 66, 32.999999999999996, 65.99999999999999, 0, 1e-300]))
    fmt = draw(st.sampled_from(["{}", "{:.0f}", "{:.1f}", "{:.3f}", "{:.17g}", "{:e}", "{:f}", "{:,.2f}"]))
    before = draw(st.sampled_from(["", " ", "\t", "  ", "+", "-", "0", "\n"]))
    after = draw(st.sampled_from(["", "%", " %", "% ", " % ", "%%", "\t", "x", " 5", "%\t", "\0"]))
    return before + fmt.format(number) + after


names = (st.none() | st.sampled_from(DEFAULT_NAMES + [LONG_NAME, LONG_NAME + "L", ""])
         | st.sampled_from(DEFAULT_NAMES).flatmap(lambda n: st.sampled_from(
             [n.lower(), n + " ", " " + n, n + "\0", n + "\0x", n[:-1]]))
         | st.text(max_size=20))
cpus = (st.none() | cpu_texts() | st.text(max_size=40)
        | st.text(alphabet="0123456789. %\t-+e", max_size=36)
        | st.sampled_from(["٩٢", "９２", "1.", ".5", "."]))


@SOME
@given(pairs=st.lists(st.tuples(names, cpus), max_size=20),
       moderate=st.floats(0, 100), gap=st.floats(0.001, 100),
       mapping=st.sampled_from(["default", "long"]))
def test_classifier_agrees_with_the_model(pairs, moderate, gap, mapping):
    """One batch call gives, for every (name, cpu) pair, the level the Python model gives."""
    critical = moderate + gap
    levels = dict(Settings().alert_levels) if mapping == "default" else {LONG_NAME: "critical",
                                                                         "PodCpuFailure": "normal"}
    classifier = Classifier(moderate=moderate, critical=critical, by_name=levels.items())
    by_name = {n.encode(): Level[lvl.upper()] for n, lvl in levels.items()}
    expected = [model_level(n, c, moderate=moderate, critical=critical, by_name=by_name) for n, c in pairs]
    assert classifier.classify(pairs) == expected


# == plan =================================================================================
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
alerts_for_plan = st.builds(
    Alert, status=st.sampled_from([FIRING, RESOLVED]), name=st.sampled_from(["A", "B", ""]),
    namespace=st.sampled_from([None, "ns", "other", "Bad NS", "n" * 64]),
    pod=st.sampled_from([None, "", "p", "q", "r.s", "Bad", "a" * 254]),
    cpu=st.none() | st.just("50"),
    at=st.none() | st.integers(0, 5).map(lambda m: T0 + timedelta(minutes=m)),
    fingerprint=st.text(max_size=3))
scopes = st.builds(Scope, default_namespace=st.sampled_from(["default", "ns"]),
                   allow=st.lists(st.sampled_from(["ns", "other", "default"]), max_size=2).map(tuple),
                   deny=st.lists(st.sampled_from(["ns", "other"]), max_size=1).map(tuple))


@SOME
@given(st.lists(st.tuples(alerts_for_plan, st.none() | st.sampled_from(list(Level))), max_size=12), scopes)
def test_plan_invariants(pairs, scope):
    """Order and count kept; one target per pod; max firing level, else normal; newest time."""
    alerts, levels = tuple(a for a, _ in pairs), [lvl for _, lvl in pairs]
    items, targets = plan(alerts, levels, scope)
    assert len(items) == len(alerts) and all(i.alert is a for i, a in zip(items, alerts))
    live = [i for i in items if i.skip_reason is None]
    assert set(targets) == {i.key for i in live}
    assert len({(t.namespace, t.pod) for t in targets.values()}) == len(targets)
    for item in live:
        assert item.level is not None and is_dns_subdomain(item.pod) and is_dns_label(item.namespace)
        assert scope.permits(item.namespace)
        assert not (item.alert.status == RESOLVED and item.level == Level.NORMAL)
    for key, target in targets.items():
        group = [i for i in live if i.key == key]
        firing = [i.level for i in group if i.alert.status == FIRING]
        assert (target.namespace, target.pod) == key
        assert target.level == (max(firing) if firing else Level.NORMAL)
        # The snapshot is as new as the pod's newest alert, resolved normal ones included
        # (they decide nothing, but date the snapshot).
        dated = group + [i for i in items if i.skip_reason is Skip.RESOLVED_NORMAL and (i.namespace, i.pod) == key]
        assert target.at == max((i.alert.at for i in dated if i.alert.at), default=None)
        assert any(i.outranked_by is None for i in group)
        assert all(i.outranked_by in (None, target.cause) for i in group)


# == decide ===============================================================================
key_sets = st.sampled_from([Keys("status", "cpu-alert-labeler"), Keys("example.com/cpu", "x.io")])
moments = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                       timezones=st.just(UTC))
VALUES = ("normal", "moderate", "panne")


@st.composite
def pod_metadata(draw, keys: Keys, at: datetime | None):
    """Labels and annotations as a pod may carry them, the recorded time near `at` or junk."""
    labels = draw(st.dictionaries(st.sampled_from(["app", "tier", keys.label]),
                                  st.sampled_from(VALUES + ("other", "")), max_size=3))
    annotations = draw(st.dictionaries(st.sampled_from([keys.annotation("level"), "other/x"]),
                                       st.text(max_size=5), max_size=2))
    choice = draw(st.sampled_from(["none", "near", "any", "junk"]))
    if choice == "near" and at is not None:
        annotations[keys.annotation("alert-time")] = format_time(
            at + timedelta(seconds=draw(st.integers(-2, 2))))
    elif choice == "any":
        annotations[keys.annotation("alert-time")] = format_time(draw(moments))
    elif choice == "junk":
        annotations[keys.annotation("alert-time")] = draw(st.text(max_size=30))
    return labels, annotations


def merged(current: dict, change: dict) -> dict:
    """A JSON merge patch applied to a map: None deletes."""
    out = dict(current)
    for key, value in change.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


@SOME
@given(data=st.data(), keys=key_sets, level=st.sampled_from(list(Level)), at=st.none() | moments,
       status=st.sampled_from([FIRING, RESOLVED]), cpu=st.none() | st.text(max_size=40),
       rv=st.text("0123456789", min_size=1, max_size=6))
def test_decide_invariants(data, keys, level, at, status, cpu, rv):
    """Only the configured key, prefixed annotations and the precondition; no stale write; idempotent."""
    cause = Alert(status, "PodCpuFailure", "ns", "p", cpu, at, "fp")
    target = Target("ns", "p", level, at, cause, data.draw(st.sampled_from(list(Level))))
    labels, annotations = data.draw(pod_metadata(keys, at))
    value = VALUES[level]
    patch, why = decide_on(target, labels, annotations, rv, keys=keys, value=value)
    recorded = recorded_time(annotations, keys)
    if at is not None and recorded is not None and at < recorded:
        assert patch is None and why.startswith("stale")
    if patch is None:
        assert why
        return
    meta = patch["metadata"]
    assert set(patch) == {"metadata"} and set(meta) == {"resourceVersion", "labels", "annotations"}
    assert meta["labels"] == {keys.label: value} and meta["resourceVersion"] == rv
    assert all(k.startswith(keys.prefix + "/") for k in meta["annotations"])
    again, why = decide_on(target, merged(labels, meta["labels"]), merged(annotations, meta["annotations"]),
                        rv + "1", keys=keys, value=value)
    assert again is None and why == "already labeled"
