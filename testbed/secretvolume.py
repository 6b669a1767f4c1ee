"""Secret files replaced the two ways a running process sees them replaced, for rotation tests.

- `replace_file`: a new file written beside the old one and renamed over it (what
  `kubectl create secret ... | tee`-style tooling, Docker and OpenFaaS leave behind);
- `SecretVolume`: the layout the kubelet gives a mounted Secret (its AtomicWriter):
  the data lives in a timestamped folder `..2026_01_02_03_04_05.123456789`, the symlink
  `..data` points at it, and each key is a symlink `token -> ..data/token`.  An update
  writes a new timestamped folder, points `..data_tmp` at it, renames that over `..data`
  (one atomic swap for every key at once) and removes the old folder.  A reader holding
  the path `dir/token` therefore sees the old content or the new, never a mix.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from testbed.private import write_private


def replace_file(path: Path, text: str) -> Path:
    """Put `text` in `path` by writing a temporary file and renaming it over the old one."""
    fresh = write_private(path.with_name(f".{path.name}.tmp"), text)
    os.replace(fresh, path)
    return path


class SecretVolume:
    """A Secret volume in `directory`, laid out and updated as the kubelet does it."""

    def __init__(self, directory: Path, files: Mapping[str, str]):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.update(files)
        for key in files:
            (directory / key).symlink_to(Path("..data") / key)

    def path(self, key: str) -> Path:
        """The path a pod's container is given: `dir/key`, a symlink through `..data`."""
        return self.directory / key

    def update(self, files: Mapping[str, str]) -> None:
        """Swap in a new version of every key at once (the kubelet's `..data` rename)."""
        data = self.directory / "..data"
        old = data.resolve() if data.is_symlink() else None
        stamp = time.strftime("..%Y_%m_%d_%H_%M_%S", time.gmtime()) + f".{time.time_ns() % 10**9:09d}"
        version = self.directory / stamp
        version.mkdir()
        for key, text in files.items():
            write_private(version / key, text)
        link = self.directory / "..data_tmp"
        link.symlink_to(stamp)
        os.replace(link, data)
        if old is not None:
            shutil.rmtree(old)


LAYOUTS = ("renamed", "kubelet")


def rotating_file(directory: Path, layout: str, text: str) -> tuple[Path, Callable[[str], object]]:
    """A token file holding `text` under `directory`, and the function that rotates it, laid out
    as `layout` says: "renamed" (replace_file) or "kubelet" (key `token` of a SecretVolume)."""
    if layout == "kubelet":
        volume = SecretVolume(directory / "secret", {"token": text})
        return volume.path("token"), lambda new: volume.update({"token": new})
    path = replace_file(directory / "token", text)
    return path, lambda new: replace_file(path, new)
