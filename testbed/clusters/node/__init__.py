"""A real single-node Kubernetes v1.34 on this machine, for the system tests and `make cluster`.

One module per component (etcd, the control plane, containerd, the kubelet, kube-proxy,
CNI), each able to start, report readiness, stop and show its log; `hoststate` records
what the node will change on the host before anything changes and puts it back on
`down`, even after a crash; `cluster` composes them. Entry point: `python -m testbed.clusters.node
up|down|status`.

The daemons are `testbed.process.Daemon`s (the kit's one process runner: own session,
log and pid file, found again by pid after a crash).
"""

from testbed.process import StartError


class NodeError(StartError):
    """The node could not be brought up or used; the message says why (a log tail, a
    command's stderr). A StartError, as the daemons' and commands' own failures are, so
    `except StartError` catches both."""
