"""HTTP entry point: the functions-framework target (server.py serves it).

Routes health checks and /metrics, authenticates, reads the body within its
size limit, hands it to the Labeler and maps the result or error to an HTTP
status in one place (STATUSES for errors; RETRY, FAILED_FOR_GOOD and DONE for a report).  The
status is Alertmanager's retry policy: it re-sends on 5xx only, so a retryable
API failure answers 503 and a payload it should not send again answers 4xx.  Settings are read and checked at import, so a
bad configuration stops start-up; the Kubernetes client is built later, in
the worker.
"""

import atexit
import logging
import time

import flask
import functions_framework

from function import logs
from function.auth import Authenticator
from function.config import Settings
from function.errors import (
    LabelerError,
    PayloadError,
    PayloadTooLarge,
    Unauthorized,
)
from function.labeler import Deadline, Labeler
from function.metrics import REFUSED, REQUESTS, exposition

HEALTH_PATHS = frozenset({"/healthz", "/_/health", "/_/ready"})
# Each error kind's answer, most specific first; anything else is 500.  4xx: do not send
# this again; 5xx: Alertmanager re-sends.
STATUSES: tuple[tuple[type[LabelerError], int], ...] = (
    (PayloadTooLarge, 413),
    (PayloadError, 400),
    (Unauthorized, 401),
)
# A report's answer.  503: something worth retrying failed, Alertmanager sends it again.
# 422: every pod it was to change failed for good (say 403 in every namespace it names): a
# re-send would fail the same, so not 5xx; not 200 either, which would hide it: Alertmanager
# counts a 4xx in alertmanager_notifications_failed_total and logs it, where
# kube-prometheus-stack's AlertmanagerFailedToSendAlerts looks.  A notification that labeled
# some pods is 200 (its failed pods show in cpu_alert_labeler_changes_total{outcome="failed"}
# and the shipped CpuAlertLabelerPodsNotLabeled alert).
RETRY, FAILED_FOR_GOOD, DONE = 503, 422, 200

settings = Settings.from_env()
log = logs.configure(settings.log_level)
authenticator = Authenticator(settings)
labeler = Labeler(settings)
# Events the API refused for now are sent before the process exits (SIGTERM drains first).
atexit.register(labeler.close, settings.request_deadline)


@functions_framework.http
def handle(request: flask.Request):
    """Serve every path: health and metrics on GET, Alertmanager webhooks on POST."""
    if request.method in ("GET", "HEAD"):
        if request.path in HEALTH_PATHS:
            return {"status": "ok"}, 200
        if request.path == "/metrics":
            body, content_type = exposition(settings.metrics_dir)
            return body, 200, {"Content-Type": content_type}
    if request.method != "POST":
        return {"error": "POST an Alertmanager webhook"}, 405, {"Allow": "POST"}
    started = time.perf_counter()
    # The deadline counts from arrival, as Alertmanager's timeout does.
    deadline = Deadline(settings.request_deadline)
    body, status, headers, fields = _webhook(request, deadline)
    elapsed = time.perf_counter() - started
    REQUESTS.labels(str(status)).observe(elapsed)
    logs.event(
        log,
        "webhook",
        logging.INFO if status < 500 else logging.ERROR,
        status=status,
        duration_ms=round(elapsed * 1000, 2),
        path=request.path[:256],
        **fields,
    )
    return body, status, headers


def _webhook(request: flask.Request, deadline: Deadline) -> tuple[dict, int, dict, dict]:
    """(JSON body, status, headers, log fields): every error is mapped to its status here."""
    try:
        authenticator.check(request.headers.get("Authorization"))
        report = labeler.handle(_read_body(request, settings.max_body_bytes), deadline)
    except LabelerError as exc:
        if isinstance(exc, PayloadTooLarge):
            REFUSED.labels(exc.limit).inc()
        status = next((code for kind, code in STATUSES if isinstance(exc, kind)), 500)
        headers = {"WWW-Authenticate": exc.challenge} if isinstance(exc, Unauthorized) else {}
        return {"error": str(exc)}, status, headers, {"error": str(exc)[:256]}
    except Exception:
        log.exception("unexpected error")
        return {"error": "internal error"}, 500, {}, {"error": "internal error"}
    answer = report.to_json()
    fields = {
        "group_key": report.group_key[:256],
        "alerts": len(report.entries),
        "counts": answer["counts"],
        "dry_run": report.dry_run,
    }
    if report.truncated:
        fields["truncated_alerts"] = report.truncated  # Alertmanager's max_alerts dropped these
    status = RETRY if report.retry else FAILED_FOR_GOOD if report.failed_for_good else DONE
    return answer, status, {}, fields


def _read_body(request: flask.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"body of {request.content_length} bytes; the limit is {limit}", limit="body")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise PayloadTooLarge(f"body over the limit of {limit} bytes", limit="body")
    return body
