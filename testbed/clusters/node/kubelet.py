"""The kubelet v1.34: runs the node's pods through containerd's CRI.

Its root directory is under the state directory; the settings are this machine's
(PLATFORM.md): cgroupfs driver and cgroup v1 allowed (1.35 would refuse it), swap
tolerated, eviction thresholds low enough that a busy shared disk does not taint the
node. It serves on the bridge address (the apiserver reaches it there for logs and
exec) with webhook authorization; the read-only port 10255 exposes /metrics/cadvisor
for the CPU figures, on the bridge only. `--containerd` points the kubelet's embedded
cAdvisor at this node's containerd socket (its default is /run/containerd's): without it
cAdvisor cannot ask containerd about a cgroup, and its series carry no namespace, pod,
container or image label, so no rule can tell whose CPU it is (PLATFORM.md).
`--housekeeping-interval` makes cAdvisor sample every 1-2 s instead of every 10-20 s: each
value is exported with its sample's timestamp, and a rate() over a test-sized window of
two or three such samples read a pod at 90% as low as 62% (rate() extrapolates only part
of the way to a window's edges), so tests would need minutes-long windows otherwise.
`syncFrequency` is 10 s (default 1 min): the kubelet writes a changed Secret or ConfigMap into
a pod's volume when it next syncs the pod, and the monitoring stack's configuration reaches
Prometheus and Alertmanager that way (the operator writes a Secret, their config-reloader
sees the file change), so a test that re-points Alertmanager waits one period, not a minute.
Pods get the cluster DNS (testbed.clusters.node.dns).
"""

from __future__ import annotations

import json

from testbed.process import Daemon

from .health import ok
from .layout import Layout
from .pki import kubeconfig_for

HEALTHZ = "http://127.0.0.1:10248/healthz"
HOUSEKEEPING = "1s"
SYNC = "10s"


def _config(layout: Layout) -> dict:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": layout.node_ip,
        "port": 10250,
        "readOnlyPort": 10255,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(layout.pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "podCIDR": layout.pod_cidr,
        "resolvConf": "/etc/resolv.conf",
        # Pods resolve through the node's CoreDNS (testbed.clusters.node.dns), as in any cluster.
        "clusterDNS": [layout.dns_ip],
        "clusterDomain": layout.cluster_domain,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "syncFrequency": SYNC,
        "registerNode": True,
    }


def daemon(layout: Layout) -> Daemon:
    root = layout.state / "kubelet"
    return Daemon(
        "kubelet",
        [
            str(layout.bin / "kubelet"),
            "--config",
            str(root / "config.json"),
            "--kubeconfig",
            str(kubeconfig_for(layout, "kubelet")),
            "--root-dir",
            str(root),
            "--hostname-override",
            layout.node_name,
            "--node-ip",
            layout.node_ip,
            # A cAdvisor flag (deprecated, still honoured in 1.34): see the docstring.
            "--containerd",
            str(layout.containerd_socket),
            # cAdvisor samples each container every 1-2 s (default 10-20 s, jittered), so the
            # tests' 20 s rate windows hold ten samples, as a 5m window does at the default.
            "--housekeeping-interval",
            HOUSEKEEPING,
            "--v",
            "1",
        ],
        layout.logs,
        layout.pids,
    )


def ready(layout: Layout) -> bool:
    return ok(HEALTHZ)


def start(layout: Layout) -> Daemon:
    root = layout.state / "kubelet"
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps(_config(layout), indent=1))
    return daemon(layout).launch(lambda: ready(layout), 60, "/healthz")
