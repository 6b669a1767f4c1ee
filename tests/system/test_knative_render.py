"""We test these aspects: what testbed.platforms.serving.install renders from the pinned Knative modules
before anything is applied, so a new Knative version that changes the shape of its config
fails here, by name, and not as a node that never gets Ready:
- every component Deployment runs our local image, never pulled, and nothing `ko://` is left;
- the queue-proxy image and the test durations are set in their ConfigMaps, and the
  tag-resolution skip list still holds `dev.local`, the registry of the function's image;
- the CRDs a Revision needs (serving's, the ServerlessService, the caching Image) are there,
  the HPA files are not, and the webhook configurations come after everything they check.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from testbed.platforms.serving import install, service
from testbed.tools import require


@pytest.fixture(scope="module")
def rendered() -> tuple[list[dict], list[dict]]:
    require(Path("/usr/local/go/bin/go").exists() or shutil.which("go") is not None, "a Go toolchain")
    return install.render(install.TEST_AUTOSCALER)


def configmap(docs: list[dict], name: str) -> dict:
    (found,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == name]
    return found["data"]


def test_deployments_run_local_images(rendered):
    """The four Deployments, each on its own local image with imagePullPolicy Never."""
    _, rest = rendered
    deployments = {d["metadata"]["name"]: d for d in rest if d["kind"] == "Deployment"}
    assert sorted(deployments) == sorted(install.DEPLOYMENTS)
    for name, doc in deployments.items():
        (container,) = doc["spec"]["template"]["spec"]["containers"]
        assert (container["image"], container["imagePullPolicy"]) == (install.image(name), "Never")
    assert "ko://" not in repr(rendered)


def test_configmaps_carry_the_nodes_settings(rendered):
    """queue-sidecar-image is ours, the test durations are set, dev.local is skipped."""
    _, rest = rendered
    deployment = configmap(rest, "config-deployment")
    assert deployment["queue-sidecar-image"] == install.image("queue")
    # Knative's documented default (its _example block), which the node leaves unset.
    (skipped,) = re.findall(r'^\s*registries-skipping-tag-resolving: "([^"]*)"', deployment["_example"], re.M)
    assert "registries-skipping-tag-resolving" not in deployment
    assert service.IMAGE.split("/")[0] in skipped.split(",")
    autoscaler = configmap(rest, "config-autoscaler")
    assert {k: autoscaler[k] for k in install.TEST_AUTOSCALER} == install.TEST_AUTOSCALER
    # Keys this Knative documents (its _example block): a renamed key would set nothing.
    documented = set(re.findall(r"^\s*([a-z0-9-]+):", autoscaler["_example"], re.M))
    assert set(install.TEST_AUTOSCALER) <= documented, set(install.TEST_AUTOSCALER) - documented


def test_crds_present_hpa_absent_webhooks_last(rendered):
    crds, rest = rendered
    names = {c["metadata"]["name"] for c in crds}
    assert {
        "revisions.serving.knative.dev",
        "serverlessservices.networking.internal.knative.dev",
        "images.caching.internal.knative.dev",
        "podautoscalers.autoscaling.internal.knative.dev",
    } <= names
    kinds = [d["kind"] for d in rest]
    assert "HorizontalPodAutoscaler" not in kinds and "PodDisruptionBudget" not in kinds
    webhooks = [i for i, k in enumerate(kinds) if k.endswith("WebhookConfiguration")]
    assert webhooks and webhooks == list(range(len(kinds) - len(webhooks), len(kinds)))
