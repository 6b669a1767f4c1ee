"""We test these aspects (issue 16 and issue 13, the pure side): decisions against hostile
and unlucky inputs.

- a time from the future neither orders nor is recorded; a pod that records one heals;
- a resolution of the alert that set the level wins a tie at the same instant;
- a resolved alert without a time does not overwrite a recorded state;
- a repeat of the current level at a newer time records the time but is `unchanged`;
- a label value not set by the function is left alone, with the value in the reason;
- CPU text is trimmed; a huge integer in an unknown field parses; truncatedAlerts is read;
- report entries come from what plan marked on each item.
"""

import json
from datetime import datetime, timedelta, timezone

import pytest

from function.alerts import FIRING, RESOLVED, Alert, parse_body
from function.errors import PayloadError
from function.model import Level, OutcomeKind, PodMeta
from function.plan import Keys, Scope, decide, plan
from function.report import Outcome, entry

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
NOW = T0 + timedelta(hours=1)
KEYS = Keys(label="status", prefix="cpu-alert-labeler")
SCOPE = Scope("default", (), ())
OURS = ("normal", "moderate", "panne")
VALUE = dict(zip(Level, OURS))


def alert(name="X", status=FIRING, at=T0, fp="f", cpu=None):
    return Alert(status, name, "ns", "p", cpu, at, fp)


def target(alerts, levels, trust_until=NOW, received=None):
    _, targets = plan(tuple(alerts), levels, SCOPE, trust_until=trust_until, received=received)
    return next(iter(targets.values()))


def apply(meta: PodMeta, alerts, levels, trust_until=NOW, received=None, window=None):
    """Decide, and apply the merge patch as the API would; (decision, new metadata)."""
    t = target(alerts, levels, trust_until, received)
    d = decide(t, meta, keys=KEYS, value=VALUE[t.level], ours=OURS, trust_until=trust_until,
               order_window=window)
    if d.patch is None:
        return d, meta
    labels = {**meta.labels, **d.patch["metadata"]["labels"]}
    annotations = {k: v for k, v in {**meta.annotations, **d.patch["metadata"]["annotations"]}.items()
                   if v is not None}
    return d, PodMeta(meta.uid, meta.resource_version + "1", labels, annotations)


EMPTY = PodMeta("u", "1", {}, {})


def test_future_time_is_neither_trusted_nor_recorded():
    """A firing alert from next year labels the pod but records no time, so the next real
    (older) notification is not stale."""
    future = NOW + timedelta(days=365)
    d, meta = apply(EMPTY, [alert(at=future)], [Level.CRITICAL])
    assert d.kind is OutcomeKind.LABELED
    assert "cpu-alert-labeler/alert-time" not in meta.annotations
    d, meta = apply(meta, [alert(at=T0)], [Level.NORMAL])
    assert d.kind is OutcomeKind.LABELED and meta.labels["status"] == "normal"


def test_a_recorded_future_time_heals():
    """A pod that recorded a future time (before the fix) accepts the next real notification."""
    frozen = PodMeta("u", "1", {"status": "panne"}, {
        "cpu-alert-labeler/alert-time": "2099-01-01T00:00:00.000000Z",
        "cpu-alert-labeler/level": "critical"})
    d, meta = apply(frozen, [alert(at=T0)], [Level.NORMAL])
    assert d.kind is OutcomeKind.LABELED and meta.labels["status"] == "normal"
    assert meta.annotations["cpu-alert-labeler/alert-time"].startswith("2026-11-24")


def test_the_allowance_keeps_skewed_but_plausible_times():
    """A time a little ahead (within the allowance) still orders writes."""
    ahead = NOW - timedelta(seconds=1)
    t = target([alert(at=ahead)], [Level.CRITICAL], trust_until=NOW)
    assert t.at == ahead


