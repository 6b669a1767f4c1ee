"""Webhook authentication: an optional bearer token and/or basic auth.

Alertmanager's `http_config` sends either `Authorization: Bearer <token>` or
basic auth.  Credentials are compared in constant time (hmac.compare_digest)
so a caller cannot learn a secret byte by byte from response times, and no
credential is ever put into an error message or a log line.

A secret given as a file (`WEBHOOK_TOKEN_FILE`, `WEBHOOK_PASSWORD_FILE`) follows
the file as Kubernetes rotates it: it is read again every SECRET_PERIOD, so a
token taken out of the file stops working within that time, and also as soon as
a presented credential does not match (at most once per RECHECK_PERIOD, so a flood
of bad requests costs at most one read a second), so a token just put into the
file works from its first request.  A read that fails keeps the last good secret
and logs `secret_unreadable` (function/refresh.py).  The token file may hold
several tokens, one per line, all accepted: that is how a rotation overlaps.
"""

import base64
import binascii
import hmac
import logging
import math
import time
from collections.abc import Callable

from . import logs
from .config import Secret, Settings, read_secret_file, tokens
from .errors import ConfigError, Unauthorized
from .refresh import Refreshed

SECRET_PERIOD = 10.0  # seconds a secret read from its file is used before the file is read again
RECHECK_PERIOD = 1.0  # seconds at least between the extra reads a mismatched credential causes

log = logging.getLogger(logs.LOGGER_NAME)


class Authenticator:
    """Checks an Authorization header against the configured credentials."""

    def __init__(
        self,
        settings: Settings,
        *,
        period: float = SECRET_PERIOD,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._tokens = _source("WEBHOOK_TOKEN", settings.webhook_token, period, clock, _token_bytes)
        self._passwords = _source("WEBHOOK_PASSWORD", settings.webhook_password, period, clock, _bytes)
        self._user = settings.webhook_username.encode()
        schemes = (['Bearer realm="cpu-alert-labeler"'] if self._tokens else []) + (
            ['Basic realm="cpu-alert-labeler"'] if self._passwords else []
        )
        self.challenge = ", ".join(schemes)

    @property
    def required(self) -> bool:
        return self._tokens is not None or self._passwords is not None

    def check(self, header: str | None) -> None:
        """Return if the header carries valid credentials (or none are required); else raise."""
        if not self.required or self._passes(header):
            return
        # The secret's file may have changed since it was read: look again (rate-limited).
        if self._recheck() and self._passes(header):
            return
        raise Unauthorized("missing or invalid credentials", challenge=self.challenge)

    def _passes(self, header: str | None) -> bool:
        scheme, _, credentials = (header or "").strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and self._tokens is not None:
            presented = credentials.strip().encode()
            # Every token is compared, so timing does not tell which one (or none) matched.
            matches = [hmac.compare_digest(presented, token) for token in self._tokens.get()]
            return any(matches)
        if scheme == "basic" and self._passwords is not None:
            return self._basic_ok(credentials.strip(), self._passwords.get())
        return False

    def _recheck(self) -> bool:
        sources = [s for s in (self._tokens, self._passwords) if s is not None]
        read = [s.refresh(unless_younger_than=RECHECK_PERIOD) for s in sources]
        return any(read)

    def _basic_ok(self, credentials: str, password: bytes) -> bool:
        try:
            user, _, presented = base64.b64decode(credentials, validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return False
        # Both comparisons always run, so timing does not tell which part was wrong.
        user_ok = hmac.compare_digest(user, self._user)
        password_ok = hmac.compare_digest(presented, password)
        return user_ok and password_ok


def _source(env: str, secret: Secret | None, period: float, clock, convert) -> Refreshed | None:
    """The secret as compared, re-read from its file when it has one; None when not configured."""
    if secret is None:
        return None
    if secret.file is None:  # from the variable: it cannot change, never read again
        return Refreshed(lambda: convert(secret), period=math.inf, clock=clock)
    path = secret.file
    return Refreshed(
        lambda: convert(read_secret_file(env, path)),
        initial=convert(secret),  # as config.py read it at start-up
        period=period,
        clock=clock,
        on_error=lambda exc: _unreadable(env, exc),
        on_change=lambda value: logs.event(log, "secret_reloaded", variable=f"{env}_FILE"),
    )


def _token_bytes(secret: Secret) -> tuple[bytes, ...]:
    return tuple(token.encode() for token in tokens(secret))


def _bytes(secret: Secret) -> bytes:
    return secret.value.encode()


def _unreadable(env: str, exc: ConfigError) -> None:
    # The message names the variable and the reason (config.py never puts content in it).
    logs.event(log, "secret_unreadable", logging.WARNING, variable=f"{env}_FILE", reason=str(exc))
