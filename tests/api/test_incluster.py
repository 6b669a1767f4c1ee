"""We test these aspects: the in-cluster path, against the real test apiserver, with a
service account laid out as a pod sees it (a temporary directory standing in for
/var/run/secrets/kubernetes.io/serviceaccount/: a TokenRequest token bound to a Secret,
and the cluster CA):

- requests authenticate as the service account and verify the server against ca.crt
  (a CA that did not sign the server's certificate is refused);
- token rotation: the file is replaced by a second valid token and the first is revoked
  (its Secret deleted, as deleting a pod revokes its projected token; the test waits
  until the apiserver refuses it); the next look at the file picks the new one, and a
  401 makes the very next request look at once;
- the whole function (the app as functions-framework serves it) labels a pod in-cluster
  before and after a rotation;
- a process with the in-cluster variables set never imports `kubernetes` (nor urllib3),
  neither when loading the function nor when serving a webhook; the distributions it does
  import are exactly requirements.txt, the image's set (installed there with --no-deps);
- with the variables set but no service account mounted, the kubeconfig is used, as the
  kubernetes client and client-go do.
"""

import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from function.errors import Rejected, Unavailable
from function.kube import Kube, connect
from function.kube.incluster import TokenFile
from testbed.paths import ROOT, SOURCE
from testbed.requirements import normal, pins

SECRETS = Path("var/run/secrets/kubernetes.io/serviceaccount")


@dataclasses.dataclass
class ServiceAccount:
    """A ServiceAccount allowed to label pods of `namespace`, and its mounted files."""

    apiserver: object
    namespace: str
    name: str
    directory: Path  # stands in for /var/run/secrets/kubernetes.io/serviceaccount
    secret: str = ""  # the Secret the mounted token is bound to

    def token(self) -> tuple[str, str]:
        """A new token bound to a new Secret: (token, secret name). Deleting the Secret revokes it."""
        secret = f"bound-{uuid.uuid4().hex[:8]}"
        code, doc = self.apiserver.request("POST", f"/api/v1/namespaces/{self.namespace}/secrets", {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret}})
        assert code == 201, doc
        code, doc = self.apiserver.request(
            "POST", f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{self.name}/token", {
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"expirationSeconds": 3600, "boundObjectRef": {
                    "apiVersion": "v1", "kind": "Secret", "name": secret, "uid": doc["metadata"]["uid"]}}})
        assert code == 201, doc
        return doc["status"]["token"], secret

    def mount(self, token: str) -> None:
        """Replace the token file atomically, as the kubelet swaps a projected volume."""
        fresh = self.directory / ".token.new"
        fresh.write_text(token)
        os.replace(fresh, self.directory / "token")

    def rotate(self) -> str:
        """Mount a new token and revoke the one it replaces; returns the revoked token."""
        old = (self.directory / "token").read_text()
        token, secret = self.token()
        self.mount(token)
        code, doc = self.apiserver.request("DELETE", f"/api/v1/namespaces/{self.namespace}/secrets/{self.secret}")
        assert code == 200, doc
        self.secret = secret
        return old

    def env(self) -> dict[str, str]:
        """The variables a pod carries, and the settings pointing at this mount."""
        return {"KUBERNETES_SERVICE_HOST": "127.0.0.1",
                "KUBERNETES_SERVICE_PORT": str(self.apiserver.port),
                "SERVICE_ACCOUNT_DIR": str(self.directory),
                "KUBECONFIG": str(self.directory / "no-kubeconfig")}


@pytest.fixture
def account(apiserver, namespace, tmp_path) -> ServiceAccount:
    """A pod's service account in `namespace`, with the function's rights there, mounted."""
    name = "labeler"
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/" + namespace
    for path, obj in [
        (f"/api/v1/namespaces/{namespace}/serviceaccounts",
         {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}),
        (f"{rbac}/roles", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                           "metadata": {"name": name}, "rules": [
                               {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "patch"]},
                               {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}]}),
        (f"{rbac}/rolebindings", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                                  "metadata": {"name": name},
                                  "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                              "name": name},
                                  "subjects": [{"kind": "ServiceAccount", "name": name,
                                                "namespace": namespace}]}),
    ]:
        code, doc = apiserver.request("POST", path, obj)
        assert code == 201, doc
    directory = tmp_path / SECRETS
    directory.mkdir(parents=True)
    (directory / "ca.crt").write_bytes((apiserver.dir / "ca.crt").read_bytes())
    (directory / "namespace").write_text(namespace)
    sa = ServiceAccount(apiserver, namespace, name, directory)
    token, sa.secret = sa.token()
    sa.mount(token)
    return sa


