"""A fresh current kube-apiserver that knows a platform's kinds, for admission tests.

The Knative and OpenFaaS tests ask one question of their manifests: does the API of a
current Kubernetes, holding that platform's own CRDs, accept them under strict field
validation and keep every field?  This starts a 1.34 apiserver (with its etcd) in a
working folder, installs the given CRDs, waits until they are Established and hands back
the pinned kubectl bound to it.  The caller stops nothing: leaving the context does.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from testbed.clusters.loopback import RELEASES, ApiServer, binary, etcd_binary
from testbed.clusters.node.layout import pinned_kubectl
from testbed.tools import require, require_tool

VERSION = RELEASES["1.34"]
Kubectl = Callable[..., subprocess.CompletedProcess]


@contextmanager
def crd_apiserver(workdir: Path, crds: list[Path], what: str) -> Iterator[Kubectl]:
    """A kubectl runner against a fresh 1.34 apiserver holding `crds` (`what` names them)."""
    with crd_server(workdir, crds, what) as (_, run):
        yield run


@contextmanager
def crd_server(workdir: Path, crds: list[Path], what: str) -> Iterator[tuple[ApiServer, Kubectl]]:
    """The same, with the apiserver itself (for programs that need its kubeconfig)."""
    require(binary(VERSION).exists(), str(binary(VERSION)))
    require(pinned_kubectl().exists(), str(pinned_kubectl()))
    require(bool(crds), what)
    require_tool(etcd_binary(VERSION))
    server = ApiServer(workdir, version=VERSION)

    def run(*args: str, stdin: object = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                str(pinned_kubectl()),
                "--kubeconfig",
                str(server.kubeconfig()),
                "--cache-dir",
                str(workdir / "kubectl-cache"),
                *args,
            ],
            input=None if stdin is None else json.dumps(stdin),
            capture_output=True,
            text=True,
            timeout=120,
        )

    try:
        server.start()
        for crd in crds:
            ok(run("apply", "--server-side", "-f", str(crd)))
        ok(run("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"))
        yield server, run
    finally:
        server.stop()


def ok(result: subprocess.CompletedProcess) -> str:
    """The output of a command that must succeed."""
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess) -> str:
    """The error of a command that must fail."""
    assert result.returncode != 0, result.stdout
    return result.stderr


def not_kept(stored: object, sent: object, path: str = "") -> list[str]:
    """The paths of `sent` whose value `stored` does not hold (fields the API added are
    fine: Knative's schema defaults a port's protocol to TCP)."""
    if isinstance(sent, dict) and isinstance(stored, dict):
        return [d for key in sent for d in not_kept(stored.get(key), sent[key], f"{path}.{key}")]
    if isinstance(sent, list) and isinstance(stored, list) and len(sent) == len(stored):
        return [d for i, (a, b) in enumerate(zip(stored, sent)) for d in not_kept(a, b, f"{path}[{i}]")]
    return [] if stored == sent else [f"{path}: sent {sent!r}, stored {stored!r}"]
