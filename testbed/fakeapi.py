"""A stand-in Kubernetes API over real HTTP that records every request.

For what the real apiserver cannot be made to do on demand: answer 500 or
429, or prove that a request was never sent at all.  The real `kubernetes`
client talks to it through an ordinary kubeconfig.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from testbed.clusters.credentials import write_kubeconfig


class FakeApi:
    """Answers every request with `status` (and a Kubernetes Status body)."""

    def __init__(self, status: int = 500, reason: str = "InternalError", delay: float = 0.0):
        self.status, self.reason, self.delay = status, reason, delay
        self.requests: list[tuple[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                fake.requests.append((self.command, self.path))
                time.sleep(fake.delay)
                body = json.dumps(
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "message": "injected",
                        "reason": fake.reason,
                        "code": fake.status,
                    }
                ).encode()
                try:
                    self.send_response(fake.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test): nothing to answer

            do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def kubeconfig(self, path: Path) -> Path:
        return write_kubeconfig(
            path, server=self.url, ca=None, user="fake", token="fake-token", cluster="fake"
        )

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
