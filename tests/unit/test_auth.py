"""We test these aspects: webhook authentication and the namespace policy, through HTTP.

- with a token and/or basic auth configured, only matching credentials pass (401 otherwise,
  with WWW-Authenticate), whether the secrets come from variables or files;
- health paths stay open; nothing reaches the API without credentials;
- secrets never appear in answers or logs;
- namespaces outside NAMESPACE_ALLOW or inside NAMESPACE_DENY are skipped, never sent.
"""

import base64
import json

import pytest

from function.auth import Authenticator
from function.config import Secret, Settings
from function.errors import Unauthorized
from testbed.fakeapi import FakeApi

TOKEN = "t0ken-with-enough-entropy-4f9c"
BODY = json.dumps({"alerts": [{"labels": {"alertname": "PodCpuFailure", "pod": "api-1",
                                          "namespace": "shop"}}]}).encode()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def api(tmp_path):
    fake = FakeApi(404, "NotFound")
    yield fake
    fake.close()


@pytest.mark.parametrize("header,ok", [
    (f"Bearer {TOKEN}", True),
    (f"bearer {TOKEN}", True),
    (f"Bearer  {TOKEN} ", True),
    (None, False),
    ("", False),
    ("Bearer", False),
    (f"Bearer {TOKEN}x", False),
    (f"Bearer {TOKEN[:-1]}", False),
    (f"Token {TOKEN}", False),
    (basic("am", TOKEN), False),
])
def test_bearer_token(header, ok):
    """Only the exact bearer token passes."""
    auth = Authenticator(Settings(webhook_token=Secret(TOKEN)))
    if ok:
        auth.check(header)
    else:
        with pytest.raises(Unauthorized) as info:
            auth.check(header)
        assert info.value.challenge == 'Bearer realm="cpu-alert-labeler"'
        assert TOKEN not in str(info.value)


@pytest.mark.parametrize("header,ok", [
    (basic("alertmanager", "pa:ss"), True),
    (basic("alertmanager", "pa:sx"), False),
    (basic("other", "pa:ss"), False),
    ("Basic !!!notbase64", False),
    ("Basic " + base64.b64encode(b"no-colon").decode(), False),
    (f"Bearer {TOKEN}", True),
    ("Bearer wrong", False),
])
def test_basic_auth_alongside_a_token(header, ok):
    """With both configured, either valid credential passes; passwords may hold colons."""
    auth = Authenticator(Settings(webhook_token=Secret(TOKEN), webhook_username="alertmanager",
                                  webhook_password=Secret("pa:ss")))
    assert auth.challenge == 'Bearer realm="cpu-alert-labeler", Basic realm="cpu-alert-labeler"'
    if ok:
        auth.check(header)
    else:
        with pytest.raises(Unauthorized):
            auth.check(header)


def test_open_when_nothing_is_configured():
    """No credentials configured: no check (the README says how to turn it on)."""
    Authenticator(Settings()).check(None)


def test_http_401_without_credentials_and_no_api_call(make_client, api, tmp_path):
    """Wrong or missing credentials: 401 with WWW-Authenticate, no request to the API, no secret in the answer."""
    (tmp_path / "token").write_text(TOKEN + "\n")
    client = make_client(api.kubeconfig(tmp_path / "kubeconfig"), WEBHOOK_TOKEN_FILE=str(tmp_path / "token"))
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": basic("a", "b")}):
        response = client.post("/", data=BODY, headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN not in response.get_data(as_text=True)
    assert api.requests == []
    ok = client.post("/", data=BODY, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and api.requests  # past auth, the pod was looked up
    for path in ("/healthz", "/_/health", "/_/ready"):
        assert client.get(path).status_code == 200


def test_secrets_never_reach_logs(make_client, api, tmp_path, capfd):
    """Neither the configured secret nor a presented credential appears in the JSON logs."""
    client = make_client(api.kubeconfig(tmp_path / "kubeconfig"), WEBHOOK_TOKEN=TOKEN, LOG_LEVEL="DEBUG")
    client.post("/", data=BODY, headers={"Authorization": "Bearer guessed-secret-123"})
    client.post("/", data=BODY, headers={"Authorization": f"Bearer {TOKEN}"})
    err = capfd.readouterr().err
    assert '"event":"webhook"' in err
    assert TOKEN not in err and "guessed-secret-123" not in err


@pytest.mark.parametrize("env,namespace,sent", [
    ({"NAMESPACE_ALLOW": "shop"}, "shop", True),
    ({"NAMESPACE_ALLOW": "shop,web"}, "billing", False),
    ({"NAMESPACE_DENY": "kube-system"}, "kube-system", False),
    ({"NAMESPACE_ALLOW": "kube-system", "NAMESPACE_DENY": "kube-system"}, "kube-system", False),
])
def test_namespace_policy_over_http(make_client, api, tmp_path, env, namespace, sent):
    """A namespace outside the policy is skipped with a reason and never sent to the API."""
    client = make_client(api.kubeconfig(tmp_path / "kubeconfig"), **env)
    body = json.dumps({"alerts": [{"labels": {"alertname": "PodCpuFailure", "pod": "api-1",
                                              "namespace": namespace}}]}).encode()
    entry = client.post("/", data=body).json["alerts"][0]
    assert bool(api.requests) == sent
    if not sent:
        assert entry["outcome"] == "skipped" and "NAMESPACE_ALLOW" in entry["reason"]
