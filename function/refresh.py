"""A value re-read from its source once in a while: credentials that rotate under a running process.

Kubernetes replaces a mounted Secret's files in place (the service account's token, the
webhook's token), so a value read once at start-up goes stale.  Refreshed keeps the last
value read and reads its source again after `period`, or when a caller asks (after a 401
from the API server, or a credential that did not match).  The first read runs in the
constructor, so a source that cannot be read at start stops start-up; a later read that
fails with ConfigError (a file caught half rotated, removed, emptied) keeps the last good
value and `on_error` is told why, so one bad moment never throws a working credential away.

One lock per value, so the source is read once however many threads find the value
due; meanwhile they go on with the value in hand (a slow read never holds up requests),
and reads between looks take no lock.
"""

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")


class _Unset:
    """No `initial` value given."""


_UNSET = _Unset()


class Refreshed(Generic[T]):
    """`read()`'s value, read again once per `period` seconds and on `refresh()`.

    `initial`, when given, is taken as the first read (a value the caller already read
    and checked, as config.py does at start-up) instead of calling `read` at once.
    """

    def __init__(
        self,
        read: Callable[[], T],
        *,
        period: float,
        on_error: Callable[[ConfigError], None] = lambda exc: None,
        on_change: Callable[[T], None] = lambda value: None,
        clock: Callable[[], float] = time.monotonic,
        initial: T | _Unset = _UNSET,
    ):
        self._read, self._period, self._clock = read, period, clock
        self._on_error, self._on_change = on_error, on_change
        self._lock = threading.Lock()
        self._value: T = read() if isinstance(initial, _Unset) else initial
        self._read_at = clock()
        self._next = self._read_at + period

    def get(self) -> T:
        """The value, read again first if its period is over."""
        if self._clock() >= self._next:
            self._refresh(lambda now: now < self._next)  # another thread read it while this one waited
        return self._value

    def expire(self) -> None:
        """The next get() reads the source again."""
        self._next = 0.0

    def refresh(self, *, unless_younger_than: float = 0.0) -> bool:
        """Read the source now, unless the value in hand was read less than that many seconds
        ago (a bound on reads when many callers ask at once); True if this call read it."""
        return self._refresh(lambda now: now - self._read_at < unless_younger_than)

    def _refresh(self, fresh_enough: Callable[[float], bool]) -> bool:
        with self._lock:
            now = self._clock()
            if fresh_enough(now):
                return False
            self._read_at, self._next = now, now + self._period
            try:
                value = self._read()
            except ConfigError as exc:
                self._on_error(exc)
                return True
            if value != self._value:
                self._value = value
                self._on_change(value)
            return True
