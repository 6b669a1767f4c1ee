"""We test these aspects: the RBAC of the Knative overlay (as `kubectl kustomize knative/`
renders it) and openfaas/rbac.yaml, applied to a real
apiserver that authorizes with RBAC, let the identity each platform runs the function as
(a ServiceAccount token from the TokenRequest API, with the apiserver's default audience)
label a pod through the function (reading pods one by one or in a LIST), and refuse that
identity everything else we tried: deleting or creating pods, writing pod status, listing
or deleting Events, reading secrets.  We also pin down
the limit of RBAC: `patch` on pods cannot be narrowed to metadata, so a spec patch passes.
"""

import json
import ssl
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from testbed.clusters.node.layout import pinned_kubectl
from testbed.paths import ROOT
from testbed.platforms import manifests
from testbed.tools import require
from testbed.webhooks import alert as build_alert
from testbed.webhooks import webhook

ISSUER = "https://kubernetes.default.svc"  # the test apiserver's --service-account-issuer
RBAC = "/apis/rbac.authorization.k8s.io/v1"
COLLECTIONS = {  # kind -> collection path; {ns} is the object's namespace
    "Namespace": "/api/v1/namespaces",
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "ClusterRole": f"{RBAC}/clusterroles",
    "ClusterRoleBinding": f"{RBAC}/clusterrolebindings",
    "Role": f"{RBAC}/namespaces/{{ns}}/roles",
    "RoleBinding": f"{RBAC}/namespaces/{{ns}}/rolebindings",
}


def apply(apiserver, obj: dict) -> None:
    """Create `obj` as admin, or replace it if it exists (kubectl apply, in short)."""
    meta = obj["metadata"]
    collection = COLLECTIONS[obj["kind"]].format(ns=meta.get("namespace", ""))
    code, doc = apiserver.request("POST", collection, obj)
    if code == 409:
        item = f"{collection}/{meta['name']}"
        code, current = apiserver.request("GET", item)
        assert code == 200, current
        replacement = {**obj, "metadata": {**meta, "resourceVersion": current["metadata"]["resourceVersion"]}}
        code, doc = apiserver.request("PUT", item, replacement)
    assert code in (200, 201), f"{obj['kind']} {meta['name']}: {code} {doc.get('message')}"


def request_token(apiserver, namespace: str, account: str, audiences: list[str] | None) -> str:
    spec = {"expirationSeconds": 3600, **({"audiences": audiences} if audiences else {})}
    code, doc = apiserver.request(
        "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
    assert code == 201, doc
    return doc["status"]["token"]


def review(apiserver, token: str) -> dict:
    """What the apiserver makes of a token (TokenReview, as admin)."""
    code, doc = apiserver.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}})
    assert code == 201, doc
    return doc["status"]


def call(apiserver, token: str, method: str, path: str, body: object = None,
         content_type: str = "application/json") -> tuple[int, dict]:
    """A raw API call with `token` as the bearer (apiserver.request knows only its own users)."""
    ctx = ssl.create_default_context(cafile=str(apiserver.dir / "ca.crt"))
    req = urllib.request.Request(apiserver.url + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@dataclass(frozen=True)
class Identity:
    namespace: str
    account: str
    token: str
    kubeconfig: Path

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.account}"


def rbac_objects(source: str) -> list[dict]:
    """The identity objects of `source`: a shipped overlay as kubectl renders it, or a YAML file."""
    if source in manifests.OVERLAYS:
        require(pinned_kubectl().exists(), str(pinned_kubectl()))
        return [obj for obj in manifests.render(source) if obj["kind"] in COLLECTIONS]
    return [obj for obj in yaml.safe_load_all((ROOT / source).read_text()) if obj]


PLATFORMS = {
    # manifest, the namespace and ServiceAccount the platform runs the function as
    "knative": ("knative", "cpu-alert-labeler", "cpu-alert-labeler"),
    # OpenFaaS CE: its installer creates openfaas-fn; the controller-manager (absent here)
    # would create `default` in it, so the test creates both.
    "openfaas": ("openfaas/rbac.yaml", "openfaas-fn", "default"),
}


