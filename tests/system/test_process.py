"""We test these aspects: the kit's one process runner (testbed.process).

Process, a program this process holds:

- readiness by URL or by callable, and the seconds it took;
- a program that exits before it is ready fails the wait with its exit status and log tail;
- a wait that times out stops the program and says what it waited for;
- stop() sends SIGTERM, then SIGKILL to the whole process group: a child that ignores
  SIGTERM is gone too, and the exit status says how it ended.

Daemon, a program found again by its pid file (the node's daemons):
- launched and awaited, then found and stopped through a fresh Daemon, as `down` does from
  another process: the group is killed after the timeout, the pid file removed;
- a daemon that exits while awaited, or never gets ready, fails with its log tail; a
  readiness probe that raises is "not ready yet";
- a pid file naming another program (a recycled pid) is not trusted, so never signalled.
"""

import os
import sys
import time

import pytest

from testbed.net import free_port
from testbed.process import Daemon, Process, StartError, alive


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_ready_by_url_then_stopped(tmp_path):
    """A server answering 200 is ready; SIGTERM ends it (exit status -15)."""
    port = free_port()
    server = Process("web", [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
                     tmp_path, cwd=tmp_path)
    try:
        assert server.wait_ready(f"http://127.0.0.1:{port}/", 30) >= 0
        assert server.running()
    finally:
        status = server.stop()
    assert status == -15 and not server.running()


def test_exit_before_ready_quotes_the_log(tmp_path):
    """The failure names the program, its exit status and the last lines it wrote."""
    broken = Process("broken", python("import sys; print('config is wrong'); sys.exit(3)"), tmp_path)
    with pytest.raises(StartError, match=r"(?s)broken exited with 3.*config is wrong"):
        broken.wait_ready(lambda: False, 30)


def test_timeout_stops_the_program_and_says_what_it_waited_for(tmp_path):
    """A program that never gets ready is stopped when the wait gives up."""
    slow = Process("slow", python("import time; time.sleep(60)"), tmp_path)
    with pytest.raises(StartError, match=r"slow: no readiness within 0.3s"):
        slow.wait_ready(lambda: False, 0.3)
    assert not slow.running()


def test_stop_kills_the_group_when_sigterm_is_ignored(tmp_path):
    """A parent and its child both ignoring SIGTERM are killed together after the grace."""
    code = ("import os, signal, subprocess, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "child = subprocess.Popen([sys.executable, '-c', "
            "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(60)\n")
    stubborn = Process("stubborn", python(code), tmp_path)
    stubborn.wait_ready(lambda: bool(stubborn.lines()), 30)
    child = int(stubborn.lines()[0])
    assert stubborn.stop(grace=0.5) == -9
    for _ in range(50):  # the child is reparented and reaped by init: give it a moment
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"child {child} survived the group kill")


def daemon(tmp_path, name: str, code: str) -> Daemon:
    return Daemon(name, python(code), tmp_path / "logs", tmp_path / "pids", env={"GREETING": "hello"})


def test_daemon_found_again_by_its_pid_file_and_stopped(tmp_path):
    """A fresh Daemon with the same name finds the pid; stop() kills the group (a child
    ignoring SIGTERM too) after the timeout and removes the pid file."""
    code = ("import os, signal, subprocess, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "child = subprocess.Popen([sys.executable, '-c', "
            "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
            "print(os.environ['GREETING'], child.pid, flush=True)\n"
            "time.sleep(60)\n")
    started = daemon(tmp_path, "stubborn", code)
    started.launch(lambda: bool(started.tail()), 30, "its first line")
    greeting, child = started.tail().split()
    assert greeting == "hello"  # env is added to this process's environment
    again = daemon(tmp_path, "stubborn", code)
    pid = again.pid()
    assert pid is not None and again.running()
    again.stop(timeout=0.5)
    assert not alive(pid) and not again.pidfile.exists() and again.pid() is None
    for _ in range(50):  # reparented to init, which reaps it
        if not alive(int(child)):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"child {child} survived the group kill")


def test_daemon_exit_or_timeout_quotes_the_log(tmp_path):
    """An exit while awaited names what was awaited and quotes the log; a probe that raises
    counts as not ready, and the timeout says so (the daemon is left running)."""
    broken = daemon(tmp_path, "broken", "import sys; print('config is wrong'); sys.exit(3)")
    with pytest.raises(StartError, match=r"(?s)broken exited while waiting for /healthz; .*config is wrong"):
        broken.launch(lambda: False, 30, "/healthz")
    slow = daemon(tmp_path, "slow", "import time; time.sleep(60)")

    def probe() -> bool:
        raise ConnectionRefusedError

    with pytest.raises(StartError, match=r"slow: no /readyz after 0s"):
        slow.launch(probe, 0.3, "/readyz")
    try:
        assert slow.running()
    finally:
        slow.stop(timeout=5)


def test_daemon_does_not_trust_a_recycled_pid(tmp_path):
    """A pid file whose pid now runs another program reads as not running; stop() leaves it."""
    other = Daemon("other", ["/usr/bin/not-this-program"], tmp_path / "logs", tmp_path / "pids")
    other.pids.mkdir(parents=True)
    other.pidfile.write_text(f"{os.getpid()}\n")
    assert other.pid() is None and not other.running()
    other.stop()
    assert alive(os.getpid()) and not other.pidfile.exists()
