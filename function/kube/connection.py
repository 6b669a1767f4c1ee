"""What every API request needs: a transport to the server, and credentials.

A plain record, so that api.py sends requests the same way whichever source
built it (incluster.py in a pod, kubeconfig.py elsewhere) and tests can build
one for any identity.  The transport sends one request and reads its whole
answer, or raises TransportError: in a pod it is a small pool of http.client
connections (httpspool.py), from a kubeconfig the kubernetes client's urllib3
pool.  Credentials are asked for on every request and told about every 401,
so a rotated token is followed without rebuilding anything.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..errors import ConfigError


class TransportError(Exception):
    """The request got no answer: refused, reset, timed out, or TLS failed."""


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer, read in full."""

    status: int
    reason: str
    data: bytes


class Transport(Protocol):
    """Sends requests to one API server."""

    def request(
        self, method: str, path: str, *, headers: dict[str, str], body: bytes | None, timeout: float
    ) -> Answer:
        """Send `method path` (path from the server's root, with its query); TransportError
        if no answer came; `timeout` bounds the connection and each read, in seconds."""


class Credentials(Protocol):
    """The Authorization header of the next request, kept fresh by its source."""

    def header(self) -> str | None:
        """The header value (`Bearer ...`), or None when the transport authenticates by itself."""

    def reset(self) -> None:
        """The API answered 401: look at the source again before the next request."""


class RefreshedHeader:
    """Credentials read from their source once per `period`, and at once after a 401.

    `read` gives the header value; it runs here first, so a source that cannot be read
    at start stops start-up.  A later read that fails with ConfigError (a token file
    half rotated, say) keeps the last good value until the next look, and `on_error`
    is told why.
    """

    def __init__(
        self,
        read: Callable[[], str | None],
        *,
        period: float,
        on_error: Callable[[ConfigError], None] = lambda exc: None,
    ):
        self._read, self._period, self._on_error = read, period, on_error
        self._lock = threading.Lock()
        self._header = read()
        self._next = time.monotonic() + period

    def header(self) -> str | None:
        if time.monotonic() >= self._next:
            self._refresh()
        return self._header

    def reset(self) -> None:
        self._next = 0.0

    def _refresh(self) -> None:
        with self._lock:
            if time.monotonic() < self._next:
                return  # another thread read it while this one waited
            self._next = time.monotonic() + self._period
            try:
                self._header = self._read()
            except ConfigError as exc:
                self._on_error(exc)


@dataclass(frozen=True, slots=True)
class Connection:
    """One API server, reached through `transport` as the identity `credentials` name."""

    base: str
    """The server's URL (scheme, host, port), for logs and tests: requests name paths only."""
    transport: Transport
    credentials: Credentials
    source: str
    """Where the configuration came from: `in-cluster` or `kubeconfig`."""
