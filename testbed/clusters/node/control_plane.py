"""What the node's three control-plane components share: the tail of their argv, and, for
the controller-manager and the scheduler, how they reach the apiserver and serve health.

Each is a `testbed.process.Daemon` (own session, log and pid file under the layout)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from testbed.process import Daemon

if TYPE_CHECKING:
    from .layout import Layout


def control_plane(layout: Layout, name: str, *flags: str) -> Daemon:
    """A control-plane component: `layout.bin/<name>` with `flags`, then the tail all three
    share (no profiling endpoint, log level 1), its log and pid under the layout."""
    argv = [str(layout.bin / name), *flags, "--profiling=false", "--v", "1"]
    return Daemon(name, argv, layout.logs, layout.pids)


def local_controller(layout: Layout, name: str, kubeconfig: Path, port: int, *flags: str) -> Daemon:
    """The controller-manager or the scheduler: its own kubeconfig, serving health on
    loopback only, no leader election (one replica)."""
    return control_plane(
        layout,
        name,
        "--kubeconfig",
        str(kubeconfig),
        "--bind-address",
        "127.0.0.1",
        "--secure-port",
        str(port),
        "--leader-elect=false",
        *flags,
    )
