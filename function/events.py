"""Events the API could not take when their change was made, sent again in the background.

A label change is recorded as an Event right after its PATCH, within the request.
When the API refuses it for now (429 or 503 from a throttled server, a timeout),
the Event is not lost: it waits here, and one thread per process sends it again as
soon as the server allows (its Retry-After, else a doubling backoff), so the
request's deadline goes to labels and the answer never waits for an Event.

Each Event has a name derived from its change (labeler.py), so a try whose answer
was lost is not recorded twice.  An Event is dropped, logged and counted in
cpu_alert_labeler_events_total{result="dropped"} when the API refuses it for good,
when it is still unsent RETRY_FOR seconds after its change, when the queue already
holds CAPACITY Events, or when the process stops with it unsent after flush().  A Send may
also find that there is no change to record (NoChange: the PATCH whose answer was lost did
not land), counted as `unneeded`.
"""

import heapq
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import logs
from .errors import ApiError, Unavailable
from .metrics import EVENTS

RETRY_FOR = 300.0  # seconds after its change that an Event is still sent
CAPACITY = 10_000  # Events waiting at most, per process
_FIRST_BACKOFF = 0.5  # seconds, doubling up to _MAX_BACKOFF when the server gives no advice
_MAX_BACKOFF = 30.0

log = logging.getLogger(logs.LOGGER_NAME)

Send = Callable[[float], None]
"""Posts one Event with the given timeout (seconds); raises ApiError, or NoChange."""


class NoChange(Exception):
    """Raised by a Send that finds no change to record: the write it was to record did not
    land (its PATCH's answer was lost, and the pod does not carry it)."""


@dataclass(order=True)
class _Pending:
    due: float
    order: int
    send: Send = field(compare=False)
    namespace: str = field(compare=False)
    pod: str = field(compare=False)
    since: float = field(compare=False)
    backoff: float = field(compare=False, default=_FIRST_BACKOFF)


class Outbox:
    """A bounded queue of Events to send again, and the thread that sends them."""

    def __init__(
        self,
        *,
        timeout: float,
        capacity: int = CAPACITY,
        retry_for: float = RETRY_FOR,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._timeout, self._capacity, self._retry_for, self._clock = timeout, capacity, retry_for, clock
        self._queue: list[_Pending] = []
        self._order = itertools.count()
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def send(self, send: Send, timeout: float | None, *, namespace: str, pod: str) -> None:
        """An Event's first try, within its request (`timeout` None: the request has no time
        left for it): sent, deferred when the API refuses it for now, else dropped."""
        result = _post(send, timeout, namespace, pod)
        if result is True:
            EVENTS.labels("sent").inc()
        elif result is None:
            EVENTS.labels("unneeded").inc()
        elif isinstance(result, Unavailable):
            self.defer(send, result, namespace=namespace, pod=pod)

    def defer(self, send: Send, error: Unavailable, *, namespace: str, pod: str) -> None:
        """Send this Event again later: the API answered `error` to its first try."""
        now = self._clock()
        item = _Pending(0.0, next(self._order), send, namespace, pod, now)
        with self._cv:
            if self._closed or len(self._queue) >= self._capacity:
                full = True
            else:
                full = False
                item.due = now + _pause(item, error)
                heapq.heappush(self._queue, item)
                self._start()
                self._cv.notify()
        if full:
            _drop(namespace, pod, "the queue of Events to send again is full")
        else:
            EVENTS.labels("deferred").inc()

    def pending(self) -> int:
        with self._cv:
            return len(self._queue)

    def flush(self, timeout: float, *, sleep: Callable[[float], None] = time.sleep) -> int:
        """Stop, and try every waiting Event once more within `timeout` seconds (when its
        Retry-After has passed, if it passes in time); the number dropped."""
        end = self._clock() + timeout
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(max(min(self._timeout, end - self._clock()), 0))  # a send under way
        with self._cv:
            items, self._queue = sorted(self._queue), []
        dropped = 0
        for item in items:
            if item.due < end:
                sleep(max(item.due - self._clock(), 0))
            left = end - self._clock()
            if left <= 0:
                _drop(item.namespace, item.pod, "the process stopped before the API took it")
                dropped += 1
            elif self._try(item, min(self._timeout, left), final=True) == "dropped":
                dropped += 1
        return dropped

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="event-outbox", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._closed and (not self._queue or self._queue[0].due > self._clock()):
                    wait = self._queue[0].due - self._clock() if self._queue else None
                    self._cv.wait(wait)
                if self._closed:
                    return
                item = heapq.heappop(self._queue)
            self._try(item, self._timeout, final=False)

    def _try(self, item: _Pending, timeout: float, *, final: bool) -> str:
        """Send one Event again: `sent`, `unneeded`, `dropped` (for good), or `waiting`
        (queued again)."""
        result = _post(item.send, timeout, item.namespace, item.pod)
        if result is True:
            EVENTS.labels("sent_again").inc()
            return "sent"
        if result is None:
            EVENTS.labels("unneeded").inc()
            return "unneeded"
        if result is False:
            return "dropped"
        pause = _pause(item, result)
        now = self._clock()
        with self._cv:
            if not (final or self._closed or now - item.since + pause > self._retry_for):
                item.due = now + pause
                item.backoff = min(item.backoff * 2, _MAX_BACKOFF)
                heapq.heappush(self._queue, item)
                return "waiting"
        _drop(item.namespace, item.pod, f"still refused: {result}")
        return "dropped"


def _post(send: Send, timeout: float | None, namespace: str, pod: str) -> bool | Unavailable | None:
    """One try: True when the Event is recorded, None when there was nothing to record, the
    error when the API refuses it for now, False when it is dropped for good (counted and
    logged here)."""
    try:
        if timeout is None:
            raise Unavailable("request deadline passed")
        send(timeout)
    except NoChange:
        return None
    except Unavailable as exc:
        return exc
    except ApiError as exc:
        _drop(namespace, pod, str(exc))
        return False
    except Exception:  # a bug must not stop the Events of the other pods
        log.exception("unexpected error sending an Event about %s/%s", namespace, pod)
        _drop(namespace, pod, "internal error")
        return False
    return True


def _drop(namespace: str, pod: str, reason: str) -> None:
    EVENTS.labels("dropped").inc()
    logs.event(log, "event_dropped", logging.WARNING, namespace=namespace, pod=pod, reason=reason)


def _pause(item: _Pending, error: ApiError) -> float:
    """How long to wait before the next try: the server's advice, else the jittered backoff."""
    if error.retry_after is not None:
        return error.retry_after + random.uniform(0, 0.5)  # spread the tries the server will see
    return item.backoff * random.uniform(0.5, 1.5)
