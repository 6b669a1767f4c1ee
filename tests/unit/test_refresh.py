"""We test these aspects of Refreshed (function/refresh.py), on a fake clock:

- the first read runs at construction (or `initial` stands for it), the next once the period is over;
- expire() makes the next get() read; refresh(unless_younger_than=...) reads at most that often;
- a failed later read keeps the last good value and is reported; a change is reported once;
- threads finding the value due at the same time cause one read, not one each.
"""

import threading
import time

import pytest

from function.errors import ConfigError
from function.refresh import Refreshed


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Source:
    """Values handed out in turn; an exception in the list is raised instead."""

    def __init__(self, *values):
        self.values, self.reads = list(values), 0

    def __call__(self):
        self.reads += 1
        value = self.values.pop(0) if len(self.values) > 1 else self.values[0]
        if isinstance(value, Exception):
            raise value
        return value


def test_read_at_construction_then_after_the_period():
    """Within the period the value in hand is used; past it, the source is read again."""
    clock, source = Clock(), Source("a", "b")
    value = Refreshed(source, period=10.0, clock=clock)
    assert (value.get(), source.reads) == ("a", 1)
    clock.now += 9.9
    assert value.get() == "a"
    clock.now += 0.1
    assert (value.get(), source.reads) == ("b", 2)


def test_initial_stands_for_the_first_read():
    """A value the caller already read is not read again at construction."""
    source = Source("fresh")
    value = Refreshed(source, period=10.0, initial="given", clock=Clock())
    assert (value.get(), source.reads) == ("given", 0)


def test_expire_reads_at_the_next_get():
    clock, source = Clock(), Source("a", "b")
    value = Refreshed(source, period=3600.0, clock=clock)
    value.expire()
    assert value.get() == "b"


def test_refresh_is_bounded_by_the_age_of_the_value():
    """refresh() asked for again and again reads once per `unless_younger_than` seconds."""
    clock, source = Clock(), Source("a")
    value = Refreshed(source, period=3600.0, clock=clock)
    assert value.refresh(unless_younger_than=1.0) is False  # read just now, at construction
    clock.now += 1.0
    assert [value.refresh(unless_younger_than=1.0) for _ in range(100)].count(True) == 1
    assert source.reads == 2


def test_a_failed_read_keeps_the_last_good_value_and_says_why():
    clock, source = Clock(), Source("good", ConfigError("token file is empty"), "better")
    errors, changes = [], []
    value = Refreshed(source, period=1.0, clock=clock, on_error=errors.append, on_change=changes.append)
    clock.now += 1.0
    assert value.get() == "good"
    assert [str(e) for e in errors] == ["token file is empty"] and changes == []
    clock.now += 1.0
    assert value.get() == "better" and changes == ["better"]
    clock.now += 1.0
    assert value.get() == "better" and changes == ["better"]  # unchanged: not reported again


def test_other_exceptions_are_not_swallowed():
    """Only ConfigError means "keep the last good value"; a bug still surfaces."""
    clock = Clock()
    value = Refreshed(Source("a", KeyError("bug")), period=1.0, clock=clock)
    clock.now += 1.0
    with pytest.raises(KeyError):
        value.get()


def test_threads_due_together_read_once():
    """Eight threads (the server's default) finding the value due cause one read; while it
    runs they go on with the value in hand."""
    clock, gate = Clock(), threading.Event()
    reads = []

    def slow():
        reads.append(1)
        if len(reads) > 1:
            gate.wait(5)  # hold the lock while the other threads pile up behind it
        return len(reads)

    value = Refreshed(slow, period=10.0, clock=clock)
    clock.now += 10.0
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(value.get())) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    gate.set()
    for thread in threads:
        thread.join(5)
    assert len(reads) == 2 and len(seen) == 8 and set(seen) <= {1, 2} and value.get() == 2
