"""What to write on each pod: pure decisions, no I/O.

Two steps, both pure so they can be tested by tables:
- `plan()` turns classified alerts into one target per pod: the most severe
  firing level wins; a resolved moderate or critical alert with nothing firing
  returns the pod to normal; a resolved normal alert changes nothing.  Each item
  says why it changes nothing (`skip_reason`) or which alert outranked it, so the
  report never has to work that out again.
- `decide()` compares a target with the pod's current metadata and returns the
  merge patch to send, or why none is needed.  The pod carries, in annotations,
  the time of the alert state that set its label, so a stale notification
  (Alertmanager re-sends, several instances, out of order) never overwrites a
  newer state, and a repeat of the current state writes nothing.

Clocks disagree, so times are used with three guards.  Times after `trust_until`
(arrival plus FUTURE_TIME_ALLOWANCE_SECONDS) take no part at all.  The time recorded
on the pod (`alert-time`) is never later than the notification's arrival
(`received`): a sender whose clock runs ahead would otherwise record a future time
and make every later notification of the pod look stale, freezing its label (the
normal alert's startsAt never moves, so no re-send would fix it).  Such a clamped
record also keeps the sender's own time (`sender-time`), and two notifications that
both came from a clock ahead are ordered by that clock's times, so a late re-send of
an older state stays stale.  And a recorded state outranks notifications with older
times only for `order_window` after it was written (`received-at`): late re-sends
(an HA peer, a retry) arrive within minutes, while clocks that disagree within one
notification (startsAt from Prometheus, endsAt from an Alertmanager ahead of it)
could otherwise make the current state look older than a record for good.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from .alerts import FIRING, Alert, format_time, parse_time
from .k8snames import is_dns_label, is_dns_subdomain
from .model import Level, OutcomeKind, PodKey, PodMeta

_MAX_TEXT = 256  # alert text copied into pod annotations is bounded
_MAX_ENDED = 8  # resolved alert instances recorded on a pod, at most


class Skip(str, Enum):
    """Why an alert cannot or need not change its pod; the value is the answer's reason."""

    NO_POD = "alert has no pod label"
    BAD_POD = "pod label is not a valid pod name"
    BAD_NAMESPACE = "namespace label is not a valid namespace name"
    OUT_OF_SCOPE = "namespace not allowed by NAMESPACE_ALLOW / NAMESPACE_DENY"
    UNCLASSIFIED = "unclassified: no known alert name and no readable CPU usage"
    RESOLVED_NORMAL = "a resolved normal alert changes nothing"


@dataclass(frozen=True, slots=True)
class Item:
    """One alert's place in the plan: its pod and level, or why it changes nothing."""

    alert: Alert
    namespace: str | None
    pod: str | None
    level: Level | None
    skip_reason: Skip | None = None
    """Why this alert cannot or need not change its pod; None when it is planned."""
    outranked_by: Alert | None = None
    """The alert that decided this item's pod instead of this one."""

    @property
    def key(self) -> PodKey | None:
        if self.skip_reason or self.namespace is None or self.pod is None:
            return None
        return (self.namespace, self.pod)


@dataclass(frozen=True, slots=True)
class Target:
    """The state one pod should reach, and the alert that decided it."""

    namespace: str
    pod: str
    level: Level
    at: datetime | None
    cause: Alert
    cause_level: Level
    resolves: frozenset[str] = frozenset()
    """Fingerprints of the alerts this notification resolves for the pod."""
    sent: datetime | None = None
    """The alerts' own newest time when it was later than the arrival (the sender's clock
    ahead); `at` is then the arrival."""
    received: datetime | None = None
    """When the notification arrived (None: not known, no order window applies)."""
    ended: frozenset[str] = frozenset()
    """The alert instances (`fingerprint@startsAt`) this notification shows resolved."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Where the function may write: the default namespace and the allow and deny lists."""

    default_namespace: str
    allow: tuple[str, ...]
    deny: tuple[str, ...]

    def permits(self, namespace: str) -> bool:
        return namespace not in self.deny and (not self.allow or namespace in self.allow)


