"""Pod metadata reads, patches and Events, sent on a Connection (see connection.py).

Why a wrapper: the rest of the function sees a tiny surface (PodMeta in,
merge patch out) and our own errors (errors.ApiError and kinds) instead of
the API's Status answers and the transport's errors, so the retry policy
is decided on one vocabulary.  Reads and patches ask the API for
PartialObjectMetadata: the function never looks at a pod's spec or status, so
neither is sent, decoded or turned into model objects.  Every call carries a
timeout (the client's default is none) and no transport retries by itself:
retrying is the caller's decision, made against its deadline.
"""

import json
import socket
import time
from collections.abc import Callable
from datetime import datetime, timezone
from urllib.parse import quote

from ..errors import ApiError, Conflict, NotFound, Rejected, Unavailable
from ..metrics import API_LATENCY
from ..model import PodMeta
from .connection import Connection, TransportError

FIELD_MANAGER = "cpu-alert-labeler"  # names our writes in managedFields, audit logs and Events
_METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
LIST_PAGE = 500  # pods per page of a LIST: bounds one answer's size
_MERGE_PATCH = "application/merge-patch+json"
_MAX_MESSAGE = 200  # API messages are truncated before they reach answers and logs
_MAX_RETRY_AFTER = 60.0  # seconds; a server's advice beyond this is not followed further


def event_body(
    *,
    uid: str,
    namespace: str,
    name: str,
    reason: str,
    message: str,
    warning: bool,
    instance: str,
    now: str,
    event_name: str | None = None,
) -> dict:
    """The v1 Event about a pod, listed with the pod's other Events (the bench's floor sends it
    too).  With `event_name` the Event has that name, so sending it again is harmless (409);
    else the API generates one."""
    metadata = {"name": event_name} if event_name else {"generateName": f"{name}."}
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {**metadata, "namespace": namespace},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": name,
            "namespace": namespace,
            "uid": uid,
        },
        "reason": reason,
        "message": message[:1024],
        "type": "Warning" if warning else "Normal",
        "source": {"component": FIELD_MANAGER},
        "count": 1,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "reportingComponent": FIELD_MANAGER,
        "reportingInstance": instance,
    }


