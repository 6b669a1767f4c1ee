"""Knative Serving on the node, from its pinned Go modules: images, manifests, install.

The release YAML a Knative user applies (serving-core.yaml) is made from three modules'
config/ folders: knative.dev/serving's config/core (namespace, RBAC, CRDs, ConfigMaps,
the four Deployments and their Services, the webhook configurations), knative.dev/
networking's config (the ServerlessService, Ingress, Certificate and ClusterDomainClaim
CRDs, config-network) and knative.dev/caching's Image CRD. They are read here from the Go
module cache, at the versions testbed/pins/knative-serving/go.mod pins (the same module graph the
components are built from), and rendered in code at install time; nothing third-party is
copied into the repository. What rendering changes, each for a reason given where it is
done: `ko://` image references become the local images, and a few ConfigMap keys.

Left out: the HorizontalPodAutoscalers and PodDisruptionBudgets of deployments/*-hpa.yaml
(the node has no metrics API for an HPA to read, and one node cannot honour a budget),
and any networking layer (Kourier, Contour and Istio all need Envoy, which no reachable
registry carries): no KIngress is ever reconciled, so Routes stay not Ready. A Revision
does not need one: its public Service points at the activator while it has no pods.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
from functools import cache
from pathlib import Path

import yaml

from testbed.clusters.node import NodeError, binimage, deploy, dns
from testbed.clusters.node.deploy import kubectl
from testbed.clusters.node.layout import Layout
from testbed.paths import ROOT, cache_root
from testbed.pins import pinned

BUILD = ROOT / "testbed" / "pins" / "knative-serving"
NAMESPACE = "knative-serving"
COMPONENTS = ("controller", "webhook", "autoscaler", "activator", "queue")
"""cmd/<name> of knative.dev/serving; queue is the queue-proxy sidecar, not a Deployment."""
DEPLOYMENTS = ("activator", "autoscaler", "controller", "webhook")
MARKER = "cpu-alert-labeler/rendered"
"""Annotation on the knative-serving namespace: the hash of what was last applied."""

DEFAULT_AUTOSCALER: dict[str, str | None] = {
    # Knative's own defaults for the keys below (its config-autoscaler _example block).
    "stable-window": "60s",
    "scale-to-zero-grace-period": "30s",
    "scale-to-zero-pod-retention-period": "0s",
}
TEST_AUTOSCALER = {
    # Test-only durations (the defaults are 60s, 30s and 0s): a Revision idle for the
    # stable window is marked inactive and, after the grace period with the activator in
    # its path, scaled to zero. 6s is the shortest stable window Knative accepts.
    "stable-window": "6s",
    "scale-to-zero-grace-period": "6s",
    "scale-to-zero-pod-retention-period": "0s",
}


VERSION = pinned("testbed/pins/knative-serving", "knative.dev/serving")
"""knative.dev/serving v0.47.0 is Knative Serving 1.20 (needs Kubernetes 1.32+)."""


def binaries() -> Path:
    """Where testbed/pins/build-knative.sh (`make knative`) puts the components."""
    return cache_root() / f"knative-serving-{VERSION}" / "bin"


def image(component: str) -> str:
    return f"localhost/knative-{component}:{VERSION}"


def missing() -> list[str]:
    return [str(binaries() / c) for c in COMPONENTS if not (binaries() / c).exists()]


@cache
def module_dirs() -> dict[str, Path]:
    """Module path -> its unpacked folder, for the three modules whose config/ is read.
    `go mod download` in the build module takes the versions its go.mod pins and checks
    them against its go.sum."""
    modules = ["knative.dev/serving", "knative.dev/networking", "knative.dev/caching"]
    res = subprocess.run(
        ["go", "mod", "download", "-json", *modules],
        cwd=BUILD,
        capture_output=True,
        text=True,
        timeout=300,
        env=_go_env(),
    )
    if res.returncode != 0:
        raise NodeError(f"go mod download {' '.join(modules)}: {res.stderr[-2000:]}")
    found = {}
    decoder = json.JSONDecoder()
    text = res.stdout.strip()
    while text:
        info, end = decoder.raw_decode(text)
        found[info["Path"]] = Path(info["Dir"])
        text = text[end:].strip()
    return found


def _go_env() -> dict[str, str]:
    go_bin = "/usr/local/go/bin"
    return {
        **os.environ,
        "PATH": f"{go_bin}:{os.environ.get('PATH', '')}",
        "GOFLAGS": "-mod=readonly",
        "GOTOOLCHAIN": "local",
    }


def _source_files() -> list[Path]:
    dirs = module_dirs()
    core = dirs["knative.dev/serving"] / "config" / "core"
    files = sorted(core.rglob("*.yaml"))
    files = [f for f in files if not f.name.endswith("-hpa.yaml")]
    files += sorted((dirs["knative.dev/networking"] / "config").glob("*.yaml"))
    files.append(dirs["knative.dev/caching"] / "config" / "image.yaml")
    return files


def _local_image(reference: str) -> str:
    """`ko://knative.dev/serving/cmd/NAME` -> our image of NAME."""
    prefix = "ko://knative.dev/serving/cmd/"
    if not reference.startswith(prefix):
        return reference
    return image(reference.removeprefix(prefix))


def _configure(doc: dict, autoscaler: dict[str, str]) -> None:
    """The ConfigMap keys this node needs set, each with its reason."""
    name = doc["metadata"]["name"]
    data = doc.setdefault("data", {})
    if name == "config-deployment":
        # Used as given (only a Revision's own containers have their tags resolved, and the
        # function's image is named so that Knative skips that: testbed.platforms.serving.service).
        data["queue-sidecar-image"] = image("queue")
    elif name == "config-autoscaler":
        data.update(autoscaler)
    # config-features' secure-pod-defaults stays "disabled" (its default): the function's
    # own pod spec and the queue-proxy's built-in security context already meet
    # `restricted`, and the tests prove it in a namespace that enforces it.


def _render_doc(doc: dict, autoscaler: dict[str, str]) -> dict:
    doc = copy.deepcopy(doc)
    kind = doc.get("kind")
    if kind == "Deployment":
        for container in doc["spec"]["template"]["spec"]["containers"]:
            container["image"] = _local_image(container["image"])
            # Built here and imported into containerd: never pulled.
            container["imagePullPolicy"] = "Never"
    elif kind == "Image":  # caching.internal.knative.dev: a pre-pull hint for the queue image
        doc["spec"]["image"] = _local_image(doc["spec"]["image"])
    elif kind == "ConfigMap":
        _configure(doc, autoscaler)
    return doc


def render(autoscaler: dict[str, str] | None = None) -> tuple[list[dict], list[dict]]:
    """(CRDs, everything else), ready to apply."""
    docs = []
    for path in _source_files():
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    rendered = [_render_doc(d, autoscaler or {}) for d in docs]
    crds = [d for d in rendered if d["kind"] == "CustomResourceDefinition"]
    # Webhook configurations last: until the webhook runs, they would refuse the
    # ConfigMaps they validate (the release YAML is ordered so too).
    rest = sorted(
        (d for d in rendered if d["kind"] != "CustomResourceDefinition"),
        key=lambda d: d["kind"].endswith("WebhookConfiguration"),
    )
    leftover = [d["metadata"]["name"] for d in rest if "ko://" in json.dumps(d)]
    if leftover:
        raise NodeError(f"unrendered ko:// images in {leftover}")
    return crds, rest


def build_images(layout: Layout) -> None:
    """One image per component, in podman and containerd (unchanged ones are kept)."""
    gone = missing()
    if gone:
        raise NodeError("Knative Serving not built (run `make knative`): " + ", ".join(gone))
    for component in COMPONENTS:
        binimage.ensure(layout, image(component), binaries() / component)


def autoscaler_settings(layout: Layout) -> dict[str, str | None] | None:
    """The durations config-autoscaler holds now for the keys TEST_AUTOSCALER sets (None:
    Knative not installed yet), so a test or the bench can put back what it changed."""
    res = kubectl(layout, "-n", NAMESPACE, "get", "configmap", "config-autoscaler", "-o", "json", check=False)
    if res.returncode != 0:
        return None
    data = json.loads(res.stdout).get("data", {})
    return {key: data.get(key) for key in TEST_AUTOSCALER}


def set_autoscaler(layout: Layout, values: dict[str, str | None]) -> None:
    """Merge `values` into config-autoscaler (None removes a key: Knative's default applies)."""
    kubectl(
        layout,
        "-n",
        NAMESPACE,
        "patch",
        "configmap",
        "config-autoscaler",
        "--type=merge",
        "-p",
        json.dumps({"data": values}),
    )


def _apply(layout: Layout, docs: list[dict]) -> None:
    # Server-side: the CRDs are too large for client-side apply's last-applied annotation.
    manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})
    kubectl(layout, "apply", "--server-side", "--force-conflicts", "-f", "-", input=manifest)


