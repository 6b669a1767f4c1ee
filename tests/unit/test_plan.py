"""We test these aspects: the pure decisions, by tables.

- plan(): skips with reasons (no pod, invalid names, unclassified, resolved normal),
  one target per pod, the most severe firing level wins, resolution returns to normal;
- decide_on(): writes only the configured label and the prefixed annotations, makes the
  write conditional on the resourceVersion, writes nothing for a repeat, and never
  lets a stale state overwrite a newer one.
"""

from datetime import datetime, timedelta, timezone

import pytest

from function.alerts import FIRING, RESOLVED, Alert, format_time
from function.model import Level, PodMeta
from function.plan import Keys, Scope, decide, plan

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
N, M, C = Level.NORMAL, Level.MODERATE, Level.CRITICAL
KEYS = Keys(label="status", prefix="cpu-alert-labeler")
SCOPE = Scope("default", (), ())



def decide_on(target, labels, annotations, rv, *, keys, value, trust_until=None):
    """decide() on loose metadata, as (patch, reason)."""
    d = decide(target, PodMeta("uid", rv, labels, annotations), keys=keys, value=value,
               ours=("normal", "moderate", "panne"), trust_until=trust_until)
    return d.patch, d.reason

def alert(name="X", status=FIRING, pod="p", namespace="ns", cpu=None, at=T0, fp="f"):
    return Alert(status, name, namespace, pod, cpu, at, fp)


@pytest.mark.parametrize("a,level,reason", [
    (alert(pod=None), C, "no pod label"),
    (alert(pod=""), C, "no pod label"),
    (alert(pod="web;rm -rf /"), C, "not a valid pod name"),
    (alert(pod="Web"), C, "not a valid pod name"),
    (alert(pod="a" * 254), C, "not a valid pod name"),
    (alert(pod="web 1"), C, "not a valid pod name"),
    (alert(pod="../secrets"), C, "not a valid pod name"),
    (alert(namespace="kube system"), C, "not a valid namespace name"),
    (alert(namespace="a.b"), C, "not a valid namespace name"),
    (alert(namespace="n" * 64), C, "not a valid namespace name"),
    (alert(), None, "unclassified"),
    (alert(status=RESOLVED), N, "resolved normal alert changes nothing"),
])
def test_skips_with_reasons(a, level, reason):
    """Alerts that cannot or need not change a pod are skipped with a reason, and get no target."""
    items, targets = plan((a,), [level], SCOPE)
    assert reason in items[0].skip_reason
    assert targets == {}


@pytest.mark.parametrize("scope,allowed", [
    (SCOPE, True), (Scope("default", ("ns",), ()), True), (Scope("default", ("other",), ()), False),
    (Scope("default", (), ("ns",)), False), (Scope("default", ("ns",), ("ns",)), False),
])
def test_namespace_policy(scope, allowed):
    """The allow list limits namespaces when set; the deny list always wins."""
    items, targets = plan((alert(),), [C], scope)
    assert bool(targets) == allowed
    assert (items[0].skip_reason is None) == allowed


def test_missing_namespace_means_default():
    """No namespace label: the configured default namespace."""
    items, targets = plan((alert(namespace=None),), [C], Scope("apps", (), ()))
    assert list(targets) == [("apps", "p")] and items[0].namespace == "apps"


@pytest.mark.parametrize("alerts,levels,expected", [
    ([alert()], [M], M),
    ([alert(), alert()], [M, C], C),
    ([alert(), alert(), alert()], [N, C, M], C),
    ([alert(status=RESOLVED)], [C], N),  # resolved moderate/critical: back to normal
    ([alert(status=RESOLVED), alert(status=RESOLVED)], [M, C], N),
    ([alert(status=RESOLVED), alert()], [C, M], M),  # firing wins over resolved
    ([alert(status=RESOLVED), alert(status=RESOLVED)], [N, C], N),
])
def test_one_target_per_pod(alerts, levels, expected):
    """Several alerts for one pod: one target, the most severe firing level over resolved ones."""
    _, targets = plan(tuple(alerts), levels, SCOPE)
    assert [t.level for t in targets.values()] == [expected]


def test_target_time_is_the_newest_event_and_outranked_items_name_the_cause():
    """The target is as new as the newest event of the pod; outranked alerts are marked."""
    later = T0 + timedelta(minutes=5)
    a, b = alert("Hot", at=T0), alert("Warm", status=RESOLVED, at=later)
    items, targets = plan((a, b), [C, M], SCOPE)
    (target,) = targets.values()
    assert (target.level, target.at, target.cause.name) == (C, later, "Hot")
    assert [i.outranked_by for i in items] == [None, a]


def test_a_resolved_normal_alert_dates_the_snapshot_without_deciding():
    """It changes no level, but the target is as new as it: a late re-send of an older state
    at the deciding alert's time must find the pod's record newer, not tied (a tie goes to
    the more severe state).  Found by test_ordering_interleavings."""
    later = T0 + timedelta(minutes=1)
    warm, left_normal = alert("Warm", at=T0, fp="w"), alert("Calm", status=RESOLVED, at=later, fp="c")
    items, targets = plan((warm, left_normal), [M, N], SCOPE)
    (target,) = targets.values()
    assert (target.level, target.at, target.cause.name) == (M, later, "Warm")
    assert items[1].skip_reason == "a resolved normal alert changes nothing"
    _, alone = plan((left_normal,), [N], SCOPE)
    assert alone == {}


