"""The function on the node's OpenFaaS, deployed with the README's faas-cli commands.

The README's OpenFaaS block is read and its lines run by bash, as written, in a work folder
holding what they read (token.txt, password.txt, stack.yml, openfaas/rbac.yaml), with the
pinned faas-cli and kubectl first on PATH: `faas-cli login`, `faas-cli secret create`, `faas-cli
up -f stack.yml` run as its deploy step alone (`faas-cli deploy -f stack.yml`: up's build and
push need Docker and a registry), `kubectl apply -f openfaas/rbac.yaml`; the tests run its
`faas-cli invoke` line the same way. The one change to what they read: stack.yml's image is
the node's local build (faas-netes pulls it IfNotPresent, so the copy imported into
containerd is used). faas-cli finds the gateway through OPENFAAS_URL, its documented
variable, since stack.yml names faas-cli's default gateway (which the variable overrides).

Alertmanager reaches the function at the URL monitoring/alertmanager-openfaas.yml ships,
http://gateway.openfaas.svc.cluster.local:8080/function/cpu-alert-labeler; the node's
Alertmanager runs on the host, which has no cluster DNS, so that URL's host is replaced by
the gateway's ClusterIP (gateway_webhook() says why not a proxy, as for Knative).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from testbed.chain import in_node
from testbed.clusters.node import NodeError, deploy
from testbed.clusters.node.deploy import kubectl
from testbed.clusters.node.images import FUNCTION_IMAGE
from testbed.clusters.node.layout import Layout
from testbed.paths import ROOT
from testbed.platforms import clis
from testbed.private import write_private

from . import install

NAME = "cpu-alert-labeler"
SECRET = "cpu-alert-labeler-token"
STACK = ROOT / "stack.yml"
README = ROOT / "README.md"
ALERT = ROOT / "alert.json"
RBAC = ROOT / "openfaas" / "rbac.yaml"
ALERTMANAGER_CONFIG = ROOT / "monitoring" / "alertmanager-openfaas.yml"


def workdir(layout: Layout) -> Path:
    """faas-cli's HOME (its stored login) and the folder the README's commands run in."""
    return layout.state / "openfaas" / "work"


def faas_cli(
    layout: Layout, *argv: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """The pinned faas-cli against the node's gateway, with no user config of the caller's."""
    folder = workdir(layout)
    folder.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENFAAS_")}
    env.update(HOME=str(folder), OPENFAAS_URL=install.gateway_url(layout))
    return subprocess.run(
        [str(clis.faas_cli()), *argv],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=timeout,
    )


def _checked(res: subprocess.CompletedProcess, what: str) -> str:
    if res.returncode != 0:
        raise NodeError(f"faas-cli {what}: {(res.stderr or res.stdout).strip()[-1500:]}")
    return res.stdout.strip()


def local_stack() -> dict:
    """stack.yml with its image replaced by the node's build, nothing else changed."""
    stack = yaml.safe_load(STACK.read_text())
    stack["functions"][NAME]["image"] = FUNCTION_IMAGE
    return stack


def login(layout: Layout) -> None:
    """faas-cli logged in to the gateway (what the README's login line does), for remove()."""
    _checked(
        faas_cli(
            layout, "login", "--username", install.USER, "--password-stdin", stdin=install.password(layout)
        ),
        "login",
    )


def _secret_exists(layout: Layout) -> bool:
    res = kubectl(layout, "-n", install.FUNCTION_NAMESPACE, "get", "secret", SECRET, check=False)
    return res.returncode == 0


def readme_block() -> list[str]:
    """The README's OpenFaaS commands, one per entry (continued lines joined, comments kept)."""
    text = README.read_text()
    start = text.index("```sh\n", text.index("### OpenFaaS\n")) + len("```sh\n")
    block = text[start : text.index("```", start)].replace("\\\n", " ")
    return [line for line in block.splitlines() if line.strip()]


def readme_deploy() -> list[str]:
    """The README's commands up to the invoke, `faas-cli up` as its deploy step alone (its
    build and push need Docker and a registry)."""
    commands = [c for c in readme_block() if not c.startswith("faas-cli invoke ")]
    ups = [i for i, c in enumerate(commands) if c.startswith("faas-cli up ")]
    if len(ups) != 1:
        raise NodeError(f"the README's OpenFaaS block has {len(ups)} `faas-cli up` lines, not one")
    commands[ups[0]] = commands[ups[0]].replace("faas-cli up ", "faas-cli deploy ", 1)
    return commands


def readme_invoke() -> str:
    (line,) = [c for c in readme_block() if c.startswith("faas-cli invoke ")]
    return line


