"""Alertmanager webhook JSON -> frozen Alert records.

Pure: no I/O, no settings beyond the label and annotation names it is told.
Reads Alertmanager's version 4 payload with Alertmanager's own field names and
ignores keys it does not know (newer versions add some).  The old minimal form,
`{"alerts": [{"labels": ..., "annotations": ...}]}`, reads the same way: a
missing status means firing.  A payload of the wrong shape raises PayloadError
naming the place, so Alertmanager's sender learns what it got wrong.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from .errors import PayloadError, PayloadTooLarge

FIRING, RESOLVED = "firing", "resolved"
# Alertmanager's zero time, sent as endsAt while an alert fires.
_ZERO_TIME = "0001-01-01T00:00:00Z"
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert of a payload, reduced to what labeling needs."""

    status: str
    name: str
    namespace: str | None
    pod: str | None
    cpu: str | None
    at: datetime | None
    """When this state began: startsAt while firing, endsAt once resolved."""
    fingerprint: str
    began: datetime | None = None
    """A resolved alert's startsAt: which instance of the alert ended (None while firing:
    `at` is its startsAt)."""


@dataclass(frozen=True, slots=True)
class Payload:
    """A whole notification."""

    group_key: str
    alerts: tuple[Alert, ...]
    truncated: int = 0
    """How many alerts Alertmanager left out (`truncatedAlerts`, set by `max_alerts`)."""


def parse_body(
    body: bytes, *, max_alerts: int, pod_label: str, namespace_label: str, cpu_annotation: str
) -> Payload:
    """Decode and read a webhook body (any content type: faas-cli sends text/plain)."""
    try:
        doc = json.loads(body, parse_int=_int)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None
    except RecursionError:  # a small body of [[[[... nests deeper than the parser goes
        raise PayloadError("body is not JSON: nested too deeply") from None
    if not isinstance(doc, dict):
        raise PayloadError("body must be a JSON object")
    raw = doc.get("alerts")
    if not isinstance(raw, list):
        raise PayloadError("'alerts' must be a list")
    if not raw:
        raise PayloadError("'alerts' is empty")
    if len(raw) > max_alerts:
        raise PayloadTooLarge(f"{len(raw)} alerts in one request; the limit is {max_alerts}", limit="alerts")
    names = (pod_label, namespace_label, cpu_annotation)
    alerts = tuple(_alert(item, f"alerts[{i}]", *names) for i, item in enumerate(raw))
    return Payload(
        group_key=_optional_str(doc, "groupKey", "body") or "", alerts=alerts, truncated=_truncated(doc)
    )


def _int(text: str) -> int | float:
    # Python refuses to convert integers of more than 4300 digits (ValueError): such a
    # number in a field the function ignores must not turn the whole body into a 400.
    return int(text) if len(text) <= 64 else float(text)


def _truncated(doc: dict) -> int:
    value = doc.get("truncatedAlerts")
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PayloadError("'truncatedAlerts' must be a whole number >= 0")
    return value


def _alert(item, where: str, pod_label: str, namespace_label: str, cpu_annotation: str) -> Alert:
    if not isinstance(item, dict):
        raise PayloadError(f"{where} must be an object")
    labels = _string_map(item, "labels", where)
    annotations = _string_map(item, "annotations", where)
    status = _optional_str(item, "status", where) or FIRING
    if status not in (FIRING, RESOLVED):
        raise PayloadError(f"{where}.status must be 'firing' or 'resolved', not {status[:40]!r}")
    when = _time(item, "startsAt" if status == FIRING else "endsAt", where)
    return Alert(
        status=status,
        name=labels.get("alertname", ""),
        namespace=labels.get(namespace_label),
        pod=labels.get(pod_label),
        cpu=annotations.get(cpu_annotation),
        at=when,
        fingerprint=_optional_str(item, "fingerprint", where) or "",
        began=None if status == FIRING else _time(item, "startsAt", where),
    )


def _string_map(item: dict, key: str, where: str) -> dict:
    value = item.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise PayloadError(f"{where}.{key} must be an object of strings")
    return value


def _optional_str(item: dict, key: str, where: str) -> str | None:
    value = item.get(key)
    if value is not None and not isinstance(value, str):
        raise PayloadError(f"{where}.{key} must be a string")
    return value


def _time(item: dict, key: str, where: str) -> datetime | None:
    text = _optional_str(item, key, where)
    if not text or text == _ZERO_TIME:
        return None
    try:
        return parse_time(text)
    except ValueError:
        raise PayloadError(f"{where}.{key} is not an RFC 3339 time: {text[:40]!r}") from None


def parse_time(text: str) -> datetime:
    """RFC 3339 with up to nanoseconds (Go's format), as an aware UTC datetime.

    Raises ValueError for anything else, including a time that falls outside years
    1-9999 once in UTC (which astimezone reports as OverflowError).
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(text)
    base, fraction, zone = match.groups()
    micros = (fraction or "").ljust(6, "0")[:6]
    zone = "+00:00" if zone.upper() == "Z" else zone
    try:
        return datetime.fromisoformat(f"{base}.{micros}{zone}").astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(text) from None


def format_time(when: datetime) -> str:
    """The inverse of parse_time, at microsecond precision."""
    # isoformat, not strftime: glibc's %Y does not pad years before 1000 to four digits.
    return when.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
