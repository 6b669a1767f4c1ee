"""python -m testbed.platforms.serving up: the node, Knative Serving, the function deployed by `kn`.

Behind `make cluster PLATFORM=knative`. Knative runs with its default durations (a
Revision scales to zero after about 90 s idle), and the node's monitoring side (its
Alertmanager a pod, testbed.chain.in_node) delivers to the Revision by its cluster DNS name;
`make cluster-down` takes everything down with the node. Prints
KUBECONFIG=<path> as its last line, like `python -m testbed.clusters.node up`.
"""

from __future__ import annotations

import sys

from testbed.chain import in_node
from testbed.clusters.node import cluster
from testbed.clusters.node.layout import Layout

from . import install, service


def up(layout: Layout) -> str:
    """Everything up; returns how to reach it."""
    cluster.up(layout)
    install.install(layout)
    service.deploy_kn(layout)
    revision = service.revision(layout, service.KN_NAMESPACE)["metadata"]["name"]
    ns = service.KN_NAMESPACE
    in_node.deliver(layout, service.revision_webhook(layout, ns, revision), "the Revision")
    return (
        f"Knative Serving {install.VERSION} (no networking layer: the Route stays not Ready): the Revision "
        f"{revision} at http://{service.public_service_ip(layout, ns, revision)}/ with Host: "
        f"{service.host(layout, ns, revision)}, at zero when idle; token in {layout.state / 'deploy' / 'token'}"
    )


if __name__ == "__main__":
    sys.exit(cluster.platform_main(sys.argv[1:], "testbed.platforms.serving", __doc__, up))
