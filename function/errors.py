"""The function's errors: one base class and a few kinds, free of HTTP.

main.py's STATUSES maps each kind to the HTTP status that tells Alertmanager what
to do next (it retries 5xx only), in one place.  Kubernetes API failures are
wrapped by the kube package so that no module above it sees the client's own
exception types; they never reach the HTTP answer (the labeler turns them into
pod outcomes).
"""


class LabelerError(Exception):
    """Base of every error the function raises on purpose."""


class ConfigError(LabelerError):
    """The environment holds a setting the function cannot run with."""


class PayloadError(LabelerError):
    """The request body is not an Alertmanager webhook the function can read."""


class PayloadTooLarge(PayloadError):
    """The body or its alert count is over the configured limit; `limit` names which
    (`body` or `alerts`), for the refusals metric."""

    def __init__(self, message: str, *, limit: str):
        super().__init__(message)
        self.limit = limit


class Unauthorized(LabelerError):
    """The request carries no valid credentials for the webhook; `challenge` is the
    WWW-Authenticate value naming the schemes that would be accepted."""

    def __init__(self, message: str, *, challenge: str):
        super().__init__(message)
        self.challenge = challenge


class NativeError(LabelerError):
    """The native classifier returned an error code."""


class ApiError(LabelerError):
    """A Kubernetes API call failed; `retryable` says whether sending again may help, and
    `retry_after` how long the server asked to wait first (seconds, None: no advice)."""

    retryable = False

    def __init__(
        self, message: str, *, code: int | None = None, reason: str = "", retry_after: float | None = None
    ):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.retry_after = retry_after


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
