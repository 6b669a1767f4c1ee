"""The node's credentials: a CA, the apiserver's serving certificate, the apiserver's
client certificate for kubelets, a service-account signing key, one bearer token per
component, and a kubeconfig per identity.

Tokens (a static token file) rather than client certificates for the components: one
line per identity, with the user and group names the Node and RBAC authorizers expect
(system:node:<name> in system:nodes, system:kube-controller-manager, ...). openssl makes
the certificates, as the API tier's apiserver does.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from testbed.clusters.credentials import write_kubeconfig
from testbed.process import run

from .layout import Layout


@dataclass(frozen=True)
class Identity:
    """A component's user name, groups and file-name stem."""

    stem: str
    user: str
    groups: tuple[str, ...] = ()


def identities(layout: Layout) -> list[Identity]:
    return [
        Identity("admin", "admin", ("system:masters",)),
        Identity("kubelet", f"system:node:{layout.node_name}", ("system:nodes",)),
        Identity("controller-manager", "system:kube-controller-manager"),
        Identity("scheduler", "system:kube-scheduler"),
        Identity("kube-proxy", "system:kube-proxy"),
    ]


def _cert(d: Path, name: str, subject: str, ext: str = "") -> None:
    run(
        "openssl",
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        subject,
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
        cwd=d,
    )
    (d / f"{name}.ext").write_text(ext or "extendedKeyUsage=clientAuth\n")
    run(
        "openssl",
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        f"{name}.ext",
        "-out",
        f"{name}.crt",
        cwd=d,
    )


def create(layout: Layout) -> None:
    """Write every credential under layout.pki (once: an existing CA is kept)."""
    d = layout.pki
    if (d / "tokens.csv").exists():
        return
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o700)
    run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/CN=cpu-alert-labeler-node-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        cwd=d,
    )
    sans = ",".join(
        [
            f"IP:{layout.node_ip}",
            "IP:10.96.0.1",
            "IP:127.0.0.1",
            "DNS:localhost",
            "DNS:kubernetes",
            "DNS:kubernetes.default",
            "DNS:kubernetes.default.svc",
            "DNS:kubernetes.default.svc.cluster.local",
        ]
    )
    _cert(d, "apiserver", "/CN=kube-apiserver", f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\n")
    _cert(d, "apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client")
    run("openssl", "genrsa", "-out", "sa.key", "2048", cwd=d)
    run("openssl", "rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)
    lines = []
    for ident in identities(layout):
        token = secrets.token_hex(24)
        (d / f"{ident.stem}.token").write_text(token)
        lines.append(f'{token},{ident.user},{ident.user},"{",".join(ident.groups)}"')
    (d / "tokens.csv").write_text("\n".join(lines) + "\n")
    for ident in identities(layout):
        kubeconfig(layout, ident.stem, kubeconfig_for(layout, ident.stem))


def kubeconfig_for(layout: Layout, stem: str) -> Path:
    """Where identity `stem`'s kubeconfig is written."""
    return layout.admin_kubeconfig if stem == "admin" else layout.pki / f"{stem}.kubeconfig"


def kubeconfig(layout: Layout, stem: str, path: Path, token: str | None = None) -> Path:
    """A kubeconfig for a component's token (or any token); JSON is valid YAML."""
    token = token or (layout.pki / f"{stem}.token").read_text()
    return write_kubeconfig(
        path, server=layout.url, ca=layout.pki / "ca.crt", user=stem, token=token, cluster="node"
    )
