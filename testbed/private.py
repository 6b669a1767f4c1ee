"""Files holding secrets the kit writes (tokens, kubeconfigs with tokens): owner-only from
the first byte.  Writing first and chmod-ing after leaves the secret readable by anyone
for a moment under the usual umask 022; here the file is created 0600, and an existing
one is made 0600 before it is truncated and rewritten.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, text: str) -> Path:
    """Write `text` to `path` (folders created), readable and writable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(fd, 0o600)
        out.truncate()
        out.write(text)
    return path
