"""python -m testbed.node up|down|status: the node behind `make cluster` / `make cluster-down`.

`up` prints KUBECONFIG=<path> as its last line, so `eval "$(make -s cluster | tail -1)"`
or copy-paste gives a working kubectl.
"""

from __future__ import annotations

import sys

from . import cluster, images
from .layout import Layout
from .proc import NodeError


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
            print(f"KUBECONFIG={layout.admin_kubeconfig}")
        elif command == "down":
            cluster.down(layout)
            print("node down; host restored")
        elif command == "status":
            print(cluster.describe(layout))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except NodeError as err:
        print(f"testbed.node {command}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
