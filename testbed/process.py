"""The kit's one process runner: programs started, awaited, stopped, their logs quoted when they fail.

Every program runs in its own session with stdout and stderr appended to `<name>.log`,
so a failure can quote the tail of its log, and a stop (SIGTERM, then SIGKILL to its
process group) also ends its children, such as a server's workers, and nothing else.
Every wait is bounded and says, when it gives up, what it waited for and what the
program wrote. Two handles share that start, wait and log:

- `Process`, a program this Python process holds (the loopback apiserver, the function
  server, a campaign's Alertmanager): stopped through its `Popen`, which also gives its
  exit status.
- `Daemon`, a program that outlives the command that started it (the node's etcd,
  apiserver, kubelet, containerd..., `make cluster` returns while they run): its pid in
  a pid file, so `down`, possibly from another process after a crash, stops it by that
  pid. A pid is trusted only while /proc/<pid>/cmdline still names the same program,
  so a recycled pid is never signalled.

`run()` is the third way, for a short command whose output is wanted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from testbed.net import answers

Ready = Callable[[], bool]


class StartError(RuntimeError):
    """A program exited or did not become ready in time, or a command failed; the
    message quotes its log (or its stderr)."""


class Process:
    """A program started at construction, its output in `log_dir/<name>.log`."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.started = time.perf_counter()
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=None if env is None else dict(env),
                cwd=cwd,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def check_alive(self) -> None:
        """Raise StartError, quoting the log, if the program has exited."""
        if not self.running():
            raise StartError(f"{self.name} exited with {self.proc.returncode}\n{self.tail()}")

    def wait_ready(self, ready: str | Ready, timeout: float) -> float:
        """Wait until `ready` (a URL answering 200, or a callable) holds; the seconds it took.

        If it never does, or the program exits first, stop the program and raise StartError.
        """
        check = (lambda: answers(ready)) if isinstance(ready, str) else ready
        what = ready if isinstance(ready, str) else "readiness"
        try:
            took = poll(check, timeout, alive=self.check_alive, every=0.1)
            if took is None:
                raise StartError(f"{self.name}: no {what} within {timeout}s\n{self.tail()}")
            return took
        except BaseException:
            self.stop()
            raise

    def children(self) -> list[int]:
        """The ids of the program's direct children (the server's workers, say)."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def tail(self, count: int = 25) -> str:
        """The last `count` lines of the log, headed by the program's state."""
        state = "running" if self.running() else f"exited {self.proc.returncode}"
        body = "\n".join(f"    {line}" for line in self.lines()[-count:]) or "    (empty)"
        return f"--- {self.name} ({state}), last {count} lines of {self.log_path}:\n{body}"

    def stop(self, grace: float = 10.0) -> int:
        """SIGTERM; after `grace`, SIGKILL to its process group (its own session: only its children).

        Returns the exit status (negative: the signal that ended it).
        """
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                # Not reaped yet, so the group id is still this program's own.
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode


@dataclass(frozen=True)
class Daemon:
    """A program that outlives its starter: argv, log file `logs/<name>.log`, pid file
    `pids/<name>.pid`. Holds no handle, so any process can build the same Daemon again
    (from a layout, say) to find, wait for or stop the running program."""

    name: str
    argv: list[str]
    logs: Path
    pids: Path
    env: dict[str, str] | None = None
    """Added to this process's environment (a Process replaces it)."""

    @property
    def log(self) -> Path:
        return self.logs / f"{self.name}.log"

    @property
    def pidfile(self) -> Path:
        return self.pids / f"{self.name}.pid"

    def start(self) -> None:
        """Start it as a Process (own session, the log appended) and record its pid."""
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pids.mkdir(parents=True, exist_ok=True)
        started = Process(self.name, self.argv, self.logs, env={**os.environ, **(self.env or {})})
        self.pidfile.write_text(f"{started.pid}\n")

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
        """SIGTERM to its process group; after `timeout`, SIGKILL; the pid file removed."""
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, timeout, group=True)
        self.pidfile.unlink(missing_ok=True)

    def tail(self, lines: int = 40) -> str:
        """The last `lines` lines of its log, as written."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def launch(self, ready: Ready, timeout: float, what: str) -> Daemon:
        """Start it and wait until `ready`; the daemon, for its component's start()."""
        self.start()
        self.wait(ready, timeout, what)
        return self

    def wait(self, ready: Ready, timeout: float, what: str) -> None:
        """Poll `ready` (an error in it is "not yet") until true; raise StartError with the
        log tail if the daemon dies or time runs out. The daemon is left as it is."""
        pid = int(self.pidfile.read_text())

        def check_alive() -> None:
            # Liveness by pid only: right after the fork, cmdline still names Python.
            if not alive(pid):
                raise StartError(f"{self.name} exited while waiting for {what}; {self.log}:\n{self.tail()}")

        if poll(lambda: _safe(ready), timeout, alive=check_alive, every=0.2) is None:
            raise StartError(f"{self.name}: no {what} after {timeout:.0f}s; {self.log}:\n{self.tail()}")


def poll(ready: Ready, timeout: float, *, alive: Callable[[], None], every: float) -> float | None:
    """Call `alive()` (which raises if the program died), then `ready()`, every `every`
    seconds for up to `timeout`; the seconds until `ready()` held, or None."""
    started = time.monotonic()
    while time.monotonic() < started + timeout:
        alive()
        if ready():
            return time.monotonic() - started
        time.sleep(every)
    return None


def _safe(check: Ready) -> bool:
    try:
        return bool(check())
    except Exception:  # a readiness probe that errors is simply not ready yet
        return False


def stop_pid(pid: int, timeout: float = 20.0, *, group: bool = False) -> None:
    """A pid this process does not hold: SIGTERM (the group, if asked), wait, then
    SIGKILL; gone pids are fine."""
    kill = os.killpg if group else os.kill
    try:
        kill(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.1)
    try:
        kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while alive(pid) and time.monotonic() < deadline + 5:
        time.sleep(0.1)


def alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie is not running (and, if it is our child, is reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    if state == "Z":
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return False
    return True


def run(*argv: str | Path, check: bool = True, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """A short command whose output is wanted; raise StartError with its stderr when it fails."""
    res = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, **kw)
    if check and res.returncode != 0:
        raise StartError(f"{' '.join(map(str, argv))} failed ({res.returncode}):\n{res.stderr[-2000:]}")
    return res
