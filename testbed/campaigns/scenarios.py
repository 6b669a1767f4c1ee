"""What the campaigns send, as pure functions of a seeded RNG: states, alerts, sequences.

Kept apart from any server so that the scenarios themselves can be checked in the
unit tier (tests/unit/test_reliability_scenarios.py): each pod's truth is the
newest state generated for it, times only move forward, groups cover every pod.
The skewed sender's sequences (`flip_flop`, `late_resends`) are checked there too.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from testbed.webhooks import ZERO_TIME, alert, rfc3339, webhook

CRITICAL = ("PodCpuFailure", "97.3")  # (alertname, cpu annotation) of the skewed sender's states
NORMAL = ("PodCpuNormal", "12.5")

LABELS = {"normal": "normal", "moderate": "moderate", "critical": "panne"}  # the default values
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class State:
    """One alert state of a pod, and the label it must lead to."""

    name: str
    status: str
    at: datetime
    cpu: str | None
    level: str  # normal | moderate | critical

    @property
    def label(self) -> str:
        return LABELS["normal" if self.status == "resolved" else self.level]


# (alertname, cpu annotation, level): by name, and by CPU for names the function does not know.
_FIRING: list[tuple[str, str | None, str]] = [
    ("PodCpuNormal", None, "normal"),
    ("PodHighCpuUsage", "48.2", "moderate"),
    ("PodCpuFailure", "97.3", "critical"),
    ("PodCpuUsage", "12.5%", "normal"),
    ("PodCpuUsage", " 45 ", "moderate"),
    ("PodCpuUsage", "91.0%", "critical"),
]
_RESOLVABLE: list[tuple[str, str | None, str]] = [
    ("PodHighCpuUsage", "58.1", "moderate"),
    ("PodCpuFailure", "88", "critical"),
]


def random_state(rng: random.Random, at: datetime) -> State:
    """A firing state of any level, or a resolved moderate/critical alert (-> normal).

    A resolved *normal* alert changes nothing by design, so it never ends a sequence here.
    """
    if rng.random() < 0.3:
        name, cpu, level = rng.choice(_RESOLVABLE)
        return State(name, "resolved", at, cpu, level)
    name, cpu, level = rng.choice(_FIRING)
    return State(name, "firing", at, cpu, level)


def _stamp(when: datetime, rng: random.Random | None) -> str:
    """Go's RFC3339Nano as Alertmanager writes it: ms, or µs/ns when `rng` says so."""
    return rfc3339(when, rng.choice((3, 6, 9)) if rng else 3)


def alert_json(namespace: str, pod: str, state: State, rng: random.Random | None = None) -> dict[str, Any]:
    """The alert Alertmanager would send for `state` (a resolved one started 5 minutes before)."""
    firing = state.status == "firing"
    starts = state.at if firing else state.at - timedelta(minutes=5)
    return alert(
        pod,
        namespace,
        name=state.name,
        status=state.status,
        cpu=state.cpu,
        starts_at=_stamp(starts, rng),
        ends_at=ZERO_TIME if firing else _stamp(state.at, rng),
        labels={"severity": state.level},
        annotations={"summary": f"Pod {namespace}/{pod} CPU"},
    )


def body(group_key: str, alerts: list[dict[str, Any]]) -> bytes:
    """A serialized webhook of `alerts`."""
    return json.dumps(webhook(alerts, group_key=group_key)).encode()


def groups_of(rng: random.Random, pods: list[str]) -> list[list[str]]:
    """Alertmanager-like groups: every pod in exactly one group of one to three pods."""
    groups, rest = [], pods[:]
    rng.shuffle(rest)
    while rest:
        take = rng.randint(1, 3)
        groups.append(rest[:take])
        rest = rest[take:]
    return groups


