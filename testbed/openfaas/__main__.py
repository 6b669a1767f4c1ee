"""python -m testbed.openfaas up: the node, OpenFaaS, the function deployed by faas-cli.

Behind `make cluster PLATFORM=openfaas`. The node's monitoring side delivers to the
gateway at the URL monitoring/alertmanager-openfaas.yml ships (testbed.openfaas.function
says how without cluster DNS on the host); `make cluster-down` takes everything down with
the node. Prints KUBECONFIG=<path> as its last line, like `python -m testbed.node up`.
"""

from __future__ import annotations

import sys

from testbed.node import cluster, monitoring
from testbed.node.layout import Layout

from . import function, install


def up(layout: Layout) -> None:
    cluster.up(layout)
    install.install(layout)
    function.deploy_function(layout)
    webhook = function.gateway_webhook(layout)
    monitoring.start(layout, webhook=webhook)
    print(
        f"monitoring: Prometheus http://{monitoring.PROMETHEUS_ADDRESS}, Alertmanager "
        f"http://{monitoring.ALERTMANAGER_ADDRESS}, delivering to {webhook.url} "
        f"({function.shipped_url()} with the gateway's ClusterIP: no cluster DNS on the host)"
    )
    print(
        f"OpenFaaS gateway at {install.gateway_url(layout)} (user {install.USER}, password in "
        f"{layout.state / 'openfaas' / 'password'}); faas-cli is logged in with "
        f"HOME={function.workdir(layout)} OPENFAAS_URL={install.gateway_url(layout)}; "
        f"webhook token in {function.workdir(layout) / 'token.txt'}"
    )


def main(argv: list[str]) -> int:
    return cluster.platform_main(argv, "testbed.openfaas", __doc__, up)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
