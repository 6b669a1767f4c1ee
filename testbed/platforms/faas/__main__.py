"""python -m testbed.platforms.faas up: the node, OpenFaaS, the function deployed by faas-cli.

Behind `make cluster PLATFORM=openfaas`. The node's monitoring side delivers to the
gateway at the URL monitoring/alertmanager-openfaas.yml ships (its Alertmanager a pod,
testbed.chain.in_node); `make cluster-down` takes everything down with
the node. Prints KUBECONFIG=<path> as its last line, like `python -m testbed.clusters.node up`.
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
    service.deploy_function(layout)
    webhook = service.gateway_webhook(layout)
    in_node.deliver(layout, webhook, webhook.url)
    return (
        f"OpenFaaS gateway at {install.gateway_url(layout)} (user {install.USER}, password in "
        f"{layout.state / 'openfaas' / 'password'}); faas-cli is logged in with "
        f"HOME={service.workdir(layout)} OPENFAAS_URL={install.gateway_url(layout)}; "
        f"webhook token in {service.workdir(layout) / 'token.txt'}"
    )


if __name__ == "__main__":
    sys.exit(cluster.platform_main(sys.argv[1:], "testbed.platforms.faas", __doc__, up))