@pytest.fixture(scope="module", params=sorted(PLATFORMS))
def identity(request, apiserver) -> Identity:
    manifest, namespace, account = PLATFORMS[request.param]
    apply(apiserver, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    apply(apiserver, {"apiVersion": "v1", "kind": "ServiceAccount",
                      "metadata": {"name": account, "namespace": namespace}})
    for obj in rbac_objects(manifest):
        apply(apiserver, obj)
    token = request_token(apiserver, namespace, account, [ISSUER])
    kubeconfig = apiserver.kubeconfig_for_token(f"{request.param}-{account}", token)
    return Identity(namespace, account, token, kubeconfig)


@pytest.fixture
def pod(apiserver, namespace) -> str:
    name = f"app-{uuid.uuid4().hex[:6]}"
    apiserver.create_pod(namespace, name)
    return name


def alert(namespace: str, pod: str) -> dict:
    return webhook([build_alert(pod, namespace, cpu="97.3", starts_at="2026-11-24T09:12:41.503Z")])


def test_token_carries_the_service_account_and_default_audience(apiserver, identity):
    """The requested token authenticates as the ServiceAccount for the apiserver's own audience."""
    status = review(apiserver, identity.token)
    assert status["authenticated"] is True
    assert status["user"]["username"] == identity.username
    assert ISSUER in status["audiences"]


def test_token_without_audience_gets_the_issuer_default(apiserver, identity):
    """A TokenRequest that names no audience gets the issuer, which the apiserver accepts."""
    token = request_token(apiserver, identity.namespace, identity.account, None)
    status = review(apiserver, token)
    assert status["authenticated"] is True
    assert status["audiences"] == [ISSUER]


def test_function_labels_a_pod_as_the_service_account(apiserver, identity, make_client, namespace, pod):
    """Run as the platform's identity, the function reads and patches the pod it is told about."""
    client = make_client(identity.kubeconfig)
    resp = client.post("/", json=alert(namespace, pod))
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["alerts"][0]["outcome"] == "labeled"
    assert apiserver.get_pod(namespace, pod)["metadata"]["labels"]["status"] == "panne"
    code, events = apiserver.request("GET", f"/api/v1/namespaces/{namespace}/events")
    assert code == 200
    assert [e["reason"] for e in events["items"] if e["involvedObject"]["name"] == pod] == ["CpuLevelChanged"]


FORBIDDEN = {
    "delete pod": ("DELETE", "/api/v1/namespaces/{ns}/pods/{pod}", None, "application/json"),
    "create pod": ("POST", "/api/v1/namespaces/{ns}/pods",
                   {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "intruder"},
                    "spec": {"containers": [{"name": "x", "image": "registry.invalid/x:1"}]}},
                   "application/json"),
    "patch pod status": ("PATCH", "/api/v1/namespaces/{ns}/pods/{pod}/status",
                         {"status": {"message": "x"}}, "application/merge-patch+json"),
    "list events": ("GET", "/api/v1/namespaces/{ns}/events", None, "application/json"),
    "delete events": ("DELETE", "/api/v1/namespaces/{ns}/events", None, "application/json"),
    "list secrets": ("GET", "/api/v1/namespaces/{ns}/secrets", None, "application/json"),
    "list secrets everywhere": ("GET", "/api/v1/secrets", None, "application/json"),
    "read a secret": ("GET", "/api/v1/namespaces/{ns}/secrets/anything", None, "application/json"),
}


@pytest.mark.parametrize("action", sorted(FORBIDDEN))
def test_everything_else_is_forbidden(apiserver, identity, namespace, pod, action):
    """Beyond get, list and patch on pods and create on events: 403 Forbidden, and the pod is untouched."""
    method, path, body, content_type = FORBIDDEN[action]
    code, doc = call(apiserver, identity.token, method, path.format(ns=namespace, pod=pod),
                     body, content_type)
    assert (code, doc.get("reason")) == (403, "Forbidden"), doc
    assert identity.username in doc["message"]
    assert apiserver.get_pod(namespace, pod)["metadata"]["name"] == pod  # still there


def test_rbac_cannot_narrow_patch_to_metadata(apiserver, identity, namespace, pod):
    """A limit worth knowing: `patch` on pods also allows a spec patch (RBAC sees verbs, not fields)."""
    code, doc = call(apiserver, identity.token, "PATCH", f"/api/v1/namespaces/{namespace}/pods/{pod}",
                     {"spec": {"activeDeadlineSeconds": 60}}, "application/merge-patch+json")
    assert code == 200, doc
    assert apiserver.get_pod(namespace, pod)["spec"]["activeDeadlineSeconds"] == 60
