"""One way to run a program: started, awaited, stopped, its log quoted when it fails.

Each program runs in its own session with stdout and stderr in `<name>.log`, so
a failure can quote the tail of its log, and stopping it (SIGTERM, then SIGKILL
to its process group) also ends children such as the server's workers, and nothing
else.  Every wait is bounded and says, when it gives up, what it waited for and
what the program wrote.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from testbed.net import answers

Ready = Callable[[], bool]


class StartError(RuntimeError):
    """A program exited or did not become ready in time; the message quotes its log."""


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
        try:
            return self._poll(check, timeout, ready if isinstance(ready, str) else "readiness")
        except BaseException:
            self.stop()
            raise

    def _poll(self, check: Ready, timeout: float, what: str) -> float:
        started = time.monotonic()
        while time.monotonic() < started + timeout:
            self.check_alive()
            if check():
                return time.monotonic() - started
            time.sleep(0.1)
        raise StartError(f"{self.name}: no {what} within {timeout}s\n{self.tail()}")

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
