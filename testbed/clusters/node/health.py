"""Readiness probes shared by the components: an HTTPS or HTTP GET that answers 200."""

from __future__ import annotations

import ssl
import urllib.request
from pathlib import Path


def ok(url: str, *, ca: Path | None = None, token: str | None = None, timeout: float = 2) -> bool:
    """True when `url` answers 200; TLS is verified against `ca` when given, else not at all
    (the controller-manager's and scheduler's self-signed health endpoints)."""
    ctx = None
    if url.startswith("https"):
        ctx = ssl.create_default_context(cafile=str(ca)) if ca else ssl._create_unverified_context()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), context=ctx, timeout=timeout
        ) as resp:
            return resp.status == 200
    except OSError:
        return False
