"""OpenFaaS (Community Edition) on the node, from faas-netes' own manifests at the pinned version.

faas-netes' `yaml/` folder is what its README's plain-kubectl install applies (the same
objects its chart renders by default): the two namespaces, the gateway Deployment (the
gateway and faas-netes, the provider, as two containers of one pod, faas-netes in its
default "controller" mode: the REST API, no Function CRD), its Services, faas-netes'
Roles, and the Prometheus the gateway asks for invocation counts (without one, `faas-cli
list` and `describe` fail once a function exists, and the gateway panics in its metrics
code). They are read from the Go module (the version testbed/pins/faas-netes/
go.mod pins, the module the binary is built from) and rendered in code at install time;
nothing third-party is copied into the repository. What rendering changes, each with its
reason below: the images become ours (built here from the pinned binaries and the pinned
Prometheus, never pulled), faas-netes' pull policy, the gateway's NATS settings, and the
Pod Security labels and security contexts.

Left out, each only needed for what the function does not use: NATS and the queue-worker
(asynchronous invocations, /async-function/), OpenFaaS' own Alertmanager and its alert rule
(the Community Edition's autoscaling on request rate: the function needs no more than one
pod), the NodePort Service gateway-external (the host reaches the ClusterIP), the basic-auth
plugin's Service (its Deployment is not in yaml/ either: the gateway checks basic auth
itself), and the Function CRD (only the operator mode reads it; `make openfaas-crds` has it
for the API tests).

Pod Security: `openfaas` enforces `restricted` (the gateway, faas-netes and Prometheus run
as non-root from images of one static binary, no capabilities, read-only root, seccomp
RuntimeDefault). `openfaas-fn` can only enforce `baseline`: the pods faas-netes makes
for functions carry a container securityContext with readOnlyRootFilesystem alone
(pkg/handlers/deploy.go), never allowPrivilegeEscalation=false or a capabilities drop,
which `restricted` requires, and a Profile (faas-netes' one hook into the pod spec) sets
only the pod-level securityContext. `restricted` is kept as `warn` and `audit` there.
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

from testbed.chain import builds
from testbed.clusters.node import NodeError, binimage, deploy, dns, health, probe
from testbed.clusters.node.deploy import kubectl
from testbed.clusters.node.layout import Layout
from testbed.paths import ROOT, cache_root
from testbed.pins import pinned
from testbed.private import write_private

PINS = ROOT / "testbed" / "pins"
NAMESPACE = "openfaas"
FUNCTION_NAMESPACE = "openfaas-fn"
FAAS_NETES = pinned("testbed/pins/faas-netes", "github.com/openfaas/faas-netes")
GATEWAY = pinned("testbed/pins/openfaas-gateway", "github.com/openfaas/faas/gateway")
SOURCES = (
    "namespaces.yml",
    "yaml/controller-rbac.yml",
    "yaml/gateway-dep.yml",
    "yaml/gateway-svc.yml",
    "yaml/gateway-provider-svc.yml",
    "yaml/profile-crd.yml",
    "yaml/prometheus-rbac.yml",
    "yaml/prometheus-cfg.yml",
    "yaml/prometheus-dep.yml",
    "yaml/prometheus-svc.yml",
)
"""The files of faas-netes' module that are applied (the module docstring says what is not)."""
DEPLOYMENTS = ("gateway", "prometheus")
MARKER = "cpu-alert-labeler/rendered"
USER = "admin"
"""The gateway's basic-auth user, as faas-netes' install docs create it."""


def binaries() -> dict[str, Path]:
    """The gateway and faas-netes where testbed/pins/build-openfaas.sh (`make openfaas`) puts
    them, and the pinned Prometheus (`make prometheus`) the gateway's Prometheus runs."""
    return {
        "gateway": cache_root() / f"openfaas-gateway-{GATEWAY}" / "bin" / "gateway",
        "faas-netes": cache_root() / f"faas-netes-{FAAS_NETES}" / "bin" / "faas-netes",
        "prometheus": builds.prometheus(),
    }


