"""Where the platforms' own CLIs live: kn and faas-cli, built from pinned Go modules.

scripts/build-go-tool.sh builds them into the cache outside the clone (the Makefile's
`tools` target); tests find them here and run them as a user would.
"""

from __future__ import annotations

from pathlib import Path

from testbed.manifests import cache_root

# Keep equal to scripts/build-go-tool.sh and the Makefile's KN and FAAS_CLI.
KN_VERSION = "v0.40.0"
FAAS_CLI_VERSION = "v0.0.0-20211012083206-08e3e965c831"


def kn() -> Path:
    """The pinned kn (knative.dev/client v0.40.0, Knative 1.13)."""
    return cache_root() / f"kn-{KN_VERSION}" / "bin" / "kn"


def faas_cli() -> Path:
    """The pinned faas-cli (github.com/openfaas/faas-cli at 08e3e965c831, 2021-10-12)."""
    return cache_root() / f"faas-cli-{FAAS_CLI_VERSION}" / "bin" / "faas-cli"
