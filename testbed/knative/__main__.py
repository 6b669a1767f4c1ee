"""python -m testbed.knative up: the node, Knative Serving, the function deployed by `kn`.

Behind `make cluster PLATFORM=knative`. Knative runs with its default durations (a
Revision scales to zero after about 90 s idle), and the node's monitoring side delivers to
the Revision (testbed.node.monitoring, Webhook.proxy_url says how without cluster DNS on
the host); `make cluster-down` takes everything down with the node. Prints
KUBECONFIG=<path> as its last line, like `python -m testbed.node up`.
"""

from __future__ import annotations

import sys

from testbed.node import cluster, monitoring
from testbed.node.layout import Layout

from . import function, serving


def up(layout: Layout) -> None:
    cluster.up(layout)
    serving.install(layout)
    function.deploy_kn(layout)
    revision = function.revision(layout, function.KN_NAMESPACE)["metadata"]["name"]
    ns = function.KN_NAMESPACE
    monitoring.start(layout, webhook=function.revision_webhook(layout, ns, revision))
    print(
        f"monitoring: Prometheus http://{monitoring.PROMETHEUS_ADDRESS}, Alertmanager "
        f"http://{monitoring.ALERTMANAGER_ADDRESS}, delivering to the Revision"
    )
    print(
        f"Knative Serving {serving.VERSION}: no networking layer, so the Route stays not Ready; "
        f"the Revision {revision} serves at http://{function.host(layout, ns, revision)}/ "
        f"(ClusterIP {function.public_service_ip(layout, ns, revision)}, send that Host), "
        f"and scales to zero when idle; token in {layout.state / 'deploy' / 'token'}"
    )


def main(argv: list[str]) -> int:
    return cluster.platform_main(argv, "testbed.knative", __doc__, up)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
