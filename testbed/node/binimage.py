"""Images of one Go binary, for the node's add-ons (CoreDNS, Knative Serving, Alertmanager).

Each is the binary FROM scratch (a dynamically linked one on a Debian base), run as user
65532 (the non-root user ko-built images, Knative's and CoreDNS' own, run as; Knative's
Deployments set runAsNonRoot, which refuses an image whose user is root). Built with the
node's podman set-up (testbed.node.images), labelled with the binary's hash so a rebuilt
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


def _digest(binary: Path) -> str:
    digest = hashlib.sha256()
    with open(binary, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def build(image: str, binary: Path, base: str = "scratch", user: str = USER) -> bool:
    """Build `image` from `binary` (on `base`) unless it exists with that binary; True if built."""
    wanted = _digest(binary)
    if _label(image, LABEL) == wanted:
        return False
    with tempfile.TemporaryDirectory() as ctx:
        shutil.copy(binary, Path(ctx) / binary.name)
        (Path(ctx) / "Containerfile").write_text(
            f'FROM {base}\nCOPY {binary.name} /{binary.name}\nUSER {user}\nENTRYPOINT ["/{binary.name}"]\n'
        )
        podman("build", "--network", "none", "--pull=never", "--label", f"{LABEL}={wanted}", "-t", image, ctx)
    podman("image", "prune", "--force", check=False)
    return True


def loaded(layout: Layout, image: str, binary: Path) -> bool:
    """containerd holds `image` made from this `binary` (the export to containerd changes
    the manifest's digest, so the same label is set on containerd's copy)."""
    res = ctr(layout, "images", "ls", f"name=={image}", check=False)
    return res.returncode == 0 and f"{LABEL}={_digest(binary)}" in res.stdout


def ensure(layout: Layout, image: str, binary: Path, base: str = "scratch", user: str = USER) -> None:
    """`image` built from `binary` and present in containerd's k8s.io namespace."""
    build(image, binary, base, user)
    if not loaded(layout, image, binary):
        load(layout, image)
        ctr(layout, "images", "label", image, f"{LABEL}={_digest(binary)}")