def group_sequence(
    rng: random.Random, namespace: str, key: str, group: list[str], steps: int
) -> tuple[list[bytes], dict[str, State]]:
    """`steps` state changes per pod of a group, shuffled, each body holding every pod's current
    state (as Alertmanager re-sends a group); the bodies in order and each pod's newest state."""
    current: dict[str, State] = {}
    order = [pod for pod in group for _ in range(steps)]
    rng.shuffle(order)
    at, bodies = T0, []
    for pod in order:
        at += timedelta(seconds=rng.randint(1, 90), milliseconds=rng.randint(0, 999))
        current[pod] = random_state(rng, at)
        bodies.append(body(key, [alert_json(namespace, p, s, rng) for p, s in current.items()]))
    return bodies, current


def pod_notifications(
    rng: random.Random, namespace: str, pod: str, states: int, repeat: float
) -> tuple[list[bytes], State]:
    """`states` ever newer states of one pod, each sent once or more (Alertmanager repeats
    a share `repeat` of them); the notifications, unshuffled, and the newest state."""
    jobs: list[bytes] = []
    at = T0
    for _ in range(states):
        at += timedelta(seconds=rng.randint(1, 600), microseconds=rng.randint(0, 999) * 1000)
        state = random_state(rng, at)
        sent = body(f'{{}}:{{pod="{pod}"}}', [alert_json(namespace, pod, state, rng)])
        jobs.extend([sent] * (1 + (rng.random() < repeat) + (rng.random() < repeat / 3)))
    return jobs, state


@dataclass(frozen=True)
class Timed:
    """One notification of a skewed sender: sent `after` seconds (real time) from the start,
    carrying `state`; `resend` marks a late repeat of an earlier one."""

    after: float
    body: bytes
    state: State
    resend: bool = False


def flip_flop(
    namespace: str,
    pod: str,
    *,
    start: datetime,
    step: timedelta,
    states: int,
    ends_ahead: timedelta = timedelta(0),
) -> list[Timed]:
    """critical, normal, critical, ... for one pod, a state every `step`, timed by a sender
    whose clock reads `start` at the first one (ahead of the receiver's by the skew).

    Shaped as Alertmanager sends a pod's group: the alert that starts fires with its own
    startsAt, the one it replaces is resolved with endsAt at the same instant (the first
    critical has nothing to replace).  `ends_ahead` moves only the endsAt times: startsAt
    from Prometheus' clock, endsAt from an Alertmanager's running ahead of it."""
    began: dict[str, datetime] = {}  # alertname -> startsAt of its current instance
    timed = []
    for k in range(states):
        at = start + k * step
        (name, cpu), (old, old_cpu) = (CRITICAL, NORMAL) if k % 2 == 0 else (NORMAL, CRITICAL)
        began[name] = at
        alerts = [_skewed(namespace, pod, name, cpu, began[name], ZERO_TIME)]
        if old in began:
            alerts.append(_skewed(namespace, pod, old, old_cpu, began[old], rfc3339(at + ends_ahead, 3)))
        level = "critical" if name == CRITICAL[0] else "normal"
        state = State(name, "firing", at, cpu, level)
        timed.append(Timed(k * step.total_seconds(), body(f'{{}}:{{pod="{pod}"}}', alerts), state))
    return timed


def _skewed(namespace: str, pod: str, name: str, cpu: str, starts: datetime, ends: str) -> dict[str, Any]:
    status = "firing" if ends == ZERO_TIME else "resolved"
    return alert(
        pod, namespace, name=name, status=status, cpu=cpu, starts_at=rfc3339(starts, 3), ends_at=ends
    )


def late_resends(timed: list[Timed]) -> list[Timed]:
    """Each notification again right after the next one (an HA peer or a retry delivering
    late): n0, n1, n0, n2, n1, ...; the newest state is still the last one that is new."""
    out: list[Timed] = []
    for k, notification in enumerate(timed):
        out.append(notification)
        if k > 0:
            late = timed[k - 1]
            out.append(Timed(notification.after, late.body, late.state, resend=True))
    return out
