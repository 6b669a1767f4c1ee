"""The node's images, built here with Debian's podman (no registry is reachable) and
imported into containerd's k8s.io namespace.

- The sandbox image: our static pause binary, FROM scratch.
- A Debian 12 Python base: `debootstrap --variant=minbase` with python3 and
  ca-certificates, from the machine's configured Debian mirror, slimmed as Debian's
  official slim images are (no documentation but copyright files, no manuals, locales or
  apt lists), imported with `podman import`; the rootfs tarball is cached by BASE_VERSION
  (bump it when the recipe changes). It is the runtime stage's base, so it holds only what
  the pod runs: docs/image.md.
- The function: the SHIPPED Dockerfile, built with `--build-arg PYTHON_IMAGE=<that base>`
  and BUILD_PACKAGES adding, in the build stage only, what the official python image has
  and Debian's python3 lacks (python3-dev for Python.h, python3-venv for ensurepip),
  tagged localhost/cpu-alert-labeler:dev, rebuilt only when its build inputs change
  (their hash is an image label).

Podman runs with its own configuration and storage (CONTAINERS_CONF, --root, --runroot),
never the machine's: cgroupfs and file events (no systemd), the ulimits root may set here
(no CAP_SYS_RESOURCE), and `--network host` for RUN steps, so a build creates no bridge
or firewall rules. Storage lives in the cache, so images survive `down`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from testbed.paths import ROOT, cache_root
from testbed.process import run

from .containerd import PAUSE_IMAGE, ctr
from .layout import Layout

FUNCTION_IMAGE = "localhost/cpu-alert-labeler:dev"
BASE_VERSION = "bookworm-3"
BASE_IMAGE = f"localhost/cpu-alert-labeler-python:{BASE_VERSION}"
BUILD_INPUTS = (
    "Dockerfile",
    ".dockerignore",
    "requirements.txt",
    "requirements-build.txt",
    "native",
    "function",
    "scripts/install.sh",
    "scripts/start.sh",
)
"""What the Dockerfile reads; their hash decides whether the image is rebuilt."""
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
BUILD_PACKAGES = "g++ python3-dev python3-venv"
"""The Dockerfile's build stage installs these on the local base (the official image needs g++ only)."""
SLIM = """path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
"""
"""dpkg's excludes as Debian's slim images set them, so packages installed later stay slim too."""

_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
tmp_dir = "{tmp}"
"""


def _podman_home() -> Path:
    return cache_root() / "podman"


def podman(*args: str, timeout: float = 1800, **kw):
    home = _podman_home()
    (home / "run").mkdir(parents=True, exist_ok=True)
    conf = home / "containers.conf"
    conf.write_text(_CONF.format(tmp=home / "run" / "libpod"))
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    return run(
        "podman",
        "--root",
        str(home / "storage"),
        "--runroot",
        str(home / "run"),
        "--storage-driver",
        "overlay",
        *args,
        timeout=timeout,
        env=env,
        **kw,
    )


def _exists(image: str) -> bool:
    return podman("image", "exists", image, check=False).returncode == 0


def _label(image: str, key: str) -> str:
    res = podman("image", "inspect", "--format", f'{{{{index .Labels "{key}"}}}}', image, check=False)
    return res.stdout.strip() if res.returncode == 0 else ""


def debian_mirror() -> str:
    """The first Debian archive URI this machine's apt is configured with."""
    for f in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for uri in re.findall(r"^URIs:\s*(\S+)", f.read_text(), re.M):
            if "security" not in uri:
                return uri
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        match = re.search(r"^deb\s+(\S+)\s+\S+", legacy.read_text(), re.M)
        if match:
            return match.group(1)
    raise RuntimeError("no Debian mirror configured in /etc/apt")


