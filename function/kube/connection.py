"""What every API request needs: a transport to the server, and credentials.

A plain record, so that api.py sends requests the same way whichever source
built it (incluster.py in a pod, kubeconfig.py elsewhere) and tests can build
one for any identity.  The transport sends one request and reads its whole
answer, or raises TransportError: in a pod it is a small pool of http.client
connections (httpspool.py), from a kubeconfig the kubernetes client's urllib3
pool.  Credentials are asked for on every request and told about every 401,
so a rotated token is followed without rebuilding anything.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..errors import ConfigError
from ..refresh import Refreshed


class TransportError(Exception):
    """The request got no answer: refused, reset, timed out, or TLS failed."""


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer, read in full."""

    status: int
    reason: str
    data: bytes
    retry_after: str | None = None
    """The Retry-After header, as sent (the apiserver sends it with 429 and some 503s)."""


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
    is told why (function/refresh.py, shared with the webhook's own secrets).
    """

    def __init__(
        self,
        read: Callable[[], str | None],
        *,
        period: float,
        on_error: Callable[[ConfigError], None] = lambda exc: None,
    ):
        self._value = Refreshed(read, period=period, on_error=on_error)

    def header(self) -> str | None:
        return self._value.get()

    def reset(self) -> None:
        self._value.expire()


@dataclass(frozen=True, slots=True)
class Connection:
    """One API server, reached through `transport` as the identity `credentials` name."""

    base: str
    """The server's URL (scheme, host, port), for logs and tests: requests name paths only."""
    transport: Transport
    credentials: Credentials
    source: str
    """Where the configuration came from: `in-cluster` or `kubeconfig`."""
