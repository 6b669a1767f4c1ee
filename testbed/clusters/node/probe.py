"""What the node tier does from the host to the function and the cluster: wait until
something holds, and POST a webhook as a client in the cluster would (to a Service's
ClusterIP, naming the host it would have resolved, with or without the bearer token).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TypeVar

from testbed import webhooks

T = TypeVar("T")


def wait_for(check: Callable[[], T], what: str, timeout: float = 90, poll: float = 0.25) -> T:
    """The first truthy value of `check()`, polled every `poll` seconds; past `timeout`, fail
    naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def critical_alert(namespace: str, pod: str) -> dict:
    """A webhook body with one firing PodCpuFailure for the pod (so: `panne`)."""
    return webhooks.webhook([webhooks.alert(pod, namespace, cpu="91.0")])


def post(url: str, body: dict, token: str | None, host: str | None = None) -> tuple[int, dict]:
    """POST `body` as JSON; the status and the answer (its JSON, or its text as {"body": ...})."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if host:  # a client that called the Service by its cluster DNS name sends it as Host
        headers["Host"] = host
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, text = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read()
    try:
        return status, json.loads(text or b"{}")
    except ValueError:
        return status, {"body": text.decode(errors="replace")[:500]}
