"""The function as deployed, in its own process: `python -m function.server` (waitress).

Another target (the benchmark's bare hello) runs under functions-framework's own
server, `python -m functions_framework` (gunicorn), as a user's plain function would.

One launcher for the end-to-end chain, the observability tests, the reliability
campaigns and the benchmarks.  The server's environment starts from the caller's
without any variable the function reads (so a developer's shell cannot change
what is tested or measured), then takes what the caller sets.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path

from function.config import Settings
from testbed.net import free_port
from testbed.paths import ROOT, SOURCE
from testbed.process import Process

# functions-framework's own knobs: DEBUG would pick Flask's development server.
_FRAMEWORK = {"KUBERNETES_SERVICE_HOST", "DEBUG", "FUNCTION_USE_ASGI", "KUBECONFIG"}


def clean_env(scratch: Path, **env: str) -> dict[str, str]:
    """os.environ without the function's settings, then `env`; the server's files under `scratch`."""
    ours = {f.metadata["env"] for f in fields(Settings)}
    drop = ours | {f"{name}_FILE" for name in ours} | _FRAMEWORK
    clean = {k: v for k, v in os.environ.items() if k not in drop}
    # Spilled request bodies go to $TMPDIR (waitress); gunicorn (the bench's hello) puts its
    # control socket in $XDG_RUNTIME_DIR: one directory per server for both.
    clean.update(
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        HOME=str(scratch),
        XDG_RUNTIME_DIR=str(scratch),
        TMPDIR=str(scratch),
    )
    clean.update(env)
    return clean


class FunctionServer:
    """A production server of `target` in `source` on a free loopback port; `url` ends in '/'."""

    def __init__(
        self,
        name: str,
        workdir: Path,
        env: Mapping[str, str],
        *,
        target: str = "handle",
        source: Path = SOURCE,
        port: int | None = None,
    ):
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.process = Process(
            name,
            server_argv(target, source, self.port),
            self.dir,
            env=clean_env(self.dir, **env),
            cwd=ROOT,
        )

    def wait_ready(self, timeout: float = 90.0) -> FunctionServer:
        self.process.wait_ready(self.url + "healthz", timeout)
        return self

    def stop(self) -> int:
        return self.process.stop(15)  # both servers answer the requests in hand on SIGTERM


def server_argv(target: str, source: Path | str, port: int) -> list[str]:
    """The command line serving `target` of `source` on 127.0.0.1:`port`: the production
    server for the function, functions-framework's own for anything else."""
    where = ["--host", "127.0.0.1", "--port", str(port)]
    if (target, Path(source)) == ("handle", Path(SOURCE)):
        return [sys.executable, "-m", "function.server", *where]
    return [sys.executable, "-m", "functions_framework", "--target", target, "--source", str(source), *where]
