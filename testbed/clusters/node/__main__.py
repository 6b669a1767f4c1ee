"""python -m testbed.clusters.node up|down|status|burn: the node behind `make cluster` / `make cluster-down`.

`up` brings up the node, the function and the monitoring side (testbed/chain/in_node.py),
and prints KUBECONFIG=<path> as its last line, so `eval "$(make -s cluster | tail -1)"`
or copy-paste gives a working kubectl.  `burn NAME PERCENT` starts a pod in namespace
`demo` that uses PERCENT of its 100m CPU limit (`kubectl -n demo exec NAME -- touch
/tmp/stop` makes it idle), to watch its label follow.
"""

from __future__ import annotations

import json
import sys

from testbed.chain import in_node
from testbed.process import StartError

from . import cluster, images, workload
from .layout import Layout

DEMO = "demo"


def main(argv: list[str]) -> int:
    layout = Layout()
    command = argv[0] if argv else "status"
    try:
        if command == "up":
            seconds = cluster.up(layout)
            print(
                f"node up in {seconds:.0f}s; function image {images.FUNCTION_IMAGE} "
                f"{images.size(images.FUNCTION_IMAGE) / 1e6:.0f} MB; "
                f"webhook: http://{cluster.deploy.service_ip(layout)}/ with the token in "
                f"{layout.state / 'deploy' / 'token'}"
            )
            in_node.deliver(layout, in_node.function_webhook(layout), "the function's Service")
            print(f"KUBECONFIG={layout.admin_kubeconfig}")
        elif command == "down":
            cluster.down(layout)
            print("node down; host restored")
        elif command == "burn" and len(argv) == 3:
            workload.apply(layout, DEMO, [workload.burner(argv[1], float(argv[2]))])
            print(f"kubectl -n {DEMO} get pods -L status -w   # its label follows within about 30 s")
        elif command == "status":
            running = cluster.status(layout)
            if running["node Ready"]:
                running.update({f"monitoring: {k}": v for k, v in in_node.status(layout).items()})
            print(json.dumps(running, indent=1))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except StartError as err:  # NodeError is one
        print(f"testbed.clusters.node {command}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
