"""kube-controller-manager: Deployments become ReplicaSets and pods, Services get
EndpointSlices, namespaces get their `kube-root-ca.crt` ConfigMap (which every projected
token volume needs) and their `default` ServiceAccount.

Each controller uses its own ServiceAccount's credentials, as on any kubeadm cluster,
so the RBAC bootstrap roles apply unchanged.
"""

from __future__ import annotations

from testbed.process import Daemon

from .control_plane import local_controller
from .health import ok
from .layout import Layout
from .pki import kubeconfig_for

PORT = 10357


def daemon(layout: Layout) -> Daemon:
    return local_controller(
        layout,
        "kube-controller-manager",
        kubeconfig_for(layout, "controller-manager"),
        PORT,
        "--use-service-account-credentials",
        "--root-ca-file",
        str(layout.pki / "ca.crt"),
        "--service-account-private-key-file",
        str(layout.pki / "sa.key"),
        "--service-cluster-ip-range",
        layout.service_cidr,
    )


def ready(layout: Layout) -> bool:
    return ok(f"https://127.0.0.1:{PORT}/healthz")


def start(layout: Layout) -> Daemon:
    return daemon(layout).launch(lambda: ready(layout), 60, "/healthz")
