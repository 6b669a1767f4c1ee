"""One way to write a kubeconfig: a server, its CA and one bearer token (JSON is valid YAML).

The test apiserver and the node both hand out token identities; kubectl, the function and
the platform CLIs all read them through such a file.
"""

from __future__ import annotations

import json
from pathlib import Path

from testbed.private import write_private


def write_kubeconfig(
    path: Path, *, server: str, ca: Path | None, user: str, token: str, cluster: str
) -> Path:
    """Write a kubeconfig for `user` with `token` against `server` (trusting `ca`; plain HTTP
    when None), readable by us only."""
    reach: dict[str, str] = {"server": server}
    if ca is not None:
        reach["certificate-authority"] = str(ca)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": cluster,
        "clusters": [{"name": cluster, "cluster": reach}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
    }
    return write_private(path, json.dumps(config, indent=1))
