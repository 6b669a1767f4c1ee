"""Webhook authentication: an optional bearer token and/or basic auth.

Alertmanager's `http_config` sends either `Authorization: Bearer <token>` or
basic auth.  Credentials are compared in constant time (hmac.compare_digest)
so a caller cannot learn a secret byte by byte from response times, and no
credential is ever put into an error message or a log line.
"""

import base64
import binascii
import hmac

from .config import Settings
from .errors import Unauthorized


class Authenticator:
    """Checks an Authorization header against the configured credentials."""

    def __init__(self, settings: Settings):
        self._token = settings.webhook_token.value.encode() if settings.webhook_token else None
        self._user = settings.webhook_username.encode()
        self._password = settings.webhook_password.value.encode() if settings.webhook_password else None
        schemes = (['Bearer realm="cpu-alert-labeler"'] if self._token else []) + (
            ['Basic realm="cpu-alert-labeler"'] if self._password else []
        )
        self.challenge = ", ".join(schemes)

    @property
    def required(self) -> bool:
        return self._token is not None or self._password is not None

    def check(self, header: str | None) -> None:
        """Return if the header carries valid credentials (or none are required); else raise."""
        if not self.required:
            return
        scheme, _, credentials = (header or "").strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and self._token is not None:
            if hmac.compare_digest(credentials.strip().encode(), self._token):
                return
        elif scheme == "basic" and self._password is not None:
            if self._basic_ok(credentials.strip()):
                return
        raise Unauthorized("missing or invalid credentials", challenge=self.challenge)

    def _basic_ok(self, credentials: str) -> bool:
        try:
            user, _, password = base64.b64decode(credentials, validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return False
        # Both comparisons always run, so timing does not tell which part was wrong.
        user_ok = hmac.compare_digest(user, self._user)
        password_ok = hmac.compare_digest(password, self._password or b"")  # set: check() asked
        return user_ok and password_ok
