"""We test these aspects: a label change whose PATCH got no answer (a read timeout cut to the
request's deadline, as in the storm bench at 3,000 pods and more), against an in-memory API.

- the PATCH landed unseen and the re-send finds the pod already labeled: the change still
  has exactly one Event, named as the lost answer would have named it, dated at the change;
- the PATCH did not land and the re-send makes the change with its own Event: still one
  Event, and the check of the lost answer is counted `unneeded`;
- a refusal (429) is no lost answer: no read is spent to check it.
"""

from __future__ import annotations

import copy
import itertools
import json
import time

import pytest
from prometheus_client import REGISTRY

from function.config import Settings
from function.errors import Conflict, NotFound, Unavailable
from function.labeler import Deadline, Labeler, event_name
from function.model import PodMeta

NAMESPACE, POD = "shop", "api-1"
BODY = json.dumps({
    "alerts": [{
        "status": "firing",
        "labels": {"alertname": "PodCpuFailure", "namespace": NAMESPACE, "pod": POD},
        "annotations": {"cpu_usage": "97"},
        "startsAt": "2026-12-04T05:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
    }],
}).encode()


def count(result: str) -> float:
    return REGISTRY.get_sample_value("cpu_alert_labeler_events_total", {"result": result}) or 0.0


class Api:
    """One pod's metadata and the Events posted, as the API keeps them.  `lose` is a list of
    what happens to the next PATCHes: "landed" (applied, answer lost), "lost" (not applied,
    no answer), "refused" (429)."""

    def __init__(self, *lose: str, delay: float = 0.0):
        self.lose, self.delay = list(lose), delay
        self.versions = itertools.count(100)
        self.meta = PodMeta("uid-1", str(next(self.versions)), {}, {})
        self.events: dict[str, dict] = {}
        self.calls: list[str] = []

    def read_pod(self, *, namespace: str, name: str, timeout: float | None = None) -> PodMeta:
        self.calls.append("GET")
        if (namespace, name) != (NAMESPACE, POD):
            raise NotFound("pod not found")
        return copy.deepcopy(self.meta)

    def list_pods(self, **_) -> tuple[dict, bool]:
        raise AssertionError("one pod is read, not listed")

    def patch_pod(self, *, namespace: str, name: str, patch: dict, dry_run: bool = False, timeout=None):
        self.calls.append("PATCH")
        fate = self.lose.pop(0) if self.lose else "answered"
        if fate in ("lost", "landed"):
            time.sleep(self.delay)  # the timeout: up to the deadline
        if fate == "refused":
            raise Unavailable("429 TooManyRequests", code=429)
        if fate == "lost":
            raise Unavailable("API unreachable: ReadTimeoutError")
        meta = patch["metadata"]
        if meta["resourceVersion"] != self.meta.resource_version:
            raise Conflict("409 Conflict", code=409)
        labels = {**self.meta.labels, **meta.get("labels", {})}
        annotations = {**self.meta.annotations, **meta.get("annotations", {})}
        annotations = {k: v for k, v in annotations.items() if v is not None}
        self.meta = PodMeta(self.meta.uid, str(next(self.versions)), labels, annotations)
        if fate == "landed":
            raise Unavailable("API unreachable: ReadTimeoutError")
        return copy.deepcopy(self.meta)

    def pod_event(self, *, event_name: str, pod: PodMeta, message: str, at, **_) -> None:
        self.calls.append("POST event")
        self.events.setdefault(event_name, {"message": message, "at": at, "rv": pod.resource_version})


def settle(labeler: Labeler, timeout: float = 5.0) -> None:
    """Until the outbox holds nothing and its thread is idle (what it sent is counted)."""
    end = time.monotonic() + timeout
    while labeler.outbox.pending() and time.monotonic() < end:
        time.sleep(0.05)
    labeler.close(2.0)


@pytest.mark.parametrize("deadline", [0.3, 8.0], ids=["at-the-deadline", "retried-in-time"])
def test_a_patch_that_landed_unseen_still_gets_its_one_event(deadline):
    """The first PATCH lands but its answer is lost.  At the deadline, the request answers
    503 and the re-send finds the pod labeled, writing nothing (the storm's case); in time,
    the request's second try meets the write (409, read).  Either way one Event, named by
    the write that made the change, with the change's previous label."""
    api = Api("landed", delay=0.35 if deadline < 1 else 0.0)
    labeler = Labeler(Settings(), kube_factory=lambda _: api)
    first = labeler.handle(BODY, Deadline(deadline))
    written = copy.deepcopy(api.meta)
    second = labeler.handle(BODY, Deadline(8.0))
    settle(labeler)
    assert first.retry is (deadline < 1) and not second.retry
    assert written.labels == {"status": "panne"}
    assert list(api.events) == [event_name(POD, written)], api.calls
    assert "<none> -> panne" in next(iter(api.events.values()))["message"]


def test_a_patch_that_did_not_land_leaves_the_event_to_the_change_that_did():
    """The first PATCH is lost before the API applied it; the re-send makes the change and
    posts its Event.  The lost answer's check finds the re-send's write (its own
    received-at), not its own: no second Event, and the check counts as unneeded."""
    api = Api("lost", delay=0.35)
    labeler = Labeler(Settings(), kube_factory=lambda _: api)
    unneeded = count("unneeded")
    assert labeler.handle(BODY, Deadline(0.3)).retry
    time.sleep(0.01)  # the re-send arrives later: another received-at
    labeler.handle(BODY, Deadline(8.0))
    end = time.monotonic() + 5
    while count("unneeded") == unneeded and time.monotonic() < end:
        time.sleep(0.05)
    settle(labeler)
    assert list(api.events) == [event_name(POD, api.meta)], api.calls
    assert count("unneeded") == unneeded + 1


def test_a_refused_patch_is_not_checked():
    """A 429 is the API's refusal before any write: the re-send labels the pod and posts the
    one Event; no read is spent on the refused try."""
    api = Api("refused", "refused", "refused", "refused")
    labeler = Labeler(Settings(), kube_factory=lambda _: api)
    labeler.handle(BODY, Deadline(0.5))
    calls = len(api.calls)
    labeler.handle(BODY, Deadline(8.0))
    settle(labeler)
    assert api.calls[:calls] == ["GET", "PATCH"] * (calls // 2)
    assert list(api.events) == [event_name(POD, api.meta)]