def test_pods_are_planned_separately():
    """Different pods (or the same name in other namespaces) get their own targets."""
    alerts = (alert(pod="a"), alert(pod="b"), alert(pod="a", namespace="other"))
    _, targets = plan(alerts, [M, C, N], SCOPE)
    assert {k: t.level for k, t in targets.items()} == {("ns", "a"): M, ("ns", "b"): C, ("other", "a"): N}


def target_for(level=C, at=T0, cpu="97", name="PodCpuFailure"):
    _, targets = plan((alert(name, cpu=cpu, at=at),), [level], SCOPE)
    return next(iter(targets.values()))


def test_patch_writes_only_the_label_and_prefixed_annotations():
    """The patch holds the resourceVersion precondition, the configured label and our annotations."""
    patch, why = decide_on(target_for(), {"app": "x"}, {}, "42", keys=KEYS, value="panne")
    assert why == ""
    meta = patch["metadata"]
    assert set(patch) == {"metadata"} and meta["resourceVersion"] == "42"
    assert meta["labels"] == {"status": "panne"}
    assert meta["annotations"] == {
        "cpu-alert-labeler/alert-time": "2026-11-24T09:00:00.000000Z",
        "cpu-alert-labeler/alertname": "PodCpuFailure",
        "cpu-alert-labeler/level": "critical",
        "cpu-alert-labeler/cpu-usage": "97",
        "cpu-alert-labeler/fingerprint": "f",
    }


def recorded(at):
    return {"cpu-alert-labeler/alert-time": format_time(at)}


@pytest.mark.parametrize("labels,annotations,at,writes,why", [
    ({}, {}, T0, True, ""),
    ({"status": "panne"}, recorded(T0), T0, False, "already labeled"),  # a repeat: no write
    ({"status": "panne"}, recorded(T0 - timedelta(seconds=1)), T0, True, ""),  # newer time is recorded
    ({"status": "normal"}, recorded(T0 + timedelta(seconds=1)), T0, False, "stale"),
    ({"status": "normal"}, recorded(T0), T0, True, ""),
    ({"status": "normal"}, {**recorded(T0), "cpu-alert-labeler/level": "normal"}, T0, True, ""),
    ({"status": "panne"}, {**recorded(T0), "cpu-alert-labeler/level": "critical"}, T0, False, "already"),
    ({"status": "normal"}, {"cpu-alert-labeler/alert-time": "garbage"}, T0, True, ""),
    ({"status": "panne"}, {}, None, False, "already labeled"),  # no times: label decides
    ({"status": "normal"}, recorded(T0), None, True, ""),
])
def test_decide_orders_by_alert_time(labels, annotations, at, writes, why):
    """Stale states never overwrite newer ones; repeats write nothing; newer states always write."""
    patch, reason = decide_on(target_for(at=at), labels, annotations, "1", keys=KEYS, value="panne")
    assert (patch is not None) == writes
    assert why in reason


def test_same_instant_more_severe_wins_in_either_order():
    """A resolution and a firing of the same instant end on the firing level, whatever the order."""
    firing = target_for(level=C, at=T0)
    _, targets = plan((alert(status=RESOLVED, at=T0),), [M], SCOPE)
    resolving = next(iter(targets.values()))
    annotations = {**recorded(T0), "cpu-alert-labeler/level": "critical"}
    patch, why = decide_on(resolving, {"status": "panne"}, annotations, "1", keys=KEYS, value="normal")
    assert patch is None and "more severe" in why
    annotations = {**recorded(T0), "cpu-alert-labeler/level": "normal"}
    patch, _ = decide_on(firing, {"status": "normal"}, annotations, "1", keys=KEYS, value="panne")
    assert patch["metadata"]["labels"] == {"status": "panne"}


def test_resolved_target_drops_the_cpu_reading():
    """Returning to normal does not record the CPU reading of the alert that resolved."""
    _, targets = plan((alert(status=RESOLVED, cpu="90"),), [C], SCOPE)
    patch, _ = decide_on(next(iter(targets.values())), {}, {}, "1", keys=KEYS, value="normal")
    assert patch["metadata"]["annotations"]["cpu-alert-labeler/cpu-usage"] is None
    assert patch["metadata"]["annotations"]["cpu-alert-labeler/level"] == "normal"


def test_notification_without_times_keeps_the_recorded_time():
    """The old minimal form writes the label but leaves the pod's recorded time for the guard."""
    patch, _ = decide_on(target_for(at=None), {"status": "normal"}, recorded(T0), "1", keys=KEYS, value="panne")
    assert patch["metadata"]["labels"] == {"status": "panne"}
    assert "cpu-alert-labeler/alert-time" not in patch["metadata"]["annotations"]


def test_unreadable_recorded_time_does_not_block_or_crash():
    """A recorded time out of range once in UTC (hand-edited) reads as unrecorded."""
    annotations = {"cpu-alert-labeler/alert-time": "0001-01-01T00:00:00+01:00"}
    patch, _ = decide_on(target_for(), {}, annotations, "1", keys=KEYS, value="panne")
    assert patch is not None
