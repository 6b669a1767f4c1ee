"""`make run`'s development cluster: a test apiserver holding the pods an alert file names.

usage: python -m testbed.clusters.dev KUBECONFIG alert.json

It writes KUBECONFIG only once the pods exist (scripts/run.sh waits for the file),
serves until SIGINT or SIGTERM, then stops the apiserver and removes its directory.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from testbed.clusters.loopback import ApiServer


def wanted_pods(webhook: dict) -> list[tuple[str, str]]:
    """(namespace, pod) for every alert of a webhook body, sorted and unique."""
    alerts = webhook["alerts"]
    return sorted({(a["labels"].get("namespace", "default"), a["labels"]["pod"]) for a in alerts})


def serve(kubeconfig: Path, pods: list[tuple[str, str]]) -> None:
    server = ApiServer(Path(tempfile.mkdtemp(prefix="kube-dev-")))
    server.start()
    try:
        for namespace in sorted({ns for ns, _ in pods} - {"default"}):
            server.create_namespace(namespace)
        for namespace, pod in pods:
            server.create_pod(namespace, pod)
        server.kubeconfig(path=kubeconfig)
        print(
            f"dev cluster ready at {server.url}; kubeconfig {kubeconfig}; "
            f"pods: {', '.join(f'{ns}/{p}' for ns, p in pods)}",
            flush=True,
        )
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


def main(argv: list[str]) -> None:
    kubeconfig, alert_file = Path(argv[0]), Path(argv[1])
    # Blocked before anything starts, so that a signal is only ever taken by sigwait.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    serve(kubeconfig, wanted_pods(json.loads(alert_file.read_text())))


if __name__ == "__main__":
    main(sys.argv[1:])
