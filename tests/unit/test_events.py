"""We test these aspects: the outbox of Events the API refused for now (function/events.py),
and the server's Retry-After read into the error.

- a deferred Event is sent again once the server's Retry-After has passed, and only then;
- an Event refused for good (403) is dropped at once and counted; so is one past RETRY_FOR,
  and one over CAPACITY;
- flush() at shutdown tries every waiting Event once and reports what it dropped;
- Retry-After is read as delay-seconds, capped; anything else is no advice;
- an Event's name is stable for one change and a valid DNS subdomain.
"""

import threading
import time

import pytest
from prometheus_client import REGISTRY

from function import events
from function.errors import Rejected, Unavailable
from function.k8snames import is_dns_subdomain
from function.kube.api import retry_after
from function.labeler import event_name
from function.model import PodMeta


def count(result: str) -> float:
    return REGISTRY.get_sample_value("cpu_alert_labeler_events_total", {"result": result}) or 0.0


class Api:
    """Answers each try with the next item of `answers` (an exception to raise, or None)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.tries: list[float] = []
        self.sent = threading.Event()

    def send(self, timeout: float) -> None:
        self.tries.append(time.monotonic())
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer
        self.sent.set()


def throttled(after: float | None = None) -> Unavailable:
    return Unavailable("429 TooManyRequests", code=429, retry_after=after)


def test_a_deferred_event_is_sent_after_the_servers_retry_after():
    outbox = events.Outbox(timeout=1.0)
    api = Api(throttled(0.3))
    began, again = time.monotonic(), count("sent_again")
    outbox.defer(api.send, throttled(0.3), namespace="ns", pod="p")
    assert api.sent.wait(5)
    assert len(api.tries) == 2  # once refused (Retry-After again), then sent
    assert api.tries[0] - began >= 0.3 and api.tries[1] - api.tries[0] >= 0.3
    assert count("sent_again") == again + 1 and outbox.pending() == 0


def test_an_event_refused_for_good_is_dropped_and_counted():
    outbox = events.Outbox(timeout=1.0)
    api = Api(Rejected("403 Forbidden", code=403))
    dropped = count("dropped")
    outbox.defer(api.send, throttled(0), namespace="ns", pod="p")
    for _ in range(100):
        if count("dropped") == dropped + 1:
            break
        time.sleep(0.02)
    assert count("dropped") == dropped + 1 and len(api.tries) == 1 and outbox.pending() == 0


def test_an_event_still_refused_after_retry_for_is_dropped():
    outbox = events.Outbox(timeout=1.0, retry_for=0.5)
    api = Api(*[throttled(0.2)] * 50)
    dropped = count("dropped")
    outbox.defer(api.send, throttled(0.2), namespace="ns", pod="p")
    time.sleep(1.5)
    assert count("dropped") == dropped + 1 and outbox.pending() == 0
    assert 1 <= len(api.tries) <= 3


def test_over_capacity_the_event_is_dropped_not_queued():
    outbox = events.Outbox(timeout=1.0, capacity=2)
    dropped = count("dropped")
    for _ in range(3):
        outbox.defer(Api().send, throttled(60), namespace="ns", pod="p")
    assert outbox.pending() == 2 and count("dropped") == dropped + 1


def test_flush_tries_every_waiting_event_once():
    outbox = events.Outbox(timeout=1.0)
    ok, refused = Api(), Api(throttled(60))
    outbox.defer(ok.send, throttled(60), namespace="ns", pod="a")
    outbox.defer(refused.send, throttled(60), namespace="ns", pod="b")
    assert outbox.flush(2.0) == 1  # b still refused: dropped, counted
    assert ok.sent.is_set() and len(refused.tries) == 1 and outbox.pending() == 0
    late = Api()
    outbox.defer(late.send, throttled(0), namespace="ns", pod="c")  # after the flush: not kept
    assert outbox.pending() == 0


@pytest.mark.parametrize("header,seconds", [
    ("1", 1.0), (" 7 ", 7.0), ("0", 0.0), ("3600", 60.0), ("²", None), ("٣", None),
    (None, None), ("", None), ("-1", None), ("1.5", None), ("Wed, 21 Oct 2026 07:28:00 GMT", None),
])
def test_retry_after_is_delay_seconds_capped(header, seconds):
    assert retry_after(header) == seconds


def test_event_names_are_stable_per_change_and_valid():
    written = PodMeta("uid-1", "4711", {}, {})
    assert event_name("web", written) == event_name("web", written)
    assert event_name("web", written) != event_name("web", PodMeta("uid-1", "4712", {}, {}))
    long = "a" * 230 + "-" + "b" * 22
    name = event_name(long, written)
    assert len(name) <= 253 and is_dns_subdomain(name)
    assert is_dns_subdomain(event_name("a" * 235 + ".x" * 9, written))


def test_flush_waits_for_a_retry_after_that_passes_in_time():
    """At exit an Event is tried when its Retry-After has passed if that is within the
    flush's time, else at once: one last chance either way."""
    outbox = events.Outbox(timeout=1.0)
    api = Api()
    began = time.monotonic()
    outbox.defer(api.send, throttled(0.3), namespace="ns", pod="p")
    assert outbox.flush(2.0) == 0 and api.tries[0] - began >= 0.3
    hurried, late = events.Outbox(timeout=1.0), Api(throttled(60))
    hurried.defer(late.send, throttled(60), namespace="ns", pod="q")
    assert hurried.flush(0.2) == 1 and len(late.tries) == 1  # tried at once, refused: dropped
