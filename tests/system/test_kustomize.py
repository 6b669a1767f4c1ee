"""We test these aspects: both overlays, rendered by the pinned kubectl's kustomize, carry the
function's pod from its one definition (deploy/pod/): the Knative Service's and the
Deployment's pod specs are the same but for the fields that belong to each kind; the pod
concurrency is THREADS everywhere Knative needs it (as an integer and as a string); Knative's
request timeout lies between the function's deadline and Alertmanager's notify timeout;
the plain overlay's Service reaches the Deployment's pods on the container's port; the
namespace is restricted; and a user's overlay sets image and namespace the kustomize way
(`images:`, `namespace:`), reaching every object that names them.
"""

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.clusters.node.layout import pinned_kubectl
from testbed.platforms import manifests
from testbed.platforms.manifests import find
from testbed.tools import require

# Alertmanager's notify context is max(group_interval, 10 s) (dispatch.go): the floor.
ALERTMANAGER_MIN_NOTIFY_TIMEOUT = 10
KNATIVE_ONLY = {"containerConcurrency", "timeoutSeconds"}
DEPLOYMENT_ONLY = {"automountServiceAccountToken"}


@pytest.fixture(scope="module", autouse=True)
def _kubectl() -> None:
    require(pinned_kubectl().exists(), str(pinned_kubectl()))


def pod_spec(objects: list[dict], kind: str, api_version: str) -> dict:
    return find(objects, kind, api_version)["spec"]["template"]["spec"]


def env(spec: dict) -> dict[str, str]:
    (container,) = spec["containers"]
    return {item["name"]: item["value"] for item in container["env"]}


def test_both_overlays_render_the_same_pod():
    """The Knative Service and the Deployment share every pod field but their own kind's."""
    knative = pod_spec(manifests.render("knative"), "Service", "serving.knative.dev/v1")
    plain = pod_spec(manifests.render("plain"), "Deployment", "apps/v1")
    assert KNATIVE_ONLY <= set(knative) and DEPLOYMENT_ONLY <= set(plain)
    assert {k: v for k, v in knative.items() if k not in KNATIVE_ONLY} == \
        {k: v for k, v in plain.items() if k not in DEPLOYMENT_ONLY}


@pytest.mark.parametrize("overlay, kinds", [
    ("knative", ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service"]),
    ("plain", ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service", "Deployment"]),
])
def test_overlay_holds_what_the_readme_says(overlay, kinds):
    """Each overlay creates the base's four objects and its workload, all in one namespace."""
    objects = manifests.render(overlay)
    assert sorted(o["kind"] for o in objects) == sorted(kinds)
    namespace = find(objects, "Namespace")["metadata"]["name"]
    assert namespace == "cpu-alert-labeler"
    namespaced = [o for o in objects if not o["kind"].startswith(("Namespace", "Cluster"))]
    assert {o["metadata"]["namespace"] for o in namespaced} == {namespace}


@pytest.mark.parametrize("overlay", sorted(manifests.OVERLAYS))
def test_namespace_enforces_the_restricted_profile(overlay):
    """Pod Security admission enforces `restricted` (latest) in the function's namespace."""
    labels = find(manifests.render(overlay), "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "latest"


def test_knative_concurrency_is_the_threads_serving():
    """containerConcurrency (an integer) and the autoscaling target (a string) equal THREADS."""
    service = find(manifests.render("knative"), "Service", "serving.knative.dev/v1")
    template = service["spec"]["template"]
    threads = env(template["spec"])["THREADS"]
    assert isinstance(template["spec"]["containerConcurrency"], int)
    assert template["spec"]["containerConcurrency"] == int(threads) > 0
    assert template["metadata"]["annotations"]["autoscaling.knative.dev/target"] == threads


def test_knative_timeout_sits_between_the_deadline_and_alertmanager():
    """The function answers (503 at worst) before Knative cuts it, and Knative before Alertmanager."""
    spec = pod_spec(manifests.render("knative"), "Service", "serving.knative.dev/v1")
    deadline = float(env(spec)["REQUEST_DEADLINE_SECONDS"])
    assert deadline < spec["timeoutSeconds"] < ALERTMANAGER_MIN_NOTIFY_TIMEOUT


def test_plain_service_reaches_the_deployment_on_port_80():
    """The ClusterIP Service selects the pod template's labels and targets the container's port."""
    objects = manifests.render("plain")
    deployment, service = find(objects, "Deployment"), find(objects, "Service", "v1")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["type"] == "ClusterIP"
    (port,) = service["spec"]["ports"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert port["port"] == 80
    assert port["targetPort"] in {p["name"] for p in container["ports"]}


@pytest.fixture
def user_overlay() -> Iterator[Path]:
    """A user's own overlay over deploy/plain, inside the tree (kustomize refuses absolute paths)."""
    directory = manifests.ROOT / ".cache" / f"overlay-{uuid.uuid4().hex[:8]}"
    directory.mkdir(parents=True)
    yield directory
    shutil.rmtree(directory)


@pytest.mark.parametrize("overlay", sorted(manifests.OVERLAYS))
def test_user_overlay_sets_image_and_namespace(user_overlay, overlay):
    """`images:` and `namespace:` in an overlay reach the container, every object and the binding."""
    target = manifests.OVERLAYS[overlay].relative_to(manifests.ROOT)
    (user_overlay / "kustomization.yaml").write_text(
        f"resources: [../../{target.as_posix()}]\n"
        "namespace: monitoring-fns\n"
        "images:\n"
        "  - name: ghcr.io/example/cpu-alert-labeler\n"
        "    newName: localhost/cpu-alert-labeler\n"
        "    newTag: dev\n")
    objects = manifests.render_dir(user_overlay)
    workload = next(o for o in objects if o["kind"] in ("Deployment", "Service")
                    and "template" in o.get("spec", {}))
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "localhost/cpu-alert-labeler:dev"
    assert find(objects, "Namespace")["metadata"]["name"] == "monitoring-fns"
    assert find(objects, "ClusterRoleBinding")["subjects"][0]["namespace"] == "monitoring-fns"
    namespaced = [o for o in objects if not o["kind"].startswith(("Namespace", "Cluster"))]
    assert {o["metadata"]["namespace"] for o in namespaced} == {"monitoring-fns"}
