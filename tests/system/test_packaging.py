"""We test these aspects: the setuptools route (setup.py's cffi_modules) builds a wheel
holding the package and its compiled classifier, which imports and classifies."""

import shutil
import subprocess
import sys
import zipfile

from testbed.paths import ROOT


def test_wheel_carries_the_compiled_classifier(tmp_path):
    """`pip wheel .` compiles native/ through cffi_modules; the wheel's module works."""
    source = tmp_path / "src"  # a clean copy: no build/ left in the tree, no stale .so taken
    source.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(ROOT / "native", source / "native")
    shutil.copytree(ROOT / "function", source / "function", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "--quiet", "--wheel-dir", str(tmp_path / "dist"), str(source)],
                           cwd=source, timeout=300, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("cpu_alert_labeler-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("function/_classifier") and n.endswith(".so") for n in names)
    assert "function/main.py" in names and "function/kube/incluster.py" in names
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    probe = ("from function.classifier import Classifier;"
             "print(Classifier(moderate=33, critical=66, by_name=[]).classify([('x', '70')]))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path / "site", check=True,
                         capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "[<Level.CRITICAL: 2>]"
