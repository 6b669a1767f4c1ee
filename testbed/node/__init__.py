"""A real single-node Kubernetes v1.34 on this machine, for the system tests and `make cluster`.

One module per component (etcd, the control plane, containerd, the kubelet, kube-proxy,
CNI), each able to start, report readiness, stop and show its log; `hoststate` records
what the node will change on the host before anything changes and puts it back on
`down`, even after a crash; `cluster` composes them. Entry point: `python -m testbed.node
up|down|status`.
"""