def image(name: str) -> str:
    tag = {"gateway": GATEWAY, "faas-netes": FAAS_NETES}.get(name, builds.PROMETHEUS_VERSION)
    return f"localhost/openfaas-{name}:{tag.rsplit('-', 1)[-1]}"


def missing() -> list[str]:
    return [str(p) for p in binaries().values() if not p.exists()]


@cache
def module_dir() -> Path:
    """faas-netes' unpacked module, checked against the go.sum of its pin."""
    res = subprocess.run(
        ["go", "mod", "download", "-json", "github.com/openfaas/faas-netes"],
        cwd=PINS / "faas-netes",
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"/usr/local/go/bin:{os.environ.get('PATH', '')}", "GOFLAGS": "-mod=mod"},
    )
    if res.returncode != 0:
        raise NodeError(f"go mod download github.com/openfaas/faas-netes: {res.stderr[-2000:]}")
    return Path(json.loads(res.stdout)["Dir"])


def _namespace(doc: dict) -> None:
    """Pod Security labels (the module docstring says why `openfaas-fn` gets baseline), and
    neither Istio's nor Linkerd's injection, which this node does not run."""
    meta = doc["metadata"]
    meta.pop("annotations", None)
    labels = {k: v for k, v in meta.get("labels", {}).items() if k != "istio-injection"}
    enforce = "restricted" if meta["name"] == NAMESPACE else "baseline"
    labels["pod-security.kubernetes.io/enforce"] = enforce
    labels["pod-security.kubernetes.io/warn"] = "restricted"
    labels["pod-security.kubernetes.io/audit"] = "restricted"
    meta["labels"] = labels


def _container(container: dict) -> None:
    name = container["name"]
    container["image"] = image(name)
    container["imagePullPolicy"] = "Never"  # built here and imported into containerd
    # Our images hold the binary at /NAME (upstream's: ./NAME in the image's WORKDIR).
    container["command"] = [f"/{name}", *container.get("command", [name])[1:]]
    # `restricted`, keeping the user upstream sets (10001 for the gateway and faas-netes).
    container["securityContext"] = {**binimage.RESTRICTED, **container.get("securityContext", {})}
    env = container.get("env", [])
    if name == "faas-netes":
        for var in env:
            if var["name"] == "image_pull_policy":
                var["value"] = "IfNotPresent"  # functions' images are imported, never pulled
    if name == "gateway":
        # NATS is left out, and a gateway given its address exits at start-up when it
        # cannot connect (CreateNATSQueue): unset, asynchronous invocations are simply off.
        container["env"] = [v for v in env if not v["name"].startswith("faas_nats_")]
    if name == "prometheus":
        # Upstream's data volume is /prometheus/data, the image's WORKDIR /prometheus; in
        # ours /prometheus is the binary, so the volume moves to /data.
        container["command"].append("--storage.tsdb.path=/data")
        for mount in container["volumeMounts"]:
            if mount["mountPath"] == "/prometheus/data":
                mount["mountPath"] = "/data"


