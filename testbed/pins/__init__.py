"""The version a pinned go.mod of ours requires of a module: one reader for every pin.

Each Go program we build (the CLIs, the monitoring programs, Knative, OpenFaaS, CoreDNS,
Kubernetes) is pinned by a small go.mod in testbed/pins/<name>/; the Makefile (its
go_pin_in) and the build-*.sh scripts beside them read the same `require MODULE VERSION`
line, so the cache folder a build writes and the one the kit looks in always agree.
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path

from testbed.paths import ROOT


def pinned(folder: str, module: str) -> str:
    """The version `<folder>/go.mod` (relative to the repository) requires of `module`,
    written on one `require MODULE VERSION` line, as the Makefile expects."""
    for line in (ROOT / folder / "go.mod").read_text().splitlines():
        words = line.split()
        if words[:2] == ["require", module]:
            return words[2]
    raise LookupError(f"{folder}/go.mod does not require {module} on one `require` line")


@cache
def module_dir(folder: str, module: str) -> Path:
    """The unpacked folder of `module` at the version `<folder>/go.mod` pins (`go mod download`
    in that folder checks it against its go.sum): where a module's own manifests are read."""
    env = {
        **os.environ,
        "PATH": f"/usr/local/go/bin:{os.environ.get('PATH', '')}",
        "GOFLAGS": "-mod=readonly",
        "GOTOOLCHAIN": "local",
    }
    res = subprocess.run(
        ["go", "mod", "download", "-json", module],
        cwd=ROOT / folder,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    if res.returncode != 0:
        raise LookupError(f"go mod download {module} in {folder}: {res.stderr[-2000:]}")
    return Path(json.loads(res.stdout)["Dir"])
