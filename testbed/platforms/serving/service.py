"""The function on Knative Serving, deployed the two ways a user does, and reached at zero.

- `kn`: the README's `kn service create` command, run by the pinned kn against the node,
  with only the image (the local build, see IMAGE) and the namespace changed, plus `--no-wait`
  (kn otherwise waits for the Service's Ready, which needs the Route's, which needs a
  networking layer this node does not have). Its namespace gets what the README says
  to create first: deploy/base (restricted namespace, ServiceAccount, RBAC) and the
  token Secret.
- kustomize: `kubectl apply -k` of the shipped knative/ overlay, wrapped by a
  kustomization in the state directory that sets what only this node knows (image,
  namespace, token Secret).

Each goes into a namespace of its own (the plain Deployment owns `cpu-alert-labeler`),
so the one ClusterRoleBinding the base names is renamed per namespace: otherwise the
last apply would re-point it and take the other install's permission away.

How a request reaches a Revision at zero, with no ingress: the Revision's public Service
(named after the Revision) points at the activator while the Revision has no pods. The
activator finds the Revision from the Knative-Serving-Namespace/-Revision headers an
ingress would add or, without them, from a Host of the form
`REVISION.NAMESPACE.svc.cluster.local` (its contextHandler), which is what a client
sends when it calls the Service by its cluster DNS name. So Alertmanager's URL is
`http://REVISION.NAMESPACE.svc.cluster.local/`; a client on the host, which has no
cluster DNS, sends the same Host header to the Service's ClusterIP.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from testbed.chain import in_node
from testbed.clusters.node import NodeError, deploy
from testbed.clusters.node.containerd import ctr
from testbed.clusters.node.images import FUNCTION_IMAGE
from testbed.clusters.node.layout import Layout
from testbed.paths import ROOT
from testbed.platforms import clis
from testbed.private import write_private

from .install import kubectl

NAME = "cpu-alert-labeler"
IMAGE = "dev.local/cpu-alert-labeler:dev"
"""The node's function image under a name Knative uses as is. Knative's controller resolves
a Revision's image tag to a digest by asking the image's registry, except for the
registries in config-deployment's registries-skipping-tag-resolving, whose default
(kind.local, ko.local, dev.local) is there for images loaded straight into a node.
`localhost/...` would not do: Knative's image-name parser (go-containerregistry) takes a
first component as a registry only if it has a dot or a port, so it reads
`localhost/cpu-alert-labeler` as a Docker Hub repository and asks index.docker.io."""
KN_NAMESPACE = "cal-kn"
KUSTOMIZE_NAMESPACE = "cal-kustomize"
BASE = ROOT / "deploy" / "base"
OVERLAY = ROOT / "knative"


def _wrapper(layout: Layout, namespace: str, source: Path, image: bool) -> Path:
    """A kustomization over `source` for this node: namespace, token Secret, renamed binding."""
    folder = layout.state / "knative" / namespace
    folder.mkdir(parents=True, exist_ok=True)
    write_private(folder / "token", deploy.webhook_token(layout))
    doc: dict = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": namespace,
        "resources": [os.path.relpath(source, folder)],
        "patches": [
            {
                "target": {"kind": "ClusterRoleBinding", "name": NAME},
                "patch": json.dumps(
                    [{"op": "replace", "path": "/metadata/name", "value": f"{NAME}-{namespace}"}]
                ),
            }
        ],
        "secretGenerator": [
            {"name": f"{NAME}-token", "files": ["token"], "options": {"disableNameSuffixHash": True}}
        ],
    }
    if image:
        name, tag = IMAGE.rsplit(":", 1)
        doc["images"] = [{"name": _overlay_image_name(), "newName": name, "newTag": tag}]
    (folder / "kustomization.yaml").write_text(json.dumps(doc, indent=1))
    return folder


def _overlay_image_name() -> str:
    import yaml

    entry = yaml.safe_load((OVERLAY / "kustomization.yaml").read_text())["images"][0]
    return entry.get("newName", entry["name"])


def kn_argv(namespace: str = KN_NAMESPACE) -> list[str]:
    """The README's command (words after `kn`) with the local image and `namespace`."""
    argv = clis.readme_kn_command()[1:]
    for flag, value in (("--image", IMAGE), ("-n", namespace)):
        argv[argv.index(flag) + 1] = value
    return [*argv, "--no-wait"]