def _render_doc(doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    if doc["kind"] == "Namespace":
        _namespace(doc)
    elif doc["kind"] == "Deployment":
        spec = doc["spec"]["template"]["spec"]
        for container in spec["containers"]:
            _container(container)
        doc["spec"]["template"]["metadata"].get("annotations", {}).pop("sidecar.istio.io/inject", None)
    elif doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "prometheus-config":
        config = yaml.safe_load(doc["data"]["prometheus.yml"])
        # OpenFaaS' Alertmanager (autoscaling) is left out, and with it its alert rule.
        config.pop("alerting", None)
        config.pop("rule_files", None)
        doc["data"] = {"prometheus.yml": yaml.safe_dump(config, sort_keys=False)}
    return doc


def _prometheus_volumes(doc: dict) -> None:
    """Only prometheus.yml is mounted (alert.rules.yml went with the Alertmanager)."""
    spec = doc["spec"]["template"]["spec"]
    for volume in spec["volumes"]:
        if volume["name"] == "prometheus-config":
            volume["configMap"]["items"] = [
                i for i in volume["configMap"]["items"] if i["key"] == "prometheus.yml"
            ]
    for container in spec["containers"]:
        container["volumeMounts"] = [
            m for m in container["volumeMounts"] if m.get("subPath") != "alert.rules.yml"
        ]


def render() -> list[dict]:
    """Every object to apply, in the files' order (namespaces first)."""
    docs = []
    for name in SOURCES:
        docs += [d for d in yaml.safe_load_all((module_dir() / name).read_text()) if d]
    rendered = [_render_doc(d) for d in docs]
    for doc in rendered:
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "prometheus":
            _prometheus_volumes(doc)
    return rendered


def password(layout: Layout) -> str:
    """The gateway's basic-auth password, made once per node (faas-cli login uses it)."""
    path = layout.state / "openfaas" / "password"
    if not path.exists():
        write_private(path, hashlib.sha256(os.urandom(32)).hexdigest())
    return path.read_text()


def _basic_auth(layout: Layout) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "basic-auth", "namespace": NAMESPACE},
        "stringData": {"basic-auth-user": USER, "basic-auth-password": password(layout)},
    }


def build_images(layout: Layout) -> None:
    gone = missing()
    if gone:
        raise NodeError("OpenFaaS not built (run `make openfaas prometheus`): " + ", ".join(gone))
    for name, binary in binaries().items():
        binimage.ensure(layout, image(name), binary)


def _applied_hash(layout: Layout) -> str:
    res = kubectl(layout, "get", "namespace", NAMESPACE, "-o", "json", check=False)
    if res.returncode != 0:
        return ""
    return json.loads(res.stdout)["metadata"].get("annotations", {}).get(MARKER, "")


def ready(layout: Layout) -> bool:
    return deploy.available(layout, NAMESPACE, DEPLOYMENTS)


def gateway_ip(layout: Layout) -> str:
    return kubectl(
        layout, "-n", NAMESPACE, "get", "service", "gateway", "-o", "jsonpath={.spec.clusterIP}"
    ).stdout.strip()


def gateway_url(layout: Layout) -> str:
    """The gateway as the host reaches it: its ClusterIP (the host has no cluster DNS)."""
    return f"http://{gateway_ip(layout)}:8080"


def install(layout: Layout, log=print) -> None:
    """OpenFaaS up on the node (cluster DNS included: the gateway finds Prometheus by name);
    a no-op when what runs was rendered the same way. Waits for the Deployments."""
    dns.ensure(layout, log)
    build_images(layout)
    docs = render()
    digest = hashlib.sha256(json.dumps(docs, sort_keys=True).encode()).hexdigest()[:16]
    if _applied_hash(layout) != digest or not ready(layout):
        items = [*docs[:2], _basic_auth(layout), *docs[2:]]  # the namespaces come first
        manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
        kubectl(layout, "apply", "-f", "-", input=manifest)
        kubectl(layout, "annotate", "--overwrite", "namespace", NAMESPACE, f"{MARKER}={digest}")
    for name in DEPLOYMENTS:
        kubectl(
            layout, "-n", NAMESPACE, "rollout", "status", f"deployment/{name}", "--timeout=180s", timeout=200
        )
    # Available is not yet reachable: kube-proxy may not have the Service's rules yet.
    probe.wait_for(
        lambda: health.ok(f"{gateway_url(layout)}/healthz"), "the gateway through its ClusterIP", 60
    )
    log(f"OpenFaaS gateway {GATEWAY} and faas-netes {FAAS_NETES} ready at {gateway_url(layout)}")
