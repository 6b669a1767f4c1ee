"""We test these aspects: webhook authentication and the namespace policy, through HTTP.

- with a token and/or basic auth configured, only matching credentials pass (401 otherwise,
  with WWW-Authenticate), whether the secrets come from variables or files;
- health paths stay open; nothing reaches the API without credentials;
- secrets never appear in answers or logs;
- a secret from a file follows the file: a rotated token works at once, the old one stops
  within SECRET_PERIOD, two tokens (one per line) overlap a rotation, a flood of bad tokens
  reads the file at most once a second, a bad file keeps the last good token and logs why;
- namespaces outside NAMESPACE_ALLOW or inside NAMESPACE_DENY are skipped, never sent.
"""

import base64
import json

import pytest

from function import auth as auth_module
from function import logs
from function.auth import RECHECK_PERIOD, SECRET_PERIOD, Authenticator
from function.config import Secret, Settings, read_secret_file
from function.errors import Unauthorized
from testbed.fakeapi import FakeApi
from testbed.secretvolume import LAYOUTS, replace_file, rotating_file

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


# Rotation: the secret files are read again (function/auth.py), on a fake clock.

class Clock:
    def __init__(self):
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


OLD, NEW = "old-t0ken-4f9c", "new-t0ken-77aa"


def accepts(auth: Authenticator, header: str) -> bool:
    try:
        auth.check(header)
    except Unauthorized:
        return False
    return True


def from_files(**files: str) -> Settings:
    return Settings.from_env({f"{env}_FILE": str(path) for env, path in files.items()} | (
        {"WEBHOOK_USERNAME": "am"} if "WEBHOOK_PASSWORD" in files else {}))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_rotated_token_works_at_once_and_the_old_one_stops_within_the_period(tmp_path, layout):
    """New token: accepted on its first request (a mismatch re-reads the file). Old token:
    accepted until SECRET_PERIOD has passed since the last read, refused after."""
    path, rotate = rotating_file(tmp_path, layout, OLD + "\n")
    clock = Clock()
    auth = Authenticator(from_files(WEBHOOK_TOKEN=path), clock=clock)
    assert accepts(auth, f"Bearer {OLD}") and not accepts(auth, f"Bearer {NEW}")
    clock.now += RECHECK_PERIOD
    rotate(NEW + "\n")
    assert accepts(auth, f"Bearer {NEW}")
    clock.now += SECRET_PERIOD  # since that read
    assert not accepts(auth, f"Bearer {OLD}")
    assert accepts(auth, f"Bearer {NEW}")


def test_the_old_token_stops_within_the_period_without_any_mismatch(tmp_path):
    """Only the old token keeps coming (Alertmanager not yet told): it is refused once the
    period since the last read is over."""
    path = replace_file(tmp_path / "token", OLD)
    clock = Clock()
    auth = Authenticator(from_files(WEBHOOK_TOKEN=path), clock=clock)
    replace_file(path, NEW)
    clock.now += SECRET_PERIOD - 0.001
    assert accepts(auth, f"Bearer {OLD}")
    clock.now += 0.001
    assert not accepts(auth, f"Bearer {OLD}")


def test_two_tokens_in_the_file_are_both_accepted_during_a_rotation(tmp_path):
    """One token per line: the function accepts both while Alertmanager switches over."""
    path = replace_file(tmp_path / "token", OLD + "\n")
    clock = Clock()
    auth = Authenticator(from_files(WEBHOOK_TOKEN=path), clock=clock)
    replace_file(path, f"{OLD}\n{NEW}\n")
    clock.now += RECHECK_PERIOD
    assert accepts(auth, f"Bearer {NEW}") and accepts(auth, f"Bearer {OLD}")
    assert not accepts(auth, f"Bearer {OLD}\n{NEW}") and not accepts(auth, "Bearer ")
    replace_file(path, NEW + "\n")
    clock.now += SECRET_PERIOD
    assert not accepts(auth, f"Bearer {OLD}") and accepts(auth, f"Bearer {NEW}")


