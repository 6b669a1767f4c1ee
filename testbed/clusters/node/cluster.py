"""The node as a whole: bring it up in order, report its state, take it down and put the
host back. `make cluster`, `make cluster-down` and the system tests' fixture all call
these three functions.

Order matters both ways. Up: images first (podman, no host change), then the host
snapshot, then the bridge, etcd, apiserver, controllers, containerd, the kubelet and
kube-proxy, then the cluster DNS and the function. Down: kube-proxy and the kubelet first
(so nothing restarts a container; the monitoring side, testbed/chain/in_node.py, is pods
like any other), then the containers and their shims, containerd, the control
plane, and finally the host restored from the snapshot. Down never needs the process
that ran up: everything is found through the state directory.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from testbed.clusters import ADMIN, Cluster
from testbed.process import StartError, stop_pid

from . import (
    NodeError,
    apiserver,
    cni,
    containerd,
    controller_manager,
    deploy,
    dns,
    etcd,
    hoststate,
    images,
    kube_proxy,
    kubelet,
    pki,
    scheduler,
)
from .layout import Layout


class Node(Cluster):
    """The node as a Cluster (testbed.clusters): its apiserver, its CA, the tokens pki.py
    issued (admin is system:masters); kubeconfigs go beside them."""

    name = "node"

    def __init__(self, layout: Layout):
        self.layout = layout
        self.url = layout.url

    def token(self, user: str = ADMIN) -> str:
        return (self.layout.pki / f"{user}.token").read_text().strip()

    @property
    def ca(self) -> Path:
        return self.layout.pki / "ca.crt"

    @property
    def home(self) -> Path:
        return self.layout.pki


ORDER = (etcd, apiserver, controller_manager, scheduler, containerd, kubelet, kube_proxy)
"""Daemon modules in start order; each has daemon(), ready() and start()."""


def _snapshot(layout: Layout) -> Path:
    return layout.state / "host-state.json"


def binaries_missing(layout: Layout) -> list[str]:
    wanted = [
        layout.bin / n
        for n in (
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kubelet",
            "kube-proxy",
            "kubectl",
        )
    ] + [layout.etcd_bin, dns.binary()]
    return [str(p) for p in wanted if not p.exists()]


def healthy(layout: Layout) -> bool:
    """Every daemon alive and ready, the node Ready and the function rolled out."""
    if not all(m.daemon(layout).running() and m.ready(layout) for m in ORDER):
        return False
    return node_ready(layout) and _function_ready(layout)


def node_ready(layout: Layout) -> bool:
    res = deploy.kubectl(
        layout,
        "get",
        "node",
        layout.node_name,
        "-o",
        'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        check=False,
    )
    return res.stdout.strip() == "True"


def _function_ready(layout: Layout) -> bool:
    res = deploy.kubectl(
        layout,
        "-n",
        deploy.NAMESPACE,
        "get",
        "deployment",
        deploy.NAME,
        "-o",
        "jsonpath={.status.availableReplicas}",
        check=False,
    )
    return res.stdout.strip() not in ("", "0")


def up(layout: Layout, log=print) -> float:
    """Start (or reuse) the node with the function deployed; returns the seconds it took."""
    began = time.monotonic()
    if layout.state.exists() and healthy(layout):
        log("node already up: reusing it")
        return 0.0
    if layout.state.exists():
        log("a previous node is half up: taking it down first")
        down(layout, log)
    missing = binaries_missing(layout)
    if missing:
        raise NodeError("missing binaries (run `make node-binaries`): " + ", ".join(missing))
    images.build_all()
    log(f"images ready in {time.monotonic() - began:.0f}s")
    layout.state.mkdir(parents=True, exist_ok=True)
    hoststate.record(_snapshot(layout))
    try:
        _start(layout, log)
    except BaseException:
        log("bring-up failed: taking the node down")
        down(layout, log)
        raise
    return time.monotonic() - began


def _start(layout: Layout, log) -> None:
    pki.create(layout)
    cni.start(layout)
    for module in ORDER:
        t = time.monotonic()
        module.start(layout)
        log(f"{module.daemon(layout).name} ready in {time.monotonic() - t:.1f}s")
        if module is containerd:
            images.load(layout, containerd.PAUSE_IMAGE)
            images.load(layout, images.FUNCTION_IMAGE)
    kubelet.daemon(layout).wait(lambda: node_ready(layout), 120, "Ready node")
    dns.apply(layout)  # not awaited: the function does not resolve names
    deploy.apply(layout)
    log("function deployed")


def down(layout: Layout, log=print) -> None:
    """Stop everything the state directory names and restore the host; safe to repeat."""
    for module in (kube_proxy, kubelet):
        module.daemon(layout).stop()
    owned = [layout.state]
    hoststate.kill_pods(_snapshot(layout))
    for pid in containerd.shim_pids(layout):
        stop_pid(pid, timeout=10)
    for module in (containerd, scheduler, controller_manager, apiserver, etcd):
        module.daemon(layout).stop()
    for line in hoststate.restore(_snapshot(layout), owned):
        log(line)
    shutil.rmtree(layout.state, ignore_errors=True)


def status(layout: Layout) -> dict:
    """What runs, for `python -m testbed.clusters.node status`."""
    report = {m.daemon(layout).name: m.daemon(layout).running() for m in ORDER}
    report["node Ready"] = layout.state.exists() and node_ready(layout)
    return report


def platform_main(argv: list[str], prog: str, usage: str, up) -> int:
    """`python -m testbed.platforms.<platform> up`: up(layout) brings up the node, the platform
    and the function and says how to reach them; printed, then KUBECONFIG=<path> as the last
    line, like `python -m testbed.clusters.node up`."""
    if argv[:1] != ["up"]:
        print(usage, file=sys.stderr)
        return 2
    layout = Layout()
    try:
        print(up(layout))
    except StartError as err:  # NodeError is one
        print(f"{prog} up: {err}", file=sys.stderr)
        return 1
    print(f"KUBECONFIG={layout.admin_kubeconfig}")
    return 0
