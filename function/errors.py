"""The function's errors: one base class and a few kinds.

Each kind carries the HTTP status that tells Alertmanager what to do next
(it retries 5xx only), and main.py maps them to responses in one place.
Kubernetes API failures are wrapped by the kube package so that no module above it
sees the client's own exception types.
"""

from types import MappingProxyType
from typing import Mapping


class LabelerError(Exception):
    """Base of every error the function raises on purpose."""

    status = 500
    headers: Mapping[str, str] = MappingProxyType({})


class ConfigError(LabelerError):
    """The environment holds a setting the function cannot run with."""


class PayloadError(LabelerError):
    """The request body is not an Alertmanager webhook the function can read."""

    status = 400


class PayloadTooLarge(PayloadError):
    """The body or its alert count is over the configured limit."""

    status = 413


class Unauthorized(LabelerError):
    """The request carries no valid credentials for the webhook."""

    status = 401

    def __init__(self, message: str, *, challenge: str):
        super().__init__(message)
        self.headers = {"WWW-Authenticate": challenge}


class NativeError(LabelerError):
    """The native classifier returned an error code."""


class ApiError(LabelerError):
    """A Kubernetes API call failed; `retryable` says whether sending again may help."""

    retryable = False

    def __init__(self, message: str, *, code: int | None = None, reason: str = ""):
        super().__init__(message)
        self.code = code
        self.reason = reason


class NotFound(ApiError):
    """The pod (or its namespace) does not exist."""


class Conflict(ApiError):
    """The object changed since it was read (409): read it again and retry."""

    retryable = True


class Rejected(ApiError):
    """The API refused the change for good: forbidden, invalid, bad request."""


class Unavailable(ApiError):
    """The API could not answer now: unreachable, timed out, 5xx or 429."""

    retryable = True
