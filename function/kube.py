"""The only importer of `kubernetes`: client set-up, pod metadata reads, patches and Events.

Why a wrapper: the rest of the function sees a tiny surface (PodMeta in,
merge patch out) and our own errors (errors.ApiError and kinds) instead of
the client's ApiException and urllib3's transport errors, so the retry policy
is decided on one vocabulary.  Reads and patches ask the API for
PartialObjectMetadata: the function never looks at a pod's spec or status, so
neither is sent, decoded or turned into model objects.  Every call carries a
timeout (the client's default is none) and urllib3's own retries are off:
retrying is the caller's decision, made against its deadline.
"""

import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from .errors import ApiError, Conflict, ConfigError, NotFound, Rejected, Unavailable
from .metrics import API_LATENCY

FIELD_MANAGER = "cpu-alert-labeler"  # names our writes in managedFields, audit logs and Events
# Copied for each call: the generated client adds headers to the dict it is given.
_METADATA_ONLY = {"Accept": "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"}
_MERGE_PATCH = "application/merge-patch+json"
_MAX_MESSAGE = 200  # API messages are truncated before they reach answers and logs


@dataclass(frozen=True, slots=True)
class PodMeta:
    """The parts of a pod's metadata the function reads."""

    uid: str
    resource_version: str
    labels: dict
    annotations: dict


def load_api_client(*, kubeconfig: str, pool_size: int) -> client.ApiClient:
    """In-cluster service account first, then the kubeconfig file(s)."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except ConfigException:
        try:
            # Named explicitly: the library reads $KUBECONFIG once, when it is imported.
            config.load_kube_config(config_file=os.path.expanduser(kubeconfig),
                                    client_configuration=configuration)
        except (ConfigException, OSError) as exc:
            raise ConfigError(f"no in-cluster config and no usable kubeconfig: {exc}") from None
    configuration.retries = False
    configuration.connection_pool_maxsize = pool_size
    api_client = client.ApiClient(configuration)
    api_client.user_agent = FIELD_MANAGER
    return api_client


class Kube:
    """Pod operations with per-call timeouts and errors mapped to errors.ApiError kinds."""

    def __init__(self, api_client: client.ApiClient, *, timeout: float):
        self._core = client.CoreV1Api(api_client)
        self._timeout = timeout
        self._instance = socket.gethostname()

    def read_pod(self, *, namespace: str, name: str, timeout: float | None = None) -> PodMeta:
        data = self._call("get", self._core.read_namespaced_pod, timeout, name=name,
                          namespace=namespace, _headers=dict(_METADATA_ONLY))
        return _pod_meta(data)

    def patch_pod(self, *, namespace: str, name: str, patch: dict, dry_run: bool = False,
                  timeout: float | None = None) -> PodMeta:
        """Apply a JSON merge patch; a resourceVersion in it makes the write conditional."""
        data = self._call("patch", self._core.patch_namespaced_pod, timeout, name=name,
                          namespace=namespace, body=patch, _content_type=_MERGE_PATCH,
                          field_manager=FIELD_MANAGER, dry_run="All" if dry_run else None,
                          _headers=dict(_METADATA_ONLY))
        return _pod_meta(data)

    def pod_event(self, *, pod: PodMeta, namespace: str, name: str, reason: str, message: str,
                  warning: bool, timeout: float | None = None) -> None:
        """Record an Event about the pod, shown by `kubectl describe pod`."""
        now = datetime.now(timezone.utc)  # aware: a naive time is refused (400)
        body = client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{name}.", namespace=namespace),
            involved_object=client.V1ObjectReference(api_version="v1", kind="Pod", name=name,
                                                     namespace=namespace, uid=pod.uid),
            reason=reason, message=message[:1024], type="Warning" if warning else "Normal",
            source=client.V1EventSource(component=FIELD_MANAGER), count=1,
            first_timestamp=now, last_timestamp=now, reporting_component=FIELD_MANAGER,
            reporting_instance=self._instance)
        self._call("event", self._core.create_namespaced_event, timeout, namespace=namespace, body=body)

    def _call(self, call: str, method, timeout: float | None, **kwargs) -> bytes:
        """The response body; reading it here returns the connection to the pool and maps
        a connection lost mid-body like any other transport error."""
        started = time.perf_counter()
        try:
            response = method(**kwargs, _preload_content=False,
                              _request_timeout=timeout if timeout is not None else self._timeout)
            data = response.data
        except ApiException as exc:
            error = _api_error(exc)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            error = Unavailable(f"API unreachable: {type(exc).__name__}")
        else:
            API_LATENCY.labels(call, "ok").observe(time.perf_counter() - started)
            return data
        API_LATENCY.labels(call, type(error).__name__).observe(time.perf_counter() - started)
        raise error


def _pod_meta(data: bytes) -> PodMeta:
    try:
        meta = json.loads(data)["metadata"]
        return PodMeta(meta.get("uid", ""), meta.get("resourceVersion", ""),
                       meta.get("labels") or {}, meta.get("annotations") or {})
    except (ValueError, KeyError, TypeError, AttributeError):
        raise Unavailable("API answered with something other than object metadata") from None


def _api_error(exc: ApiException) -> ApiError:
    status = exc.status or 0
    try:
        doc = json.loads(exc.body or "{}")
    except (ValueError, TypeError):
        doc = {}
    doc = doc if isinstance(doc, dict) else {}
    reason = str(doc.get("reason", ""))
    message = str(doc.get("message", ""))[:_MAX_MESSAGE]
    text = f"{status} {reason or exc.reason}: {message}".strip(": ")
    if status == 404:
        return NotFound(text, code=status, reason=reason)
    if status == 409:
        return Conflict(text, code=status, reason=reason)
    # 401 too: a rotated service-account token is picked up again on a later try.
    if status in (0, 401, 429) or status >= 500:
        return Unavailable(text, code=status, reason=reason)
    return Rejected(text, code=status, reason=reason)
