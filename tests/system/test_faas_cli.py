"""We test these aspects: the pinned faas-cli, run as the README shows, reaches the function
and labels pods: `faas-cli invoke cpu-alert-labeler --gateway URL` with alert.json on stdin
and the bearer token sent with the old CLI's `-H "Authorization=Bearer ..."` syntax, against
the real function server (function/server.py, as deployed) and a real kube-apiserver holding the pods
alert.json names, leaves each pod with the label its alerts call for (read back with
kubectl); the same call with a wrong token is refused and labels nothing (so the header does
travel).  The function serves every path, so the gateway URL can be the function itself:
faas-cli posts to <gateway>/function/cpu-alert-labeler, as through OpenFaaS' gateway (the
node tier, tests/node/test_openfaas.py, runs the same command through the real gateway).
And `faas-cli generate` turns stack.yml into an openfaas.com/v1 Function carrying the
stack's image, settings, resources and secret (not its read-only root filesystem), which a
1.34 kube-apiserver holding OpenFaaS' own Function CRD (from the pinned faas-netes module)
accepts whole under strict field validation and stores as sent, also with the
`readOnlyRootFilesystem: true` docs/platforms.md tells operator users to add; a field the CRD does
not know (stack.yml's own spelling of that setting) is refused, so acceptance means something.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from testbed.chain.loopback import Function
from testbed.clusters.crds import Kubectl, crd_apiserver, not_kept, ok, refused
from testbed.clusters.loopback import APISERVER, ApiServer
from testbed.clusters.node.layout import pinned_kubectl
from testbed.platforms import clis, manifests
from testbed.tools import require, require_tool

ROOT = Path(__file__).resolve().parents[2]
ALERT = ROOT / "alert.json"
STACK = ROOT / "stack.yml"
# What alert.json calls for, under the function's default settings: the firing
# PodCpuFailure wins over the resolved PodHighCpuUsage for checkout.
EXPECTED = {("shop", "checkout-7d9f8b6c5-x2k4p"): "panne", ("default", "worker-0"): "moderate"}


@pytest.fixture(scope="module")
def faas_cli() -> Path:
    require(clis.faas_cli().exists(), str(clis.faas_cli()))
    return clis.faas_cli()


def run_faas_cli(
    exe: Path, workdir: Path, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess:
    """faas-cli with its own HOME (no user config, no stored gateway credentials), offline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENFAAS_")}
    env["HOME"] = str(workdir)
    return subprocess.run(
        [str(exe), *args], input=stdin, capture_output=True, cwd=workdir, env=env, timeout=60
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[ApiServer]:
    """Its own apiserver, so alert.json's namespaces (shop, default) belong to this module."""
    require(APISERVER.exists(), str(APISERVER))
    require_tool("etcd")
    server = ApiServer(tmp_path_factory.mktemp("kube-faas"))
    server.start()
    try:
        server.create_namespace("shop")
        for namespace, pod in EXPECTED:
            server.create_pod(namespace, pod)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def function(cluster, tmp_path_factory) -> Iterator[tuple[Function, str]]:
    token = "faas-cli-test-" + os.urandom(8).hex()
    server = Function(tmp_path_factory.mktemp("function"), cluster.kubeconfig(), token)
    try:
        yield server, token
    finally:
        server.process.stop()


def label(cluster: ApiServer, workdir: Path, namespace: str, pod: str) -> str:
    """The pod's `status` label as the pinned kubectl reads it ("" when unset)."""
    require(pinned_kubectl().exists(), str(pinned_kubectl()))
    result = subprocess.run(
        [
            str(pinned_kubectl()),
            "--kubeconfig",
            str(cluster.kubeconfig()),
            "--cache-dir",
            str(workdir / "kubectl-cache"),
            "-n",
            namespace,
            "get",
            "pod",
            pod,
            "-o",
            "jsonpath={.metadata.labels.status}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def invoke(exe: Path, workdir: Path, gateway: str, token: str) -> subprocess.CompletedProcess:
    """The README's command, word for word but the gateway."""
    return run_faas_cli(
        exe,
        workdir,
        "invoke",
        "cpu-alert-labeler",
        "--gateway",
        gateway,
        "--content-type",
        "application/json",
        "-H",
        f"Authorization=Bearer {token}",
        stdin=ALERT.read_bytes(),
    )


def test_wrong_token_is_refused_and_labels_nothing(faas_cli, cluster, function, tmp_path):
    server, _ = function
    result = invoke(faas_cli, tmp_path, server.url.rstrip("/"), "not-the-token")
    assert result.returncode != 0
    # faas-cli's own words for a 401.
    assert b"Unauthorized access" in result.stdout + result.stderr
    assert any(d.get("status") == 401 for d in server.log("webhook"))
    assert {key: label(cluster, tmp_path, *key) for key in EXPECTED} == {key: "" for key in EXPECTED}


def test_invoke_with_alert_json_labels_the_pods(faas_cli, cluster, function, tmp_path):
    server, token = function
    result = invoke(faas_cli, tmp_path, server.url.rstrip("/"), token)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["counts"], answer
    assert {key: label(cluster, tmp_path, *key) for key in EXPECTED} == EXPECTED
    # It came through faas-cli's route, not by chance: the function logged that path.
    assert any(
        d.get("path") == "/function/cpu-alert-labeler" and d.get("status") == 200
        for d in server.log("webhook")
    )


@pytest.fixture(scope="module")
def generated(faas_cli, tmp_path_factory) -> dict:
    """docs/platforms.md's `faas-cli generate --api openfaas.com/v1 --yaml stack.yml ...`, parsed."""
    result = run_faas_cli(
        faas_cli,
        tmp_path_factory.mktemp("generate"),
        "generate",
        "--api",
        "openfaas.com/v1",
        "--yaml",
        str(STACK),
        "--namespace",
        "openfaas-fn",
    )
    assert result.returncode == 0, result.stderr
    (function,) = [d for d in yaml.safe_load_all(result.stdout) if d]
    return function


@pytest.fixture(scope="module")
def openfaas_api(tmp_path_factory) -> Iterator[Kubectl]:
    """The pinned kubectl against a fresh 1.34 apiserver that knows OpenFaaS' Function kind."""
    with crd_apiserver(
        tmp_path_factory.mktemp("kube-openfaas"),
        manifests.openfaas_crds(),
        "OpenFaaS CRDs (make openfaas-crds)",
    ) as run:
        ok(run("create", "namespace", "openfaas-fn"))
        yield run


def apply_strict(api: Kubectl, function: dict) -> subprocess.CompletedProcess:
    return api("apply", "--server-side", "--validate=strict", "-f", "-", stdin=function)


def test_generate_turns_stack_yml_into_a_function(generated):
    function = generated
    stack = yaml.safe_load(STACK.read_text())["functions"]["cpu-alert-labeler"]
    assert (function["apiVersion"], function["kind"]) == ("openfaas.com/v1", "Function")
    assert function["metadata"] == {"name": "cpu-alert-labeler", "namespace": "openfaas-fn"}
    spec = function["spec"]
    assert spec["name"] == "cpu-alert-labeler" and spec["image"] == stack["image"]
    assert spec["environment"] == stack["environment"]
    assert spec["secrets"] == stack["secrets"]
    assert spec["limits"] == stack["limits"] and spec["requests"] == stack["requests"]
    # This faas-cli drops readonly_root_filesystem (docs/platforms.md tells operator users to add
    # it); should a newer pin carry it, that note must go.
    assert stack["readonly_root_filesystem"] is True and "readOnlyRootFilesystem" not in spec


@pytest.mark.parametrize("hardened", [False, True], ids=["as generated", "with readOnlyRootFilesystem"])
def test_openfaas_crd_accepts_and_keeps_the_generated_function(openfaas_api, generated, hardened):
    """Strict validation against OpenFaaS' own schema, and nothing pruned on the way in."""
    function = {**generated, "spec": {**generated["spec"]}}
    if hardened:  # what docs/platforms.md tells operator users to add
        function["spec"]["readOnlyRootFilesystem"] = True
    ok(apply_strict(openfaas_api, function))
    stored = json.loads(
        ok(openfaas_api("-n", "openfaas-fn", "get", "function", "cpu-alert-labeler", "-o", "json"))
    )
    assert not_kept(stored, function) == []
    assert stored["spec"].get("readOnlyRootFilesystem", False) is hardened


def test_openfaas_crd_refuses_a_field_it_does_not_know(openfaas_api, generated):
    """stack.yml's spelling of the setting is not the CRD's: strict validation says so."""
    function = {**generated, "spec": {**generated["spec"], "readonly_root_filesystem": True}}
    assert ".spec.readonly_root_filesystem: field not declared in schema" in refused(
        apply_strict(openfaas_api, function)
    )


def test_faas_cli_names_its_pinned_version(faas_cli, tmp_path):
    """The build sets faas-cli's version (it would say "dev"); --warn-update=false keeps the
    command off the internet."""
    result = run_faas_cli(faas_cli, tmp_path, "version", "--short-version", "--warn-update=false")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == clis.FAAS_CLI_VERSION
