"""Where the API is and who the function is: in-cluster first, then the kubeconfig.

The order is client-go's and the kubernetes client's: in a pod (the service
variables set and a service account mounted) the in-cluster configuration;
otherwise, and in a pod that mounts no service account, the kubeconfig file.
The kubeconfig module, and with it the kubernetes package, is imported only on
that second path, so a function running in a pod never imports it.
"""

from pathlib import Path

from ..errors import ConfigError
from . import incluster
from .connection import Connection


def connect(
    *, service_host: str, service_port: str, service_account_dir: str, kubeconfig: str, pool_size: int
) -> Connection:
    """The connection the settings describe; ConfigError when there is none.

    A service account that is mounted but unusable (an empty token, a CA that does not
    load) is an error rather than a reason to try the kubeconfig: it is a broken pod.
    """
    why = "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set"
    if service_host and service_port:
        try:
            return incluster.connect(
                host=service_host, port=service_port, directory=Path(service_account_dir), pool_size=pool_size
            )
        except incluster.NotInCluster as exc:
            why = str(exc)
    try:
        from . import kubeconfig as kubeconfig_source  # imports the kubernetes package: this path only
    except ImportError:  # the image ships the in-cluster path only (docs/image.md)
        raise ConfigError(
            f"no in-cluster config ({why}), and this installation has no kubeconfig support"
            " (the kubernetes package is not installed: the image serves in a pod only)"
        ) from None

    try:
        return kubeconfig_source.connect(path=kubeconfig, pool_size=pool_size)
    except ConfigError as exc:
        raise ConfigError(f"no in-cluster config ({why}) and no usable kubeconfig: {exc}") from None