def _applied_hash(layout: Layout) -> str:
    res = kubectl(layout, "get", "namespace", NAMESPACE, "-o", "json", check=False)
    if res.returncode != 0:
        return ""
    return json.loads(res.stdout)["metadata"].get("annotations", {}).get(MARKER, "")


def _owned_by_webhook(layout: Layout, doc: dict) -> bool:
    """A webhook configuration that exists already: the webhook fills in its rules and CA
    once it runs, and applying the skeleton again would blank them until it does."""
    if not doc["kind"].endswith("WebhookConfiguration"):
        return False
    return kubectl(layout, "get", doc["kind"], doc["metadata"]["name"], check=False).returncode == 0


def ready(layout: Layout) -> bool:
    """Every Knative Deployment has an available replica."""
    return deploy.available(layout, NAMESPACE, DEPLOYMENTS)


def install(layout: Layout, autoscaler: dict[str, str] | None = None, log=print) -> None:
    """Knative Serving up on the node (cluster DNS included); a no-op when what is running
    was rendered the same way. Waits until the four Deployments are available."""
    dns.ensure(layout, log)
    build_images(layout)
    crds, rest = render(autoscaler)
    digest = hashlib.sha256(json.dumps([crds, rest], sort_keys=True).encode()).hexdigest()[:16]
    if _applied_hash(layout) != digest or not ready(layout):
        _apply(layout, crds)
        deploy.established(layout, [c["metadata"]["name"] for c in crds])
        _apply(layout, [d for d in rest if not _owned_by_webhook(layout, d)])
        kubectl(layout, "annotate", "--overwrite", "namespace", NAMESPACE, f"{MARKER}={digest}")
    for name in DEPLOYMENTS:
        kubectl(
            layout, "-n", NAMESPACE, "rollout", "status", f"deployment/{name}", "--timeout=180s", timeout=200
        )
    log(f"Knative Serving {VERSION} ready (no networking layer: Routes stay not Ready)")
