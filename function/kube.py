"""The only importer of `kubernetes`: client set-up, pod metadata reads and patches.

Why a wrapper: the rest of the function sees a tiny surface (PodMeta in,
merge patch out) and our own errors (errors.ApiError and kinds) instead of
the client's ApiException and urllib3's transport errors, so the retry policy
is decided on one vocabulary.  Reads and patches ask the API for
PartialObjectMetadata: the function never looks at a pod's spec or status, so
neither is sent, decoded or turned into model objects.  Every call carries
a timeout (the client's default is none) and urllib3's own retries are off:
retrying is the caller's decision.
"""

import json
import os
from dataclasses import dataclass

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from .errors import ApiError, Conflict, ConfigError, NotFound, Rejected, Unavailable

_METADATA_ONLY = {"Accept": "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"}
_MERGE_PATCH = "application/merge-patch+json"
FIELD_MANAGER = "cpu-alert-labeler"  # names our writes in managedFields and audit logs
_MAX_MESSAGE = 200  # API messages are truncated before they reach answers and logs


@dataclass(frozen=True, slots=True)
class PodMeta:
    """The parts of a pod's metadata the function reads."""

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
    """Pod metadata operations with timeouts and errors mapped to errors.ApiError kinds."""

    def __init__(self, api_client: client.ApiClient, *, timeout: float):
        self._core = client.CoreV1Api(api_client)
        self._timeout = timeout

    def read_pod(self, *, namespace: str, name: str) -> PodMeta:
        return self._call(self._core.read_namespaced_pod, name=name, namespace=namespace)

    def patch_pod(self, *, namespace: str, name: str, patch: dict, dry_run: bool = False) -> PodMeta:
        """Apply a JSON merge patch; a resourceVersion in it makes the write conditional."""
        return self._call(self._core.patch_namespaced_pod, name=name, namespace=namespace,
                          body=patch, _content_type=_MERGE_PATCH, field_manager=FIELD_MANAGER,
                          dry_run="All" if dry_run else None)

    def _call(self, method, **kwargs) -> PodMeta:
        try:
            response = method(**kwargs, _headers=_METADATA_ONLY, _preload_content=False,
                              _request_timeout=self._timeout)
            meta = json.loads(response.data)["metadata"]
        except ApiException as exc:
            raise _api_error(exc) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unavailable(f"API unreachable: {type(exc).__name__}") from None
        except (ValueError, KeyError, TypeError):
            raise Unavailable("API answered with something other than object metadata") from None
        return PodMeta(meta.get("resourceVersion", ""), meta.get("labels") or {},
                       meta.get("annotations") or {})


def _api_error(exc: ApiException) -> ApiError:
    status = exc.status or 0
    try:
        doc = json.loads(exc.body or "{}")
    except (ValueError, TypeError):
        doc = {}
    reason = doc.get("reason", "") if isinstance(doc, dict) else ""
    message = str(doc.get("message", "") if isinstance(doc, dict) else "")[:_MAX_MESSAGE]
    text = f"{status} {reason or exc.reason}: {message}".strip(": ")
    if status == 404:
        return NotFound(text, code=status, reason=reason)
    if status == 409:
        return Conflict(text, code=status, reason=reason)
    if status == 429 or status >= 500 or status == 0:
        return Unavailable(text, code=status, reason=reason)
    return Rejected(text, code=status, reason=reason)