def in_cluster(account: ServiceAccount, **overrides) -> Kube:
    env = account.env()
    connection = connect(service_host=env["KUBERNETES_SERVICE_HOST"],
                         service_port=env["KUBERNETES_SERVICE_PORT"],
                         service_account_dir=env["SERVICE_ACCOUNT_DIR"],
                         kubeconfig=env["KUBECONFIG"], pool_size=4)
    assert connection.source == "in-cluster"
    return Kube(dataclasses.replace(connection, **overrides), timeout=5)


def status_of(apiserver, token: str, path: str) -> int:
    """The status of a GET with `token` as the bearer (independent of the code under test)."""
    import ssl
    import urllib.error
    import urllib.request

    ctx = ssl.create_default_context(cafile=str(apiserver.dir / "ca.crt"))
    req = urllib.request.Request(apiserver.url + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_requests_authenticate_as_the_service_account(apiserver, namespace, account):
    """Read and patch go through as the service account; its rights end at its namespace."""
    apiserver.create_pod(namespace, "web-0")
    kube = in_cluster(account)
    meta = kube.read_pod(namespace=namespace, name="web-0")
    assert meta.labels == {"app": "demo"} and meta.uid
    kube.patch_pod(namespace=namespace, name="web-0", patch={"metadata": {"labels": {"status": "panne"}}})
    assert apiserver.get_pod(namespace, "web-0")["metadata"]["labels"]["status"] == "panne"
    other = f"t-{uuid.uuid4().hex[:10]}"
    apiserver.create_namespace(other)
    apiserver.create_pod(other, "web-0")
    with pytest.raises(Rejected) as info:  # RBAC: the identity really is the service account
        kube.read_pod(namespace=other, name="web-0")
    assert info.value.code == 403


def test_the_server_is_verified_against_the_mounted_ca(namespace, account):
    """A ca.crt that did not sign the server's certificate: the request fails, unsent."""
    (account.directory / "ca.crt").write_bytes(Path("/etc/ssl/certs/ca-certificates.crt").read_bytes())
    kube = in_cluster(account)
    with pytest.raises(Unavailable, match="SSL"):
        kube.read_pod(namespace=namespace, name="anything")


def test_rotated_token_is_followed(apiserver, namespace, account):
    """Old token revoked, file replaced: a client that looks at the file on every request
    never sees a 401; one that keeps its copy (within its period) gets one 401, looks at
    the file at once, and the next request goes through.  No client is rebuilt."""
    apiserver.create_pod(namespace, "web-0")
    # The revocation takes longer than TOKEN_PERIOD to show: an hour stands in for "not yet".
    keeping = in_cluster(account, credentials=TokenFile(account.directory / "token", period=3600.0))
    looking = in_cluster(account, credentials=TokenFile(account.directory / "token", period=0.0))
    for kube in (keeping, looking):
        assert kube.read_pod(namespace=namespace, name="web-0").uid
    revoked(apiserver, account.rotate(), namespace)
    assert looking.read_pod(namespace=namespace, name="web-0").uid
    with pytest.raises(Unavailable) as info:
        keeping.read_pod(namespace=namespace, name="web-0")
    assert info.value.code == 401
    assert keeping.read_pod(namespace=namespace, name="web-0").uid


def revoked(apiserver, token: str, namespace: str, timeout: float = 60.0) -> None:
    """Wait until the apiserver refuses `token` (it caches a token's success for 10 s)."""
    deadline = time.monotonic() + timeout
    while status_of(apiserver, token, f"/api/v1/namespaces/{namespace}/pods") != 401:
        assert time.monotonic() < deadline, "the old token is still accepted: nothing was revoked"
        time.sleep(0.5)


def webhook(namespace: str, pod: str, status: str, at: str) -> dict:
    return {"version": "4", "groupKey": "{}:{}", "status": status, "receiver": "cpu-alert-labeler",
            "alerts": [{"status": status,
                        "labels": {"alertname": "PodCpuFailure", "namespace": namespace, "pod": pod},
                        "annotations": {"cpu_usage": "97"}, "startsAt": "2026-11-24T09:00:00Z",
                        "endsAt": at if status == "resolved" else "0001-01-01T00:00:00Z",
                        "fingerprint": "a3c1f0e2b7d45e19"}]}


def test_function_labels_in_cluster_across_a_rotation(apiserver, namespace, account, make_client):
    """The served function labels a pod as the service account, then again after a rotation."""
    apiserver.create_pod(namespace, "web-0")
    client = make_client(**account.env())
    first = client.post("/", json=webhook(namespace, "web-0", "firing", ""))
    assert first.status_code == 200 and first.get_json()["counts"] == {"labeled": 1}, first.get_json()
    assert apiserver.get_pod(namespace, "web-0")["metadata"]["labels"]["status"] == "panne"
    revoked(apiserver, account.rotate(), namespace)
    second = client.post("/", json=webhook(namespace, "web-0", "resolved", "2026-11-24T09:05:00Z"))
    assert second.status_code == 200 and second.get_json()["counts"] == {"labeled": 1}, second.get_json()
    assert apiserver.get_pod(namespace, "web-0")["metadata"]["labels"]["status"] == "normal"


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST",
                                                               "KUBERNETES_SERVICE_PORT")}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


