"""We test these aspects (issue 20, finding 5): the webhook token file rotating under the
production server, `python -m function.server` with two worker processes, on loopback.

- the file replaced as tooling does (a new file renamed over it) and as the kubelet does
  for a Secret volume (`..data` swapped to a new timestamped folder, `token -> ..data/token`);
- a new token is accepted within RECHECK_PERIOD of the swap (a mismatch re-reads the file,
  at most once a second per worker), and from then on by every worker;
- the old token is refused by every worker no later than SECRET_PERIOD after the swap;
- no token reaches the logs.
"""

import json
import time
import urllib.error
import urllib.request

import pytest

from function.auth import RECHECK_PERIOD, SECRET_PERIOD
from testbed.fakeapi import FakeApi
from testbed.functionserver import FunctionServer
from testbed.secretvolume import LAYOUTS, rotating_file
from testbed.webhooks import alert, webhook

A, B = "t0ken-a-91f2e07c", "t0ken-b-5d3a88e1"
SLACK = 1.0  # seconds: a poll's interval plus a loaded machine's scheduling


def post(url: str, token: str) -> int:
    body = json.dumps(webhook([alert("api-1", "shop")])).encode()
    request = urllib.request.Request(
        url, data=body, method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def api():
    fake = FakeApi(404, "NotFound")  # past authentication, the pod is looked up: 200, skipped
    yield fake
    fake.close()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_rotated_token_file_is_followed_by_the_running_server(tmp_path, api, layout):
    """A -> 200; swap the file to B; then, A and B in turn: B is accepted within
    RECHECK_PERIOD of the swap and from then on always, A is refused no later than
    SECRET_PERIOD after the swap."""
    path, rotate = rotating_file(tmp_path, layout, A + "\n")
    server = FunctionServer("server", tmp_path, {
        "KUBECONFIG": str(api.kubeconfig(tmp_path / "kubeconfig")), "WEBHOOK_TOKEN_FILE": str(path),
        "WORKERS": "2", "LOG_LEVEL": "INFO"})
    try:
        server.process.wait_ready(lambda: len(server.process.children()) >= 2 and post(server.url, A) == 200, 90)
        assert {post(server.url, A) for _ in range(10)} == {200} and post(server.url, B) == 401

        rotate(B + "\n")
        swapped = time.monotonic()
        new_accepted, new_refused_late, old_accepted = [], [], []
        while (now := time.monotonic() - swapped) < SECRET_PERIOD + 2 * SLACK:
            if post(server.url, B) == 200:
                new_accepted.append(now)
            elif now > RECHECK_PERIOD + SLACK:
                new_refused_late.append(now)
            if post(server.url, A) == 200:
                old_accepted.append(time.monotonic() - swapped)
            time.sleep(0.05)
    finally:
        server.stop()
    assert new_accepted and new_accepted[0] <= RECHECK_PERIOD + SLACK and new_refused_late == []
    assert max(old_accepted, default=0.0) <= SECRET_PERIOD + SLACK
    log = "\n".join(server.process.lines())
    assert '"event":"secret_reloaded"' in log
    assert not any(token in log for token in (A, B))
