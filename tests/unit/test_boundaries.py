"""We test these aspects: the layers of function/ hold, read from the code's own imports (ast).

- each third-party client, the compiled module and the environment are reached from one
  module only (the table RULES: what -> the modules allowed to reach it);
- every allowed module really does reach what it owns (the table stays true);
- nothing in function/ imports the development kit or the tests;
- the checker itself sees a violation when one is written (a positive control).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from testbed.paths import ROOT

FUNCTION = ROOT / "function"

# What -> the modules (paths from the repository root; a trailing "/" allows a whole package)
# that may reach it.  Edit here when a module is added: e.g. a function/server.py that also
# needs functions_framework.  kubernetes and urllib3 are reached only on the kubeconfig path
# (development), so a pod never loads them (function/kube/incluster.py goes without).
RULES: dict[str, set[str]] = {
    "functions_framework": {"function/main.py", "function/server.py"},
    "waitress": {"function/server.py"},
    "kubernetes": {"function/kube/kubeconfig.py"},
    "urllib3": {"function/kube/kubeconfig.py"},
    "function._classifier": {"function/classifier.py"},
    "os.environ": {"function/config.py"},
    "testbed": set(),
    "tests": set(),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module a `from ... import` names, relative levels resolved."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def reaches(source: str, path: Path) -> set[str]:
    """Every module imported by `source` (as seen from `path`), plus "os.environ" for an
    environment read (os.environ, os.getenv, from os import environ/getenv)."""
    module, is_package = _module_name(path), path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(node, module, is_package)
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}
            if target == "os" and {a.name for a in node.names} & {"environ", "getenv"}:
                found.add("os.environ")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "os" and node.attr in ("environ", "getenv"):
                found.add("os.environ")
    return found


def _matches(imported: str, what: str) -> bool:
    return imported == what or imported.startswith(what + ".")


def _allowed(relative: str, allowed: set[str]) -> bool:
    return any(relative == a or (a.endswith("/") and relative.startswith(a)) for a in allowed)


def violations(files: dict[str, set[str]]) -> list[str]:
    """'<file> reaches <what>' for each reach outside RULES; files maps path -> reaches()."""
    found = []
    for relative, imported in sorted(files.items()):
        for what, allowed in RULES.items():
            if any(_matches(i, what) for i in imported) and not _allowed(relative, allowed):
                found.append(f"{relative} reaches {what}")
    return found


def _function_files() -> dict[str, set[str]]:
    return {
        path.relative_to(ROOT).as_posix(): reaches(path.read_text(), path)
        for path in sorted(FUNCTION.rglob("*.py"))
    }


def test_each_boundary_is_crossed_by_its_owner_only():
    """Only main.py and server.py import functions_framework, only server.py waitress, only
    kube/kubeconfig.py kubernetes and urllib3, only classifier.py the compiled module, only
    config.py reads os.environ; no kit, no tests."""
    assert violations(_function_files()) == []


@pytest.mark.parametrize("what", [w for w, allowed in RULES.items() if allowed])
def test_every_owner_really_reaches_what_it_owns(what):
    """The table is not stale: some allowed module does reach it today."""
    files = _function_files()
    owners = [f for f, imported in files.items() if _allowed(f, RULES[what])]
    assert any(_matches(i, what) for f in owners for i in files[f]), (what, owners)


@pytest.mark.parametrize(
    "source,relative,expected",
    [
        ("import kubernetes.client\n", "function/plan.py", "kubernetes"),
        ("from urllib3 import PoolManager\n", "function/labeler.py", "urllib3"),
        ("from ._classifier import lib\n", "function/plan.py", "function._classifier"),
        ("from . import _classifier\n", "function/main.py", "function._classifier"),
        ("import os\nx = os.environ['A']\n", "function/main.py", "os.environ"),
        ("import os\nx = os.getenv('A')\n", "function/kube/api.py", "os.environ"),
        ("import urllib3\n", "function/kube/incluster.py", "urllib3"),
        ("from os import environ\n", "function/alerts.py", "os.environ"),
        ("import functions_framework\n", "function/labeler.py", "functions_framework"),
        ("from testbed.webhooks import alert\n", "function/main.py", "testbed"),
        ("from tests.conftest import x\n", "function/main.py", "tests"),
    ],
)
def test_the_checker_sees_a_violation(source, relative, expected):
    """A forbidden reach written into a module is reported (so the real check can fail)."""
    path = ROOT / relative
    assert violations({relative: reaches(source, path)}) == [f"{relative} reaches {expected}"]
