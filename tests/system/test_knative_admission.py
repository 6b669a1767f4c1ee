"""We test these aspects: on a Kubernetes 1.34 kube-apiserver with Knative Serving's own CRDs
installed (read from the pinned knative.dev/serving module), `kubectl apply --server-side
--validate=strict -k` accepts each overlay whole, and the API keeps every field of the
Knative Service unchanged (the schema prunes nothing); the Service the README's `kn service
create` makes (the pinned kn, offline with `--target`) is accepted and kept the same way; a field Knative's schema does not know is
refused under the same validation (so the acceptance means something).  In the overlays'
namespace, which enforces the restricted Pod Security profile, a Pod with the rendered pod
spec passes admission (server-side dry run), and removing any one of its hardening settings
gets it refused.
"""

import copy
import json
from collections.abc import Callable, Iterator

import pytest

from testbed.clusters.crds import Kubectl, crd_apiserver, not_kept, ok, refused
from testbed.platforms import clis, manifests
from testbed.platforms.manifests import find
from testbed.tools import require

NAMESPACE = "cpu-alert-labeler"
KNATIVE_ONLY = {"containerConcurrency", "timeoutSeconds"}


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory) -> Iterator[Kubectl]:
    """The pinned kubectl against a fresh 1.34 apiserver that knows Knative Serving's kinds."""
    with crd_apiserver(
        tmp_path_factory.mktemp("kube-1.34"),
        manifests.knative_crds(),
        "Knative Serving CRDs (make knative-crds)",
    ) as run:
        yield run


@pytest.mark.parametrize("overlay", sorted(manifests.OVERLAYS))
def test_overlay_is_accepted_whole_under_strict_validation(kubectl, overlay):
    """`kubectl apply -k` with strict field validation creates every object the overlay renders."""
    ok(kubectl("apply", "--server-side", "--validate=strict", "-k", str(manifests.OVERLAYS[overlay])))
    for obj in manifests.render(overlay):
        group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
        resource = f"{obj['kind'].lower()}.{group}" if group else obj["kind"].lower()
        ns = ["-n", obj["metadata"]["namespace"]] if "namespace" in obj["metadata"] else []
        ok(kubectl("get", resource, obj["metadata"]["name"], *ns))


def test_knative_service_is_kept_field_for_field(kubectl):
    """The API stores every field of the Knative Service the overlay rendered, unchanged."""
    ok(kubectl("apply", "--server-side", "--validate=strict", "-k", str(manifests.OVERLAYS["knative"])))
    rendered = find(manifests.render("knative"), "Service", "serving.knative.dev/v1")
    stored = json.loads(
        ok(kubectl("get", "services.serving.knative.dev", "cpu-alert-labeler", "-n", NAMESPACE, "-o", "json"))
    )
    assert not_kept(stored["spec"], rendered["spec"]) == []
    assert stored["metadata"]["labels"] == rendered["metadata"]["labels"]


def test_kn_service_is_accepted_and_kept(kubectl, tmp_path):
    """The Service kn makes from the README's command passes strict validation whole and is
    stored as sent."""
    require(clis.kn().exists(), str(clis.kn()))
    ok(kubectl("apply", "--server-side", "-k", str(manifests.ROOT / "deploy" / "base")))
    made = clis.kn_service(tmp_path, clis.readme_kn_command()[1:])
    made["metadata"]["name"] = "cpu-alert-labeler-kn"
    ok(kubectl("create", "--validate=strict", "-f", "-", stdin=made))
    stored = json.loads(
        ok(
            kubectl(
                "get", "services.serving.knative.dev", "cpu-alert-labeler-kn", "-n", NAMESPACE, "-o", "json"
            )
        )
    )
    assert not_kept(stored["spec"], made["spec"]) == []
    assert stored["metadata"]["labels"] == made["metadata"]["labels"]


def test_unknown_knative_field_is_refused(kubectl):
    """Positive control: strict validation against Knative's schema refuses a field it does not
    know, which the API would otherwise drop without a word."""
    service = find(manifests.render("knative"), "Service", "serving.knative.dev/v1")
    service["metadata"]["name"] = "cpu-alert-labeler-bogus"
    service["spec"]["template"]["spec"]["containers"][0]["securityContext"]["bogus"] = True
    error = refused(kubectl("create", "--dry-run=server", "--validate=strict", "-f", "-", stdin=service))
    assert 'unknown field "spec.template.spec.containers[0].securityContext.bogus"' in error
    ok(kubectl("create", "--dry-run=server", "--validate=false", "-f", "-", stdin=service))


def pod_from(overlay: str) -> dict:
    """A Pod whose spec is the overlay's pod template (less Knative's own fields)."""
    objects = manifests.render(overlay)
    workload = next(o for o in objects if "template" in o.get("spec", {}))
    spec = {k: v for k, v in workload["spec"]["template"]["spec"].items() if k not in KNATIVE_ONLY}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"restricted-probe-{overlay}", "namespace": NAMESPACE},
        "spec": spec,
    }


@pytest.mark.parametrize("overlay", sorted(manifests.OVERLAYS))
def test_pod_passes_the_restricted_profile(kubectl, overlay):
    """In the namespace enforcing `restricted`, the rendered pod spec is admitted (server-side dry run)."""
    ok(kubectl("apply", "--server-side", "-k", str(manifests.OVERLAYS[overlay])))
    labels = json.loads(ok(kubectl("get", "namespace", NAMESPACE, "-o", "json")))["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    ok(kubectl("create", "--dry-run=server", "-f", "-", stdin=pod_from(overlay)))


WEAKENINGS: dict[str, Callable[[dict], None]] = {
    "no seccompProfile": lambda ctx: ctx.pop("seccompProfile"),
    "privilege escalation allowed": lambda ctx: ctx.update(allowPrivilegeEscalation=True),
    "capabilities kept": lambda ctx: ctx.pop("capabilities"),
    "runAsNonRoot unset": lambda ctx: ctx.pop("runAsNonRoot"),
    "runs as root": lambda ctx: ctx.update(runAsUser=0),
}


@pytest.mark.parametrize("weakening", sorted(WEAKENINGS))
def test_pod_without_a_hardening_setting_is_refused(kubectl, weakening):
    """Each hardening setting is needed: without it the restricted profile refuses the pod."""
    ok(kubectl("apply", "--server-side", "-k", str(manifests.OVERLAYS["knative"])))
    pod = copy.deepcopy(pod_from("knative"))
    WEAKENINGS[weakening](pod["spec"]["containers"][0]["securityContext"])
    error = refused(kubectl("create", "--dry-run=server", "-f", "-", stdin=pod))
    assert 'violates PodSecurity "restricted:latest"' in error