def base_image() -> None:
    """The Python base (debootstrap rootfs, cached as a tarball) in podman's storage."""
    if _exists(BASE_IMAGE):
        return
    tarball = cache_root() / f"python-base-{BASE_VERSION}" / "rootfs.tar"
    if not tarball.exists():
        _debootstrap(tarball)
    podman(
        "import",
        "--change",
        "CMD=/usr/bin/python3",
        "--change",
        "ENV=PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
        str(tarball),
        BASE_IMAGE,
    )


def _debootstrap(tarball: Path) -> None:
    tarball.parent.mkdir(parents=True, exist_ok=True)
    rootfs = Path(tempfile.mkdtemp(prefix="rootfs-", dir=tarball.parent))
    try:
        run(
            "debootstrap",
            "--variant=minbase",
            "--include=python3,ca-certificates",
            "bookworm",
            str(rootfs),
            debian_mirror(),
            timeout=1200,
        )
        # pip in the image's build stage verifies PyPI with this bundle (the host's trust).
        shutil.copy(HOST_CA, rootfs / "etc/ssl/certs/ca-certificates.crt")
        _slim(rootfs)
        run("tar", "-C", str(rootfs), "-cf", f"{tarball}.tmp", ".", timeout=600)
        os.replace(f"{tarball}.tmp", tarball)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)


def _slim(rootfs: Path) -> None:
    """Leave out what SLIM excludes, and apt's package lists and caches (the build stage
    runs `apt-get update`): files only, so every package's folders stay as dpkg expects."""
    (rootfs / "etc/dpkg/dpkg.cfg.d/slim").write_text(SLIM)
    folders = ["usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian"]
    for folder in [*folders, "var/lib/apt/lists", "var/cache/apt", "var/log"]:
        for parent, _, files in os.walk(rootfs / folder):
            for name in files:
                if not (folder == "usr/share/doc" and name == "copyright"):
                    os.unlink(os.path.join(parent, name))
    for path in (rootfs / "var/cache/debconf").glob("*-old"):
        path.unlink()


def inputs_hash() -> str:
    digest = hashlib.sha256()
    for name in BUILD_INPUTS:
        path = ROOT / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if "__pycache__" in f.parts or f.suffix in (".so", ".o"):
                continue
            digest.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()[:16]


def function_image() -> None:
    """Build the shipped Dockerfile on the local base, unless its inputs are unchanged."""
    wanted = inputs_hash()
    if _label(FUNCTION_IMAGE, "cpu-alert-labeler.inputs") == wanted:
        return
    base_image()
    podman(
        "build",
        "--network",
        "host",
        "--pull=never",
        "--build-arg",
        f"PYTHON_IMAGE={BASE_IMAGE}",
        "--build-arg",
        f"BUILD_PACKAGES={BUILD_PACKAGES}",
        "--label",
        f"cpu-alert-labeler.inputs={wanted}",
        "-t",
        FUNCTION_IMAGE,
        "-f",
        str(ROOT / "Dockerfile"),
        str(ROOT),
    )
    # The image this one replaced, and the build stage, would otherwise pile up in the cache.
    podman("image", "prune", "--force", check=False)


def pause_image() -> None:
    if _exists(PAUSE_IMAGE):
        return
    binary = cache_root() / "pause-1" / "bin" / "pause"
    with tempfile.TemporaryDirectory() as ctx:
        shutil.copy(binary, Path(ctx) / "pause")
        (Path(ctx) / "Containerfile").write_text(
            'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n'
        )
        podman("build", "--network", "none", "-t", PAUSE_IMAGE, ctx)


def size(image: str) -> int:
    """The image's size in bytes, as podman reports it."""
    return int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout.strip())


def load(layout: Layout, image: str) -> None:
    """Copy an image from podman's storage into containerd's k8s.io namespace."""
    with tempfile.TemporaryDirectory(dir=layout.state) as tmp:
        archive = Path(tmp) / "image.tar"
        podman("save", "--format", "oci-archive", "-o", str(archive), image)
        # No --base-name: with a name other than the archive's, ctr imports nothing.
        ctr(layout, "images", "import", str(archive), timeout=600)


def build_all() -> None:
    pause_image()
    function_image()
