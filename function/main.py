"""HTTP entry point: the only functions-framework import.

Routes health checks, reads the body within its size limit, hands it to the
Labeler and maps the result or error to an HTTP status in one place.  The
status is Alertmanager's retry policy: it re-sends on 5xx only, so a
retryable API failure answers 503 and a payload it should not send again
answers 4xx.  Settings are read and checked at import, so a bad configuration
stops start-up; the Kubernetes client is built later, in the worker.
"""

import logging

import functions_framework
import flask

from function.config import Settings
from function.errors import LabelerError, PayloadTooLarge
from function.labeler import Labeler

HEALTH_PATHS = frozenset({"/healthz", "/_/health", "/_/ready"})

log = logging.getLogger("cpu-alert-labeler")
labeler = Labeler(Settings.from_env())


@functions_framework.http
def handle(request: flask.Request):
    """Serve every path: health checks on GET, Alertmanager webhooks on POST."""
    if request.path in HEALTH_PATHS and request.method in ("GET", "HEAD"):
        return {"status": "ok"}, 200
    if request.method != "POST":
        return {"error": "POST an Alertmanager webhook"}, 405, {"Allow": "POST"}
    try:
        report = labeler.handle(_read_body(request, labeler.settings.max_body_bytes))
    except LabelerError as exc:
        if exc.status >= 500:
            log.error("%s: %s", type(exc).__name__, exc)
        return {"error": str(exc)}, exc.status
    except Exception:
        log.exception("unexpected error")
        return {"error": "internal error"}, 500
    return report.to_json(), 503 if report.retry else 200


def _read_body(request: flask.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"body of {request.content_length} bytes; the limit is {limit}")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise PayloadTooLarge(f"body over the limit of {limit} bytes")
    return body
