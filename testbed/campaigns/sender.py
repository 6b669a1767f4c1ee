"""An Alertmanager-like sender: POST, and again on 5xx or a transport error, with backoff.

It backs off from 50 ms (Alertmanager starts at 500 ms) so that a campaign stays
short; the order of events is what matters, not the pace.  2xx and 4xx end a
delivery, as in Alertmanager's notify/util.go.
"""

from __future__ import annotations

import collections
import http.client
import json
import random
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Delivery:
    """How one notification ended."""

    status: int | None  # the last HTTP status; None after a transport error
    attempts: int
    answer: Any
    gave_up: bool = False

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(
    url: str,
    body: bytes,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, bytes]:
    """One POST; a fresh connection unless one is given."""
    parts = urllib.parse.urlsplit(url)
    own = conn is None
    conn = conn or http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        conn.request(
            "POST",
            parts.path or "/",
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Alertmanager/0.28.1 (reliability)",
                **(headers or {}),
            },
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if own:
            conn.close()


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def deliver(
    pick_url: str | Callable[[], str],
    body: bytes,
    *,
    until: float,
    max_attempts: int = 60,
    first_backoff: float = 0.05,
    max_backoff: float = 1.0,
    answers: list[tuple[int | None, Any]] | None = None,
) -> Delivery:
    """Send like Alertmanager: again on 5xx or a transport error, with backoff; 2xx/4xx end it.

    Gives up after max_attempts, or once time.monotonic() passes `until`.  Every
    attempt's (status, JSON answer) is appended to `answers` when one is given.
    """
    backoff, attempts = first_backoff, 0
    while True:
        if time.monotonic() > until:
            return Delivery(None, attempts, None, gave_up=True)
        attempts += 1
        url = pick_url() if callable(pick_url) else pick_url
        try:
            status, data = post(url, body)
            answer = _json(data)
        except (OSError, http.client.HTTPException):
            status, answer = None, None
        if answers is not None:
            answers.append((status, answer))
        if status is not None and status < 500:
            return Delivery(status, attempts, answer)
        if attempts >= max_attempts or time.monotonic() > until:
            return Delivery(status, attempts, answer, gave_up=True)
        time.sleep(backoff * random.uniform(0.5, 1.5))
        backoff = min(backoff * 2, max_backoff)


@dataclass
class SendTally:
    """Deliveries of many sender threads, counted under a lock."""

    notifications: int = 0
    attempts: int = 0
    undelivered: int = 0  # 4xx or given up
    failed_entries: int = 0  # "failed" pods inside a 2xx answer
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, delivery: Delivery) -> None:
        with self.lock:
            self.notifications += 1
            self.attempts += delivery.attempts
            if not delivery.delivered:
                self.undelivered += 1
                return
            for entry in (delivery.answer or {}).get("alerts", []):
                self._count(entry)

    def _count(self, entry: dict[str, Any]) -> None:
        outcome = entry.get("outcome")
        if outcome == "unchanged" and "stale" in entry.get("reason", ""):
            outcome = "unchanged (stale, refused)"
        self.outcomes[str(outcome)] += 1
        if entry.get("outcome") == "failed":
            self.failed_entries += 1

    @property
    def resends(self) -> int:
        return self.attempts - self.notifications
