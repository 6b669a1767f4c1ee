"""We test these aspects: reading Alertmanager's webhook body.

- version 4 payloads (captured shape), newer versions' extra fields, and the old minimal form;
- firing vs resolved and the alert time each state carries;
- every malformed body is a PayloadError naming the problem, and too many alerts is 413.
"""

import json
from datetime import datetime, timezone

import pytest

from function.alerts import FIRING, RESOLVED, format_time, parse_body, parse_time
from function.errors import PayloadError, PayloadTooLarge
from testbed.paths import PAYLOADS


def parse(body, max_alerts=100):
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    return parse_body(body, max_alerts=max_alerts, pod_label="pod", namespace_label="namespace",
                      cpu_annotation="cpu_usage")


def test_alertmanager_v4_payload():
    """The captured v4 payload reads into one record per alert with Alertmanager's fields."""
    payload = parse((PAYLOADS / "alertmanager-v4.json").read_bytes())
    first, second, third = payload.alerts
    assert (first.status, first.name, first.namespace, first.pod, first.cpu) == (
        FIRING, "PodCpuFailure", "shop", "checkout-7d9f8b6c5-x2k4p", "97.3")
    assert first.at == datetime(2026, 11, 24, 9, 12, 41, 503000, tzinfo=timezone.utc)
    assert first.fingerprint == "a3c1f0e2b7d45e19"
    assert second.status == RESOLVED and second.at == first.at  # resolved: endsAt
    assert third.namespace == "default" and third.cpu == "41.7%"


def test_newer_fields_are_ignored_and_nanoseconds_read():
    """Fields added after v4 (notification_reason, routeLabels) change nothing; Go's ns times parse."""
    payload = parse((PAYLOADS / "alertmanager-v4-newer-fields.json").read_bytes())
    assert payload.group_key.startswith("{}/")
    assert payload.alerts[0].at == datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=timezone.utc)


def test_minimal_form_means_firing_without_times():
    """The old `{"alerts":[{"labels":...,"annotations":...}]}` form: no status means firing."""
    (alert,) = parse((PAYLOADS / "minimal.json").read_bytes()).alerts
    assert (alert.status, alert.name, alert.pod, alert.at, alert.fingerprint) == (
        FIRING, "PodCpuFailure", "api-1", None, "")


def test_missing_labels_are_none():
    """An alert without pod or namespace labels still parses; the planner decides what to do."""
    (alert,) = parse({"alerts": [{"labels": {"alertname": "X"}}]}).alerts
    assert (alert.pod, alert.namespace, alert.cpu) == (None, None, None)


def test_configured_label_names():
    """Pod, namespace and CPU are read from the configured label and annotation names."""
    body = json.dumps({"alerts": [{"labels": {"kubernetes_pod_name": "p", "kubernetes_namespace": "n"},
                                   "annotations": {"cpu": "5"}}]}).encode()
    (alert,) = parse_body(body, max_alerts=10, pod_label="kubernetes_pod_name",
                          namespace_label="kubernetes_namespace", cpu_annotation="cpu").alerts
    assert (alert.pod, alert.namespace, alert.cpu) == ("p", "n", "5")


BAD = [
    (b"not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[]", "JSON object"),
    (b'"alerts"', "JSON object"),
    ({}, "'alerts' must be a list"),
    ({"alerts": {}}, "'alerts' must be a list"),
    ({"alerts": None}, "'alerts' must be a list"),
    ({"alerts": []}, "'alerts' is empty"),
    ({"alerts": [1]}, r"alerts\[0\] must be an object"),
    ({"alerts": [{"labels": []}]}, r"alerts\[0\]\.labels must be an object of strings"),
    ({"alerts": [{"labels": {"pod": 5}}]}, r"alerts\[0\]\.labels must be an object of strings"),
    ({"alerts": [{"annotations": "x"}]}, r"alerts\[0\]\.annotations must be"),
    ({"alerts": [{"status": "pending"}]}, "must be 'firing' or 'resolved'"),
    ({"alerts": [{"status": 1}]}, r"alerts\[0\]\.status must be a string"),
    ({"alerts": [{"startsAt": "yesterday"}]}, "not an RFC 3339 time"),
    ({"alerts": [{"startsAt": 5}]}, "must be a string"),
    ({"alerts": [{"status": "resolved", "endsAt": "2026-13-01T00:00:00Z"}]}, "not an RFC 3339 time"),
    ({"alerts": [{}], "groupKey": 3}, r"body\.groupKey must be a string"),
]


@pytest.mark.parametrize("body,message", BAD)
def test_malformed_bodies_name_the_problem(body, message):
    """Wrong shapes and types are PayloadError (400), with a message saying where."""
    with pytest.raises(PayloadError, match=message) as info:
        parse(body)
    assert not isinstance(info.value, PayloadTooLarge)


def test_too_many_alerts_is_413():
    """Over the alert limit the payload is refused as too large, before any alert is read."""
    with pytest.raises(PayloadTooLarge) as info:
        parse({"alerts": [{}] * 11}, max_alerts=10)
    assert "11 alerts" in str(info.value)


@pytest.mark.parametrize("text,expected", [
    ("2026-11-24T09:12:41Z", "2026-11-24T09:12:41.000000Z"),
    ("2026-11-24T09:12:41.5Z", "2026-11-24T09:12:41.500000Z"),
    ("2026-11-24T10:12:41.123456789+01:00", "2026-11-24T09:12:41.123456Z"),
])
def test_time_round_trip(text, expected):
    """Times are normalised to UTC microseconds, as the pod annotation stores them."""
    assert format_time(parse_time(text)) == expected
