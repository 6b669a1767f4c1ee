"""The version a pinned go.mod of ours requires of a module: one reader for every pin.

Each Go program we build (the CLIs, the monitoring programs, Knative, OpenFaaS, CoreDNS,
Kubernetes) is pinned by a small go.mod in testbed/pins/<name>/; the Makefile (its
go_pin_in) and the build-*.sh scripts beside them read the same `require MODULE VERSION`
line, so the cache folder a build writes and the one the kit looks in always agree.
"""

from __future__ import annotations

from testbed.paths import ROOT


def pinned(folder: str, module: str) -> str:
    """The version `<folder>/go.mod` (relative to the repository) requires of `module`,
    written on one `require MODULE VERSION` line, as the Makefile expects."""
    for line in (ROOT / folder / "go.mod").read_text().splitlines():
        words = line.split()
        if words[:2] == ["require", module]:
            return words[2]
    raise LookupError(f"{folder}/go.mod does not require {module} on one `require` line")