def test_tie_resolution_of_the_recorded_alert_wins():
    """Issue 16's sequence: {F@t1}; {F@t1, N@t2}; {F resolved@t2, N@t2} ends on normal."""
    t1, t2 = T0, T0 + timedelta(minutes=1)
    failure = lambda status=FIRING, at=t1: alert("PodCpuFailure", status, at, fp="F")  # noqa: E731
    normal = alert("PodCpuNormal", at=t2, fp="N")
    _, meta = apply(EMPTY, [failure()], [Level.CRITICAL])
    _, meta = apply(meta, [failure(), normal], [Level.CRITICAL, Level.NORMAL])
    assert meta.labels["status"] == "panne"
    d, meta = apply(meta, [failure(RESOLVED, t2), normal], [Level.CRITICAL, Level.NORMAL])
    assert d.kind is OutcomeKind.LABELED and meta.labels["status"] == "normal"
    d, meta = apply(meta, [normal], [Level.NORMAL])  # the hourly re-send
    assert d.patch is None and meta.labels["status"] == "normal"


def test_tie_without_resolving_the_recorded_alert_keeps_the_more_severe():
    """At the same instant, another alert's state does not beat the more severe one."""
    _, meta = apply(EMPTY, [alert("Hot", fp="H")], [Level.CRITICAL])
    d, _ = apply(meta, [alert("Other", RESOLVED, fp="O")], [Level.MODERATE])
    assert d.patch is None and "more severe" in d.reason


def test_resolved_without_time_does_not_overwrite_a_recorded_state():
    """A resolved alert with a zero endsAt cannot be ordered: nothing is written."""
    _, meta = apply(EMPTY, [alert(at=T0)], [Level.CRITICAL])
    d, after = apply(meta, [alert(status=RESOLVED, at=None)], [Level.CRITICAL])
    assert d.patch is None and "without a time" in d.reason and after.labels["status"] == "panne"


def test_repeat_at_a_newer_time_is_unchanged_but_recorded():
    """Same level, newer time: the time is written, the outcome is unchanged, not labeled."""
    _, meta = apply(EMPTY, [alert(at=T0)], [Level.CRITICAL])
    d, after = apply(meta, [alert(at=T0 + timedelta(minutes=5))], [Level.CRITICAL])
    assert d.patch is not None and d.kind is OutcomeKind.UNCHANGED
    assert after.annotations["cpu-alert-labeler/alert-time"].startswith("2026-11-24T09:05")


@pytest.mark.parametrize("labels,annotations,ours", [
    ({}, {}, True),
    ({"status": "moderate"}, {}, True),
    ({"status": "active"}, {"cpu-alert-labeler/level": "critical"}, True),
    ({"status": "active"}, {}, False),
    ({"status": ""}, {"other.io/x": "1"}, False),
])
def test_label_ownership(labels, annotations, ours):
    """Only an absent label, one of our values, or a pod with our annotations is written."""
    meta = PodMeta("u", "1", labels, annotations)
    d, after = apply(meta, [alert()], [Level.CRITICAL])
    assert (d.kind is OutcomeKind.LABELED) == ours
    if not ours:
        assert d.kind is OutcomeKind.SKIPPED and d.patch is None
        assert f"status={labels['status']}" in d.reason and after == meta


def test_cpu_text_is_trimmed():
    """`cpu_usage: " 10% "` is recorded as `10%`."""
    d, meta = apply(EMPTY, [alert(cpu=" 10% ")], [Level.CRITICAL])
    assert meta.annotations["cpu-alert-labeler/cpu-usage"] == "10%"


def parse(doc: dict):
    return parse_body(json.dumps(doc).encode(), max_alerts=10, pod_label="pod",
                      namespace_label="namespace", cpu_annotation="cpu_usage")


