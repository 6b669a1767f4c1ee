"""Campaign `slow-clients`: idle, trickling and oversized requests against the production server.

Starts `python -m function.server` on loopback (it needs no API for this: every
request it serves here is a health check or is refused before the handler) and
measures:
- health-check latency while 8, 32 and 300 hostile connections are open (a third
  idle, a third trickling headers, a third with a body that never comes); a failed
  probe is a starved server and must not happen;
- the server's peak memory (VmHWM) after a 300 MiB body is offered, with
  Content-Length and chunked, and how much the client could send before the refusal;
- the server's CPU time for a 16 MiB request line.
Every loop is bounded.  The pure parts (what each hostile connection sends, chunk
framing, percentiles, /proc parsing) are unit-tested.
"""

from __future__ import annotations

import os
import socket
import statistics
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from testbed.campaigns.figures import Figure
from testbed.clusters import Cluster
from testbed.functionserver import FunctionServer

NAME = "slow-clients"
MIB = 1 << 20


@dataclass(frozen=True)
class Size:
    hostile_counts: tuple[int, ...]
    probes: int  # health checks per count
    body_mib: int
    request_line_mib: int


SIZES = {
    "full": Size(hostile_counts=(8, 32, 300), probes=20, body_mib=300, request_line_mib=16),
    "small": Size(hostile_counts=(8, 32), probes=5, body_mib=32, request_line_mib=4),
}


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


@dataclass
class SlowClientsResult:
    health: list[tuple[int, float, float, int]] = field(default_factory=list)  # count, p50, max, failed
    body: list[tuple[str, int, float]] = field(default_factory=list)  # framing, MiB sent, peak MiB
    baseline_mib: float = 0.0
    request_line_mib: int = 0
    request_line_cpu: float = 0.0

    def figures(self) -> list[Figure]:
        out = []
        for count, median, worst, failed in self.health:
            out.append(
                Figure(
                    NAME,
                    f"/healthz under {count} hostile connections: p50 / max ms",
                    f"{median:.1f} / {worst:.1f}",
                )
            )
            out.append(Figure(NAME, f"/healthz probes failed under {count}", failed, zero=True))
        for framing, sent, peak in self.body:
            out.append(Figure(NAME, f"oversized body ({framing}): MiB sent before refusal", sent))
            out.append(
                Figure(
                    NAME,
                    f"oversized body ({framing}): peak RSS MiB (before {self.baseline_mib:.1f})",
                    f"{peak:.1f}",
                )
            )
        out.append(
            Figure(
                NAME,
                f"{self.request_line_mib} MiB request line: server CPU s",
                f"{self.request_line_cpu:.2f}",
            )
        )
        return out

    def details(self) -> list[str]:
        return [
            f"{count} hostile connections: {failed} failed probes"
            for count, _, _, failed in self.health
            if failed
        ]


class _Target:
    """The running server as the campaign pokes it: raw sockets, /healthz, /proc."""

    def __init__(self, server: FunctionServer):
        self.server = server
        self.pid = server.process.pid

    def health(self, timeout: float) -> float | None:
        """Seconds one /healthz took, or None when it failed or timed out."""
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(self.server.url + "healthz", timeout=timeout) as resp:
                resp.read()
        except OSError:
            return None
        return time.perf_counter() - started

    def proc_text(self, name: str) -> str:
        return Path(f"/proc/{self.pid}/{name}").read_text()

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.server.port), timeout=10)


def health_under_hostiles(target: _Target, count: int, probes: int) -> tuple[float, float, int]:
    """(median ms, max ms, failed probes) of health checks with `count` hostile connections."""
    socks = []
    try:
        for i in range(count):
            sock = target.connect()
            sock.sendall(hostile_opening(i))
            socks.append(sock)
        times = [target.health(5.0) for _ in range(probes)]
    finally:
        for sock in socks:
            sock.close()
    ok = [t * 1000 for t in times if t is not None]
    nan = float("nan")
    return (statistics.median(ok) if ok else nan, max(ok, default=nan), len(times) - len(ok))


def offer_body(target: _Target, chunked: bool, total_mib: int) -> int:
    """Offer a `total_mib` body; the MiB the client could send before the server refused
    and closed (what the kernel's socket buffers absorbed included)."""
    sock = target.connect()
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


def request_line_cpu(target: _Target, mib: int) -> float:
    """Server CPU seconds spent on one `GET /healthz?` + `mib` MiB request line."""
    ticks = os.sysconf("SC_CLK_TCK")
    before = cpu_seconds(target.proc_text("stat"), ticks)
    sock = target.connect()
    try:
        sock.sendall(b"GET /healthz?")
        for _ in range(mib):
            sock.sendall(b"a" * MIB)
    except OSError:
        pass
    finally:
        sock.close()
    target.health(10.0)  # the server is free again
    return cpu_seconds(target.proc_text("stat"), ticks) - before


def run(apiserver: Cluster, size: Size, seed: int, workdir: Path) -> SlowClientsResult:
    del seed  # nothing random here
    env = {"KUBECONFIG": str(apiserver.kubeconfig()), "LOG_LEVEL": "ERROR", "TMPDIR": str(workdir)}
    server = FunctionServer("slow-clients", workdir, env).wait_ready(60)
    result = SlowClientsResult(request_line_mib=size.request_line_mib)
    try:
        target = _Target(server)
        for count in size.hostile_counts:
            result.health.append((count, *health_under_hostiles(target, count, size.probes)))
        result.baseline_mib = peak_rss_mib(target.proc_text("status"))
        for chunked in (False, True):
            sent = offer_body(target, chunked, size.body_mib)
            peak = peak_rss_mib(target.proc_text("status"))
            result.body.append(("chunked" if chunked else "Content-Length", sent, peak))
        result.request_line_cpu = request_line_cpu(target, size.request_line_mib)
    finally:
        server.stop()
    return result
