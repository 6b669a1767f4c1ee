"""kube-proxy v1.34 in iptables mode: ClusterIPs work from the host and from pods.

Conntrack sizing is switched off (maxPerCore 0, timeouts 0) so it does not rewrite the
machine's conntrack table; NodePorts only on the bridge address, none on localhost, so
it has no reason to set route_localnet. Its chains are restored by hoststate.
"""

from __future__ import annotations

import json

from testbed.process import Daemon

from .health import ok
from .layout import Layout
from .pki import kubeconfig_for

HEALTHZ_PORT = 10356
METRICS_PORT = 10349


def _config(layout: Layout) -> dict:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clusterCIDR": layout.pod_cidr,
        "hostnameOverride": layout.node_name,
        "clientConnection": {"kubeconfig": str(kubeconfig_for(layout, "kube-proxy"))},
        "bindAddress": layout.node_ip,
        "healthzBindAddress": f"127.0.0.1:{HEALTHZ_PORT}",
        "metricsBindAddress": f"127.0.0.1:{METRICS_PORT}",
        "nodePortAddresses": [f"{layout.node_ip}/32"],
        "iptables": {"localhostNodePorts": False},
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }


def daemon(layout: Layout) -> Daemon:
    config = layout.state / "kube-proxy.json"
    return Daemon(
        "kube-proxy",
        [str(layout.bin / "kube-proxy"), "--config", str(config), "--v", "1"],
        layout.logs,
        layout.pids,
    )


def ready(layout: Layout) -> bool:
    return ok(f"http://127.0.0.1:{HEALTHZ_PORT}/healthz")


def start(layout: Layout) -> Daemon:
    (layout.state / "kube-proxy.json").write_text(json.dumps(_config(layout), indent=1))
    return daemon(layout).launch(lambda: ready(layout), 60, "/healthz")
