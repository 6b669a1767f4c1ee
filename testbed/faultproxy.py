"""A fault-injecting HTTP proxy in front of the test kube-apiserver.

The function under test talks plain HTTP to the proxy (through an ordinary
kubeconfig, `FaultProxy.kubeconfig()`); the proxy forwards to the real
apiserver over HTTPS, checked against the test CA, through a urllib3
connection pool.  At configurable rates it injects the failures a real
cluster's API produces, so the retry policy is exercised against the real
server's answers and not a stand-in's:

- `500`, `503`, `429`: answered by the proxy with a Kubernetes Status body;
  the request never reaches the apiserver;
- `drop`: the connection is closed without an answer, nothing forwarded;
- `drop_after`: the request is forwarded (the write happens) and then the
  connection is closed without an answer: the client cannot know that its
  write landed, the nastiest case for a writer;
- `delay`: the request is held past the client's timeout, then forwarded
  anyway (a late write: only the resourceVersion precondition keeps it from
  overwriting newer state), and the answer goes to a client that has left.

A latency mode (`latency=(low, high)`, seconds) holds every forwarded request a
random time between the two (seeded; equal bounds hold a fixed time) before it
goes upstream: a slow or loaded apiserver, with no fault at all.  With neither
rates nor latency the proxy passes everything through and only counts: every
forwarded request by method, and every upstream answer by status (the
apiserver's own 429s, say).

Faults are drawn from a shuffled deck (a seeded RNG): each deck of `deck`
requests holds exactly `round(rate * deck)` faults of each kind, so a run
of a few hundred requests sees every kind in its exact proportion, and the
same seed gives the same sequence for sequential requests.  Every injected
fault is counted by kind, and every request sent upstream is counted.
"""

from __future__ import annotations

import collections
import json
import random
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import urllib3

from testbed.clusters.credentials import write_kubeconfig

KINDS = ("500", "503", "429", "delay", "drop", "drop_after")
_STATUS = {"500": (500, "InternalError"), "503": (503, "ServiceUnavailable"), "429": (429, "TooManyRequests")}
# Hop-by-hop headers (RFC 9110 7.6.1) are the proxy's own business on each side.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "host",
        "content-length",
    }
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256  # many function threads connect at once


def status_body(code: int, reason: str) -> bytes:
    """The Status object the real apiserver sends with an error."""
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": f"injected by faultproxy: {reason}",
            "reason": reason,
            "code": code,
        }
    ).encode()