def test_huge_integer_in_an_unknown_field_is_ignored():
    """Unknown fields are ignored, even an integer Python would refuse to convert."""
    body = b'{"alerts": [{"labels": {"pod": "p"}}], "extra": ' + b"9" * 5000 + b"}"
    payload = parse_body(body, max_alerts=10, pod_label="pod", namespace_label="namespace",
                         cpu_annotation="cpu_usage")
    assert payload.alerts[0].pod == "p"


@pytest.mark.parametrize("value,expected", [(None, 0), (0, 0), (7, 7)])
def test_truncated_alerts_is_read(value, expected):
    doc = {"alerts": [{"labels": {"pod": "p"}}]}
    if value is not None:
        doc["truncatedAlerts"] = value
    assert parse(doc).truncated == expected


@pytest.mark.parametrize("value", [-1, "3", True, 1.5])
def test_bad_truncated_alerts_is_a_payload_error(value):
    with pytest.raises(PayloadError, match="truncatedAlerts"):
        parse({"alerts": [{"labels": {"pod": "p"}}], "truncatedAlerts": value})


def test_entries_come_from_the_plan_marks():
    """Skipped items keep their reason, outranked ones name the cause, planned ones the outcome."""
    alerts = (alert("Hot"), alert("Warm"), Alert(FIRING, "NoPod", "ns", None, None, T0, ""))
    items, targets = plan(alerts, [Level.CRITICAL, Level.MODERATE, Level.CRITICAL], SCOPE)
    outcome = Outcome(OutcomeKind.LABELED, previous=None)
    docs = [entry(i, outcome if i.key else None, label="panne", dry_run=False).to_json() for i in items]
    assert [d["outcome"] for d in docs] == ["labeled", "skipped", "skipped"]
    assert docs[1]["reason"] == "outranked by Hot" and "no pod label" in docs[2]["reason"]
    assert docs[0] == {"namespace": "ns", "pod": "p", "alertname": "Hot", "status": "firing",
                       "level": "critical", "outcome": "labeled", "label": "panne", "previous": None}


def _arriving(meta: PodMeta, alerts, levels, arrival: datetime, window=timedelta(minutes=10)):
    """Decide as the labeler does for a notification that arrived at `arrival`."""
    return apply(meta, alerts, levels, arrival + timedelta(seconds=300), arrival, window)


def test_an_alertmanager_clock_ahead_inside_the_allowance_does_not_freeze_the_label():
    """Issue 20's skew: endsAt from an Alertmanager 4 minutes ahead, startsAt from Prometheus.
    The critical notification's newest time (the normal alert's endsAt, T0+4m) is later than
    its arrival, so the arrival is recorded; the normal notification after it wins."""
    critical = [alert("PodCpuFailure", at=T0, fp="crit"),
                alert("PodCpuNormal", RESOLVED, at=T0 + timedelta(minutes=4), fp="norm")]
    d, meta = _arriving(EMPTY, critical, [Level.CRITICAL, Level.NORMAL], T0 + timedelta(seconds=10))
    assert meta.labels["status"] == "panne"
    assert meta.annotations["cpu-alert-labeler/alert-time"] == "2026-11-24T09:00:10.000000Z"
    normal = [alert("PodCpuNormal", at=T0 + timedelta(minutes=1), fp="norm")]
    d, meta = _arriving(meta, normal, [Level.NORMAL], T0 + timedelta(seconds=70))
    assert d.kind is OutcomeKind.LABELED and meta.labels["status"] == "normal"


def test_a_skewed_re_send_of_the_recorded_state_writes_nothing():
    """A clamped time is the arrival: re-sends of the recorded state (times still ahead)
    do not PATCH each time."""
    ahead = [alert("PodCpuFailure", at=T0 + timedelta(minutes=4), fp="crit")]
    d, meta = _arriving(EMPTY, ahead, [Level.CRITICAL], T0)
    assert d.kind is OutcomeKind.LABELED
    d, _ = _arriving(meta, ahead, [Level.CRITICAL], T0 + timedelta(seconds=30))
    assert d.patch is None and d.reason == "already labeled"


