"""Loopback networking helpers: a free port, one plain HTTP request, a JSON GET, and the
samples of a /metrics page.

urllib only, so the kit checks programs independently of the client under test.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http(method: str, url: str, body: object = None, timeout: float = 5.0) -> tuple[int, bytes]:
    """(status, body) of one plain HTTP request; `body` is sent as JSON."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def get_json(url: str, timeout: float = 5.0) -> Any:
    """The JSON document at `url`; anything but 200 raises."""
    status, body = http("GET", url, timeout=timeout)
    if status != 200:
        raise RuntimeError(f"GET {url}: {status} {body[:300]!r}")
    return json.loads(body)


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of every sample `name` in a Prometheus text exposition."""
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples `name` whose labels include `labels` (0 when there is none)."""
    return sum(value for found, value in metric_samples(text, name) if labels.items() <= found.items())


def answers(url: str, timeout: float = 1.0) -> bool:
    """Whether GET `url` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def responds(url: str, timeout: float = 1.0) -> bool:
    """Whether GET `url` gets any answer below 500: the server is up, whatever its routes."""
    try:
        status, _ = http("GET", url, timeout=timeout)
    except OSError:
        return False
    return status < 500