def test_a_flood_of_bad_tokens_reads_the_file_at_most_once_a_second(tmp_path, monkeypatch):
    """Mismatches re-read the file, but never more than once per RECHECK_PERIOD."""
    path = replace_file(tmp_path / "token", OLD)
    clock = Clock()
    auth = Authenticator(from_files(WEBHOOK_TOKEN=path), clock=clock)
    reads = []
    monkeypatch.setattr(auth_module, "read_secret_file", lambda *a: reads.append(a) or read_secret_file(*a))
    for _ in range(3):
        clock.now += RECHECK_PERIOD
        for _ in range(500):
            assert not accepts(auth, "Bearer guessed")
    assert len(reads) == 3


@pytest.mark.parametrize("damage,reason", [
    ("remove", "cannot read"),
    ("empty", "is empty"),
    ("blanks", "visible ASCII"),
    ("huge", "larger than 65536 bytes"),
    ("binary", "not UTF-8"),
])
def test_a_bad_file_keeps_the_last_good_token_and_logs_why(tmp_path, capsys, damage, reason):
    """A file caught removed, emptied or spoiled: the last good token keeps working, the old
    one is not dropped, and `secret_unreadable` says which variable and why, never the content."""
    logs.configure("INFO")
    path = replace_file(tmp_path / "token", OLD)
    clock = Clock()
    auth = Authenticator(from_files(WEBHOOK_TOKEN=path), clock=clock)
    capsys.readouterr()
    spoiled = {"empty": "\n", "blanks": f"{NEW} x", "huge": NEW * 10_000}
    if damage == "remove":
        path.unlink()
    elif damage == "binary":
        path.write_bytes(b"\xff\xfe" + NEW.encode())
    else:
        replace_file(path, spoiled[damage])
    clock.now += SECRET_PERIOD
    assert accepts(auth, f"Bearer {OLD}")
    assert not accepts(auth, f"Bearer {NEW}")
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert events and {e["event"] for e in events} == {"secret_unreadable"}
    assert events[0]["variable"] == "WEBHOOK_TOKEN_FILE" and reason in events[0]["reason"]
    assert all(OLD not in json.dumps(e) and NEW not in json.dumps(e) for e in events)
    replace_file(path, NEW)
    clock.now += SECRET_PERIOD
    assert accepts(auth, f"Bearer {NEW}") and not accepts(auth, f"Bearer {OLD}")
    changed = capsys.readouterr().err
    assert '"event":"secret_reloaded"' in changed and NEW not in changed and OLD not in changed


def test_a_rotated_password_file_is_followed_too(tmp_path):
    """WEBHOOK_PASSWORD_FILE is re-read the same way (the user name is not a secret: a variable)."""
    path = replace_file(tmp_path / "password", "pa:ss-1")
    clock = Clock()
    auth = Authenticator(from_files(WEBHOOK_PASSWORD=path), clock=clock)
    assert auth.challenge == 'Basic realm="cpu-alert-labeler"'
    replace_file(path, "pa:ss-2")
    clock.now += RECHECK_PERIOD
    assert accepts(auth, basic("am", "pa:ss-2"))
    clock.now += SECRET_PERIOD
    assert not accepts(auth, basic("am", "pa:ss-1"))


def test_a_token_from_the_variable_is_never_read_again(monkeypatch):
    """WEBHOOK_TOKEN (no file) cannot change under the process: no file is ever looked at."""
    clock = Clock()
    auth = Authenticator(Settings.from_env({"WEBHOOK_TOKEN": TOKEN}), clock=clock)
    monkeypatch.setattr(auth_module, "read_secret_file", lambda *a: pytest.fail("read"))
    clock.now += 10 * SECRET_PERIOD
    assert accepts(auth, f"Bearer {TOKEN}") and not accepts(auth, "Bearer other")
