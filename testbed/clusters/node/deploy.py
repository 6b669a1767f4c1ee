"""The function on the node, from what ships: `kubectl apply -k` of deploy/plain (the
deploy helper's kustomize overlay, the one source of the pod spec), with the image set
the kustomize way, the webhook token Secret, and knative/hardening's spec guard.

A kustomization generated in the state directory layers what only a test node knows on
top of the shipped overlay: the local image, and the Secret `cpu-alert-labeler-token`
(key `token`, which the shipped pod spec mounts for WEBHOOK_TOKEN_FILE) from a
generated token. Nothing else of the pod spec is changed here.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from testbed.private import write_private
from testbed.process import run

from .images import FUNCTION_IMAGE, ROOT
from .layout import Layout

NAMESPACE = "cpu-alert-labeler"
NAME = "cpu-alert-labeler"
OVERLAY = ROOT / "deploy" / "plain"
GUARD = ROOT / "knative" / "hardening" / "pod-spec-guard.yaml"


def kubectl(layout: Layout, *args: str, check: bool = True, timeout: float = 180, **kw):
    return run(
        layout.kubectl(), "--kubeconfig", layout.admin_kubeconfig, *args, check=check, timeout=timeout, **kw
    )


def available(layout: Layout, namespace: str, names: tuple[str, ...]) -> bool:
    """Each named Deployment of `namespace` has an available replica (an add-on is up)."""
    res = kubectl(layout, "-n", namespace, "get", "deployments", "-o", "json", check=False)
    if res.returncode != 0:
        return False
    found = {
        d["metadata"]["name"]: d["status"].get("availableReplicas", 0)
        for d in json.loads(res.stdout)["items"]
    }
    return all(found.get(name, 0) > 0 for name in names)


def established(layout: Layout, crds: list[str]) -> None:
    """Wait until each named CRD is served (kubectl wait, up to 60 s)."""
    kubectl(
        layout,
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        *(f"crd/{n}" for n in crds),
        timeout=90,
    )


def _shipped_image_name() -> str:
    """The image name the shipped overlay renders, which our `images:` entry rewrites."""
    import yaml  # the venv has PyYAML (a dependency of the kubernetes client)

    doc = yaml.safe_load((OVERLAY / "kustomization.yaml").read_text())
    entry = doc["images"][0]
    return entry.get("newName", entry["name"])


def kustomization(layout: Layout) -> Path:
    """Write the node's kustomization (and its token, once) and return its folder."""
    folder = layout.state / "deploy"
    folder.mkdir(parents=True, exist_ok=True)
    token = folder / "token"
    if not token.exists():
        write_private(token, secrets.token_hex(32))
    name, tag = FUNCTION_IMAGE.rsplit(":", 1)
    doc = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        # Relative: kustomize refuses an absolute path as a resource.
        "resources": [os.path.relpath(OVERLAY, folder)],
        "images": [{"name": _shipped_image_name(), "newName": name, "newTag": tag}],
        "secretGenerator": [
            {
                "name": f"{NAME}-token",
                "namespace": NAMESPACE,
                "files": ["token"],
                "options": {"disableNameSuffixHash": True},
            }
        ],
    }
    (folder / "kustomization.yaml").write_text(json.dumps(doc, indent=1))
    return folder


def webhook_token(layout: Layout) -> str:
    return (layout.state / "deploy" / "token").read_text()


def apply(layout: Layout) -> None:
    kubectl(layout, "apply", "-k", str(kustomization(layout)))
    kubectl(layout, "apply", "-f", str(GUARD))
    kubectl(layout, "-n", NAMESPACE, "rollout", "status", f"deployment/{NAME}", "--timeout=180s", timeout=200)


def service_ip(layout: Layout) -> str:
    return kubectl(
        layout, "-n", NAMESPACE, "get", "service", NAME, "-o", "jsonpath={.spec.clusterIP}"
    ).stdout.strip()
