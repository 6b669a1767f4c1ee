"""The kubeconfig path (development, `make run`, tests): the kubernetes client's own loader.

A kubeconfig can hold what the in-cluster path never needs: contexts, client
certificates, exec and OIDC plugins, proxies.  The client's loader reads all
of it, so it is kept; importing it imports the whole client (about half a
second), which is why connect.py imports this module only when there is no
in-cluster configuration.  Requests still go through the client's urllib3
pool only, never through its generated API classes (see api.py).
"""

import os

import urllib3
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from ..errors import ConfigError
from .connection import Answer, Connection, RefreshedHeader, TransportError

HOOK_PERIOD = 10.0  # seconds between calls to the configuration's refresh hook


def hook_credentials(configuration: client.Configuration, *, period: float = HOOK_PERIOD) -> RefreshedHeader:
    """The loaded configuration's bearer credentials, refreshed through its own hook.

    The hook (an exec plugin or an expiring OIDC token) also scans the environment for
    proxies on every call: once in a while is enough.
    """
    return RefreshedHeader(
        lambda: configuration.get_api_key_with_prefix("BearerToken", alias="authorization"), period=period
    )


class PoolTransport:
    """The client's urllib3 pool (TLS, client certificate, proxy as the kubeconfig says)."""

    def __init__(self, pool: urllib3.PoolManager, base: str):
        self._pool, self._base = pool, base

    def request(
        self, method: str, path: str, *, headers: dict[str, str], body: bytes | None, timeout: float
    ) -> Answer:
        try:
            # retries=False: retrying is the caller's decision, made against its deadline.
            response = self._pool.request(
                method,
                self._base + path,
                headers=headers,
                body=body,
                timeout=urllib3.Timeout(total=timeout),
                retries=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransportError(type(exc).__name__) from None
        return Answer(
            response.status, response.reason or "", response.data, response.headers.get("Retry-After")
        )


def connect(*, path: str, pool_size: int) -> Connection:
    """A connection as the current context of the kubeconfig file(s) at `path`."""
    configuration = client.Configuration()
    try:
        # Named explicitly: the library reads $KUBECONFIG once, when it is imported.
        config.load_kube_config(config_file=os.path.expanduser(path), client_configuration=configuration)
    except (ConfigException, OSError) as exc:
        raise ConfigError(str(exc)) from None
    configuration.retries = False
    configuration.connection_pool_maxsize = pool_size
    pool = client.rest.RESTClientObject(configuration).pool_manager
    base = configuration.host.rstrip("/")
    return Connection(
        base=base,
        transport=PoolTransport(pool, base),
        credentials=hook_credentials(configuration),
        source="kubeconfig",
    )
