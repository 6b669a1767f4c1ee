"""We test these aspects: what the reliability campaigns send, and how they report, without servers
(the fuzz campaigns' request generator: test_reliability_generator.py).

- hostile bodies (nesting deeper than the recursion limit, times that overflow in UTC)
  are refused with 400 and never reach the API (a recording fake API proves it);
- scenarios: groups cover every pod once; a group's bodies carry every pod's current
  state with times moving forward, and the truth is each pod's newest state; a pod's
  notifications are repeated, never reordered before the shuffle, and end on the truth;
- the skewed sender: a pod's states alternate critical and normal, one `step` apart from
  the sender's `start`, each notification firing the new alert and resolving the one it
  replaces at the same instant; every notification is repeated right after the next, and
  the last new one carries the newest state;
- the printed table flags a non-zero must-be-zero figure, and only that one.
"""

import json
import random
from datetime import timedelta

import pytest

from function.alerts import parse_time
from testbed.campaigns.figures import Figure, table
from testbed.campaigns.scenarios import (
    LABELS,
    T0,
    flip_flop,
    group_sequence,
    groups_of,
    late_resends,
    pod_notifications,
)
from testbed.fakeapi import FakeApi


@pytest.mark.parametrize("body", [
    b"[" * 100_000,
    json.dumps({"alerts": [{"labels": {"pod": "x"}}]}).encode().replace(b'"x"', b"[" * 50_000 + b"]" * 50_000),
    json.dumps({"alerts": [{"status": "firing", "startsAt": "0001-01-01T00:00:00+01:00"}]}).encode(),
    json.dumps({"alerts": [{"status": "resolved", "endsAt": "9999-12-31T23:59:59-01:00"}]}).encode(),
], ids=["nested-top", "nested-label", "startsAt-before-year-1", "endsAt-after-year-9999"])
def test_hostile_bodies_are_400_and_never_reach_the_api(make_client, tmp_path, body):
    """Bodies the parser cannot hold are the sender's fault (400), not a crash (500) to re-send.

    Each once answered 500: see tests/unit/test_properties.py for the causes in alerts.py.
    """
    api = FakeApi(500)
    try:
        client = make_client(api.kubeconfig(tmp_path / "kubeconfig"))
        response = client.post("/", data=body, content_type="application/json")
        assert response.status_code == 400, response.json
        assert api.requests == []
    finally:
        api.close()


def test_groups_hold_every_pod_exactly_once():
    """Alertmanager-like groups of one to three pods partition the pods."""
    pods = [f"p{i}" for i in range(20)]
    groups = groups_of(random.Random(1), pods)
    assert sorted(p for g in groups for p in g) == sorted(pods)
    assert all(1 <= len(g) <= 3 for g in groups)


def test_group_sequence_moves_forward_and_ends_on_the_truth():
    """Each body holds every pod seen so far; times only grow; the truth is the last state."""
    bodies, truth = group_sequence(random.Random(2), "ns", "{}:{g}", ["a", "b"], steps=5)
    assert len(bodies) == 10 and sorted(truth) == ["a", "b"]
    last_times = {}
    for raw in bodies:
        doc = json.loads(raw)
        for item in doc["alerts"]:
            stamp = item["startsAt"] if item["status"] == "firing" else item["endsAt"]
            last_times.setdefault(item["labels"]["pod"], []).append(parse_time(stamp))
    final = {a["labels"]["pod"]: a for a in json.loads(bodies[-1])["alerts"]}
    for pod, state in truth.items():
        assert all(x <= y for x, y in zip(last_times[pod], last_times[pod][1:]))
        assert final[pod]["labels"]["alertname"] == state.name and final[pod]["status"] == state.status
        assert state.label in LABELS.values()


def test_pod_notifications_repeat_and_end_on_the_newest_state():
    """Every state is sent at least once, some more; the newest is the last one generated."""
    jobs, newest = pod_notifications(random.Random(3), "ns", "p", states=6, repeat=0.5)
    distinct = list(dict.fromkeys(jobs))
    assert len(distinct) == 6 and len(jobs) > 6
    last = json.loads(distinct[-1])["alerts"][0]
    assert last["labels"]["alertname"] == newest.name and last["status"] == newest.status


def test_table_marks_figures_that_must_be_zero():
    """The printed table flags a non-zero must-be-zero figure, and only that one."""
    figures = [Figure("c", "fine", 0, zero=True), Figure("c", "bad", 2, zero=True),
               Figure("c", "info", 5)]
    lines = table(figures).splitlines()[2:]
    assert [line.split()[-1] for line in lines] == ["ok", "FAIL", "5"]
    assert [f.failed for f in figures] == [False, True, False]


def _alerts(timed):
    return [(a["labels"]["alertname"], a["status"], parse_time(a["startsAt"]),
             None if a["status"] == "firing" else parse_time(a["endsAt"]))
            for a in json.loads(timed.body)["alerts"]]


def test_flip_flop_alternates_with_the_realistic_shape():
    """critical, normal, critical...: the new alert fires at its state's time (start + k*step),
    the replaced one resolves at that instant with its own startsAt; the first stands alone."""
    step = timedelta(milliseconds=250)
    start = T0 + timedelta(seconds=240)
    timed = flip_flop("ns", "p", start=start, step=step, states=4)
    assert [t.state.label for t in timed] == ["panne", "normal", "panne", "normal"]
    assert [t.after for t in timed] == [0.0, 0.25, 0.5, 0.75]
    assert _alerts(timed[0]) == [("PodCpuFailure", "firing", start, None)]
    assert _alerts(timed[1]) == [("PodCpuNormal", "firing", start + step, None),
                                 ("PodCpuFailure", "resolved", start, start + step)]
    assert _alerts(timed[2]) == [("PodCpuFailure", "firing", start + 2 * step, None),
                                 ("PodCpuNormal", "resolved", start + step, start + 2 * step)]
    assert all(t.state.at == start + k * step and not t.resend for k, t in enumerate(timed))


def test_late_resends_repeat_each_notification_after_the_next():
    """n0, n1, n0, n2, n1, n3, n2: each repeat is sent with the state after it, and the last
    notification that is not a repeat holds the newest state."""
    timed = flip_flop("ns", "p", start=T0, step=timedelta(milliseconds=100), states=4)
    sent = late_resends(timed)
    assert [(timed.index(next(t for t in timed if t.body == s.body)), s.resend) for s in sent] == [
        (0, False), (1, False), (0, True), (2, False), (1, True), (3, False), (2, True)]
    assert [s.after for s in sent] == sorted(s.after for s in sent)
    assert [s for s in sent if not s.resend][-1].state == timed[-1].state
