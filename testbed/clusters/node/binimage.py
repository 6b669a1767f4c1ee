"""Images of one Go binary, for the node's add-ons (CoreDNS, Knative Serving, Alertmanager).

Each is the binary FROM scratch (a dynamically linked one on a Debian base), run as user
65532 (the non-root user ko-built images, Knative's and CoreDNS' own, run as; Knative's
Deployments set runAsNonRoot, which refuses an image whose user is root). Built with the
node's podman set-up (testbed.clusters.node.images), labelled with the binary's hash so a rebuilt
binary gives a new image and an unchanged one is not rebuilt, then imported into
containerd unless containerd's copy carries the same label.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from .containerd import ctr
from .images import _label, load, podman
from .layout import Layout

LABEL = "cpu-alert-labeler.binary"
USER = "65532:65532"
# The container securityContext of every add-on run from these images: the `restricted`
# Pod Security profile's, as the shipped function's own pod has it.
RESTRICTED = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _digest(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path).encode() + b"\0")
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def build(
    image: str,
    binary: Path,
    base: str = "scratch",
    user: str = USER,
    files: tuple[Path, ...] = (),
    directory: str = "/",
) -> bool:
    """Build `image` from `binary` (in `directory`, its entrypoint; on `base`, with `files` at
    their own absolute paths) unless it exists with that content; True if it was built."""
    wanted = _digest(binary, *files) + directory
    if _label(image, LABEL) == wanted:
        return False
    with tempfile.TemporaryDirectory() as ctx:
        shutil.copy(binary, Path(ctx) / binary.name)
        for f in files:
            (Path(ctx) / "files" / f.parent.relative_to("/")).mkdir(parents=True, exist_ok=True)
            shutil.copy(f, Path(ctx) / "files" / f.relative_to("/"))
        extra = "COPY files/ /\n" if files else ""
        entrypoint = f"{directory.rstrip('/')}/{binary.name}"
        (Path(ctx) / "Containerfile").write_text(
            f'FROM {base}\nCOPY {binary.name} {entrypoint}\n{extra}USER {user}\nENTRYPOINT ["{entrypoint}"]\n'
        )
        podman("build", "--network", "none", "--pull=never", "--label", f"{LABEL}={wanted}", "-t", image, ctx)
    podman("image", "prune", "--force", check=False)
    return True


def loaded(layout: Layout, image: str, digest: str) -> bool:
    """containerd holds `image` with this content digest (the export to containerd changes
    the manifest's digest, so the same label is set on containerd's copy)."""
    res = ctr(layout, "images", "ls", f"name=={image}", check=False)
    return res.returncode == 0 and f"{LABEL}={digest}" in res.stdout


def ensure(
    layout: Layout,
    image: str,
    binary: Path,
    base: str = "scratch",
    user: str = USER,
    files: tuple[Path, ...] = (),
    directory: str = "/",
) -> None:
    """`image` built from `binary` (and `files`) and present in containerd's k8s.io namespace."""
    build(image, binary, base, user, files, directory)
    digest = _digest(binary, *files) + directory
    if not loaded(layout, image, digest):
        load(layout, image)
        ctr(layout, "images", "label", image, f"{LABEL}={digest}")
