"""The node tier: one real Kubernetes v1.34 node (testbed.clusters.node) for the whole tier.

Bringing the node up costs a minute or more, so every module of the tier shares one:
the function deployed by `kubectl apply -k`, and whatever a module adds on top of it
(the monitoring side, Knative, OpenFaaS) in namespaces of its own. The node is reused if
`make cluster` left one up, and otherwise taken down at the end, also when tests fail.
`test_down_restores_the_host` takes the node down itself, so it is moved to run last.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from testbed.chain import in_node
from testbed.clusters.node import cluster, deploy, probe
from testbed.clusters.node.containerd import PAUSE_IMAGE
from testbed.clusters.node.layout import Layout
from testbed.tools import require, require_tool

LAST = "test_down_restores_the_host"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the test that takes the node down after every other test of the session."""
    items.sort(key=lambda item: item.name == LAST)


@pytest.fixture(scope="session")
def node() -> Iterator[Layout]:
    """A running node with the function deployed; down (and the host restored) afterwards."""
    require(os.geteuid() == 0, "root (the node changes the host)")
    for tool in ("containerd", "runc", "ctr", "podman", "debootstrap", "nft", "openssl"):
        require_tool(tool)
    layout = Layout()
    missing = cluster.binaries_missing(layout)
    require(not missing, ", ".join(missing))
    # A node this session did not start stays up afterwards, even if it looks unhealthy
    # right now (a test of another session may be replacing the function's pod).
    reused = layout.state.exists()
    try:
        cluster.up(layout)
    except Exception as err:
        pytest.fail(f"node bring-up failed: {err}")
    yield layout
    if layout.state.exists() and not reused:
        cluster.down(layout)
    elif reused and not layout.state.exists():
        # test_down took down the node `make cluster` had left: bring it back as it makes it
        # (with PLATFORM=knative or openfaas, the platform is not reinstalled: `make cluster PLATFORM=...`).
        cluster.up(layout)
        in_node.start(layout)


@pytest.fixture
def workload(node: Layout) -> Iterator[str]:
    """A namespace with a running pod `app` of our own (the pause image, label app=demo),
    removed afterwards."""
    name = f"w-{uuid.uuid4().hex[:8]}"
    deploy.kubectl(node, "create", "namespace", name)
    deploy.kubectl(node, "-n", name, "run", "app", f"--image={PAUSE_IMAGE}", "--image-pull-policy=Never",
                   "--labels=app=demo")
    probe.wait_for(lambda: deploy.kubectl(node, "-n", name, "get", "pod", "app", "-o",
                                          "jsonpath={.status.phase}").stdout == "Running",
                   "the workload pod Running")
    yield name
    deploy.kubectl(node, "delete", "namespace", name, "--wait=false", check=False)
