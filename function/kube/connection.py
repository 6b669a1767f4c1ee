"""What every API request needs: the server's base URL, a TLS pool, and credentials.

A plain record, so that api.py sends requests the same way whichever source
built it (incluster.py in a pod, kubeconfig.py elsewhere) and tests can build
one for any identity.  Credentials are asked for on every request and told
about every 401, so a rotated token is followed without rebuilding the pool.
"""

from dataclasses import dataclass
from typing import Protocol

import urllib3


class Credentials(Protocol):
    """The Authorization header of the next request, kept fresh by its source."""

    def header(self) -> str | None:
        """The header value (`Bearer ...`), or None when the pool authenticates by itself."""

    def reset(self) -> None:
        """The API answered 401: look at the source again before the next request."""


@dataclass(frozen=True, slots=True)
class Connection:
    """One API server, reached through `pool` as the identity `credentials` name."""

    base: str
    """Scheme, host and port (with any path prefix), without a trailing slash."""
    pool: urllib3.PoolManager
    credentials: Credentials
    source: str
    """Where the configuration came from: `in-cluster` or `kubeconfig`, for logs and tests."""
