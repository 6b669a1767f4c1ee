"""We test these aspects: the shipped rules' level handovers, as Prometheus posts them and
Alertmanager may deliver them, never show a pod a level it is not passing through.

Prometheus sends each rule's alerts to Alertmanager right after evaluating that rule, so
two alerts changing state in one evaluation arrive in two posts, and an Alertmanager flush
(group_interval) may fall after any post.  Each scenario below is the pod's alerts as the
cumulative rules (PodCpuNormal < 33, PodHighCpuUsage >= 33, PodCpuFailure >= 66, rules
evaluated in that order, keep_firing_for equal to for:) change them, one post per changed
alert, with Prometheus's times (startsAt: when the alert became pending; endsAt: when it
resolved).  For EVERY choice of posts after which a flush happens, the notifications
(snapshots of the pod's group, resolved alerts included) go through plan() and decide()
with the patch applied as the API would: the labels the pod shows must follow the
scenario's path, never stepping back (moderate -> normal -> panne was seen on the node with
exclusive ranges), and end on the right level.  A control shows that the same harness finds
the gap of the former exclusive ranges.
"""

from datetime import datetime, timedelta, timezone
from itertools import combinations

import pytest

from function.alerts import FIRING, RESOLVED, Alert
from function.model import Level, PodMeta
from testbed import decisions

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)
LEVELS = {"PodCpuNormal": Level.NORMAL, "PodHighCpuUsage": Level.MODERATE, "PodCpuFailure": Level.CRITICAL}

State = dict[str, tuple[str, int, int | None]]  # alertname -> (status, startsAt, endsAt) in minutes


def fire(name: str, since: int) -> tuple[str, tuple[str, int, None]]:
    return name, (FIRING, since, None)


def resolve(name: str, since: int, at: int) -> tuple[str, tuple[str, int, int]]:
    return name, (RESOLVED, since, at)


def snapshot(state: State) -> tuple[Alert, ...]:
    """The pod's group as Alertmanager sends it: every alert it holds, resolved ones included."""
    def when(status: str, start: int, end: int | None) -> datetime:
        return T0 + timedelta(minutes=start if status == FIRING else end)  # type: ignore[operator]
    return tuple(Alert(s[0], name, "shop", "api", None, when(*s), name) for name, s in sorted(state.items()))


def apply(meta: PodMeta, alerts: tuple[Alert, ...]) -> PodMeta:
    return decisions.apply(meta, alerts, [LEVELS[a.name] for a in alerts], T0 + timedelta(days=1))


def labels_shown(start: State, posts: list[tuple[str, tuple]], flushes: tuple[int, ...]) -> list[str]:
    """The labels the pod shows when Alertmanager flushes the group after the posts `flushes`
    (indexes into `posts`, in order) and once more after the last post; repeats collapsed."""
    meta = apply(PodMeta("u", "1", {}, {}), snapshot(start))
    shown = [meta.labels["status"]]
    state = dict(start)
    for index, (name, alert) in enumerate(posts):
        state[name] = alert
        if index in flushes or index == len(posts) - 1:
            meta = apply(meta, snapshot(state))
            if meta.labels["status"] != shown[-1]:
                shown.append(meta.labels["status"])
    return shown


def every_flush_choice(posts: list) -> list[tuple[int, ...]]:
    inner = range(len(posts) - 1)
    return [c for n in range(len(posts)) for c in combinations(inner, n)]


def is_path(shown: list[str], path: list[str]) -> bool:
    """`shown` walks `path` forwards (steps may be skipped), from its first to its last level."""
    positions = [path.index(label) if label in path else -1 for label in shown]
    return positions[0] == 0 and positions[-1] == len(path) - 1 and positions == sorted(set(positions))


# (name, alerts before, posts in sending order, the path the pod's label must follow).
# Times in minutes; for: = keep_firing_for: = 2.
SCENARIOS = [
    ("normal -> moderate -> panne",
     dict([fire("PodCpuNormal", 0)]),
     # 12: PodCpuNormal (kept firing since 10) resolves as PodHighCpuUsage (pending since 10)
     # fires; 22: PodCpuFailure (pending since 20) fires, PodHighCpuUsage firing on.
     [resolve("PodCpuNormal", 0, 12), fire("PodHighCpuUsage", 10), fire("PodCpuFailure", 20)],
     ["normal", "moderate", "panne"]),
    ("panne -> moderate",
     dict([fire("PodHighCpuUsage", 10), fire("PodCpuFailure", 20)]),
     [resolve("PodCpuFailure", 20, 32)],  # kept firing since 30, PodHighCpuUsage firing on
     ["panne", "moderate"]),
    ("moderate -> normal",
     dict([resolve("PodCpuNormal", 0, 12), fire("PodHighCpuUsage", 10)]),
     [fire("PodCpuNormal", 40), resolve("PodHighCpuUsage", 10, 42)],
     ["moderate", "normal"]),
    ("panne -> normal in one evaluation",
     dict([resolve("PodCpuNormal", 0, 12), fire("PodHighCpuUsage", 10), fire("PodCpuFailure", 20)]),
     [fire("PodCpuNormal", 40), resolve("PodHighCpuUsage", 10, 42), resolve("PodCpuFailure", 20, 42)],
     ["panne", "normal"]),
    ("panne -> moderate -> normal",
     dict([resolve("PodCpuNormal", 0, 12), fire("PodHighCpuUsage", 10), fire("PodCpuFailure", 20)]),
     [resolve("PodCpuFailure", 20, 39), fire("PodCpuNormal", 39), resolve("PodHighCpuUsage", 10, 41)],
     ["panne", "moderate", "normal"]),
]


@pytest.mark.parametrize("start,posts,path", [s[1:] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS])
def test_every_flush_timing_follows_the_path(start, posts, path):
    """Whichever posts a flush falls after, the pod's label walks the path forwards and ends on
    its last level: never back to normal on the way up, never a level it is not passing."""
    for flushes in every_flush_choice(posts):
        shown = labels_shown(start, posts, flushes)
        assert is_path(shown, path), f"flushes after posts {flushes}: the pod showed {shown}"


def test_control_exclusive_ranges_had_the_gap():
    """Control: with the former exclusive ranges, moderate -> panne resolved PodHighCpuUsage
    and fired PodCpuFailure in one evaluation, two posts; a flush between them shows normal."""
    start = dict([resolve("PodCpuNormal", 0, 12), fire("PodHighCpuUsage", 10)])
    posts = [resolve("PodHighCpuUsage", 10, 22), fire("PodCpuFailure", 20)]
    shown = {tuple(labels_shown(start, posts, f)) for f in every_flush_choice(posts)}
    assert shown == {("moderate", "panne"), ("moderate", "normal", "panne")}
