"""The shipped manifests as a user's tools see them: kustomize overlays rendered by kubectl.

Tests read what `kubectl kustomize` (and so `kubectl apply -k`) produces, never the source
files, so that a patch that silently misses its target, or a replacement that turns an
integer into a string, shows up.  The kubectl is the pinned 1.34.4 build in the cache (its
kustomize is the one a current cluster's users have), and Knative Serving's CRDs come
from the pinned knative.dev/serving module, OpenFaaS' Function CRD from the pinned
github.com/openfaas/faas-netes module (scripts/module-crds.sh).  All are cached outside
the clone by the Makefile.
"""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

import yaml

from testbed.gomod import pinned
from testbed.node.layout import K8S_VERSION
from testbed.paths import ROOT, cache_root

KUBERNETES_VERSION = K8S_VERSION.removeprefix("v")
# The Knative Serving whose CRDs the admission tests hold is the one the node runs.
KNATIVE_SERVING_VERSION = pinned("testbed/knative/build", "knative.dev/serving")
# github.com/openfaas/faas-netes' module version; keep equal to FAAS_NETES in the Makefile.
FAAS_NETES_VERSION = "v0.0.0-20230128105321-d45bc4d2a2b1"
OVERLAYS = {"knative": ROOT / "knative", "plain": ROOT / "deploy" / "plain"}


def kubectl() -> Path:
    """The pinned kubectl (built with the 1.34.4 control plane)."""
    return cache_root() / f"kubernetes-v{KUBERNETES_VERSION}" / "bin" / "kubectl"


def knative_crds() -> list[Path]:
    """Knative Serving's CRD files, as its pinned Go module ships them (empty if not fetched)."""
    return sorted((cache_root() / f"knative-serving-{KNATIVE_SERVING_VERSION}" / "crds").glob("*.yaml"))


def openfaas_crds() -> list[Path]:
    """OpenFaaS' CRD files (Function, Profile), as the pinned faas-netes module ships them."""
    return sorted((cache_root() / f"faas-netes-{FAAS_NETES_VERSION}" / "crds").glob("*.yaml"))


def render_dir(directory: Path) -> list[dict]:
    """`kubectl kustomize DIRECTORY`, parsed: the objects `kubectl apply -k` would send."""
    result = subprocess.run(
        [str(kubectl()), "kustomize", str(directory)], capture_output=True, text=True, timeout=60
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
