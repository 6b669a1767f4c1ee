"""Programs of the chain: started with their output in a file, awaited, stopped.

Each program runs in its own session with stdout and stderr in `<name>.log`, so a
failure can quote the tail of every log, and stopping it (SIGTERM, then SIGKILL to
its process group) also ends children such as gunicorn's worker.  Every wait is
bounded and says, when it gives up, what it waited for and what the program wrote.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


class StartError(RuntimeError):
    """A program exited or did not answer in time; the message quotes its log."""


def http(method: str, url: str, body: object = None, timeout: float = 5.0) -> tuple[int, bytes]:
    """(status, body) of one plain HTTP request; a JSON body for POST."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def get_json(url: str, timeout: float = 5.0):
    status, body = http("GET", url, timeout=timeout)
    if status != 200:
        raise RuntimeError(f"GET {url}: {status} {body[:300]!r}")
    return json.loads(body)


class Process:
    """One program of the chain, its output in `logs/<name>.log`."""

    def __init__(self, name: str, argv: list[str], log_dir: Path, *, env: dict | None = None,
                 cwd: Path | None = None):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                     start_new_session=True)

    def wait_http(self, url: str, timeout: float) -> float:
        """Wait until GET `url` answers 200; the seconds it took.  If it never does, stop the program."""
        try:
            return self._wait_http(url, timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_http(self, url: str, timeout: float) -> float:
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartError(f"{self.name} exited with {self.proc.returncode}\n{self.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        return time.monotonic() - started
            except (OSError, urllib.error.HTTPError):
                pass
            time.sleep(0.1)
        raise StartError(f"{self.name} did not answer 200 on {url} within {timeout}s\n{self.tail()}")

    def lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def tail(self, count: int = 25) -> str:
        state = "running" if self.proc.poll() is None else f"exited {self.proc.returncode}"
        body = "\n".join(f"    {line}" for line in self.lines()[-count:]) or "    (empty)"
        return f"--- {self.name} ({state}), last {count} lines of {self.log_path}:\n{body}"

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM; after `grace`, SIGKILL to its process group (its own session: only its children)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                # Not reaped yet, so the group id is still this program's own.
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()
