"""We test these aspects (issue 16 findings 2-4): the production server process,
`python -m function.server`, against hostile and slow clients, on loopback.

- idle connections and clients trickling headers or a body cannot starve /healthz;
- a client trickling a request is cut off after READ_TIMEOUT_SECONDS;
- a body over MAX_BODY_BYTES is refused (413, connection closed) before the rest is read,
  for Content-Length and chunked bodies, and the worker's peak memory stays bounded;
- a request line of 16 MiB is refused once it passes MAX_HEADER_BYTES, not parsed whole;
- a 401 closes the connection.
"""

import os
import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from testbed.net import free_port, metric_samples
from testbed.paths import ROOT
from testbed.process import Process

MIB = 1 << 20


class Server:
    """One `python -m function.server` on a free loopback port."""

    def __init__(self, tmp_path: Path, **env: str):
        self.port = free_port()
        full = {**os.environ, "PYTHONPATH": str(ROOT), "KUBECONFIG": str(tmp_path / "none"),
                "TMPDIR": str(tmp_path), "LOG_LEVEL": "ERROR", **env}
        full.pop("KUBERNETES_SERVICE_HOST", None)
        self.process = Process("server", [sys.executable, "-m", "function.server", "--host", "127.0.0.1",
                                          "--port", str(self.port)], tmp_path, env=full)
        self.process.wait_ready(lambda: self.health() == 200, 30)

    def health(self, timeout: float = 5.0) -> int | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=timeout) as r:
                return r.status
        except OSError:
            return None

    def refused(self) -> dict[str, float]:
        """cpu_alert_labeler_refused_total by limit, from /metrics."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        return {labels["limit"]: value for labels, value in metric_samples(text, "cpu_alert_labeler_refused_total")}

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def peak_rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM")

    def stop(self) -> None:
        self.process.stop(15)


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path, THREADS="2", READ_TIMEOUT_SECONDS="3", KEEPALIVE_TIMEOUT_SECONDS="30")
    yield s
    s.stop()


def read_answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or 10 s of silence)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data


@pytest.mark.parametrize("hostile", [8, 32])
def test_idle_and_slow_clients_do_not_starve_health(server, hostile):
    """With 2 threads, `hostile` connections (idle, trickling headers, trickling a body)
    are open and /healthz still answers 200 while they are."""
    socks = [server.connect() for _ in range(hostile)]
    try:
        for i, sock in enumerate(socks):
            if i % 3 == 1:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            elif i % 3 == 2:
                sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        assert [server.health() for _ in range(3)] == [200, 200, 200]
    finally:
        for sock in socks:
            sock.close()


def test_a_trickling_client_is_cut_off(server):
    """One header byte every 0.25 s keeps a connection active but not alive for long:
    the server closes it (READ_TIMEOUT_SECONDS=3) before the headers are complete."""
    sock = server.connect()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    closed = False
    for _ in range(200):  # 50 s at most, far above the 3 s limit
        try:
            sock.sendall(b"a")
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        time.sleep(0.25)
    sock.close()
    assert closed, "the server kept a trickling request open"


def test_oversized_content_length_is_refused_unread(server):
    """A 300 MiB Content-Length is answered 413 with the body unsent, then closed."""
    sock = server.connect()
    sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (300 * MIB))
    answer = read_answer(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"connection: close" in answer.lower()
    assert server.health() == 200
    assert server.refused() == {"body": 1.0}  # counted, though the app never saw it


def test_oversized_chunked_body_is_cut_off_and_memory_stays_bounded(server):
    """A chunked body sent on and on is refused once past MAX_BODY_BYTES: the server stops
    reading long before 300 MiB, and its peak memory stays far below the body's size."""
    before = server.peak_rss_kib()
    sock = server.connect()
    sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (MIB, b"x" * MIB)
    sent = 0
    try:
        while sent < 300:
            sock.sendall(chunk)
            sent += 1
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer = read_answer(sock)
    sock.close()
    assert sent < 300, "the server read a 300 MiB chunked body"
    assert answer == b"" or answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert server.peak_rss_kib() - before < 64 * 1024
    assert server.health() == 200


def test_huge_request_line_is_refused_early(server):
    """A 16 MiB request line is refused once past MAX_HEADER_BYTES; the server answers
    health checks right after and did not read the whole line."""
    sock = server.connect()
    sent = 0
    try:
        sock.sendall(b"GET /healthz?")
        while sent < 16:
            sock.sendall(b"a" * MIB)
            sent += 1
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer = read_answer(sock)
    sock.close()
    assert answer == b"" or answer.split(b" ", 2)[1] in (b"400", b"431"), answer[:200]
    assert sent < 16 or answer, "the whole 16 MiB line was accepted"
    assert server.health() == 200


def test_unauthorized_closes_the_connection(tmp_path):
    """A 401 carries Connection: close and the server closes the socket after it."""
    s = Server(tmp_path, WEBHOOK_TOKEN="t0ken")
    try:
        sock = s.connect()
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        answer = read_answer(sock)
        sock.close()
    finally:
        s.stop()
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"connection: close" in answer.lower()


def test_sigterm_answers_the_request_in_hand(tmp_path):
    """SIGTERM while a webhook waits on the API: the server stops accepting, sends that
    webhook its answer (503 here: the API never answers), then exits 0."""
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(8)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: k, cluster: {{server: 'http://127.0.0.1:{blackhole.getsockname()[1]}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n")
    s = Server(tmp_path, KUBECONFIG=str(kubeconfig), API_TIMEOUT_SECONDS="3", API_ATTEMPTS="1",
               REQUEST_DEADLINE_SECONDS="4")
    try:
        sock = s.connect()
        body = b'{"alerts": [{"labels": {"alertname": "PodCpuFailure", "pod": "p"}}]}'
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        blackhole.settimeout(30)
        api_call, _ = blackhole.accept()  # the function is now waiting on the API
        s.process.proc.terminate()
        answer = read_answer(sock)
        sock.close()
        api_call.close()
        assert s.process.proc.wait(30) == 0
    finally:
        blackhole.close()
        s.stop()
    assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
