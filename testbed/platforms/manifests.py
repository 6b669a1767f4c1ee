"""The shipped manifests as a user's tools see them: kustomize overlays rendered by kubectl.

Tests read what `kubectl kustomize` (and so `kubectl apply -k`) produces, never the source
files, so that a patch that silently misses its target, or a replacement that turns an
integer into a string, shows up.  The kubectl is the pinned 1.34 build in the cache
(`pinned_kubectl`; its kustomize is the one a current cluster's users have), and Knative Serving's CRDs come
from the pinned knative.dev/serving module, OpenFaaS' Function CRD from the pinned
github.com/openfaas/faas-netes module (testbed/pins/module-crds.sh).  All are cached outside
the clone by the Makefile.
"""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path

import yaml

from testbed.clusters.node.layout import K8S_VERSION, pinned_kubectl
from testbed.paths import ROOT, cache_root
from testbed.pins import pinned

KUBERNETES_VERSION = K8S_VERSION.removeprefix("v")
# The Knative Serving whose CRDs the admission tests hold is the one the node runs.
KNATIVE_SERVING_VERSION = pinned("testbed/pins/knative-serving", "knative.dev/serving")
# github.com/openfaas/faas-netes' module version, the pin the Makefile's FAAS_NETES reads too.
FAAS_NETES_VERSION = pinned("testbed/pins/faas-netes", "github.com/openfaas/faas-netes")
OVERLAYS = {"knative": ROOT / "knative", "plain": ROOT / "deploy" / "plain"}


def knative_crds() -> list[Path]:
    """Knative Serving's CRD files, as its pinned Go module ships them (empty if not fetched)."""
    return sorted((cache_root() / f"knative-serving-{KNATIVE_SERVING_VERSION}" / "crds").glob("*.yaml"))


def openfaas_crds() -> list[Path]:
    """OpenFaaS' CRD files (Function, Profile), as the pinned faas-netes module ships them."""
    return sorted((cache_root() / f"faas-netes-{FAAS_NETES_VERSION}" / "crds").glob("*.yaml"))


def render_dir(directory: Path) -> list[dict]:
    """`kubectl kustomize DIRECTORY`, parsed: the objects `kubectl apply -k` would send."""
    result = subprocess.run(
        [str(pinned_kubectl()), "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {directory}: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


@cache
def _rendered(name: str) -> str:
    return yaml.safe_dump_all(render_dir(OVERLAYS[name]))


def render(name: str) -> list[dict]:
    """A shipped overlay ("knative" or "plain") rendered; a fresh copy each call, rendered once."""
    return list(yaml.safe_load_all(_rendered(name)))


def find(objects: list[dict], kind: str, api_version: str | None = None) -> dict:
    """The one object of `kind` (and `api_version`, when given) among `objects`."""
    found = [
        o
        for o in objects
        if o.get("kind") == kind and (api_version is None or o.get("apiVersion") == api_version)
    ]
    if len(found) != 1:
        raise LookupError(f"expected one {kind} {api_version or ''}, found {len(found)}")
    return found[0]


# The queue-proxy's ports, as Knative Serving (the pinned knative.dev/serving,
# pkg/reconciler/revision/resources/queue.go) adds them beside the user's container.
KNATIVE_QUEUE_PORTS = (
    ("queue-port", 8012),
    ("https-port", 8112),
    ("http-queueadm", 8022),
    ("http-autometric", 9090),
    ("http-usermetric", 9091),
)

# Its securityContext (queue.go's queueSecurityContext, seccomp as the restricted profile asks).
KNATIVE_QUEUE_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def controller_pod(workload: dict, name: str) -> dict:
    """The Pod the workload's controller would make, named `name` (nothing runs here to make
    it): a Deployment's is its template; a Knative Service's is what Knative Serving makes of
    its template (pkg/reconciler/configuration/resources/revision.go and
    revision/resources/meta.go, deploy.go, queue.go): the template's labels only, plus
    Knative's own; the user container's one port renamed `user-port`; a queue-proxy beside it."""
    template = workload["spec"]["template"]
    spec = json.loads(json.dumps(template["spec"]))
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    if workload["kind"] == "Service" and workload["apiVersion"].startswith("serving.knative.dev/"):
        service, revision = workload["metadata"]["name"], f"{workload['metadata']['name']}-00001"
        labels = {
            **labels,
            "serving.knative.dev/service": service,
            "serving.knative.dev/configuration": service,
            "serving.knative.dev/configurationGeneration": "1",
            "serving.knative.dev/revision": revision,
            **({} if "app" in labels else {"app": revision}),
        }
        (user,) = spec["containers"]
        port = (user.get("ports") or [{}])[0].get("containerPort", 8080)
        user["ports"] = [{"name": "user-port", "containerPort": port}]
        queue = {
            "name": "queue-proxy",
            "image": "queue-proxy",
            "ports": [{"name": n, "containerPort": p} for n, p in KNATIVE_QUEUE_PORTS],
            "securityContext": KNATIVE_QUEUE_SECURITY,
        }
        spec["containers"] = [user, queue]
    metadata = {"name": name, "namespace": workload["metadata"].get("namespace"), "labels": labels}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
