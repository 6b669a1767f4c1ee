"""We test these aspects: the README's `kn service create` command, run offline by the pinned
kn (`--target FILE`: kn writes the Service it would send), makes the Knative Service the
overlay renders, compared field by field after a normalisation that keeps every field either
side sets: the image, port, every setting, resources, the probe, the ServiceAccount, the
concurrency, timeout and scale annotations, the cluster-local label, each mount's path, source
and read-only flag, and the security context.  What kn v0.40 cannot express is listed in
KN_CANNOT and left out by name, nothing else: a new overlay field kn does not carry fails here.
"""

from __future__ import annotations

import copy

import pytest

from testbed.clusters.node.layout import pinned_kubectl
from testbed.platforms import clis, manifests
from testbed.platforms.manifests import find
from testbed.tools import require

# The overlay's fields kn v0.40 has no flag for.  `--user` sets runAsUser, but kn applies
# `--security-context strict` afterwards and that REPLACES the container's security
# context (kn's UpdateSecurityContext), so the two cannot be combined; the image's
# `USER 10001:10001` gives the same user.  A secret mount's `items` is not a kn option:
# kn mounts every key of the Secret, which holds only `token`.  kn leaves the container
# unnamed (Knative names it).
KN_CANNOT = {
    "container.name",
    "securityContext.readOnlyRootFilesystem",
    "securityContext.runAsUser",
    "securityContext.runAsGroup",
    "volume.secret.items",
}
# Annotations kn adds for its own bookkeeping, not part of the Service's behaviour.
KN_BOOKKEEPING = "client.knative.dev/"


def normalise(service: dict) -> dict:
    """The Service's meaning, in a form where two ways of writing it compare equal: volumes by
    mount path instead of by (generated) name, env as a mapping, kn's own annotations and the
    KN_CANNOT fields dropped."""
    service = copy.deepcopy(service)
    template = service["spec"]["template"]
    spec = template["spec"]
    (container,) = spec.pop("containers")
    volumes = {v.pop("name"): v for v in spec.pop("volumes", [])}
    mounts = {}
    for mount in container.pop("volumeMounts", []):
        volume = volumes.pop(mount["name"])
        volume.get("secret", {}).pop("items", None)
        mounts[mount["mountPath"]] = {"volume": volume, "readOnly": mount.get("readOnly", False)}
    assert not volumes, f"volumes nothing mounts: {sorted(volumes)}"
    container.pop("name", None)
    for field in ("readOnlyRootFilesystem", "runAsUser", "runAsGroup"):
        container.get("securityContext", {}).pop(field, None)
    container["env"] = {e["name"]: e["value"] for e in container.get("env", [])}
    annotations = {k: v for k, v in template.get("metadata", {}).get("annotations", {}).items()
                   if not k.startswith(KN_BOOKKEEPING)}
    metadata = service["metadata"]
    return {
        "apiVersion": service["apiVersion"], "kind": service["kind"],
        "name": metadata["name"], "namespace": metadata["namespace"],
        "labels": metadata.get("labels", {}),
        "annotations": {k: v for k, v in metadata.get("annotations", {}).items() if not k.startswith(KN_BOOKKEEPING)},
        "template.annotations": annotations, "template.labels": template.get("metadata", {}).get("labels", {}),
        "pod": spec, "container": container, "mounts": mounts,
    }


@pytest.fixture(scope="module")
def kn_made(tmp_path_factory) -> dict:
    require(clis.kn().exists(), str(clis.kn()))
    argv = clis.readme_kn_command()
    assert argv[:4] == ["kn", "service", "create", "cpu-alert-labeler"]
    return clis.kn_service(tmp_path_factory.mktemp("kn"), argv[1:])


@pytest.fixture(scope="module")
def overlay() -> dict:
    require(pinned_kubectl().exists(), str(pinned_kubectl()))
    return find(manifests.render("knative"), "Service", "serving.knative.dev/v1")


def test_kn_makes_the_overlays_service(kn_made, overlay):
    """Field by field, the README's kn command and the overlay say the same."""
    made, wanted = normalise(kn_made), normalise(overlay)
    assert {k: made[k] for k in made if made[k] != wanted[k]} == {k: wanted[k] for k in wanted if made[k] != wanted[k]}


def test_what_kn_cannot_express_is_really_in_the_overlay(overlay):
    """KN_CANNOT names fields the overlay sets (so the list is not stale cover)."""
    (container,) = overlay["spec"]["template"]["spec"]["containers"]
    context = container["securityContext"]
    secret = next(v["secret"] for v in overlay["spec"]["template"]["spec"]["volumes"] if "secret" in v)
    present = {"container.name": "name" in container, "volume.secret.items": "items" in secret}
    present |= {f"securityContext.{f}": f in context for f in ("readOnlyRootFilesystem", "runAsUser", "runAsGroup")}
    assert set(present) == KN_CANNOT and all(present.values()), present


def test_normalisation_sees_a_difference(kn_made, overlay):
    """Control: a changed setting, mount option or scale bound makes the comparison fail."""
    for change in (
        lambda s: s["spec"]["template"]["spec"]["containers"][0]["env"][0].update(value="other"),
        lambda s: s["spec"]["template"]["metadata"]["annotations"].update({"autoscaling.knative.dev/max-scale": "6"}),
        lambda s: s["spec"]["template"]["spec"]["volumes"][0].update(emptyDir={}),
        lambda s: s["spec"]["template"]["spec"]["containers"][0]["securityContext"].pop("seccompProfile"),
    ):
        changed = copy.deepcopy(overlay)
        change(changed)
        assert normalise(changed) != normalise(kn_made)
