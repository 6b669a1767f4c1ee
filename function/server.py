"""The production HTTP server: functions-framework's WSGI app behind waitress.

Why not functions-framework's own server (gunicorn, gthread): there a worker
thread reads each request itself, with no read timeout (timeout 0) and no
request-line limit, so eight idle or slow connections took every thread, health
checks included, and a 16 MiB request line cost half a minute of CPU.  Waitress
reads requests in one asynchronous front end and hands a thread only a request
that is complete, so slow clients cost a socket, never a thread; it refuses a
body over MAX_BODY_BYTES before buffering past it (Content-Length or chunked)
and a request line or headers over MAX_HEADER_BYTES.  On top of its idle timeout
this module adds a total time to read one request (READ_TIMEOUT_SECONDS), so a
client trickling a byte every few seconds is cut off too, and closes the
connection after a 401 or 413 so an unauthenticated sender cannot keep it.

The function stays a functions-framework target: the app is
`functions_framework.create_app("handle", function/main.py)`.  Imports:
functions_framework, waitress, function.config and function.metrics (to count the
bodies waitress refuses before the app sees them); nothing else of function/.
With WORKERS > 1 the listening socket is opened here and each worker process
(forked before the app is loaded, so clients are built per worker) serves it.
SIGTERM stops accepting, answers the requests in hand (up to their deadline), then exits.
"""

import argparse
import atexit
import os
import signal
import socket
import sys
import time
from pathlib import Path

import functions_framework
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, WSGITask

from function.config import Settings
from function.metrics import REFUSED

SOURCE = str(Path(__file__).resolve().parent / "main.py")
_CLOSE_AFTER = ("401", "413")  # statuses after which the connection is not kept


class _ClosingTask(WSGITask):
    """Closes the connection after a refusal: nobody unauthenticated keeps a socket."""

    def build_response_header(self):
        if self.status[:3] in _CLOSE_AFTER:
            self.set_close_on_finish()
        return super().build_response_header()


class _CountedErrorTask(ErrorTask):
    """Waitress's answer to a request it refused while reading; a body over MAX_BODY_BYTES
    (413) is counted with the app's own refusals."""

    def execute(self):
        if getattr(self.request.error, "code", None) == 413:
            REFUSED.labels("body").inc()
        return super().execute()


class _TimedChannel(HTTPChannel):
    """Remembers when the request being read began, for the total read timeout."""

    task_class = _ClosingTask
    error_task_class = _CountedErrorTask
    reading_since: float | None = None

    def received(self, data):
        if self.request is None and data:
            self.reading_since = time.time()
        return super().received(data)


class _Server(TcpWSGIServer):
    """Waitress's server, also closing connections that take too long to send a request,
    and draining on SIGTERM: no new connections, the requests in hand answered, then exit."""

    channel_class = _TimedChannel
    read_timeout = 10.0
    drain_timeout = 10.0
    draining_since: float | None = None

    def readable(self):
        accepting = super().readable()  # runs maintenance() once per cleanup interval
        return accepting and self.draining_since is None

    def maintenance(self, now):
        super().maintenance(now)
        for channel in list(self.active_channels.values()):
            since = getattr(channel, "reading_since", None)
            if channel.request is not None and since is not None and now - since > self.read_timeout:
                channel.will_close = True
        if self.draining_since is not None:
            busy = any(c.requests or c.total_outbufs_len for c in self.active_channels.values())
            if not busy or now - self.draining_since > self.drain_timeout:
                raise SystemExit(0)  # waitress's run() catches it and closes everything


def adjustments(settings: Settings) -> dict:
    """Waitress settings from ours; each line is one limit the README's safety section names."""
    return {
        "threads": settings.threads,
        "connection_limit": settings.max_connections,
        "max_request_body_size": settings.max_body_bytes,
        "max_request_header_size": settings.max_header_bytes,
        "channel_timeout": max(1, round(settings.keepalive_timeout)),  # idle, between requests too
        "cleanup_interval": 1,  # how often timeouts and draining are checked, in seconds
        "asyncore_use_poll": True,  # select() stops at 1024 descriptors
        "channel_request_lookahead": 0,
        "clear_untrusted_proxy_headers": True,
        "ident": "cpu-alert-labeler",
    }


def build(settings: Settings, sock: socket.socket) -> _Server:
    """A server for the function on an open listening socket."""
    app = functions_framework.create_app("handle", SOURCE, "http")
    server = _Server(
        app,
        None,
        True,
        sock,
        adj=Adjustments(**adjustments(settings)),
        bind_socket=False,
        sockinfo=(sock.family, sock.type, sock.proto, sock.getsockname()),
    )
    server.read_timeout = settings.read_timeout
    # A request in hand may take its whole deadline; then its answer must still be sent.
    server.drain_timeout = settings.request_deadline + 2
    return server


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


def serve(settings: Settings, sock: socket.socket) -> None:
    stopped: list[float] = []
    # Installed before the app loads, so a SIGTERM during start-up is not lost.
    signal.signal(signal.SIGTERM, lambda *_: stopped.append(time.time()))
    server = build(settings, sock)

    def drain(*_) -> None:
        server.draining_since = time.time()

    signal.signal(signal.SIGTERM, drain)
    if stopped:
        drain()
    server.run()


def _supervise(settings: Settings, sock: socket.socket) -> int:
    """Fork the workers, pass SIGTERM on, and wait for them all."""
    children = []
    for _ in range(settings.workers):
        pid = os.fork()
        if pid == 0:
            try:
                serve(settings, sock)
            finally:
                atexit._run_exitfuncs()  # this worker's own (the app's, loaded after the fork)
                os._exit(0)
        children.append(pid)

    def forward(*_) -> None:
        for pid in children:
            _kill(pid)

    signal.signal(signal.SIGTERM, forward)
    status = 0
    for pid in children:
        _, code = os.waitpid(pid, 0)  # retried by Python itself when a signal interrupts it (PEP 475)
        status = status or os.waitstatus_to_exitcode(code)
    return status


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default: $PORT, else 8080")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    sock = listen(args.host, args.port if args.port is not None else settings.port)
    if settings.workers == 1:
        serve(settings, sock)
        return 0
    return _supervise(settings, sock)


if __name__ == "__main__":
    sys.exit(main())