class Kube:
    """Pod operations with per-call timeouts and errors mapped to errors.ApiError kinds.

    Requests go straight to the connection's transport, which carries the TLS, client
    certificate and proxy settings, with the connection's bearer credentials (a rotated
    token is followed: see connection.Credentials).  The kubernetes client's generated
    CoreV1Api is not used: importing it builds pydantic validators for every method,
    about 0.3 s and 20 MB on the first request after a scale from zero, for three
    requests whose bodies the function writes and reads itself anyway.
    """

    def __init__(self, connection: Connection, *, timeout: float):
        self._transport = connection.transport
        self._credentials = connection.credentials
        self._base = "/api/v1/namespaces/"
        self._timeout = timeout
        self._instance = socket.gethostname()

    def read_pod(self, *, namespace: str, name: str, timeout: float | None = None) -> PodMeta:
        return _pod_meta(self._call("get", "GET", self._pod_url(namespace, name), timeout))

    def list_pods(
        self, *, namespace: str, names: set[str], budget: float, timeout: Callable[[], float] | None = None
    ) -> tuple[dict[str, PodMeta], bool]:
        """The metadata of the pods of `namespace` named in `names` (the others are not kept),
        by name, and whether the LIST was read to its end (only then is a pod it lacks known
        not to exist): PartialObjectMetadataList pages of LIST_PAGE, so many pods cost a few
        calls and no spec is sent.  Pages stop after `budget` seconds, or if the server
        repeats a continue token; `timeout` gives each page's."""
        base = f"{self._base}{quote(namespace, safe='')}/pods?limit={LIST_PAGE}"
        pods: dict[str, PodMeta] = {}
        token, seen = "", set()
        end = time.monotonic() + budget
        while time.monotonic() < end:
            url = base + (f"&continue={quote(token, safe='')}" if token else "")
            data = self._call("list", "GET", url, timeout() if timeout else None, accept=_METADATA_LIST)
            try:
                doc = json.loads(data)
                for item in doc["items"]:
                    name = (item.get("metadata") or {}).get("name")
                    if name in names:
                        pods[name] = _meta_of(item)
                token = (doc.get("metadata") or {}).get("continue") or ""
            except (ValueError, KeyError, TypeError, AttributeError):
                raise Unavailable("API answered with something other than a metadata list") from None
            if not token:
                return pods, True
            if token in seen:
                break
            seen.add(token)
        return pods, False

    def patch_pod(
        self, *, namespace: str, name: str, patch: dict, dry_run: bool = False, timeout: float | None = None
    ) -> PodMeta:
        """Apply a JSON merge patch; a resourceVersion in it makes the write conditional."""
        query = f"?fieldManager={FIELD_MANAGER}" + ("&dryRun=All" if dry_run else "")
        return _pod_meta(
            self._call(
                "patch",
                "PATCH",
                self._pod_url(namespace, name) + query,
                timeout,
                body=patch,
                content_type=_MERGE_PATCH,
            )
        )

    def pod_event(
        self,
        *,
        pod: PodMeta,
        namespace: str,
        name: str,
        reason: str,
        message: str,
        warning: bool,
        timeout: float | None = None,
        at: datetime | None = None,
        event_name: str | None = None,
    ) -> None:
        """Record an Event about the pod (dated `at`, default now), listed when the pod is
        described.  An Event of the same `event_name` already there (an earlier try landed
        unseen) counts as recorded."""
        when = (at or datetime.now(timezone.utc)).isoformat()  # with its zone: a naive time is refused (400)
        event = event_body(
            uid=pod.uid,
            namespace=namespace,
            name=name,
            reason=reason,
            message=message,
            warning=warning,
            instance=self._instance,
            now=when,
            event_name=event_name,
        )
        url = self._base + quote(namespace, safe="") + "/events"
        try:
            self._call(
                "event",
                "POST",
                url,
                timeout,
                body=event,
                content_type="application/json",
                accept="application/json",
            )
        except Conflict:
            if not event_name:
                raise

    def _pod_url(self, namespace: str, name: str) -> str:
        # Names were checked against Kubernetes syntax already; quoting is the second lock.
        return f"{self._base}{quote(namespace, safe='')}/pods/{quote(name, safe='')}"

    def _call(
        self,
        call: str,
        method: str,
        url: str,
        timeout: float | None,
        *,
        body: dict | None = None,
        content_type: str | None = None,
        accept: str = _METADATA_ONLY,
    ) -> bytes:
        """The response body of a 2xx answer, else the mapped error.  The body is read
        here, so the connection returns to the pool and a connection lost mid-body is
        mapped like any other transport error."""
        headers = {"Accept": accept, "User-Agent": FIELD_MANAGER}
        authorization = self._credentials.header()
        if authorization:
            headers["Authorization"] = authorization
        if content_type:
            headers["Content-Type"] = content_type
        started = time.perf_counter()
        try:
            response = self._transport.request(
                method,
                url,
                headers=headers,
                body=None if body is None else json.dumps(body).encode(),
                timeout=timeout if timeout is not None else self._timeout,
            )
        except TransportError as exc:
            error: ApiError = Unavailable(f"API unreachable: {exc}")
        else:
            if 200 <= response.status < 300:
                API_LATENCY.labels(call, "ok").observe(time.perf_counter() - started)
                return response.data
            error = _api_error(response.status, response.reason, response.data, response.retry_after)
            if response.status == 401:
                self._credentials.reset()  # a rotated token: read it again before the next call
        API_LATENCY.labels(call, type(error).__name__).observe(time.perf_counter() - started)
        raise error


def _pod_meta(data: bytes) -> PodMeta:
    try:
        return _meta_of(json.loads(data))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise Unavailable("API answered with something other than object metadata") from None


def _meta_of(obj: dict) -> PodMeta:
    meta = obj["metadata"]
    if not meta.get("uid") or not meta.get("resourceVersion"):
        # Without them a patch would not be conditional, nor an Event named by its change.
        raise KeyError("uid or resourceVersion")
    return PodMeta(
        meta["uid"],
        meta["resourceVersion"],
        meta.get("labels") or {},
        meta.get("annotations") or {},
    )


def retry_after(header: str | None) -> float | None:
    """Seconds from a Retry-After header (delay-seconds, as the apiserver sends it), capped at
    _MAX_RETRY_AFTER; None when absent or not a number (an HTTP-date is not trusted: clocks)."""
    text = (header or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    return min(float(text), _MAX_RETRY_AFTER)


def _api_error(status: int, http_reason: str | None, body: bytes, advice: str | None = None) -> ApiError:
    try:
        doc = json.loads(body or b"{}")
    except (ValueError, TypeError):
        doc = {}
    doc = doc if isinstance(doc, dict) else {}
    reason = str(doc.get("reason", ""))
    message = str(doc.get("message", ""))[:_MAX_MESSAGE]
    text = f"{status} {reason or http_reason or ''}: {message}".strip(": ")
    if status == 404:
        return NotFound(text, code=status, reason=reason)
    if status == 409:
        return Conflict(text, code=status, reason=reason)
    # 401 too: a rotated service-account token is picked up again on a later try.
    if status in (401, 429) or status >= 500:
        return Unavailable(text, code=status, reason=reason, retry_after=retry_after(advice))
    return Rejected(text, code=status, reason=reason)
