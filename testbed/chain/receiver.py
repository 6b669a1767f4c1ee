"""A webhook receiver that records what Alertmanager sends, for tests about routing alone.

Where a test's claim is "this alert reaches the function's receiver" (not "the pod
gets its label"), the real function and API server add nothing but time: this
records each notification (its Authorization header and JSON body) and answers
200, as the function does when all went well.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Notification:
    """One webhook call: the bearer credentials it carried and its payload."""

    authorization: str | None
    body: dict

    def pods(self) -> dict[tuple[str, str], set[str]]:
        """(namespace, pod) -> the names of its firing alerts, for every pod the notification
        holds (the shipped route groups by namespace: one notification, many pods)."""
        found: dict[tuple[str, str], set[str]] = {}
        for a in self.body.get("alerts", []):
            names = found.setdefault((a["labels"].get("namespace", ""), a["labels"].get("pod", "")), set())
            if a.get("status") == "firing":
                names.add(a["labels"]["alertname"])
        return found


class Receiver:
    """Records notifications on 127.0.0.1 until stopped; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._seen: list[Notification] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="receiver", daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def notifications(self) -> list[Notification]:
        with self._lock:
            return list(self._seen)

    def _record(self, notification: Notification) -> None:
        with self._lock:
            self._seen.append(notification)

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                receiver._record(
                    Notification(
                        self.headers.get("Authorization"), json.loads(self.rfile.read(length) or b"{}")
                    )
                )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler
