"""We test these aspects: requirements.txt is the image's whole runtime set (scripts/install.sh
installs it with --no-deps), so it names the distribution of every module function/ imports,
except on the kubeconfig path (function/kube/kubeconfig.py, which a pod never takes: its
`kubernetes` is in requirements-dev.txt only); every requirement is an exact pin, and
pyproject.toml pins the same versions.  That the set also covers what those distributions
import in turn, and holds nothing a pod does not import, is checked on a webhook served
in-cluster (tests/api/test_incluster.py); docs/image.md gives the sizes."""

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

from testbed.paths import ROOT
from testbed.requirements import normal, pins

KUBECONFIG_PATH = ROOT / "function" / "kube" / "kubeconfig.py"
FILES = ("requirements.txt", "requirements-build.txt", "requirements-dev.txt")


def top_level_imports(path: Path) -> set[str]:
    """The top-level names of the absolute imports anywhere in a module (lazy ones too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names - set(sys.stdlib_module_names) - {"function"}


def test_the_function_imports_only_distributions_of_the_runtime_set():
    """Every third-party import in function/ (the kubeconfig path aside) is in requirements.txt."""
    runtime = pins(ROOT / "requirements.txt")
    provided = packages_distributions()
    missing = {}
    for path in sorted((ROOT / "function").rglob("*.py")):
        if path == KUBECONFIG_PATH:
            continue
        for top in sorted(top_level_imports(path)):
            dists = {normal(d) for d in provided.get(top, [top])}
            if not dists & runtime.keys():
                missing[f"{path.relative_to(ROOT)}: {top}"] = sorted(dists)
    assert not missing, f"imported, not in requirements.txt: {missing}"


def test_the_kubeconfig_path_is_what_the_dev_set_adds():
    """The one module left out above imports kubernetes, pinned outside the runtime set only."""
    assert "kubernetes" in top_level_imports(KUBECONFIG_PATH)
    assert "kubernetes" not in pins(ROOT / "requirements.txt")
    assert "kubernetes" in pins(ROOT / "requirements-dev.txt")
    dev = (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert {"-r requirements.txt", "-r requirements-build.txt"} <= set(dev)


def test_each_package_is_pinned_once_and_pyproject_agrees():
    """No name in two requirements files; pyproject.toml's dependencies carry the same versions."""
    seen: dict[str, str] = {}
    for name in FILES:
        for dist in pins(ROOT / name):
            assert dist not in seen, f"{dist} pinned in {seen.get(dist)} and {name}"
            seen[dist] = name
    every = {k: v for name in FILES for k, v in pins(ROOT / name).items()}
    line = re.search(r"^dependencies = \[(.*)\]$", (ROOT / "pyproject.toml").read_text(), re.M)
    assert line, "no one-line dependencies in pyproject.toml"
    for requirement in re.findall(r'"([^"]+)"', line.group(1)):
        name, _, version = requirement.partition("==")
        assert every.get(normal(name)) == version, requirement
