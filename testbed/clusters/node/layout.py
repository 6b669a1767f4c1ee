"""Where the node lives and how it is addressed: one frozen record every module reads.

Everything the node writes goes under one state directory (default
/run/cpu-alert-labeler-node; `down` removes it), except what
the kubelet and the kernel insist on (/var/log/pods, cgroups, iptables, the bridge),
which `hoststate` records and restores. Addresses are fixed and private to this
machine: the control plane listens on the node's own bridge, never on eth0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from testbed.paths import cache_root
from testbed.pins import pinned

K8S_VERSION = pinned("testbed/pins/kubernetes", "k8s.io/kubernetes")
"""The Kubernetes release testbed/pins/build-node.sh builds."""
ETCD_VERSION = pinned("testbed/pins/kubernetes", "go.etcd.io/etcd/server/v3")
"""etcd's server, the version that Kubernetes release's go.mod names."""


def pinned_kubectl() -> Path:
    """The kubectl built with that release (`make node-binaries`), in the cache."""
    return cache_root() / f"kubernetes-{K8S_VERSION}" / "bin" / "kubectl"


@dataclass(frozen=True)
class Layout:
    """Paths and addresses of one node; every field has a fixed default."""

    state: Path = Path(os.environ.get("NODE_STATE_DIR", "/run/cpu-alert-labeler-node"))
    """Working directory: configs, certificates, logs, pid files, containerd's and kubelet's roots."""
    bridge: str = "calb0"
    """Linux bridge the pods attach to; the node's address lives on it."""
    node_ip: str = "10.244.0.1"
    """The node's (and the apiserver's) address, the bridge's gateway address."""
    pod_cidr: str = "10.244.0.0/24"
    """Pod addresses, handed out by CNI host-local on the bridge."""
    service_cidr: str = "10.96.0.0/24"
    """ClusterIPs; 10.96.0.1 is the `kubernetes` Service."""
    dns_ip: str = "10.96.0.10"
    """The cluster DNS Service's ClusterIP (kube-dns, testbed.clusters.node.dns), kubeadm's choice."""
    cluster_domain: str = "cluster.local"
    """The DNS suffix of Services (`NAME.NAMESPACE.svc.cluster.local`), the usual default."""
    node_name: str = "calb-node"
    """The Node object's name."""
    apiserver_port: int = 6443

    @property
    def bin(self) -> Path:
        """The Kubernetes binaries; NODE_K8S_BIN points elsewhere (a build in progress)."""
        override = os.environ.get("NODE_K8S_BIN")
        return Path(override) if override else cache_root() / f"kubernetes-{K8S_VERSION}" / "bin"

    @property
    def etcd_bin(self) -> Path:
        return cache_root() / f"etcd-{ETCD_VERSION}" / "bin" / "etcd"

    @property
    def url(self) -> str:
        return f"https://{self.node_ip}:{self.apiserver_port}"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def pids(self) -> Path:
        return self.state / "pids"

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def containerd_socket(self) -> Path:
        return self.state / "containerd" / "containerd.sock"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    def kubectl(self) -> Path:
        return self.bin / "kubectl"
