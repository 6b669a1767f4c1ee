"""kube-apiserver v1.34 on the node's bridge address, with token authentication and the
Node and RBAC authorizers; Pod Security admission is on by default in 1.34.

It listens on the bridge (not eth0, not loopback) because pods reach it there: the
`kubernetes` Service's endpoint is this address, and kube-proxy sends pods to it.
"""

from __future__ import annotations

from testbed.process import Daemon

from .control_plane import control_plane
from .etcd import CLIENT as ETCD
from .health import ok
from .layout import Layout


def daemon(layout: Layout) -> Daemon:
    pki = layout.pki
    return control_plane(
        layout,
        "kube-apiserver",
        "--etcd-servers",
        ETCD,
        "--bind-address",
        layout.node_ip,
        "--advertise-address",
        layout.node_ip,
        "--secure-port",
        str(layout.apiserver_port),
        "--tls-cert-file",
        str(pki / "apiserver.crt"),
        "--tls-private-key-file",
        str(pki / "apiserver.key"),
        "--client-ca-file",
        str(pki / "ca.crt"),
        "--token-auth-file",
        str(pki / "tokens.csv"),
        "--authorization-mode",
        "Node,RBAC",
        "--enable-admission-plugins",
        "NodeRestriction",
        "--kubelet-client-certificate",
        str(pki / "apiserver-kubelet-client.crt"),
        "--kubelet-client-key",
        str(pki / "apiserver-kubelet-client.key"),
        "--service-account-issuer",
        "https://kubernetes.default.svc.cluster.local",
        "--service-account-key-file",
        str(pki / "sa.pub"),
        "--service-account-signing-key-file",
        str(pki / "sa.key"),
        "--service-cluster-ip-range",
        layout.service_cidr,
        "--allow-privileged=false",
        # The node name does not resolve (no DNS for it): reach the kubelet by address.
        "--kubelet-preferred-address-types",
        "InternalIP",
    )


def ready(layout: Layout) -> bool:
    token = (layout.pki / "admin.token").read_text()
    return ok(f"{layout.url}/readyz", ca=layout.pki / "ca.crt", token=token)


def start(layout: Layout) -> Daemon:
    return daemon(layout).launch(lambda: ready(layout), 120, "/readyz")
