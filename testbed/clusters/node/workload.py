"""Pods that really use CPU: burn.py run in the function's image, with a CPU limit, at a
chosen percentage of that limit. The node tier's test and `python -m testbed.clusters.node burn` use them.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import deploy
from .images import FUNCTION_IMAGE
from .layout import Layout

PROGRAM = (Path(__file__).with_name("burn.py")).read_text()
LIMIT_MILLICORES = 100
"""Small on purpose: at 90% a burner costs the shared machine 0.09 cores."""
STOP_FILE = "/tmp/stop"


def burner(name: str, percent: float, *, limit_millicores: int = LIMIT_MILLICORES) -> dict:
    """A pod using `percent` of its CPU limit until STOP_FILE appears in it."""
    cores = limit_millicores / 1000 * percent / 100
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "cpu-burner"}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "burn",
                    "image": FUNCTION_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-c", PROGRAM],
                    "env": [
                        {"name": "BURN_CORES", "value": f"{cores:.4f}"},
                        {"name": "BURN_STOP_FILE", "value": STOP_FILE},
                    ],
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "16Mi"},
                        "limits": {"cpu": f"{limit_millicores}m", "memory": "64Mi"},
                    },
                }
            ],
        },
    }


def apply(layout: Layout, namespace: str, pods: list[dict]) -> None:
    """Create the namespace if needed and the pods, in one kubectl call."""
    items = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}]
    items += [{**p, "metadata": {**p["metadata"], "namespace": namespace}} for p in pods]
    deploy.kubectl(
        layout, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )


def stop(layout: Layout, namespace: str, pod: str) -> None:
    """Tell a burner to stop burning (it idles from then on)."""
    deploy.kubectl(layout, "-n", namespace, "exec", pod, "--", "touch", STOP_FILE)
