"""We test these aspects: the ordering rules against Alertmanager-like interleavings.

Several rules' alerts for one pod fire and resolve over time, some at the same instant
(one alert resolving as the next fires); after each change Alertmanager sends the group
as a snapshot (resolved alerts stay for a while, then drop out), and some snapshots are
re-sent later, out of order (older than the current state).  Applying the notifications with plan() and decide() (the
patch applied as the API would) always ends on the true level: the most severe firing
rule, or normal when none fires.
"""

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from function.alerts import FIRING, RESOLVED, Alert
from function.model import Level, PodMeta
from function.plan import recorded_time
from testbed import decisions

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
ALLOWANCE = timedelta(seconds=300)  # FUTURE_TIME_ALLOWANCE_SECONDS' default
WINDOW = timedelta(seconds=600)  # ORDER_WINDOW_SECONDS' default
RULES = {"A": Level.CRITICAL, "B": Level.MODERATE, "C": Level.NORMAL, "D": Level.CRITICAL}


def apply(meta: PodMeta, alerts: tuple[Alert, ...]) -> PodMeta:
    return decisions.apply(meta, alerts, [RULES[a.fingerprint] for a in alerts], T0 + timedelta(days=1))


@st.composite
def timelines(draw):
    """(snapshots in sending order, true final level)."""
    state: dict[str, tuple[str, datetime, datetime | None]] = {}  # rule -> (status, startsAt, endsAt)
    now = T0
    snapshots = []
    for _ in range(draw(st.integers(1, 8))):
        now += timedelta(minutes=draw(st.sampled_from([0, 0, 1, 2])))  # ties are common
        rule = draw(st.sampled_from(sorted(RULES)))
        status = state.get(rule, (RESOLVED,))[0]
        if status == FIRING:
            state[rule] = (RESOLVED, state[rule][1], now)
        else:
            state[rule] = (FIRING, now, None)
        # Resolved alerts may drop out of later snapshots, as Alertmanager forgets them.
        for gone in [r for r, s in state.items() if s[0] == RESOLVED and r != rule]:
            if draw(st.booleans()):
                del state[gone]
        snapshots.append(tuple(
            Alert(s[0], r, "ns", "p", None, s[1] if s[0] == FIRING else s[2], r)
            for r, s in sorted(state.items())))
    firing = [RULES[r] for r, s in state.items() if s[0] == FIRING]
    return snapshots, max(firing, default=Level.NORMAL)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timeline=timelines(), data=st.data())
def test_in_order_delivery_ends_on_the_truth(timeline, data):
    """Every snapshot delivered in order, each possibly repeated: the label is the truth."""
    snapshots, truth = timeline
    meta = PodMeta("u", "1", {}, {})
    for snapshot in snapshots:
        for _ in range(data.draw(st.integers(1, 2))):
            meta = apply(meta, snapshot)
    assert meta.labels.get("status", "normal") == decisions.OURS[truth]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timeline=timelines(), data=st.data())
def test_late_re_sends_do_not_undo_the_truth(timeline, data):
    """After the last snapshot, late re-sends of snapshots older than it change nothing.

    "Older" is older than the state the pod records (the last snapshot may record
    nothing: a resolved normal alert).  (A late re-send whose newest time equals the
    recorded state's is the known limit: at one instant the more severe state wins, so
    such a re-send can raise the level until the next notification with a newer time;
    see the README's ordering note.)"""
    snapshots, truth = timeline
    meta = PodMeta("u", "1", {}, {})
    for snapshot in snapshots:
        meta = apply(meta, snapshot)
    recorded = recorded_time(meta.annotations, decisions.KEYS)
    older = [s for s in snapshots if recorded is not None and max(a.at for a in s) < recorded]
    for index in data.draw(st.lists(st.integers(0, max(len(older) - 1, 0)), max_size=4)):
        if older:
            meta = apply(meta, older[index])
    meta = apply(meta, snapshots[-1])  # Alertmanager re-sends the current group on repeat_interval
    assert meta.labels.get("status", "normal") == decisions.OURS[truth]


@st.composite
def skewed_deliveries(draw):
    """(snapshots with their arrival times, true final level, skew) from a sender whose clock runs
    `skew` ahead of the function's, inside FUTURE_TIME_ALLOWANCE_SECONDS or beyond it.

    `ends_only` skews only the resolved alerts' endsAt (Alertmanager's clock, while
    startsAt comes from Prometheus'); otherwise every time.  Each snapshot arrives after
    its change by a delivery delay (group_wait, group_interval)."""
    snapshots, truth = draw(timelines())
    skew = timedelta(seconds=draw(st.sampled_from([0, 30, 240, 299, 600])))
    # Beyond the allowance a time takes no part at all, so a resolution whose only time is
    # beyond it while startsAt is older than the record is ordered by those startsAt: with
    # clocks that far apart the label follows the next notification with a newer time.
    ends_only = draw(st.booleans()) and skew <= ALLOWANCE
    arrival = T0
    delivered = []
    for snapshot in snapshots:
        newest = max(a.at for a in snapshot)
        arrival = max(arrival, newest) + timedelta(seconds=draw(st.sampled_from([0.001, 1, 30])))
        shifted = tuple(
            Alert(a.status, a.name, a.namespace, a.pod, a.cpu, a.at + skew, a.fingerprint)
            if not ends_only or a.status == RESOLVED
            else a
            for a in snapshot
        )
        delivered.append((shifted, arrival))
    return delivered, truth, skew


def apply_at(meta: PodMeta, alerts: tuple[Alert, ...], arrival: datetime) -> PodMeta:
    levels = [RULES[a.fingerprint] for a in alerts]
    return decisions.apply(meta, alerts, levels, arrival + ALLOWANCE, received=arrival, order_window=WINDOW)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(delivery=skewed_deliveries(), data=st.data())
def test_a_sender_clock_ahead_never_freezes_the_label(delivery, data):
    """A sender clock ahead (inside the allowance or beyond): snapshots in order, late
    re-sends of older ones, then the current group re-sent on repeat_interval: the label
    ends on the truth.  No time later than the arrival is recorded, and a record outranks
    older times only for ORDER_WINDOW_SECONDS, so no clock can freeze a label."""
    delivered, truth, skew = delivery
    meta = PodMeta("u", "1", {}, {})
    for snapshot, arrival in delivered:
        meta = apply_at(meta, snapshot, arrival)
    last_arrival = delivered[-1][1]
    recorded = recorded_time(meta.annotations, decisions.KEYS)
    older = [s for s, _ in delivered if recorded is not None and max(a.at for a in s) < recorded]
    for step, index in enumerate(data.draw(st.lists(st.integers(0, max(len(older) - 1, 0)), max_size=4))):
        if older:
            meta = apply_at(meta, older[index], last_arrival + timedelta(seconds=step + 1))
    if not skew:  # clocks that agree: late re-sends within the window change nothing
        assert meta.labels.get("status", "normal") == decisions.OURS[truth]
    meta = apply_at(meta, delivered[-1][0], last_arrival + WINDOW + timedelta(minutes=1))
    assert meta.labels.get("status", "normal") == decisions.OURS[truth]
