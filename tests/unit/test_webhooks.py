"""We test these aspects: the kit's webhook builder writes what the function reads.

- rfc3339 writes Go's format at 0, 3, 6 or 9 fractional digits, four-digit years included,
  and the function's own parser reads it back to the same instant;
- a built webhook is version 4, firing while any alert fires, and parses into the alerts given.
"""

import json
from datetime import datetime, timedelta, timezone

import pytest

from function.alerts import parse_body, parse_time
from testbed.webhooks import ZERO_TIME, alert, rfc3339, webhook

WHEN = datetime(2026, 11, 24, 9, 0, 1, 123456, tzinfo=timezone(timedelta(hours=2)))


@pytest.mark.parametrize(
    "when,digits,text,microsecond",
    [
        (WHEN, 0, "2026-11-24T07:00:01Z", 0),
        (WHEN, 3, "2026-11-24T07:00:01.123Z", 123000),
        (WHEN, 6, "2026-11-24T07:00:01.123456Z", 123456),
        (WHEN, 9, "2026-11-24T07:00:01.123456000Z", 123456),
        (datetime(5, 1, 1, tzinfo=timezone.utc), 0, "0005-01-01T00:00:00Z", 0),
    ],
)
def test_rfc3339_as_go_writes_it(when, digits, text, microsecond):
    """UTC, Z suffix, the given fractional digits; years before 1000 padded to four digits;
    the function's parser reads it back to the same instant (to the digits written)."""
    assert rfc3339(when, digits) == text
    assert parse_time(text) == when.replace(microsecond=microsecond)


def test_webhook_parses_into_the_alerts_given():
    """Status follows the alerts; the function reads back pods, names, CPU and times."""
    firing = alert("api-1", "shop", cpu="97.3", starts_at=rfc3339(WHEN, 3))
    resolved = alert("web-0", "shop", name="PodHighCpuUsage", status="resolved", starts_at=rfc3339(WHEN))
    assert webhook([resolved])["status"] == "resolved"
    body = webhook([firing, resolved], group_key="{}:{namespace=\"shop\"}")
    assert body["version"] == "4" and body["status"] == "firing" and firing["endsAt"] == ZERO_TIME
    parsed = parse_body(json.dumps(body).encode(), max_alerts=10, pod_label="pod", namespace_label="namespace",
                        cpu_annotation="cpu_usage").alerts
    assert [(a.pod, a.name, a.cpu) for a in parsed] == [("api-1", "PodCpuFailure", "97.3"),
                                                        ("web-0", "PodHighCpuUsage", None)]
