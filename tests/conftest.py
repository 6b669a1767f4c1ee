"""Shared fixtures: the real test apiserver, a namespace per test, the function app, tiers.

Each test folder is a tier, marked so that `-m unit|api|system|node` selects it too:
unit (no processes, no apiserver), api (the real kube-apiserver), system (whole
programs: the monitoring chain, the image, `make run`, the benchmarks), node (a real
v1.34 node on this host, with the function running as a pod).  Helpers
live in the kit (`testbed.*`); this file only holds fixtures.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import functions_framework
import pytest

from testbed.clusters.loopback import APISERVER, ETCD, ApiServer
from testbed.paths import SOURCE
from testbed.tools import require, require_tool

TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "api", "system", "node")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with the tier of its folder (tests/<tier>/...); refuse one outside them."""
    for item in items:
        folder = item.path.relative_to(TESTS).parts[0]
        if folder not in TIERS:  # a test outside the tiers would run in none of `make test-<tier>`
            raise pytest.UsageError(f"{item.path}: tests live in tests/<tier>/, one of {TIERS}")
        item.add_marker(getattr(pytest.mark, folder))


@pytest.fixture(scope="session")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """One real kube-apiserver (with etcd) for the whole session."""
    require(APISERVER.exists(), str(APISERVER))
    require_tool(ETCD)
    server = ApiServer(tmp_path_factory.mktemp("kube"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def namespace(apiserver: ApiServer) -> str:
    """A fresh namespace for one test."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    apiserver.create_namespace(name)
    return name


@pytest.fixture
def make_client(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Build the function app with extra environment, as functions-framework serves it."""

    def build(kubeconfig: Path | None = None, **env: str) -> Any:
        if kubeconfig is not None:
            monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return functions_framework.create_app("handle", str(SOURCE)).test_client()

    return build


@pytest.fixture
def client(make_client: Callable[..., Any], apiserver: ApiServer) -> Any:
    """The function with default settings, against the test apiserver as admin."""
    return make_client(apiserver.kubeconfig())
