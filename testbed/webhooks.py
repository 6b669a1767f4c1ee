"""Alertmanager webhook bodies as Alertmanager writes them, and its time format.

One builder for every test, benchmark and campaign, so a field Alertmanager adds
or a format detail (Go's RFC3339Nano) is changed in one place.  Field names are
Alertmanager's own (notify/webhook/webhook.go, template/template.go).
"""

from __future__ import annotations

import zlib
from datetime import datetime, timezone
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"  # endsAt of a firing alert
RECEIVER = "cpu-alert-labeler"


def rfc3339(when: datetime, digits: int = 0) -> str:
    """`when` in UTC as Go writes it, with `digits` (0, 3, 6 or 9) of fractional seconds."""
    # isoformat, not strftime: glibc's %Y does not pad years before 1000 to four digits.
    base = when.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0).isoformat()
    if not digits:
        return base + "Z"
    return f"{base}.{f'{when.microsecond:06d}000'[:digits]}Z"


def fingerprint(*parts: str) -> str:
    """A stable 16-hex-digit fingerprint for an alert's identity."""
    return f"{zlib.crc32('/'.join(parts).encode()):016x}"


def alert(
    pod: str,
    namespace: str,
    *,
    name: str = "PodCpuFailure",
    status: str = "firing",
    cpu: str | None = None,
    starts_at: str = "2026-11-24T09:00:00Z",
    ends_at: str | None = None,
    fp: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One alert; a resolved one ends at `starts_at` unless `ends_at` says otherwise."""
    if ends_at is None:
        ends_at = starts_at if status == "resolved" else ZERO_TIME
    notes = {"cpu_usage": cpu} if cpu is not None else {}
    return {
        "status": status,
        "labels": {"alertname": name, "namespace": namespace, "pod": pod, **(labels or {})},
        "annotations": {**notes, **(annotations or {})},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus.invalid/graph",
        "fingerprint": fp or fingerprint(namespace, pod, name),
    }


def webhook(alerts: list[dict[str, Any]], *, group_key: str = "{}:{}", **fields: Any) -> dict[str, Any]:
    """A version 4 body around `alerts`; its status is firing while any alert fires."""
    firing = any(a.get("status") == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": RECEIVER,
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.invalid",
        "alerts": alerts,
        **fields,
    }
