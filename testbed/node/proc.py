"""Daemon processes that outlive the command that started them, found again by pid file.

`make cluster` returns while the node keeps running, so each component runs in its own
session with its output in a log file and its pid in a pid file; `down` (possibly from
another process, after a crash) stops it by that pid: SIGTERM to its process group, then
SIGKILL. A pid is trusted only while /proc/<pid>/cmdline still names the same program,
so a recycled pid is never signalled. (A thin local helper; testbed.process from the kit
does the same for foreground processes and can replace the start/stop half.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .layout import Layout


def control_plane(layout: Layout, name: str, *flags: str) -> Daemon:
    """A control-plane component: `layout.bin/<name>` with `flags`, then the tail all three
    share (no profiling endpoint, log level 1), its log and pid under the layout."""
    argv = [str(layout.bin / name), *flags, "--profiling=false", "--v", "1"]
    return Daemon(name, argv, layout.logs, layout.pids)


def local_controller(layout: Layout, name: str, kubeconfig: Path, port: int, *flags: str) -> Daemon:
    """The controller-manager or the scheduler: its own kubeconfig, serving health on
    loopback only, no leader election (one replica)."""
    return control_plane(
        layout,
        name,
        "--kubeconfig",
        str(kubeconfig),
        "--bind-address",
        "127.0.0.1",
        "--secure-port",
        str(port),
        "--leader-elect=false",
        *flags,
    )


class NodeError(RuntimeError):
    """A component failed to start or become ready; the message carries its log tail."""


@dataclass(frozen=True)
class Daemon:
    """One long-running program: its argv, log file and pid file."""

    name: str
    argv: list[str]
    logs: Path
    pids: Path
    env: dict[str, str] | None = None

    @property
    def log(self) -> Path:
        return self.logs / f"{self.name}.log"

    @property
    def pidfile(self) -> Path:
        return self.pids / f"{self.name}.pid"

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pids.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **(self.env or {})}
        with open(self.log, "ab") as out:
            proc = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
        self.pidfile.write_text(f"{proc.pid}\n")

    def pid(self) -> int | None:
        """The live pid of this daemon, or None (no pid file, exited, or pid reused)."""
        try:
            pid = int(self.pidfile.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except (OSError, ValueError):
            return None
        return pid if os.path.basename(cmdline) == os.path.basename(self.argv[0]).encode() else None

    def running(self) -> bool:
        return self.pid() is not None

    def stop(self, timeout: float = 20.0) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, timeout, group=True)
        self.pidfile.unlink(missing_ok=True)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def launch(self, ready: Callable[[], bool], timeout: float, what: str) -> Daemon:
        """Start it and wait until `ready`; the daemon, for its component's start()."""
        self.start()
        self.wait(ready, timeout, what)
        return self

    def wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll `ready` until true; fail with the log tail if the daemon dies or time runs out."""
        deadline = time.monotonic() + timeout
        pid = int(self.pidfile.read_text())
        while True:
            # Liveness by pid only: right after the fork, cmdline still names Python.
            if not _alive(pid):
                raise NodeError(f"{self.name} exited while waiting for {what}; {self.log}:\n{self.tail()}")
            if _safe(ready):
                return
            if time.monotonic() > deadline:
                raise NodeError(f"{self.name}: no {what} after {timeout:.0f}s; {self.log}:\n{self.tail()}")
            time.sleep(0.2)


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:  # a readiness probe that errors is simply not ready yet
        return False


def stop_pid(pid: int, timeout: float = 20.0, *, group: bool = False) -> None:
    """SIGTERM (the group, if asked), wait, then SIGKILL; gone pids are fine."""
    kill = os.killpg if group else os.kill
    try:
        kill(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    try:
        kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while _alive(pid) and time.monotonic() < deadline + 5:
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    if state == "Z":  # a zombie of ours: reap it
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return False
    return True


def run(*argv: str | Path, check: bool = True, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """A short command whose output is wanted; raise with its stderr when it fails."""
    res = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, **kw)
    if check and res.returncode != 0:
        raise NodeError(f"{' '.join(map(str, argv))} failed ({res.returncode}):\n{res.stderr[-2000:]}")
    return res
