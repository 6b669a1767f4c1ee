"""Tools a test needs: skipped when missing on a developer's machine, a failure in CI.

Under CI=true `make test` must have installed everything, so a missing tool is a
broken build, never a silent skip.  Also kubectl (the pinned 1.34.4 build that
`make node-binaries` puts in the cache, never whatever is on PATH), run against a test
apiserver, for tests that check what a user would see.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from testbed.clusters.loopback import ApiServer
from testbed.clusters.node.layout import pinned_kubectl


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def require(ok: bool, what: str) -> None:
    """Skip without `what`, except in CI where its absence is a broken build."""
    if ok:
        return
    if in_ci():
        pytest.fail(f"{what} is missing in CI: `make test` should have installed it")
    pytest.skip(f"{what} is missing (run `make test` to install it)")


def require_tool(name: str) -> str:
    """The path of program `name`, under require()'s rule."""
    path = shutil.which(name)
    require(path is not None, name)
    assert path is not None
    return path


def kubectl(apiserver: ApiServer, scratch: Path, *args: str) -> str:
    """Run the pinned kubectl against the test apiserver; its stdout."""
    exe = pinned_kubectl()
    require(exe.exists(), str(exe))
    result = subprocess.run(
        [
            exe,
            "--kubeconfig",
            str(apiserver.kubeconfig()),
            "--cache-dir",
            str(scratch / "kubectl-cache"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
