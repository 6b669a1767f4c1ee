"""Campaign `fuzz`: generated and mutated requests against a healthy apiserver; no 5xx ever.

The function runs in process (functions-framework's test client), open and with
a token and basic auth; the requests are the generator's `fuzzed()` mix (generator.py).  Nothing retryable can fail against a healthy API, so any
5xx is a handler bug, and every answer must be a JSON object (but /metrics and HEAD).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import random
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import functions_framework

from testbed.campaigns.figures import Figure
from testbed.campaigns.generator import Generator, Request
from testbed.campaigns.targets import new_pods
from testbed.clusters import Cluster
from testbed.paths import SOURCE

NAME = "fuzz"
# What the production server (waitress, like gunicorn) puts in every WSGI environ and the test client does
# not: with it, werkzeug reads the body as the server hands it over.  Without it, a body
# shorter than its Content-Length makes werkzeug raise ClientDisconnected inside
# functions-framework's after-request hook (a 500 no client receives, since it has gone);
# under a real server the read simply ends short, and the function answers 400.
SERVER_ENVIRON = {"wsgi.input_terminated": True}


@dataclass(frozen=True)
class Size:
    requests: int


SIZES = {"full": Size(requests=5000), "small": Size(requests=400)}


@contextlib.contextmanager
def environ(**env: str | None):
    """Set (or, with None, unset) environment variables for the block."""
    saved = {k: os.environ.get(k) for k in env}
    try:
        _apply(env)
        yield
    finally:
        _apply(saved)


def _apply(env: dict[str, str | None]) -> None:
    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class _ErrorCapture(logging.Handler):
    """Counts the exceptions the function logs, named by the last frame inside function/."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.errors: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[0] is not None:
            frames = [f for f in traceback.extract_tb(record.exc_info[2]) if "/function/" in f.filename]
            where = f" at function/{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
            self.errors[f"{record.exc_info[0].__name__}{where}"] += 1


@contextlib.contextmanager
def capture_function_errors():
    """Route the function's log records to a counter for the block (its stderr stays quiet)."""
    logger = logging.getLogger("cpu-alert-labeler")
    saved = logger.handlers[:]
    capture = _ErrorCapture()
    logger.handlers = [capture]
    try:
        yield capture
    finally:
        logger.handlers = saved


@dataclass
class FuzzResult:
    sent: int = 0
    statuses: collections.Counter = field(default_factory=collections.Counter)
    bugs: int = 0  # 5xx
    not_json: int = 0  # answers that are not a JSON object
    samples: list[tuple[int, list[str], bytes]] = field(default_factory=list)
    exceptions: collections.Counter = field(default_factory=collections.Counter)
    seconds: float = 0.0

    def record(self, request: Request, status: int, answer) -> None:
        self.sent += 1
        self.statuses[status] += 1
        problems = []
        if status >= 500:
            self.bugs += 1
            problems.append(str(status))
        if request.json_expected and not isinstance(answer, dict):
            self.not_json += 1
            problems.append("not JSON")
        if problems and len(self.samples) < 8:
            self.samples.append((status, request.ops + problems[1:], request.body[:200]))

    def details(self) -> list[str]:
        return [f"fuzz {status}: mutations {ops}: body {body[:120]!r}" for status, ops, body in self.samples]

    def figures(self) -> list[Figure]:
        top = ", ".join(f"{s}x{n}" for s, n in sorted(self.statuses.items()))
        return [
            Figure("fuzz", "requests sent (bodies, methods, auth headers)", self.sent),
            Figure("fuzz", "answers by status", top),
            Figure("fuzz", "5xx caused by handler bugs", self.bugs, zero=True),
            Figure("fuzz", "answers that are not a JSON object", self.not_json, zero=True),
            Figure(
                "fuzz",
                "exceptions logged by the function",
                "; ".join(f"{k} x{n}" for k, n in self.exceptions.most_common()) or "none",
            ),
            Figure("fuzz", "seconds", round(self.seconds, 1)),
        ]


# Unset for the apps: the in-cluster path and credentials the caller's environment may hold.
_UNSET = (
    "KUBERNETES_SERVICE_HOST",
    "WEBHOOK_TOKEN",
    "WEBHOOK_TOKEN_FILE",
    "WEBHOOK_USERNAME",
    "WEBHOOK_PASSWORD",
    "WEBHOOK_PASSWORD_FILE",
)


def function_apps(
    apiserver: Cluster, namespace: str, credentials: tuple[str, str, str], **settings: str | None
):
    """The function loaded twice in process, as functions-framework loads it: open, and with
    a token and basic auth; `settings` are further variables for both."""
    token, user, password = credentials
    base = dict.fromkeys(_UNSET) | dict(
        KUBECONFIG=str(apiserver.kubeconfig()),
        LOG_LEVEL="ERROR",
        NAMESPACE_ALLOW=namespace,
        DEFAULT_NAMESPACE=namespace,
    )
    with environ(**base, **settings):
        open_app = functions_framework.create_app("handle", str(SOURCE)).test_client()
        with environ(WEBHOOK_TOKEN=token, WEBHOOK_USERNAME=user, WEBHOOK_PASSWORD=password):
            auth_app = functions_framework.create_app("handle", str(SOURCE)).test_client()
    return open_app, auth_app


def send(apps: tuple, request: Request):
    """Send a generated request to the open app or, when it carries credentials, the other one,
    with the environ the production server gives."""
    open_app, auth_app = apps
    return (auth_app if request.auth else open_app).open(
        request.path,
        method=request.method,
        data=request.body,
        headers=request.headers,
        content_type=request.content_type,
        environ_overrides={**SERVER_ENVIRON, **request.environ},
    )


def run(apiserver: Cluster, size: Size, seed: int, workdir: Path) -> FuzzResult:
    """POST size.requests generated and mutated requests in process; count 5xx (each one a bug)."""
    rng = random.Random(seed)
    pods = ["checkout-7d9f8b6c5-x2k4p", "worker-0", "api-1", "web-0"]
    namespace = new_pods(apiserver, "rel-fuzz", pods)
    credentials = (uuid.uuid4().hex, "alertmanager", uuid.uuid4().hex)
    generator = Generator(rng, namespace, pods, credentials=credentials)
    result = FuzzResult()
    started = time.perf_counter()
    apps = function_apps(apiserver, namespace, credentials)
    # After the apps exist: loading main.py installs the function's own stderr handler.
    with capture_function_errors() as capture:
        for _ in range(size.requests):
            request = generator.fuzzed()
            response = send(apps, request)
            result.record(request, response.status_code, response.get_json(silent=True))
        result.exceptions = capture.errors
    result.seconds = time.perf_counter() - started
    return result
