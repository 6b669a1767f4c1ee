"""What to write on each pod: pure decisions, no I/O.

Two steps, both pure so they can be tested by tables:
- `plan()` turns classified alerts into one target per pod: the most severe
  firing level wins; a resolved moderate or critical alert with nothing firing
  returns the pod to normal; a resolved normal alert changes nothing.
- `decide()` compares a target with the pod's current metadata and returns the
  merge patch to send, or why none is needed.  The pod carries, in annotations,
  the time of the alert state that set its label, so a stale notification
  (Alertmanager re-sends, several instances, out of order) never overwrites a
  newer state, and a repeat of the current state writes nothing.
"""

from dataclasses import dataclass
from datetime import datetime

from .alerts import FIRING, Alert, format_time, parse_time
from .classifier import Level
from .k8snames import is_dns_label, is_dns_subdomain

PodKey = tuple[str, str]
_MAX_TEXT = 256  # alert text copied into pod annotations is bounded


@dataclass(frozen=True, slots=True)
class Item:
    """One alert's place in the plan: its pod and level, or why it is skipped."""

    alert: Alert
    namespace: str | None
    pod: str | None
    level: Level | None
    skip: str | None = None

    @property
    def key(self) -> PodKey | None:
        return None if self.skip else (self.namespace, self.pod)


@dataclass(frozen=True, slots=True)
class Target:
    """The state one pod should reach, and the alert that decided it."""

    namespace: str
    pod: str
    level: Level
    at: datetime | None
    cause: Alert
    cause_level: Level


@dataclass(frozen=True, slots=True)
class Scope:
    """Where the function may write: the default namespace and the allow and deny lists."""

    default_namespace: str
    allow: tuple[str, ...]
    deny: tuple[str, ...]

    def permits(self, namespace: str) -> bool:
        return namespace not in self.deny and (not self.allow or namespace in self.allow)


def plan(alerts: tuple[Alert, ...], levels: list[Level | None],
         scope: Scope) -> tuple[list[Item], dict[PodKey, Target]]:
    """Items in payload order, and at most one target per pod."""
    items = [_item(alert, level, scope) for alert, level in zip(alerts, levels)]
    by_pod: dict[PodKey, list[Item]] = {}
    for item in items:
        if item.key is not None:
            by_pod.setdefault(item.key, []).append(item)
    return items, {key: _target(key, group) for key, group in by_pod.items()}


def _item(alert: Alert, level: Level | None, scope: Scope) -> Item:
    namespace = alert.namespace if alert.namespace is not None else scope.default_namespace
    item = Item(alert, namespace, alert.pod, level)
    if alert.pod is None or alert.pod == "":
        return _skipped(item, "alert has no pod label")
    if not is_dns_subdomain(alert.pod):
        return _skipped(item, "pod label is not a valid pod name")
    if not is_dns_label(namespace):
        return _skipped(item, "namespace label is not a valid namespace name")
    if not scope.permits(namespace):
        return _skipped(item, "namespace not allowed by NAMESPACE_ALLOW / NAMESPACE_DENY")
    if level is None:
        return _skipped(item, "unclassified: no known alert name and no readable CPU usage")
    if alert.status != FIRING and level == Level.NORMAL:
        return _skipped(item, "a resolved normal alert changes nothing")
    return item


def _skipped(item: Item, reason: str) -> Item:
    return Item(item.alert, item.namespace, item.pod, item.level, reason)


def _target(key: PodKey, group: list[Item]) -> Target:
    firing = [i for i in group if i.alert.status == FIRING]
    if firing:
        cause = max(firing, key=lambda i: i.level)
        level = cause.level
    else:
        cause, level = group[0], Level.NORMAL
    # The payload is a snapshot of the group: it is as new as its newest event.
    times = [i.alert.at for i in group if i.alert.at is not None]
    return Target(key[0], key[1], level, max(times, default=None), cause.alert, cause.level)


def decides(item: Item, target: Target) -> bool:
    """Whether `item` is one of the alerts behind `target` (others were outranked)."""
    if target.cause.status == FIRING:
        return item.alert.status == FIRING and item.level == target.level
    return item.alert.status != FIRING


@dataclass(frozen=True, slots=True)
class Keys:
    """The pod keys the function writes: one label, and annotations under one prefix."""

    label: str
    prefix: str

    def annotation(self, name: str) -> str:
        return f"{self.prefix}/{name}"


def recorded_time(annotations: dict, keys: Keys) -> datetime | None:
    text = annotations.get(keys.annotation("alert-time"))
    try:
        return parse_time(text) if text else None
    except ValueError:
        return None  # unreadable: treat as unrecorded rather than block every change


def _recorded_level(annotations: dict, keys: Keys) -> Level:
    name = str(annotations.get(keys.annotation("level"), "")).upper()
    return Level[name] if name in Level.__members__ else Level.NORMAL


def decide(target: Target, labels: dict, annotations: dict, resource_version: str, *,
           keys: Keys, value: str) -> tuple[dict | None, str]:
    """(merge patch, "") when the pod must change, else (None, why not)."""
    recorded = recorded_time(annotations, keys)
    if target.at is not None and recorded is not None:
        if target.at < recorded:
            return None, f"stale: the pod records a newer state ({format_time(recorded)})"
        if target.at == recorded and target.level < _recorded_level(annotations, keys):
            # Two states of the same instant (one alert resolving as the next fires, sent
            # in separate notifications): the more severe wins, whichever arrives first.
            return None, "a more severe state of the same time is recorded"
    if labels.get(keys.label) == value and (target.at is None or target.at == recorded):
        return None, "already labeled"
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
    patch = {"metadata": {
        # The resourceVersion makes the merge patch conditional: 409 if the pod moved on.
        "resourceVersion": resource_version,
        "labels": {keys.label: value},
        "annotations": annotations,
    }}
    return patch, ""


def cpu_text(target: Target) -> str | None:
    """The CPU reading behind the target, bounded; None when it does not explain the level
    (a resolved alert's reading says nothing about the level the pod returns to)."""
    cpu = target.cause.cpu
    return cpu[:32] if cpu and target.cause_level == target.level else None
