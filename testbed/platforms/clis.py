"""The platforms' own CLIs, kn, faas-cli and helm, built from pinned Go modules, as tests run them.

testbed/pins/build-cli.sh builds them into the cache outside the clone (the Makefile's
`clis`, `kn`, `faas-cli` and `helm` targets); tests find them here, and run the README's kn command offline
(`--target FILE`) to see the Service it makes.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import yaml

from testbed.paths import ROOT, cache_root
from testbed.pins import pinned

KN_VERSION = pinned("testbed/pins/kn", "knative.dev/client")
FAAS_CLI_VERSION = pinned("testbed/pins/faas-cli", "github.com/openfaas/faas-cli")
HELM_VERSION = pinned("testbed/pins/helm", "helm.sh/helm/v3")
KWOK_VERSION = pinned("testbed/pins/kwok", "sigs.k8s.io/kwok")


def kn() -> Path:
    """The pinned kn (knative.dev/client v0.40.0, Knative 1.13)."""
    return cache_root() / f"kn-{KN_VERSION}" / "bin" / "kn"


def faas_cli() -> Path:
    """The pinned faas-cli (github.com/openfaas/faas-cli at 08e3e965c831, 2021-10-12)."""
    return cache_root() / f"faas-cli-{FAAS_CLI_VERSION}" / "bin" / "faas-cli"


def helm() -> Path:
    """The pinned helm (helm.sh/helm/v3 v3.22.0)."""
    return cache_root() / f"helm-{HELM_VERSION}" / "bin" / "helm"


def kwok() -> Path:
    """The pinned kwok (sigs.k8s.io/kwok v0.8.0), for the storm harness (testbed/campaigns/storm.py)."""
    return cache_root() / f"kwok-{KWOK_VERSION}" / "bin" / "kwok"


def kwok_stages() -> list[Path]:
    """The module's kustomize/stage/node/fast and pod/fast files (the binary has none built in),
    copied beside it by testbed/pins/build-cli.sh."""
    return sorted((kwok().parent.parent / "stages").glob("*.yaml"))


def readme_kn_command() -> list[str]:
    """The README's `kn service create` command, split as a shell would."""
    text = (ROOT / "README.md").read_text()
    start = text.index("kn service create ")
    end = text.index("```", start)
    return shlex.split(text[start:end].replace("\\\n", " "))


def kn_service(workdir: Path, argv: list[str]) -> dict:
    """What `kn service create ... --target FILE` writes for `argv` (the words after `kn`):
    the Service kn would send, made offline (no cluster, no kubeconfig, no user config)."""
    target = workdir / "kn-service.yaml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "KN_"))}
    env.update(HOME=str(workdir), KUBECONFIG=str(workdir / "no-kubeconfig"))
    result = subprocess.run(
        [str(kn()), *argv, "--target", str(target)],
        capture_output=True,
        text=True,
        cwd=workdir,
        env=env,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kn {' '.join(argv)}: {result.stderr.strip()}")
    return yaml.safe_load(target.read_text())
