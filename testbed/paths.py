"""Where things are: the repository, the function's source, the cache of slow builds.

One place so that the kit, the tests and the campaigns agree on the cache root the
Makefile exports (CPU_ALERT_LABELER_CACHE), and a developer running a script by
hand gets the same default.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "function" / "main.py"
PAYLOADS = ROOT / "tests" / "payloads"


def cache_root() -> Path:
    """The Makefile's cache root, else $XDG_CACHE_HOME (or ~/.cache)/cpu-alert-labeler."""
    explicit = os.environ.get("CPU_ALERT_LABELER_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cpu-alert-labeler"
