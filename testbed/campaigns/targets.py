"""The campaigns' side of the cluster: pods, function servers (behind a fault proxy), end states.

Every campaign works in its own fresh namespace of the one test apiserver, and
reads the final state of its pods straight from the apiserver, never through a
proxy, to compare it with the truth its scenario generated.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from testbed.campaigns.figures import Figure
from testbed.campaigns.scenarios import State
from testbed.campaigns.sender import SendTally
from testbed.clusters import Cluster
from testbed.faultproxy import KINDS, FaultProxy
from testbed.functionserver import FunctionServer
from testbed.paths import ROOT

ALERT_TIME = "cpu-alert-labeler/alert-time"
# A 1 s API timeout keeps the 1.5 s delay faults cheap; two tries per pod (default 4) let
# enough faults through to the 503 answer that Alertmanager's re-send path is exercised too.
FAULTY_API_ENV = {"API_TIMEOUT_SECONDS": "1", "API_ATTEMPTS": "2", "THREADS": "8"}


RBAC = "/apis/rbac.authorization.k8s.io/v1"


def new_pods(apiserver: Cluster, prefix: str, pods: list[str], threads: int = 1) -> str:
    """A fresh namespace holding `pods` (created by `threads` at once); its name."""
    namespace = f"{prefix}-{uuid.uuid4().hex[:8]}"
    apiserver.create_namespace(namespace)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda pod: apiserver.create_pod(namespace, pod), pods))
    return namespace


def pod_labels(apiserver: Cluster, namespace: str, key: str = "status") -> dict[str, str | None]:
    """Every pod's `key` label in one LIST, straight from the apiserver."""
    doc = apiserver.expect(200, "GET", f"/api/v1/namespaces/{namespace}/pods")
    return {p["metadata"]["name"]: (p["metadata"].get("labels") or {}).get(key) for p in doc["items"]}


def events_by_pod(apiserver: Cluster, namespace: str, reason: str) -> collections.Counter[str]:
    """How many Events of `reason` each pod of `namespace` has, straight from the apiserver."""
    doc = apiserver.expect(200, "GET", f"/api/v1/namespaces/{namespace}/events")
    return collections.Counter(
        e["involvedObject"].get("name", "") for e in doc["items"] if e.get("reason") == reason
    )


def grant_function_role(apiserver: Cluster, user: str) -> None:
    """Bind the shipped ClusterRole (deploy/base/rbac.yaml) to token user `user`: an identity
    outside system:masters, which the apiserver's in-flight limits exempt."""
    shipped = yaml.safe_load_all((ROOT / "deploy" / "base" / "rbac.yaml").read_text())
    role = next(doc for doc in shipped if doc and doc["kind"] == "ClusterRole")
    name = role["metadata"]["name"]
    apiserver.expect(201, "POST", f"{RBAC}/clusterroles", role)
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}],
    }
    apiserver.expect(201, "POST", f"{RBAC}/clusterrolebindings", binding)


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def read_pod_state(apiserver: Cluster, namespace: str, pod: str) -> tuple[str | None, datetime | None]:
    """(label, recorded alert time), straight from the apiserver, not through any proxy."""
    meta = apiserver.get_pod(namespace, pod)["metadata"]
    text = (meta.get("annotations") or {}).get(ALERT_TIME)
    return (meta.get("labels") or {}).get("status"), _parse_time(text)


@contextlib.contextmanager
def servers(
    workdir: Path, prefix: str, count: int, env: dict[str, str], workers: int = 1
) -> Iterator[list[FunctionServer]]:
    """`count` production servers of the function, ready; all stopped on leaving."""
    settings = {"WORKERS": str(workers), "LOG_LEVEL": "WARNING", **env}
    started: list[FunctionServer] = []
    try:
        for i in range(count):
            started.append(FunctionServer(f"{prefix}-{i}", workdir, settings))
        for server in started:
            server.wait_ready()
        yield started
    finally:
        for server in started:
            server.stop()


@contextlib.contextmanager
def servers_behind_proxy(
    apiserver: Cluster,
    workdir: Path,
    name: str,
    count: int,
    rate: float,
    seed: int,
    deck: int,
    summary: dict[str, Any],
) -> Iterator[list[FunctionServer]]:
    """`count` function servers whose API traffic crosses a fault proxy; on a clean exit the
    proxy's summary is stored in `summary`; the proxy is always closed."""
    proxy = FaultProxy(
        apiserver.url,
        apiserver.ca,
        rates=FaultProxy.spread(rate),
        seed=seed,
        delay=1.5,
        deck=deck,
    )
    kubeconfig = proxy.kubeconfig(workdir / f"kubeconfig-{name}", apiserver.token())
    try:
        with servers(workdir, name, count, {"KUBECONFIG": str(kubeconfig), **FAULTY_API_ENV}) as started:
            yield started
        summary.update(proxy.summary())
    finally:
        proxy.close()


def run_threads(
    target: Callable[..., None], args_list: list[tuple[Any, ...]], name: str, timeout: float = 600.0
) -> None:
    """One daemon thread per argument tuple; joined until `timeout` in all."""
    threads = [
        threading.Thread(target=target, args=args, name=f"{name}-{i}", daemon=True)
        for i, args in enumerate(args_list)
    ]
    for thread in threads:
        thread.start()
    end = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(end - time.monotonic(), 0.1))  # senders are bounded by their own deadline


@dataclass
class CampaignCheck:
    """The end state of a campaign's pods against the truth (the newest state sent)."""

    pods: int = 0
    wrong_label: int = 0
    wrong_time: int = 0
    details: list[str] = field(default_factory=list)

    def compare(self, apiserver: Cluster, namespace: str, truth: dict[str, State]) -> None:
        for pod, state in sorted(truth.items()):
            self.pods += 1
            label, recorded = read_pod_state(apiserver, namespace, pod)
            if label != state.label:
                self.wrong_label += 1
                self.details.append(f"{namespace}/{pod}: label {label!r}, want {state.label!r}")
            if recorded != state.at:
                self.wrong_time += 1
                self.details.append(f"{namespace}/{pod}: alert-time {recorded}, want {state.at}")

    def figures(self, campaign: str, wrong_label: str) -> list[Figure]:
        """The must-be-zero end-state figures, as every campaign reports them."""
        return [
            Figure(campaign, wrong_label, self.wrong_label, zero=True),
            Figure(campaign, "pods whose alert-time is not the newest state's", self.wrong_time, zero=True),
            Figure(campaign, "pods checked", self.pods),
        ]


@dataclass
class SentThroughProxy:
    """What a campaign that sends through the fault proxy measured: the proxy's counts, the
    sender's tally, the end state of its pods, and how long it took."""

    proxy: dict[str, Any] = field(default_factory=dict)
    tally: SendTally = field(default_factory=SendTally)
    check: CampaignCheck = field(default_factory=CampaignCheck)
    seconds: float = 0.0

    def details(self) -> list[str]:
        return self.check.details[:20]

    def injected(self) -> int:
        """API calls the proxy failed on purpose, every kind together."""
        return sum(self.proxy.get(kind, 0) for kind in KINDS)
