"""The answer to one webhook, built from the plan's items and the pods' outcomes.

Pure: `entry()` turns (item, outcome) into a typed Entry using only what the plan
already marked on the item (skipped with a reason, outranked by which alert, or
planned), so the labeler keeps to I/O.  The JSON shape is the public answer
Alertmanager's operators read: its keys do not change.
"""

from dataclasses import dataclass

from .model import OutcomeKind
from .plan import Item


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one pod."""

    kind: OutcomeKind
    reason: str = ""
    retryable: bool = False
    previous: str | None = None
    """The label value replaced by a LABELED change (None: the pod had none)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One alert's line in the answer."""

    item: Item
    outcome: OutcomeKind
    reason: str = ""
    label: str | None = None
    previous: str | None = None
    dry_run: bool = False

    def to_json(self) -> dict:
        item = self.item
        doc: dict = {
            "namespace": item.namespace,
            "pod": item.pod,
            "alertname": item.alert.name,
            "status": item.alert.status,
            "level": item.level.name.lower() if item.level is not None else None,
            "outcome": self.outcome.value,
        }
        if self.label is not None:
            doc["label"] = self.label
        if self.reason:
            doc["reason"] = self.reason
        if self.outcome is OutcomeKind.LABELED:
            doc["previous"] = self.previous
            if self.dry_run:
                doc["dryRun"] = True
        return doc


def entry(item: Item, outcome: Outcome | None, *, label: str | None, dry_run: bool) -> Entry:
    """The entry of one item; `outcome` is its pod's (None when the item has no pod)."""
    if item.skip_reason or outcome is None:
        return Entry(item, OutcomeKind.SKIPPED, item.skip_reason.value if item.skip_reason else "no pod")
    if item.outranked_by is not None:
        return Entry(item, OutcomeKind.SKIPPED, f"outranked by {item.outranked_by.name or 'another alert'}")
    return Entry(item, outcome.kind, outcome.reason, label, outcome.previous, dry_run)


@dataclass(frozen=True, slots=True)
class Report:
    """The answer to one webhook: an entry per alert, and whether to ask for a re-send."""

    group_key: str
    entries: list[Entry]
    retry: bool
    dry_run: bool
    truncated: int = 0
    """Alerts Alertmanager left out of the notification (its `max_alerts`)."""

    @property
    def failed_for_good(self) -> bool:
        """Every pod this notification was to change failed, and no failure is worth a re-send
        (the API refused for good: 403, 422): nothing labeled, nothing unchanged."""
        kinds = {e.outcome for e in self.entries}
        done = {OutcomeKind.LABELED, OutcomeKind.UNCHANGED}
        return not self.retry and OutcomeKind.FAILED in kinds and not kinds & done

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.entries:
            counts[e.outcome.value] = counts.get(e.outcome.value, 0) + 1
        return counts

    def to_json(self) -> dict:
        doc: dict[str, object] = {
            "status": "retry" if self.retry else "ok",
            "groupKey": self.group_key,
            "dryRun": self.dry_run,
            "counts": self.counts(),
            "alerts": [e.to_json() for e in self.entries],
        }
        if self.truncated:
            doc["truncatedAlerts"] = self.truncated
        return doc
