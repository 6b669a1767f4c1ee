"""Pod networking: the node's bridge and the CNI configuration containerd reads.

The bridge is created here, with the node's address on it, before anything starts:
the apiserver listens on that address, and the CNI bridge plugin then reuses the bridge
as every pod's gateway. Debian's plugins (/usr/lib/cni) do the rest: bridge with
host-local addresses from the pod CIDR, loopback, and portmap. No masquerading: pods
talk only to this machine.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from testbed.process import run

from .layout import Layout

BIN_DIR = Path("/usr/lib/cni")


def conf_dir(layout: Layout) -> Path:
    return layout.state / "cni" / "net.d"


def create_bridge(layout: Layout) -> None:
    if not Path("/sys/class/net", layout.bridge).exists():
        run("ip", "link", "add", layout.bridge, "type", "bridge")
    prefix = ipaddress.ip_network(layout.pod_cidr).prefixlen
    addrs = run("ip", "-o", "-4", "addr", "show", "dev", layout.bridge).stdout
    if f" {layout.node_ip}/" not in addrs:
        run("ip", "addr", "add", f"{layout.node_ip}/{prefix}", "dev", layout.bridge)
    run("ip", "link", "set", layout.bridge, "up")


def write_config(layout: Layout) -> None:
    conf = {
        "cniVersion": "1.0.0",
        "name": "calb",
        "plugins": [
            {
                "type": "bridge",
                "bridge": layout.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(layout.state / "cni" / "ipam"),
                    "ranges": [[{"subnet": layout.pod_cidr, "gateway": layout.node_ip}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    conf_dir(layout).mkdir(parents=True, exist_ok=True)
    (conf_dir(layout) / "10-calb.conflist").write_text(json.dumps(conf, indent=1))


def start(layout: Layout) -> None:
    create_bridge(layout)
    write_config(layout)
