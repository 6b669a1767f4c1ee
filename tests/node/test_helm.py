"""The Helm chart's own install, upgrade and uninstall on the real v1.34 node.

We test these aspects, on a release of its own (namespace cal-helm, restricted Pod Security,
beside the tier's kustomize install), with the image built from the shipped Dockerfile and
the chart making the token Secret:
- `helm install --wait` brings up a function that labels a pod: an alert POSTed with the
  token to the release's Service sets `status=panne`, as `kubectl get pods -L status` shows;
- `helm upgrade` changing a setting (NAMESPACE_DENY) rolls the pod while notifications keep
  coming: one sender per pod, each like an Alertmanager group (the next notification after
  the previous one is answered; a 5xx or a transport error sent again, anything else
  dropped). No notification is dropped and every pod ends with the label of the last level
  sent to it; the tries that needed a re-send are printed;
- `helm uninstall --wait` leaves nothing of the release: no object in its namespace but the
  namespace's own, no ClusterRole or ClusterRoleBinding, no object labelled with the release.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
import time
import urllib.error
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
import yaml

from testbed import webhooks
from testbed.clusters.node import deploy, probe
from testbed.clusters.node.containerd import PAUSE_IMAGE
from testbed.clusters.node.images import FUNCTION_IMAGE
from testbed.platforms import chart, clis
from testbed.tools import require

NS = "cal-helm"
RELEASE = "helm-cpu-alert-labeler"  # holds the chart's name: the objects are named so
LEVELS = [("PodCpuFailure", "panne"), ("PodCpuNormal", "normal"), ("PodHighCpuUsage", "moderate")]
PODS = ("a", "b", "c")
SEND_TIMEOUT = 120.0  # a notification re-sent for this long is one Alertmanager gave up on


def kubectl(node, *args: str, check: bool = True) -> str:
    result = deploy.kubectl(node, *args, check=check)
    return result.stdout


class Helm:
    """The pinned helm against the node, with its own config, cache and data folders."""

    def __init__(self, node, home) -> None:
        self.node = node
        self.env = {
            **os.environ,
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(clis.helm()), "--kubeconfig", str(self.node.admin_kubeconfig), "-n", NS, *args],
            capture_output=True,
            text=True,
            timeout=300,
            env=self.env,
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result


@pytest.fixture(scope="module")
def helm(node, tmp_path_factory) -> Iterator[Helm]:
    """Helm, and the release's namespace (restricted, as the overlays' is); both gone afterwards."""
    require(clis.helm().exists(), f"{clis.helm()} (make helm)")
    run = Helm(node, tmp_path_factory.mktemp("helm"))
    namespace = yaml.safe_load((chart.ROOT / "deploy" / "base" / "namespace.yaml").read_text())
    namespace["metadata"]["name"] = NS
    deploy.kubectl(node, "apply", "-f", "-", input=json.dumps(namespace))
    yield run
    run("uninstall", RELEASE, "--wait", check=False)
    deploy.kubectl(node, "delete", "namespace", NS, "--wait=false", check=False)


@pytest.fixture(scope="module")
def token() -> str:
    return secrets.token_hex(32)


@pytest.fixture(scope="module")
def installed(helm, token) -> str:
    """The release installed from the chart, the node's local image in; its Service's address."""
    repository, tag = FUNCTION_IMAGE.rsplit(":", 1)
    helm(
        "install", RELEASE, str(chart.CHART), "--wait", "--timeout", "180s",
        "--set", f"image.repository={repository}", "--set-string", f"image.tag={tag}",
        "--set", "webhookToken.create=true", "--set-string", f"webhookToken.value={token}",
    )  # fmt: skip
    ip = kubectl(helm.node, "-n", NS, "get", "service", RELEASE, "-o", "jsonpath={.spec.clusterIP}").strip()
    return f"http://{ip}/"


@pytest.fixture(scope="module")
def pods(node) -> Iterator[str]:
    """A namespace with three running pods of our own to label."""
    name = f"helm-w-{secrets.token_hex(3)}"
    kubectl(node, "create", "namespace", name)
    for pod in PODS:
        kubectl(node, "-n", name, "run", pod, f"--image={PAUSE_IMAGE}", "--image-pull-policy=Never")
    for pod in PODS:
        kubectl(node, "-n", name, "wait", "--for=condition=Ready", f"pod/{pod}", "--timeout=120s")
    yield name
    deploy.kubectl(node, "delete", "namespace", name, "--wait=false", check=False)


def labels(node, namespace: str) -> dict[str, str | None]:
    items = json.loads(kubectl(node, "-n", namespace, "get", "pods", "-o", "json"))["items"]
    return {p["metadata"]["name"]: p["metadata"].get("labels", {}).get("status") for p in items}


def now() -> str:
    return webhooks.rfc3339(datetime.now(timezone.utc), digits=3)


def test_install_labels_a_pod(node, installed, token, pods):
    """The chart's install runs a function that labels a pod (and refuses a call without the token)."""
    alert = probe.critical_alert(pods, "a")
    assert probe.post(installed, alert, token=None)[0] == 401
    status, summary = probe.post(installed, alert, token=token)
    assert status == 200, summary
    print(kubectl(node, "-n", pods, "get", "pods", "-L", "status"))
    assert labels(node, pods)["a"] == "panne"


