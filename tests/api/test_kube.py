"""We test these aspects: kube's requests carry the credentials of both configurations it
loads: the in-cluster service account (token file and CA file in the mounted directory,
service host and port from the settings) as well as a kubeconfig."""

import pytest

from function.errors import Unavailable
from function.kube import Kube, connect


def mounted(apiserver, tmp_path, token: str) -> dict:
    """Settings for the in-cluster path, with `token` mounted as a pod's service account."""
    (tmp_path / "token").write_text(token)
    (tmp_path / "ca.crt").write_bytes((apiserver.dir / "ca.crt").read_bytes())
    return dict(service_host="127.0.0.1", service_port=str(apiserver.port),
                service_account_dir=str(tmp_path), kubeconfig=str(tmp_path / "none"), pool_size=2)


def test_in_cluster_credentials_reach_the_api(apiserver, namespace, tmp_path):
    """Loaded the in-cluster way, the service account token authenticates each request."""
    apiserver.create_pod(namespace, "api-1")
    kube = Kube(connect(**mounted(apiserver, tmp_path, apiserver.users["admin"][0])), timeout=5)
    meta = kube.read_pod(namespace=namespace, name="api-1")
    assert meta.labels == {"app": "demo"} and meta.uid


def test_kubeconfig_credentials_reach_the_api(apiserver, namespace):
    """Loaded from a kubeconfig (no service variables), its user's token authenticates."""
    apiserver.create_pod(namespace, "api-1")
    connection = connect(service_host="", service_port="", service_account_dir="/nonexistent",
                         kubeconfig=str(apiserver.kubeconfig()), pool_size=2)
    assert connection.source == "kubeconfig"
    assert Kube(connection, timeout=5).read_pod(namespace=namespace, name="api-1").uid


def test_without_credentials_the_api_refuses(apiserver, namespace, tmp_path):
    """The same request with an unknown token is 401, which is mapped to a retryable failure."""
    apiserver.create_pod(namespace, "api-1")
    kube = Kube(connect(**mounted(apiserver, tmp_path, "not-a-token")), timeout=5)
    with pytest.raises(Unavailable) as info:
        kube.read_pod(namespace=namespace, name="api-1")
    assert info.value.code == 401