def _shell(layout: Layout, folder: Path, script: str, **kw) -> subprocess.CompletedProcess:
    """bash running `script` in `folder` as a user would: the pinned faas-cli and kubectl
    first on PATH, faas-cli's login in its HOME, the node's gateway and kubeconfig."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENFAAS_", "KUBECONFIG"))}
    env.update(
        PATH=f"{clis.faas_cli().parent}:{layout.kubectl().parent}:{env.get('PATH', '')}",
        HOME=str(workdir(layout)),
        OPENFAAS_URL=install.gateway_url(layout),
        KUBECONFIG=str(layout.admin_kubeconfig),
        TOKEN=deploy.webhook_token(layout),
    )
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=300,
        **kw,
    )


def deploy_function(layout: Layout, log=print) -> None:
    """The README's commands (readme_deploy()) in the work folder, which holds what they
    read: password.txt (the gateway's password), stack.yml (local_stack()) and
    openfaas/rbac.yaml; `secret create` is left out when the secret exists (a second
    `make cluster`). Waits for the function's pod."""
    folder = workdir(layout)
    (folder / "openfaas").mkdir(parents=True, exist_ok=True)
    write_private(folder / "password.txt", install.password(layout))
    (folder / "stack.yml").write_text(yaml.safe_dump(local_stack(), sort_keys=False))
    (folder / "openfaas" / "rbac.yaml").write_text(RBAC.read_text())
    commands = readme_deploy()
    if _secret_exists(layout):
        commands = [c for c in commands if not c.startswith("faas-cli secret create ")]
    res = _shell(layout, folder, "\n".join(commands))
    if res.returncode != 0:
        raise NodeError(f"the README's OpenFaaS commands: {(res.stderr or res.stdout).strip()[-1500:]}")
    log(res.stdout.strip())
    wait_ready(layout)


def invoke(layout: Layout, token: str) -> subprocess.CompletedProcess:
    """The README's `faas-cli invoke` line, as written, in a folder of its own holding
    alert.json and a token.txt with `token`."""
    folder = workdir(layout).parent / "invoke"
    folder.mkdir(parents=True, exist_ok=True)
    write_private(folder / "token.txt", token)
    (folder / "alert.json").write_text(ALERT.read_text())
    return _shell(layout, folder, readme_invoke())


def wait_ready(layout: Layout, timeout: float = 180) -> None:
    """The function's Deployment rolled out and the gateway reporting a ready replica."""
    kubectl(
        layout,
        "-n",
        install.FUNCTION_NAMESPACE,
        "rollout",
        "status",
        f"deployment/{NAME}",
        f"--timeout={int(timeout)}s",
        timeout=timeout + 20,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if describe(layout).get("Status") == "Ready":
            return
        time.sleep(0.5)
    raise NodeError(f"faas-cli describe {NAME} never said Ready")


def describe(layout: Layout) -> dict[str, str]:
    """`faas-cli describe NAME`, its "Key: value" lines as a dict ({} if it fails)."""
    res = faas_cli(layout, "describe", NAME)
    if res.returncode != 0:
        return {}
    pairs = (line.split(":", 1) for line in res.stdout.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def shipped_url() -> str:
    """The webhook URL monitoring/alertmanager-openfaas.yml ships."""
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    (receiver,) = [r for r in config["receivers"] if r["name"] == NAME]
    return receiver["webhook_configs"][0]["url"]


def gateway_webhook(layout: Layout) -> in_node.Webhook:
    """The node's Alertmanager (a pod, resolving cluster names) aimed at the gateway by the
    URL monitoring/alertmanager-openfaas.yml ships."""
    return in_node.Webhook(shipped_url(), deploy.webhook_token(layout))  # the same token as token.txt


def pods(layout: Layout) -> list[dict]:
    res = kubectl(
        layout, "-n", install.FUNCTION_NAMESPACE, "get", "pods", "-l", f"faas_function={NAME}", "-o", "json"
    )
    return json.loads(res.stdout)["items"]


def remove(layout: Layout) -> None:
    """The function and its secret gone (`faas-cli remove`, `faas-cli secret remove`), so the
    next deploy_function() really creates them; waits until the pods are gone too."""
    login(layout)
    faas_cli(layout, "remove", NAME)
    faas_cli(layout, "secret", "remove", SECRET)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        gone = kubectl(layout, "-n", install.FUNCTION_NAMESPACE, "get", "deployment", NAME, check=False)
        if gone.returncode != 0 and not pods(layout) and not _secret_exists(layout):
            return
        time.sleep(0.5)
    raise NodeError(f"{NAME} still in {install.FUNCTION_NAMESPACE} 120 s after faas-cli remove")


def scale(layout: Layout, replicas: int) -> int:
    """What an idler does: the gateway's POST /system/scale-function/NAME (basic auth);
    returns the HTTP status."""
    token = base64.b64encode(f"{install.USER}:{install.password(layout)}".encode()).decode()
    req = urllib.request.Request(
        f"{install.gateway_url(layout)}/system/scale-function/{NAME}",
        data=json.dumps({"serviceName": NAME, "replicas": replicas}).encode(),
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def replicas(layout: Layout) -> int:
    """The function's Deployment's spec.replicas."""
    res = kubectl(
        layout, "-n", install.FUNCTION_NAMESPACE, "get", "deployment", NAME, "-o", "jsonpath={.spec.replicas}"
    )
    return int(res.stdout.strip())


def aimed_at_the_gateway(layout: Layout) -> bool:
    """The node's Alertmanager delivers to the gateway (`make cluster PLATFORM=openfaas`)."""
    return in_node.aimed_at(layout) == shipped_url()