class Group(threading.Thread):
    """One pod's notifications, sent as Alertmanager sends a group's: one at a time, each sent
    again on a 5xx or a transport error until answered 2xx; any other answer drops it."""

    def __init__(self, url: str, token: str, namespace: str, pod: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.url, self.token, self.namespace, self.pod, self.stop = url, token, namespace, pod, stop
        self.answers: Counter[str] = Counter()
        self.sent = 0
        self.last: str | None = None
        self.dropped: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            name, level = LEVELS[self.sent % len(LEVELS)]
            body = webhooks.webhook([webhooks.alert(self.pod, self.namespace, name=name, starts_at=now())])
            if self.deliver(body):
                self.last = level
            self.sent += 1
            time.sleep(0.05)

    def deliver(self, body: dict) -> bool:
        deadline = time.monotonic() + SEND_TIMEOUT
        while time.monotonic() < deadline:
            try:
                status, answer = probe.post(self.url, body, token=self.token)
            except (urllib.error.URLError, OSError) as err:
                self.answers[type(err).__name__] += 1
            else:
                self.answers[str(status)] += 1
                if 200 <= status < 300:
                    return True
                if status < 500:
                    self.dropped.append(f"{status} {answer}")
                    return False
            time.sleep(0.5)
        self.dropped.append("never answered 2xx")
        return False


def test_upgrade_loses_no_notification(node, helm, installed, token, pods):
    """`helm upgrade` changing a setting rolls the pod while each pod's notifications keep coming:
    none is dropped, and every pod ends with the level of the last notification sent to it."""
    before = json.loads(kubectl(node, "-n", NS, "get", "pods", "-o", "json"))["items"]
    stop = threading.Event()
    groups = [Group(installed, token, pods, pod, stop) for pod in PODS]
    for group in groups:
        group.start()
    try:
        probe.wait_for(lambda: all(g.sent >= 2 for g in groups), "notifications flowing", timeout=60)
        helm("upgrade", RELEASE, str(chart.CHART), "--reuse-values", "--wait", "--timeout", "180s",
             "--set", "namespaces.deny={kube-system}")  # fmt: skip
        old = {p["metadata"]["name"] for p in before}
        probe.wait_for(lambda: not old & set(labels(node, NS)), "the old pod gone", timeout=120)
        time.sleep(1)  # a few more notifications to the new pod alone
    finally:
        stop.set()
        for group in groups:
            group.join(SEND_TIMEOUT + 30)
    for group in groups:
        print(f"pod {group.pod}: {group.sent} notifications, answers {dict(group.answers)}")
    assert [g.dropped for g in groups] == [[], [], []]
    final = labels(node, pods)
    assert final == {g.pod: g.last for g in groups}
    (pod,) = json.loads(kubectl(node, "-n", NS, "get", "pods", "-o", "json"))["items"]
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["NAMESPACE_DENY"] == "kube-system"


def test_uninstall_leaves_nothing_behind(node, helm, installed):
    """After `helm uninstall --wait` no object of the release is left, namespaced or not."""
    helm("uninstall", RELEASE, "--wait", "--timeout", "120s")
    kinds = "all,secrets,serviceaccounts,roles,rolebindings,configmaps,endpointslices"
    namespace_own = {"serviceaccount/default", "configmap/kube-root-ca.crt"}

    def left() -> list[str]:
        return [
            n for n in kubectl(node, "-n", NS, "get", kinds, "-o", "name").split() if n not in namespace_own
        ]

    # The Deployment's pod goes after it (garbage collection): bounded, then shown if it stays.
    probe.wait_for(lambda: left() == [], "the release's namespace empty", timeout=90)
    cluster = kubectl(node, "get", "clusterroles,clusterrolebindings", "-o", "name").split()
    assert [n for n in cluster if RELEASE in n] == []
    labelled = kubectl(node, "get", f"{kinds},clusterroles,clusterrolebindings", "-A",
                       "-l", f"app.kubernetes.io/instance={RELEASE}", "-o", "name")  # fmt: skip
    assert labelled.split() == []
