"""kube-scheduler: binds the node's pods to its one Node."""

from __future__ import annotations

from testbed.process import Daemon

from .control_plane import local_controller
from .health import ok
from .layout import Layout
from .pki import kubeconfig_for

PORT = 10359


def daemon(layout: Layout) -> Daemon:
    return local_controller(layout, "kube-scheduler", kubeconfig_for(layout, "scheduler"), PORT)


def ready(layout: Layout) -> bool:
    return ok(f"https://127.0.0.1:{PORT}/healthz")


def start(layout: Layout) -> Daemon:
    return daemon(layout).launch(lambda: ready(layout), 60, "/healthz")
