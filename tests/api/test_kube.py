"""We test these aspects: kube.py's requests carry the credentials of every configuration
the kubernetes client loads: the in-cluster service account (token file, CA file, service
host and port from the environment) as well as a kubeconfig."""

import pytest
from kubernetes import client
from kubernetes.config.incluster_config import InClusterConfigLoader

from function.errors import Unavailable
from function.kube import Kube


def test_in_cluster_credentials_reach_the_api(apiserver, namespace, tmp_path):
    """Loaded the in-cluster way, the service account token authenticates each request."""
    apiserver.create_pod(namespace, "api-1")
    token = tmp_path / "token"
    token.write_text(apiserver.users["admin"][0])
    environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(apiserver.port)}
    configuration = client.Configuration()
    InClusterConfigLoader(str(token), str(apiserver.dir / "ca.crt"), environ=environ).load_and_set(configuration)
    kube = Kube(client.ApiClient(configuration), timeout=5)
    meta = kube.read_pod(namespace=namespace, name="api-1")
    assert meta.labels == {"app": "demo"} and meta.uid


def test_without_credentials_the_api_refuses(apiserver, namespace, tmp_path):
    """The same request with an unknown token is 401, which is mapped to a retryable failure."""
    apiserver.create_pod(namespace, "api-1")
    token = tmp_path / "token"
    token.write_text("not-a-token")
    environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(apiserver.port)}
    configuration = client.Configuration()
    InClusterConfigLoader(str(token), str(apiserver.dir / "ca.crt"), environ=environ).load_and_set(configuration)
    kube = Kube(client.ApiClient(configuration), timeout=5)
    with pytest.raises(Unavailable) as info:
        kube.read_pod(namespace=namespace, name="api-1")
    assert info.value.code == 401
