"""The pinned requirements files, read as the tests compare them with what is installed
and imported: requirements.txt is the image's whole runtime set (docs/image.md)."""

from __future__ import annotations

import re
from pathlib import Path

from testbed.paths import ROOT

RUNTIME = ROOT / "requirements.txt"


def normal(name: str) -> str:
    """A distribution name as PEP 503 compares them (Flask, flask and prometheus_client too)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path = RUNTIME) -> dict[str, str]:
    """Normalised name -> version for the file's own lines (a `-r` include is its own file).

    A line that is not an exact `name==version` pin is an error: the image installs these.
    """
    found = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "-r ")):
            name, sep, version = line.partition("==")
            if not (sep and re.fullmatch(r"[\w.]+", version)):
                raise ValueError(f"{path.name}: {line!r} is not an exact pin")
            found[normal(name)] = version
    return found
