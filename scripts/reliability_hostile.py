"""Slow-client and oversized-request campaign (issue 16): figures for `make reliability`.

Starts the production server (`python -m function.server`) on loopback and measures:
- health-check latency while 8, 32 and 300 hostile connections are open (a third idle,
  a third trickling headers, a third trickling a body);
- the server's peak memory (VmHWM) after a 300 MiB body is offered, with Content-Length
  and chunked;
- the server's CPU time for a 16 MiB request line.
Every loop is bounded and everything stays on 127.0.0.1.  The pure helpers (what each
hostile connection sends, chunk framing, percentiles, /proc parsing) are unit-tested in
tests/unit/test_reliability_hostile.py.  Self-contained on purpose: the lead folds it into
the reliability package.
"""

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIB = 1 << 20
HOSTILE_COUNTS = (8, 32, 300)
HEALTH_PROBES = 20


def hostile_opening(index: int) -> bytes:
    """What hostile connection `index` sends and then stalls on: nothing, half a header
    block, or complete headers with a body that never comes."""
    kind = index % 3
    if kind == 0:
        return b""
    if kind == 1:
        return b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
    return b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{"


def chunk_frame(size: int) -> bytes:
    """One HTTP/1.1 chunk of `size` bytes (size > 0)."""
    if size <= 0:
        raise ValueError("a data chunk has at least one byte")
    return b"%x\r\n" % size + b"x" * size + b"\r\n"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank; values must not be empty."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def cpu_seconds(stat_text: str, ticks: int) -> float:
    """utime + stime of a /proc/PID/stat line, in seconds."""
    fields = stat_text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks


def peak_rss_mib(status_text: str) -> float:
    """VmHWM of a /proc/PID/status text, in MiB."""
    for line in status_text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise ValueError("no VmHWM line")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Server:
    def __init__(self, scratch: Path):
        self.port = _free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TMPDIR": str(scratch),
            "LOG_LEVEL": "ERROR",
            "KUBECONFIG": str(scratch / "none"),
        }
        env.pop("KUBERNETES_SERVICE_HOST", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "function.server", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(300):
            if self.health(2.0) is not None:
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the server did not start")

    def health(self, timeout: float) -> float | None:
        """Seconds one /healthz took, or None when it failed or timed out."""
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=timeout) as r:
                r.read()
        except OSError:
            return None
        return time.perf_counter() - started

    def proc_text(self, name: str) -> str:
        return Path(f"/proc/{self.proc.pid}/{name}").read_text()

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def health_under_hostiles(server: _Server, count: int) -> tuple[float, float, int]:
    """(median ms, max ms, failed probes) of health checks with `count` hostile connections."""
    socks = []
    try:
        for i in range(count):
            sock = server.connect()
            sock.sendall(hostile_opening(i))
            socks.append(sock)
        probes = [server.health(5.0) for _ in range(HEALTH_PROBES)]
    finally:
        for sock in socks:
            sock.close()
    ok = [p * 1000 for p in probes if p is not None]
    return (
        statistics.median(ok) if ok else float("nan"),
        max(ok, default=float("nan")),
        len(probes) - len(ok),
    )


def offer_body(server: _Server, chunked: bool, total_mib: int = 300) -> int:
    """Offer a `total_mib` body; the MiB the client could send before the server refused
    and closed (what the kernel's socket buffers absorbed included)."""
    sock = server.connect()
    head = b"POST / HTTP/1.1\r\nHost: x\r\n"
    head += (
        b"Transfer-Encoding: chunked\r\n\r\n"
        if chunked
        else b"Content-Length: %d\r\n\r\n" % (total_mib * MIB)
    )
    sent = 0
    frame = chunk_frame(MIB) if chunked else b"x" * MIB
    try:
        sock.sendall(head)
        for _ in range(total_mib):
            sock.sendall(frame)
            sent += 1
    except OSError:
        pass
    finally:
        sock.close()
    return sent


def request_line_cpu(server: _Server, mib: int = 16) -> float:
    """Server CPU seconds spent on one `GET /healthz?` + `mib` MiB request line."""
    ticks = os.sysconf("SC_CLK_TCK")
    before = cpu_seconds(server.proc_text("stat"), ticks)
    sock = server.connect()
    try:
        sock.sendall(b"GET /healthz?")
        for _ in range(mib):
            sock.sendall(b"a" * MIB)
    except OSError:
        pass
    finally:
        sock.close()
    server.health(10.0)  # the server is free again
    return cpu_seconds(server.proc_text("stat"), ticks) - before


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        server = _Server(Path(scratch))
        try:
            print("hostile campaign: python -m function.server (defaults: THREADS=8)")
            for count in HOSTILE_COUNTS:
                median, worst, failed = health_under_hostiles(server, count)
                print(
                    f"  health under {count:>3} hostile connections: median {median:.1f} ms, "
                    f"max {worst:.1f} ms, failed {failed}/{HEALTH_PROBES}"
                )
            base = peak_rss_mib(server.proc_text("status"))
            for chunked in (False, True):
                taken = offer_body(server, chunked)
                print(
                    f"  300 MiB body ({'chunked' if chunked else 'Content-Length'}): refused after the "
                    f"client sent {taken} MiB (socket buffers included), server peak RSS {peak_rss_mib(server.proc_text('status')):.1f} MiB "
                    f"(before: {base:.1f} MiB)"
                )
            print(
                f"  16 MiB request line: {request_line_cpu(server):.2f} s of server CPU "
                "(clock-tick resolution, 0.01 s)"
            )
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