def test_a_late_re_send_is_stale_inside_the_window_and_the_current_state_wins_after_it():
    """Within ORDER_WINDOW_SECONDS an older state's re-send is stale; past it, a notification
    with older times than the record (clocks that disagree) is applied."""
    d, meta = _arriving(EMPTY, [alert("PodCpuFailure", at=T0 + timedelta(minutes=2), fp="c")],
                        [Level.CRITICAL], T0 + timedelta(minutes=2, seconds=5))
    older = [alert("PodCpuNormal", at=T0 + timedelta(minutes=1), fp="n")]
    d, same = _arriving(meta, older, [Level.NORMAL], T0 + timedelta(minutes=3))
    assert d.patch is None and d.reason.startswith("stale")
    d, later = _arriving(meta, older, [Level.NORMAL], T0 + timedelta(minutes=13))
    assert d.kind is OutcomeKind.LABELED and later.labels["status"] == "normal"


def test_a_late_re_send_from_a_clock_ahead_stays_stale():
    """A sender 4 minutes ahead for every time: both notifications are recorded at their
    arrival, and ordered by the sender's own times, so the older one, delivered late, is stale."""
    ahead = timedelta(minutes=4)
    critical = [alert("PodCpuFailure", at=T0 + ahead, fp="c")]
    normal = [alert("PodCpuNormal", at=T0 + timedelta(seconds=30) + ahead, fp="n"),
              alert("PodCpuFailure", RESOLVED, at=T0 + timedelta(seconds=30) + ahead, fp="c")]
    _, meta = _arriving(EMPTY, critical, [Level.CRITICAL], T0 + timedelta(seconds=1))
    _, meta = _arriving(meta, normal, [Level.NORMAL, Level.CRITICAL], T0 + timedelta(seconds=31))
    assert meta.labels["status"] == "normal"
    assert meta.annotations["cpu-alert-labeler/alert-time"] == "2026-11-24T09:00:31.000000Z"
    assert meta.annotations["cpu-alert-labeler/sender-time"] == "2026-11-24T09:04:30.000000Z"
    d, meta = _arriving(meta, critical, [Level.CRITICAL], T0 + timedelta(seconds=32))
    assert d.patch is None and d.reason.startswith("stale") and meta.labels["status"] == "normal"


def test_a_late_copy_after_its_sender_time_has_passed_stays_stale():
    """Review of issue 20: a sender 2 minutes ahead; the critical notification's copy arrives
    after its sender time has passed (so it is not clamped) and after the pod went normal.
    The normal notification showed that very firing resolved, so the copy is stale."""
    ahead = timedelta(minutes=2)
    fire = alert("PodCpuFailure", at=T0 + ahead, fp="c0ffee")
    ended = Alert(RESOLVED, "PodCpuFailure", "ns", "p", None, T0 + timedelta(seconds=60) + ahead, "c0ffee",
                  began=T0 + ahead)
    normal = [alert("PodCpuNormal", at=T0 + timedelta(seconds=60) + ahead, fp="n"), ended]
    _, meta = _arriving(EMPTY, [fire], [Level.CRITICAL], T0 + timedelta(seconds=1))
    _, meta = _arriving(meta, normal, [Level.NORMAL, Level.CRITICAL], T0 + timedelta(seconds=61))
    assert meta.labels["status"] == "normal"
    d, meta = _arriving(meta, [fire], [Level.CRITICAL], T0 + timedelta(seconds=130))
    assert d.patch is None and "already seen resolved" in d.reason and meta.labels["status"] == "normal"
    refired = alert("PodCpuFailure", at=T0 + timedelta(seconds=140) + ahead, fp="c0ffee")  # a new firing
    d, meta = _arriving(meta, [refired], [Level.CRITICAL], T0 + timedelta(seconds=141))
    assert d.kind is OutcomeKind.LABELED and meta.labels["status"] == "panne"