def plan(
    alerts: tuple[Alert, ...],
    levels: list[Level | None],
    scope: Scope,
    *,
    trust_until: datetime | None = None,
    received: datetime | None = None,
) -> tuple[list[Item], dict[PodKey, Target]]:
    """Items in payload order, each marked as planned, skipped or outranked; at most one
    target per pod.  Times after `trust_until` take no part in ordering; a target's time
    is never later than `received`."""
    items = [_item(alert, level, scope) for alert, level in zip(alerts, levels)]
    snapshots: dict[PodKey, list[Item]] = {}
    for item in items:
        if (key := _snapshot_key(item)) is not None:
            snapshots.setdefault(key, []).append(item)
    targets = {
        key: _target(key, snapshot, trust_until, received)
        for key, snapshot in snapshots.items()
        if any(i.skip_reason is None for i in snapshot)
    }
    return [_ranked(item, targets) for item in items], targets


def _item(alert: Alert, level: Level | None, scope: Scope) -> Item:
    namespace = alert.namespace if alert.namespace is not None else scope.default_namespace
    item = Item(alert, namespace, alert.pod, level)
    if alert.pod is None or alert.pod == "":
        return _skipped(item, Skip.NO_POD)
    if not is_dns_subdomain(alert.pod):
        return _skipped(item, Skip.BAD_POD)
    if not is_dns_label(namespace):
        return _skipped(item, Skip.BAD_NAMESPACE)
    if not scope.permits(namespace):
        return _skipped(item, Skip.OUT_OF_SCOPE)
    if level is None:
        return _skipped(item, Skip.UNCLASSIFIED)
    if alert.status != FIRING and level == Level.NORMAL:
        return _skipped(item, Skip.RESOLVED_NORMAL)
    return item


def _snapshot_key(item: Item) -> PodKey | None:
    """The pod whose snapshot the item is part of: planned items, and resolved normal alerts,
    which decide nothing but date the snapshot (or a late re-send of an older state at the
    time of the deciding alert would tie with the record and win on severity)."""
    if item.skip_reason not in (None, Skip.RESOLVED_NORMAL) or item.namespace is None or item.pod is None:
        return None
    return (item.namespace, item.pod)


def _skipped(item: Item, reason: Skip) -> Item:
    return Item(item.alert, item.namespace, item.pod, item.level, skip_reason=reason)


def _target(
    key: PodKey, snapshot: list[Item], trust_until: datetime | None, received: datetime | None
) -> Target:
    group = [i for i in snapshot if i.skip_reason is None]
    firing = [i for i in group if i.alert.status == FIRING]
    if firing:
        cause = max(firing, key=_level)
        level = _level(cause)
    else:
        cause, level = group[0], Level.NORMAL
    # The payload is a snapshot of the group: it is as new as its newest trusted event.
    times = [at for i in snapshot if (at := i.alert.at) is not None and trusted(at, trust_until)]
    newest = max(times, default=None)
    ahead = newest is not None and received is not None and newest > received
    resolves = frozenset(
        i.alert.fingerprint for i in group if i.alert.status != FIRING and i.alert.fingerprint
    )
    at, sent = (received, newest) if ahead else (newest, None)
    ended = frozenset(
        instance
        for i in group
        if i.alert.status != FIRING and (instance := _instance(i.alert.fingerprint, i.alert.began))
    )
    return Target(key[0], key[1], level, at, cause.alert, _level(cause), resolves, sent, received, ended)


def _instance(fingerprint: str, began: datetime | None) -> str | None:
    """`fingerprint@startsAt`: one firing of one alert (a new firing has a new startsAt)."""
    if not began or not fingerprint or len(fingerprint) > 64 or not fingerprint.isalnum():
        return None
    return f"{fingerprint}@{format_time(began)}"


def _level(item: Item) -> Level:
    # Planned items always carry a level (_item skips unclassified ones).
    return item.level if item.level is not None else Level.NORMAL


def _ranked(item: Item, targets: dict[PodKey, Target]) -> Item:
    """The item, marked as outranked when another alert decided its pod."""
    if item.key is None:
        return item
    target = targets[item.key]
    if target.cause.status == FIRING:
        decided = item.alert.status == FIRING and item.level == target.level
    else:
        decided = item.alert.status != FIRING
    if decided:
        return item
    return Item(item.alert, item.namespace, item.pod, item.level, outranked_by=target.cause)


def trusted(when: datetime | None, trust_until: datetime | None) -> bool:
    """Whether a time may order writes: present and not after the trusted horizon."""
    return when is not None and (trust_until is None or when <= trust_until)


@dataclass(frozen=True, slots=True)
class Keys:
    """The pod keys the function writes: one label, and annotations under one prefix."""

    label: str
    prefix: str

    def annotation(self, name: str) -> str:
        return f"{self.prefix}/{name}"


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one pod: a merge patch (or None) and what it means for the answer.

    `kind` is LABELED when the label changes, UNCHANGED when nothing is written or only
    the recorded time moves on, SKIPPED when the label is not ours to change."""

    patch: dict | None
    kind: OutcomeKind
    reason: str = ""


def recorded_time(annotations: dict, keys: Keys, name: str = "alert-time") -> datetime | None:
    text = annotations.get(keys.annotation(name))
    try:
        return parse_time(text) if text else None
    except ValueError:
        return None  # unreadable: treat as unrecorded rather than block every change


def _recorded_level(annotations: dict, keys: Keys) -> Level:
    name = str(annotations.get(keys.annotation("level"), "")).upper()
    return Level[name] if name in Level.__members__ else Level.NORMAL


def owns(meta: PodMeta, keys: Keys, ours: tuple[str, ...]) -> bool:
    """Whether the label is ours to write: absent, one of our values, or set by us."""
    value = meta.labels.get(keys.label)
    prefix = keys.prefix + "/"
    return value is None or value in ours or any(k.startswith(prefix) for k in meta.annotations)


def decide(
    target: Target,
    meta: PodMeta,
    *,
    keys: Keys,
    value: str,
    ours: tuple[str, ...],
    trust_until: datetime | None = None,
    order_window: timedelta | None = None,
) -> Decision:
    """The patch that brings the pod to `target` (conditional on its resourceVersion), or
    why none is sent.  A record written more than `order_window` before the target's
    arrival no longer makes it stale."""
    if not owns(meta, keys, ours):
        found = str(meta.labels.get(keys.label))[:63]
        return Decision(
            None, OutcomeKind.SKIPPED, f"the pod's label {keys.label}={found} was not set by this function"
        )
    why = _why_not(target, meta, keys, value, trust_until, order_window)
    if why:
        return Decision(None, OutcomeKind.UNCHANGED, why)
    patch = {
        "metadata": {
            # The resourceVersion makes the merge patch conditional: 409 if the pod moved on.
            "resourceVersion": meta.resource_version,
            "labels": {keys.label: value},
            "annotations": _annotations(target, keys, meta.annotations),
        }
    }
    if meta.labels.get(keys.label) == value:
        # Same label, newer state: record its time so older re-sends stay stale, but the
        # pod did not change, so no Event and no "labeled".
        return Decision(patch, OutcomeKind.UNCHANGED, "already labeled; recorded the newer state")
    return Decision(patch, OutcomeKind.LABELED)


def _why_not(
    target: Target,
    meta: PodMeta,
    keys: Keys,
    value: str,
    trust_until: datetime | None,
    order_window: timedelta | None,
) -> str:
    """Why the pod must not or need not change; "" when it must."""
    annotations = meta.annotations
    labeled = meta.labels.get(keys.label) == value
    recorded = recorded_time(annotations, keys)
    if not trusted(recorded, trust_until):
        recorded = None  # a future time recorded before it was refused: heal on this write
    outlived = _outlived(target, annotations, keys, order_window)
    cause = target.cause
    if (
        cause.status == FIRING
        and not outlived
        and _instance(cause.fingerprint, cause.at) in _ended(annotations, keys)
    ):
        # A late copy of a notification from before the alert resolved: whatever the clocks,
        # that firing is over (a new one has a new startsAt).
        return "stale: the alert deciding this was already seen resolved"
    mine, theirs = target.at, recorded
    sent = recorded_time(annotations, keys, "sender-time")
    if target.sent is not None and sent is not None and recorded is not None:
        mine, theirs = target.sent, sent  # both from a clock ahead of ours: its own times order
    if theirs is not None and mine is not None and mine <= theirs and outlived:
        # Older times than the record's, but sent long after it was written: not a late
        # re-send but clocks that disagree.  The notification sent now wins.
        return "already labeled" if labeled else ""
    if target.at is None and recorded is not None and target.cause.status != FIRING:
        return "a resolved alert without a time cannot be ordered against the recorded state"
    if mine is not None and theirs is not None:
        if mine < theirs:
            return f"stale: the pod records a newer state ({format_time(theirs)})"
        if (
            mine == theirs
            and target.level < _recorded_level(annotations, keys)
            and annotations.get(keys.annotation("fingerprint")) not in target.resolves
        ):
            # Two states of the same instant (one alert resolving as the next fires, sent
            # in separate notifications): the more severe wins, whichever arrives first,
            # unless this notification resolves the very alert that set the level.
            return "a more severe state of the same time is recorded"
    if labeled and (mine is None or mine == theirs):
        if not _cause_resolved(target, annotations, keys):
            return "already labeled"
    return ""


def _ended(annotations: dict, keys: Keys) -> set[str]:
    return set(str(annotations.get(keys.annotation("ended"), "")).split(",")) - {""}


def _outlived(target: Target, annotations: dict, keys: Keys, window: timedelta | None) -> bool:
    """Whether the record was written more than `window` before this target arrived (a
    record without its write time predates this rule: as old as can be)."""
    if window is None or target.received is None:
        return False
    written = recorded_time(annotations, keys, "received-at")
    return written is None or target.received - written > window


def _cause_resolved(target: Target, annotations: dict, keys: Keys) -> bool:
    """Whether this notification resolves the alert recorded as the cause while another
    alert holds the same level: the record must then name the new cause, or a later
    resolution of that one at the same instant would lose the tie."""
    recorded = annotations.get(keys.annotation("fingerprint"))
    return bool(recorded) and recorded in target.resolves and recorded != target.cause.fingerprint


def _annotations(target: Target, keys: Keys, present: dict) -> dict:
    """Our annotations for the target; None removes one of ours the pod has (a merge patch
    removes a key set to null)."""
    cause = target.cause
    annotations = {
        keys.annotation("alertname"): cause.name[:_MAX_TEXT] or None,
        keys.annotation("level"): target.level.name.lower(),
        keys.annotation("cpu-usage"): cpu_text(target),
        keys.annotation("fingerprint"): cause.fingerprint[:_MAX_TEXT] or None,
    }
    if target.at is not None:
        # A notification without times (the old minimal form) leaves the recorded time
        # alone, so the order guard keeps working for the timed notifications after it.
        annotations[keys.annotation("alert-time")] = format_time(target.at)
        sent = format_time(target.sent) if target.sent else None
        _set_or_clear(annotations, keys.annotation("sender-time"), sent, present)
    if target.received is not None:
        annotations[keys.annotation("received-at")] = format_time(target.received)
    ended = ",".join(sorted(target.ended)[:_MAX_ENDED]) or None
    _set_or_clear(annotations, keys.annotation("ended"), ended, present)
    return annotations


def _set_or_clear(annotations: dict, key: str, value: str | None, present: dict) -> None:
    """Write `value`; None removes the key, sent only when the pod has it (a merge patch's null)."""
    if value is not None or key in present:
        annotations[key] = value


def cpu_text(target: Target) -> str | None:
    """The CPU reading behind the target, trimmed and bounded; None when it does not
    explain the level (a resolved alert's reading says nothing about the level the pod
    returns to)."""
    cpu = (target.cause.cpu or "").strip()
    return cpu[:32] if cpu and target.cause_level == target.level else None