class FaultProxy:
    """A threaded HTTP -> HTTPS proxy to one upstream that injects faults at given rates."""

    def __init__(
        self,
        upstream: str,
        ca_file: Path | str,
        *,
        rates: dict[str, float] | None = None,
        seed: int = 0,
        delay: float = 1.5,
        deck: int = 100,
        pool_size: int = 64,
        upstream_timeout: float = 30.0,
        latency: tuple[float, float] | None = None,
    ):
        self.delay = delay
        self.counts: collections.Counter[str] = collections.Counter()
        self.forwarded = 0
        self.calls: list[tuple[str, str]] = []  # forwarded (method, path without the query), in order
        self.statuses: collections.Counter[int] = collections.Counter()  # upstream answers
        self.held = 0.0  # seconds of latency added in all
        self.requests = 0
        self.injected: list[str] = []  # the kinds in the order they were drawn ("" = none)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._rng = random.Random(seed)
        self._latency_rng = random.Random(seed + 1)  # apart, so latency does not change the faults
        self._deck_size = deck
        self._deck: list[str] = []
        self.set_rates(rates or {})
        self._latency: tuple[float, float] | None = None
        self.set_latency(latency)
        parsed = urllib.parse.urlsplit(upstream)
        self._pool = urllib3.HTTPSConnectionPool(
            parsed.hostname or "127.0.0.1",
            parsed.port,
            ca_certs=str(ca_file),
            cert_reqs="CERT_REQUIRED",
            maxsize=pool_size,
            block=False,
            retries=False,
            timeout=urllib3.Timeout(connect=5.0, read=upstream_timeout),
        )
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="faultproxy", kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    # -- configuration -----------------------------------------------------------------
    def set_rates(self, rates: dict[str, float]) -> None:
        """Fault probability per kind (0..1, summing to at most 1); a new deck starts."""
        unknown = set(rates) - set(KINDS)
        if unknown or any(r < 0 for r in rates.values()) or sum(rates.values()) > 1 + 1e-9:
            raise ValueError(f"bad rates {rates!r}: kinds are {KINDS}, each >= 0, total <= 1")
        with self._lock:
            self._rates = {k: rates.get(k, 0.0) for k in KINDS}
            self._deck = []

    def set_latency(self, latency: tuple[float, float] | None) -> None:
        """Hold every forwarded request between `low` and `high` seconds; None: no hold."""
        if latency is not None and not 0 <= latency[0] <= latency[1]:
            raise ValueError(f"bad latency {latency!r}: want 0 <= low <= high (seconds)")
        with self._lock:
            self._latency = latency

    @staticmethod
    def spread(total: float, kinds: tuple[str, ...] = KINDS) -> dict[str, float]:
        """`total` fault rate split evenly over `kinds`."""
        return {k: total / len(kinds) for k in kinds}

    def kubeconfig(self, path: Path, token: str) -> Path:
        """A kubeconfig that reaches the apiserver through this proxy with `token`."""
        return write_kubeconfig(path, server=self.url, ca=None, user="proxy", token=token, cluster="proxy")

    @property
    def methods(self) -> collections.Counter[str]:
        """The requests forwarded, by method."""
        with self._lock:
            return collections.Counter(method for method, _ in self.calls)

    def summary(self) -> dict:
        with self._lock:
            return {
                "requests": self.requests,
                "forwarded": self.forwarded,
                **{k: self.counts[k] for k in KINDS},
            }

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self._pool.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the decision --------------------------------------------------------------------
    def _draw(self) -> str:
        with self._lock:
            self.requests += 1
            if not self._deck:
                self._deck = self._new_deck()
            kind = self._deck.pop()
            self.injected.append(kind)
            if kind:
                self.counts[kind] += 1
            return kind

    def _new_deck(self) -> list[str]:
        deck = [kind for kind in KINDS for _ in range(round(self._rates[kind] * self._deck_size))]
        deck += [""] * max(self._deck_size - len(deck), 0)
        self._rng.shuffle(deck)
        return deck

    def _hold(self) -> float:
        """The latency to add to the next forwarded request, in seconds."""
        with self._lock:
            if self._latency is None:
                return 0.0
            hold = self._latency_rng.uniform(*self._latency)
            self.held += hold
            return hold

    # -- forwarding ----------------------------------------------------------------------
    def _forward(self, method: str, path: str, headers: dict, body: bytes):
        with self._lock:
            self.forwarded += 1
            self.calls.append((method, path.split("?", 1)[0]))
        response = self._pool.urlopen(
            method,
            path,
            body=body or None,
            headers=headers,
            redirect=False,
            preload_content=True,
            assert_same_host=False,
        )
        with self._lock:
            self.statuses[response.status] += 1
        return response

    def _handler_class(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the kubernetes client expects
            timeout = 60  # an idle keep-alive connection's thread ends after this

            def _serve(self):
                body = self._read_body()
                kind = proxy._draw()
                if kind in _STATUS:
                    return self._answer(*_STATUS[kind])
                if kind == "drop":
                    return self._drop()
                if kind == "delay" and proxy._closing.wait(proxy.delay):
                    return self._drop()
                hold = proxy._hold()
                if hold and proxy._closing.wait(hold):
                    return self._drop()
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                try:
                    response = proxy._forward(self.command, self.path, headers, body)
                except urllib3.exceptions.HTTPError as exc:
                    return self._answer(502, "BadGateway", f"upstream: {type(exc).__name__}")
                if kind == "drop_after":
                    return self._drop()
                self._relay(response)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

            def _read_body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _answer(self, code: int, reason: str, message: str | None = None):
                body = (
                    status_body(code, reason)
                    if message is None
                    else json.dumps(
                        {
                            "kind": "Status",
                            "apiVersion": "v1",
                            "status": "Failure",
                            "message": message,
                            "reason": reason,
                            "code": code,
                        }
                    ).encode()
                )
                self._send(
                    code,
                    {"Content-Type": "application/json", **({"Retry-After": "1"} if code == 429 else {})},
                    body,
                )

            def _relay(self, response):
                headers = {k: v for k, v in response.headers.items() if k.lower() not in _HOP}
                self._send(response.status, headers, response.data or b"")

            def _send(self, code: int, headers: dict, body: bytes):
                try:
                    self.send_response(code)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)
                    self.wfile.flush()
                except OSError:  # the client left (after a delay): nothing to tell it
                    self.close_connection = True

            def _drop(self):
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            def handle_one_request(self):
                try:
                    super().handle_one_request()
                except (ConnectionError, TimeoutError):
                    self.close_connection = True

            def log_message(self, *args):
                pass

        return Handler