def test_loading_the_function_in_a_pod_does_not_import_kubernetes(account):
    """The issue's check, verbatim: `import function.main` with in-cluster variables set."""
    result = run_python("import function.main, sys; print('kubernetes' in sys.modules)", account.env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_serving_in_a_pod_does_not_import_kubernetes(apiserver, namespace, account):
    """A webhook served in-cluster labels the pod, and `kubernetes` is still not imported."""
    apiserver.create_pod(namespace, "web-0")
    body = json.dumps(webhook(namespace, "web-0", "firing", ""))
    code = ("import json, sys, functions_framework\n"
            f"app = functions_framework.create_app('handle', {str(SOURCE)!r}).test_client()\n"
            f"answer = app.post('/', data={body!r}, content_type='application/json')\n"
            "print(json.dumps([answer.status_code, answer.get_json()['counts'],"
            " 'kubernetes' in sys.modules, 'urllib3' in sys.modules]))")
    result = run_python(code, account.env())
    assert result.returncode == 0, result.stderr
    # urllib3 neither: the in-cluster transport is http.client (kube/httpspool.py).
    assert json.loads(result.stdout.splitlines()[-1]) == [200, {"labeled": 1}, False, False], \
        result.stderr[-2000:]
    # The positive control: on the kubeconfig path the same probe does import it.
    result = run_python(code, {"KUBECONFIG": str(apiserver.kubeconfig())})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])[2] is True


def test_serving_in_a_pod_imports_exactly_the_runtime_set(apiserver, namespace, account):
    """Server, webhook, health and /metrics in-cluster import the distributions requirements.txt
    pins, all of them and no other: the image installs that file alone, with --no-deps."""
    apiserver.create_pod(namespace, "web-0")
    body = json.dumps(webhook(namespace, "web-0", "firing", ""))
    code = ("import json, sys, functions_framework, function.server\n"
            "from importlib.metadata import packages_distributions\n"
            f"app = functions_framework.create_app('handle', {str(SOURCE)!r}).test_client()\n"
            f"answer = app.post('/', data={body!r}, content_type='application/json')\n"
            "statuses = [answer.status_code, app.get('/_/health').status_code, app.get('/metrics').status_code]\n"
            "tops = {name.partition('.')[0] for name in sys.modules}\n"
            "dists = sorted({d for top in tops for d in packages_distributions().get(top, [])})\n"
            "print(json.dumps([statuses, dists]))")
    result = run_python(code, account.env())
    assert result.returncode == 0, result.stderr
    statuses, dists = json.loads(result.stdout.splitlines()[-1])
    assert statuses == [200, 200, 200], result.stderr[-2000:]
    # setuptools: its .pth hook (_distutils_hack) loads in any venv that has it; the image's has not.
    imported = {normal(d) for d in dists} - {"setuptools"}
    assert imported == set(pins())


def test_without_a_mounted_account_the_kubeconfig_is_used(apiserver, account):
    """Variables set, no token mounted (automountServiceAccountToken: false): kubeconfig."""
    (account.directory / "token").unlink()
    env = account.env()
    connection = connect(service_host=env["KUBERNETES_SERVICE_HOST"],
                         service_port=env["KUBERNETES_SERVICE_PORT"],
                         service_account_dir=env["SERVICE_ACCOUNT_DIR"],
                         kubeconfig=str(apiserver.kubeconfig()), pool_size=4)
    assert connection.source == "kubeconfig"