def tag_image(layout: Layout) -> None:
    """IMAGE as a second name of the node's function image in containerd."""
    ctr(layout, "images", "tag", "--force", FUNCTION_IMAGE, IMAGE)


def kn(layout: Layout, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The pinned kn against the node, with no user config of the caller's."""
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "KN_"))}
        env.update(HOME=home, KUBECONFIG=str(layout.admin_kubeconfig))
        return subprocess.run(
            [str(clis.kn()), *argv], capture_output=True, text=True, env=env, timeout=timeout
        )


def exists(layout: Layout, namespace: str) -> bool:
    res = kubectl(layout, "-n", namespace, "get", "ksvc", NAME, check=False)
    return res.returncode == 0


def deploy_kn(layout: Layout, log=print) -> None:
    """Namespace, RBAC and Secret from deploy/base, then the README's kn command."""
    tag_image(layout)
    kubectl(layout, "apply", "-k", str(_wrapper(layout, KN_NAMESPACE, BASE, image=False)))
    if exists(layout, KN_NAMESPACE):
        log(f"kn service {NAME} already in {KN_NAMESPACE}: reusing it")
        return
    res = kn(layout, *kn_argv())
    if res.returncode != 0:
        raise NodeError(f"kn service create: {res.stderr.strip() or res.stdout.strip()}")
    log(res.stdout.strip())


def deploy_kustomize(layout: Layout) -> None:
    tag_image(layout)
    kubectl(layout, "apply", "-k", str(_wrapper(layout, KUSTOMIZE_NAMESPACE, OVERLAY, image=True)))


def revision(layout: Layout, namespace: str, timeout: float = 180) -> dict:
    """The Service's latest Revision once it is Ready (its pod up and serving)."""
    deadline = time.monotonic() + timeout
    name = ""
    while time.monotonic() < deadline:
        res = kubectl(
            layout,
            "-n",
            namespace,
            "get",
            "configuration",
            NAME,
            "-o",
            "jsonpath={.status.latestCreatedRevisionName}",
            check=False,
        )
        name = res.stdout.strip()
        if name:
            break
        time.sleep(0.5)
    if not name:
        raise NodeError(f"no Revision for {namespace}/{NAME} after {timeout:.0f}s")
    left = max(1, int(deadline - time.monotonic()))
    res = kubectl(
        layout,
        "-n",
        namespace,
        "wait",
        "--for=condition=Ready",
        f"revision/{name}",
        f"--timeout={left}s",
        check=False,
        timeout=left + 20,
    )
    doc = json.loads(kubectl(layout, "-n", namespace, "get", "revision", name, "-o", "json").stdout)
    if res.returncode != 0:
        raise NodeError(f"Revision {namespace}/{name} not Ready: {json.dumps(doc.get('status', {}))[:1500]}")
    return doc


def public_service_ip(layout: Layout, namespace: str, revision_name: str) -> str:
    return kubectl(
        layout, "-n", namespace, "get", "service", revision_name, "-o", "jsonpath={.spec.clusterIP}"
    ).stdout.strip()


def host(layout: Layout, namespace: str, revision_name: str) -> str:
    """The Revision's public Service's cluster DNS name: the Host the activator routes by."""
    return f"{revision_name}.{namespace}.svc.{layout.cluster_domain}"


def replicas(layout: Layout, namespace: str, revision_name: str) -> int:
    """Pods of the Revision's Deployment that exist (ready or not)."""
    res = kubectl(
        layout,
        "-n",
        namespace,
        "get",
        "deployment",
        f"{revision_name}-deployment",
        "-o",
        "jsonpath={.status.replicas}",
        check=False,
    )
    return int(res.stdout.strip() or 0)


def revision_webhook(layout: Layout, namespace: str, revision_name: str) -> in_node.Webhook:
    """The node's Alertmanager (a pod, resolving cluster names) aimed at the Revision's public
    Service by its name, which the activator routes by."""
    return in_node.Webhook(
        f"http://{host(layout, namespace, revision_name)}/",
        deploy.webhook_token(layout),  # the same token as the Knative namespaces' Secrets
    )


def aimed_at_a_revision(layout: Layout) -> bool:
    """The node's Alertmanager delivers to a Revision. Its re-sends of firing alerts (every
    15 s at the test pace) keep that Revision awake."""
    url = in_node.aimed_at(layout)
    return url is not None and any(
        f".{ns}.svc.{layout.cluster_domain}/" in url for ns in (KN_NAMESPACE, KUSTOMIZE_NAMESPACE)
    )
