"""In-cluster configuration without the kubernetes package: the pod's service account.

In a pod, Kubernetes sets KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT and
mounts the service account (by default under /var/run/secrets/kubernetes.io/
serviceaccount/): `token`, a bound token that the kubelet rotates (at 80 % of its
lifetime, an hour by default), and `ca.crt`, the cluster's CA.  That is all
client-go's rest.InClusterConfig reads, and all this module reads.  Loading it
through the kubernetes client instead would import the whole client, about half
of the function's cold start: the time a user waits after a scale from zero.

The token is read again as client-go reads it: periodically (client-go's file
token source keeps its copy for a minute; here TOKEN_PERIOD) and at once after
a 401 (client-go drops its cached token when the server refuses it).  A later
read that fails (a rotation half made, say) keeps the last good token until the
next look, as client-go does; only the first read decides whether the function
starts.
"""

import logging
import re
import ssl
from pathlib import Path

from .. import logs
from ..errors import ConfigError
from .connection import Connection, RefreshedHeader
from .httpspool import HttpsPool

TOKEN_PERIOD = 10.0  # seconds a token read from the file is used before the file is read again
_TOKEN_MAX = 64 * 1024  # bytes; a service-account token is about 1 KB
_TOKEN = re.compile(r"[\x21-\x7e]+")  # visible ASCII: nothing that could end or split a header

log = logging.getLogger(logs.LOGGER_NAME)


class NotInCluster(ConfigError):
    """The service variables are set but no service account is mounted (automount off)."""


class TokenFile(RefreshedHeader):
    """Bearer credentials read from a file that is replaced as the token rotates."""

    def __init__(self, path: Path, *, period: float = TOKEN_PERIOD):
        super().__init__(lambda: f"Bearer {read_token(path)}", period=period, on_error=_unreadable)


def _unreadable(exc: ConfigError) -> None:
    logs.event(log, "token_unreadable", logging.WARNING, reason=str(exc))


def read_token(path: Path) -> str:
    """The token in `path`, stripped of surrounding blanks; ConfigError if it holds none."""
    try:
        with open(path, "rb") as f:
            data = f.read(_TOKEN_MAX + 1)
    except OSError as exc:
        raise ConfigError(f"service account token {path}: cannot read: {exc.strerror}") from None
    text = data.decode("ascii", "replace").strip()
    if len(data) > _TOKEN_MAX or not _TOKEN.fullmatch(text):
        # Never echo the content: it may be a (malformed) credential.
        raise ConfigError(f"service account token {path} is empty, too long or not printable ASCII")
    return text


def connect(*, host: str, port: str, directory: Path, pool_size: int) -> Connection:
    """A connection to https://host:port as the service account mounted in `directory`."""
    token, ca = directory / "token", directory / "ca.crt"
    for path in (token, ca):
        if not path.is_file():
            raise NotInCluster(f"{path} does not exist")
    pool = HttpsPool(host, int(port), context=_tls(ca), size=pool_size)
    return Connection(
        base=f"https://{_join(host, port)}", transport=pool, credentials=TokenFile(token), source="in-cluster"
    )


def _tls(ca: Path) -> ssl.SSLContext:
    # Built once and shared by every connection; verifies the chain and the host name.
    try:
        return ssl.create_default_context(cafile=str(ca))
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise ConfigError(f"cluster CA {ca}: cannot load: {exc}") from None


def _join(host: str, port: str) -> str:
    # An IPv6 service address needs brackets in a URL, as Go's net.JoinHostPort gives.
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
