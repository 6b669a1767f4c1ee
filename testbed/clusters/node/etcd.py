"""etcd v3.6 for the node's apiserver, on loopback, data under the state directory.

Built from the Go module proxy (testbed/pins/kubernetes): Debian 12's etcd 3.4 is older than
what Kubernetes 1.34 supports. --unsafe-no-fsync: a test cluster trades durability for
speed on a shared disk.
"""

from __future__ import annotations

from testbed.process import Daemon

from .health import ok
from .layout import Layout

CLIENT = "http://127.0.0.1:12379"
PEER = "http://127.0.0.1:12380"


def daemon(layout: Layout) -> Daemon:
    return Daemon(
        "etcd",
        [
            str(layout.etcd_bin),
            "--name",
            "node",
            "--data-dir",
            str(layout.state / "etcd"),
            "--listen-client-urls",
            CLIENT,
            "--advertise-client-urls",
            CLIENT,
            "--listen-peer-urls",
            PEER,
            "--initial-advertise-peer-urls",
            PEER,
            "--initial-cluster",
            f"node={PEER}",
            "--unsafe-no-fsync",
            "--log-level",
            "warn",
        ],
        layout.logs,
        layout.pids,
    )


def ready(layout: Layout) -> bool:
    return ok(f"{CLIENT}/health")


def start(layout: Layout) -> Daemon:
    return daemon(layout).launch(lambda: ready(layout), 60, "/health")
