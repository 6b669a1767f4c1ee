"""We test these aspects of the in-cluster transport (function/kube/httpspool.py), over
real TLS on loopback with the test apiserver's certificates:

- connections are kept and reused between requests;
- a kept connection that the server has since closed (as the apiserver closes idle ones)
  is replaced before use, so the request still gets its answer;
- an answer marked `Connection: close` is not kept;
- a server that does not answer in time is a TransportError, not a hang.
"""

import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from function.kube.connection import TransportError
from function.kube.httpspool import HttpsPool


class Server:
    """An HTTPS server counting its connections; `close_after` ends each after one answer."""

    def __init__(self, certs, *, close_after: bool = False, announce_close: bool = False):
        self.connections = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                server.connections += 1
                super().setup()

            def do_GET(self):
                body = b'{"ok":true}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                if announce_close:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                # Closing without saying so: what a server does to a connection left idle.
                self.close_connection = close_after or announce_close

            def log_message(self, *args):
                pass

        class Httpd(ThreadingHTTPServer):
            def shutdown_request(self, request):
                super().shutdown_request(request)
                server.closed.release()  # one connection fully closed on the server's side

        self.closed = threading.Semaphore(0)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certs / "server.crt", certs / "server.key")
        self.httpd = Httpd(("127.0.0.1", 0), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def pool_for(apiserver):
    servers = []

    def build(**kwargs) -> tuple[Server, HttpsPool]:
        server = Server(apiserver.dir, **kwargs)
        servers.append(server)
        context = ssl.create_default_context(cafile=str(apiserver.dir / "ca.crt"))
        return server, HttpsPool("127.0.0.1", server.port, context=context, size=2)

    yield build
    for server in servers:
        server.close()


def get(pool: HttpsPool):
    return pool.request("GET", "/x", headers={}, body=None, timeout=5)


def test_connections_are_kept(pool_for):
    server, pool = pool_for()
    assert [get(pool).status for _ in range(3)] == [200, 200, 200]
    assert server.connections == 1


def test_a_connection_closed_by_the_server_is_replaced(pool_for):
    """Each answer is followed by the server closing the socket; every request still succeeds."""
    server, pool = pool_for(close_after=True)
    answers = []
    for _ in range(3):
        answers.append(get(pool))
        assert server.closed.acquire(timeout=10)  # the server has closed the kept connection
    assert [a.data for a in answers] == [b'{"ok":true}'] * 3
    assert server.connections == 3


def test_an_announced_close_is_not_kept(pool_for):
    server, pool = pool_for(announce_close=True)
    assert get(pool).status == 200 and get(pool).status == 200
    assert server.connections == 2


def test_no_answer_in_time_is_a_transport_error(apiserver):
    """A server that accepts and never answers: TransportError once the timeout passes."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        context = ssl.create_default_context(cafile=str(apiserver.dir / "ca.crt"))
        pool = HttpsPool("127.0.0.1", silent.getsockname()[1], context=context, size=1)
        with pytest.raises(TransportError, match="timeout|TimeoutError"):
            pool.request("GET", "/", headers={}, body=None, timeout=0.2)
    finally:
        silent.close()
