"""Keep-alive HTTPS connections to one server, on the standard library's http.client.

The in-cluster path talks to one API server with one CA: it needs no proxy, no
redirects, no retries (the caller retries against its deadline) and no client
certificate, which is all urllib3 would add.  http.client is already loaded by
the web framework while urllib3 is not, and importing urllib3 costs a tenth of
the function's start-up beyond a bare functions-framework function (measured
by `make bench`): a scale from zero is waited for.

Connections are kept (up to `size`, the function's patch concurrency) and used
by one thread at a time.  Before an idle connection is used again it is polled:
a readable idle socket means the server closed it (the apiserver drops idle
connections), so it is replaced instead of failing the request, as urllib3
does.  A request that fails closes its connection, so no half-read answer is
ever reused.
"""

import http.client
import select
import ssl
import threading

from .connection import Answer, TransportError


class HttpsPool:
    """A Transport to https://host:port, verified with `context`."""

    def __init__(self, host: str, port: int, *, context: ssl.SSLContext, size: int):
        self._host, self._port, self._context, self._size = host, port, context, size
        self._idle: list[http.client.HTTPSConnection] = []
        self._lock = threading.Lock()

    def request(
        self, method: str, path: str, *, headers: dict[str, str], body: bytes | None, timeout: float
    ) -> Answer:
        conn = self._take()
        try:
            conn.timeout = timeout  # the connect's, for a new connection
            if conn.sock is not None:
                conn.sock.settimeout(timeout)  # each read and write of a kept one
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            answer = Answer(
                response.status, response.reason, response.read(), response.getheader("Retry-After")
            )
        except (OSError, http.client.HTTPException) as exc:  # ssl.SSLError and timeouts are OSErrors
            conn.close()
            raise TransportError(type(exc).__name__) from None
        if response.will_close:
            conn.close()
        else:
            self._give(conn)
        return answer

    def _take(self) -> http.client.HTTPSConnection:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not _closed_by_server(conn):
                    return conn
                conn.close()
        return http.client.HTTPSConnection(self._host, self._port, context=self._context)

    def _give(self, conn: http.client.HTTPSConnection) -> None:
        with self._lock:
            if len(self._idle) < self._size:
                self._idle.append(conn)
                return
        conn.close()


def _closed_by_server(conn: http.client.HTTPSConnection) -> bool:
    if conn.sock is None:
        return True
    poller = select.poll()  # not select(): no FD_SETSIZE limit
    poller.register(conn.sock, select.POLLIN)
    return bool(poller.poll(0))  # an idle connection has nothing to read unless it ended
