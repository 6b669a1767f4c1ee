"""Shared fixtures: the real test apiserver, a namespace per test, the function app.

A test that needs a tool (the built kube-apiserver, etcd, kubectl, promtool...)
skips when it is missing on a developer's machine but fails under CI=true,
where `make test` must have installed everything.
"""

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import functions_framework
import pytest

from apiserver import APISERVER, ETCD, ApiServer

ROOT = Path(__file__).resolve().parent.parent
PAYLOADS = Path(__file__).resolve().parent / "payloads"
SOURCE = str(ROOT / "function" / "main.py")


def require(ok: bool, what: str) -> None:
    """Skip without `what`, except in CI where its absence is a broken build."""
    if ok:
        return
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"{what} is missing in CI: `make test` should have installed it")
    pytest.skip(f"{what} is missing (run `make test` to install it)")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, name)
    return path


def payload(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


@pytest.fixture(scope="session")
def apiserver(tmp_path_factory):
    """One real kube-apiserver (with etcd) for the whole session."""
    require(APISERVER.exists(), str(APISERVER))
    require_tool(ETCD)
    server = ApiServer(tmp_path_factory.mktemp("kube"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def namespace(apiserver):
    """A fresh namespace for one test."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    apiserver.create_namespace(name)
    return name


@pytest.fixture
def make_client(monkeypatch):
    """Build the function app with extra environment, as functions-framework serves it."""

    def build(kubeconfig: Path | None = None, **env: str):
        if kubeconfig is not None:
            monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return functions_framework.create_app("handle", SOURCE).test_client()

    return build


@pytest.fixture
def client(make_client, apiserver):
    """The function with default settings, against the test apiserver as admin."""
    return make_client(apiserver.kubeconfig())


def kubectl(apiserver: ApiServer, tmp_path: Path, *args: str) -> str:
    """Run the machine's kubectl against the test apiserver; its stdout."""
    exe = require_tool("kubectl")
    result = subprocess.run([exe, "--kubeconfig", str(apiserver.kubeconfig()),
                             "--cache-dir", str(tmp_path / "kubectl-cache"), *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def pytest_addoption(parser):
    parser.addoption("--api-tier", action="store_true",
                     help="run only the tests that use the real apiserver (KUBE_VERSION picks it)")


def pytest_collection_modifyitems(config, items):
    # The API tier is every test that uses the `apiserver` fixture; `make test` runs it
    # once more against 1.34 with this option.
    if not config.getoption("--api-tier"):
        return
    keep = [item for item in items if "apiserver" in getattr(item, "fixturenames", ())]
    config.hook.pytest_deselected(items=[i for i in items if i not in keep])
    items[:] = keep
