"""Cluster DNS for the node: CoreDNS as a pod behind the `kube-dns` Service, as kubeadm
clusters run it, and the kubelet's clusterDNS pointing pods at it.

Why the node has it: Debian 12 packages no CoreDNS, and without cluster DNS anything
that names a Service breaks. Knative Serving does: its activator reports request
statistics to `autoscaler.knative-serving.svc.cluster.local` (and reports itself not
Ready until that connection is up), and its autoscaler probes a Revision's Service by
name before it scales the Revision to zero. An in-cluster Alertmanager also addresses a
function by its Service's name. CoreDNS is built from the Go module proxy
(testbed/pins/coredns/, plugins of kubeadm's default Corefile) into an image of its
binary alone (binimage).

The Corefile is kubeadm's default, except that CoreDNS listens on 1053 (the Service maps
53 to it): the image runs as a non-root user without file capabilities, which cannot
bind a port below 1024. Pods created before the kubelet had clusterDNS keep the host's
resolver; new pods get `nameserver 10.96.0.10` and the cluster's search path.
"""

from __future__ import annotations

import json
from pathlib import Path

from testbed.paths import cache_root
from testbed.pins import pinned
from testbed.process import run

from . import NodeError, binimage
from .layout import Layout

NAMESPACE = "kube-system"
NAME = "coredns"
PORT = 1053


VERSION = pinned("testbed/pins/coredns", "github.com/coredns/coredns")
IMAGE = f"localhost/coredns:{VERSION}"


def binary() -> Path:
    """Built by testbed/pins/build-coredns.sh (`make node-binaries`)."""
    return cache_root() / f"coredns-{VERSION}" / "bin" / "coredns"


def corefile(layout: Layout) -> str:
    return f""".:{PORT} {{
    errors
    health {{
        lameduck 5s
    }}
    ready
    kubernetes {layout.cluster_domain} in-addr.arpa ip6.arpa {{
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    prometheus :9153
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
}}
"""


def _meta(name: str, namespaced: bool = True) -> dict:
    meta: dict = {"name": name, "labels": {"k8s-app": "kube-dns"}}
    if namespaced:
        meta["namespace"] = NAMESPACE
    return meta


def _rbac() -> list[dict]:
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _meta("system:coredns", False),
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta("system:coredns", False),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:coredns",
            },
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
        },
    ]


def _deployment() -> dict:
    container = {
        "name": NAME,
        "image": IMAGE,
        "imagePullPolicy": "Never",  # built here; there is no registry to pull from
        "args": ["-conf", "/etc/coredns/Corefile"],
        "ports": [
            {"name": "dns", "containerPort": PORT, "protocol": "UDP"},
            {"name": "dns-tcp", "containerPort": PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9153, "protocol": "TCP"},
        ],
        "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}, "initialDelaySeconds": 10},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 1},
        "securityContext": binimage.RESTRICTED,
        "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(NAME),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
            "template": {
                "metadata": {"labels": {"k8s-app": "kube-dns"}},
                "spec": {
                    "serviceAccountName": NAME,
                    # The resolver CoreDNS forwards other names to: the host's.
                    "dnsPolicy": "Default",
                    "priorityClassName": "system-cluster-critical",
                    "containers": [container],
                    "volumes": [{"name": "config", "configMap": {"name": NAME}}],
                },
            },
        },
    }


def _service(layout: Layout) -> dict:
    def port(name: str, number: int, target: int, protocol: str) -> dict:
        return {"name": name, "port": number, "targetPort": target, "protocol": protocol}

    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {**_meta("kube-dns"), "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
        "spec": {
            "selector": {"k8s-app": "kube-dns"},
            "clusterIP": layout.dns_ip,
            "ports": [
                port("dns", 53, PORT, "UDP"),
                port("dns-tcp", 53, PORT, "TCP"),
                port("metrics", 9153, 9153, "TCP"),
            ],
        },
    }


def objects(layout: Layout) -> list[dict]:
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(NAME),
        "data": {"Corefile": corefile(layout)},
    }
    return [*_rbac(), config, _deployment(), _service(layout)]


def apply(layout: Layout) -> None:
    """Image in containerd, then the objects (idempotent); does not wait for the pod."""
    binimage.ensure(layout, IMAGE, binary())
    manifest = {"apiVersion": "v1", "kind": "List", "items": objects(layout)}
    run(
        layout.kubectl(),
        "--kubeconfig",
        layout.admin_kubeconfig,
        "apply",
        "-f",
        "-",
        input=json.dumps(manifest),
        timeout=120,
    )


def wait(layout: Layout, timeout: int = 120) -> None:
    run(
        layout.kubectl(),
        "--kubeconfig",
        layout.admin_kubeconfig,
        "-n",
        NAMESPACE,
        "rollout",
        "status",
        f"deployment/{NAME}",
        f"--timeout={timeout}s",
        timeout=timeout + 20,
    )


def kubelet_has_dns(layout: Layout) -> bool:
    """The running kubelet was started with this node's clusterDNS."""
    config = json.loads((layout.state / "kubelet" / "config.json").read_text())
    return config.get("clusterDNS") == [layout.dns_ip]


def ensure(layout: Layout, log=print) -> None:
    """Cluster DNS applied and awaited; a node whose kubelet was started without clusterDNS
    (from an older checkout) is refused: its pods could not resolve Knative's Services."""
    if not kubelet_has_dns(layout):
        raise NodeError(
            "the running kubelet has no clusterDNS (a node from an older checkout): "
            "make cluster-down && make cluster"
        )
    apply(layout)
    wait(layout)
