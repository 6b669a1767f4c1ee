"""Alertmanager in the cluster, on the shipped configuration, sending to a Knative Revision.

Debian's prometheus-alertmanager 0.25 (the one the monitoring tests run) in a pod, as a
cluster runs it: in its own namespace, resolving the function's name through the
cluster DNS, its bearer token mounted from a Secret at the path monitoring/alertmanager.yml
names. The configuration is monitoring/alertmanager.yml with the test's timers
(testbed.chain.configs) and one more change: the URL. The shipped URL is the Knative
Service's (its Route's) address, which needs a networking layer; here it is the
Revision's public Service, which the activator serves while the Revision is at zero.

The binary is dynamically linked against Debian 12's libc, so its image is the node's
Debian base (testbed.clusters.node.images.BASE_IMAGE) plus the binary and its default templates,
not an empty image.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

from testbed.chain import configs
from testbed.chain.loopback import AlertmanagerAPI
from testbed.clusters.node import NodeError, binimage, deploy
from testbed.clusters.node.images import BASE_IMAGE, base_image
from testbed.clusters.node.layout import Layout

from .install import kubectl

NAMESPACE = "cal-alerting"
NAME = "alertmanager"
BINARY = Path("/usr/bin/prometheus-alertmanager")
TEMPLATES = tuple(Path("/usr/share/prometheus/alertmanager") / f for f in ("default.tmpl", "email.tmpl"))
"""Debian's build reads its default notification templates from these files at start-up."""
IMAGE = "localhost/alertmanager-debian:0.25"
TOKEN_DIR = "/etc/alertmanager/secrets/cpu-alert-labeler"
NOBODY = "65534:65534"


def config(url: str) -> str:
    return configs.alertmanager(url=url, token_file=Path(TOKEN_DIR) / "token")


def _pod() -> dict:
    container = {
        "name": NAME,
        "image": IMAGE,
        "imagePullPolicy": "Never",
        "args": [
            "--config.file=/etc/alertmanager/alertmanager.yml",
            "--storage.path=/tmp/data",
            "--web.listen-address=:9093",
            # One replica: without this the first notification waits for gossip to settle.
            "--cluster.listen-address=",
        ],
        "ports": [{"name": "http", "containerPort": 9093}],
        "readinessProbe": {"httpGet": {"path": "/-/ready", "port": 9093}, "periodSeconds": 1},
        "securityContext": binimage.RESTRICTED,
        "volumeMounts": [
            {
                "name": "config",
                "mountPath": "/etc/alertmanager/alertmanager.yml",
                "subPath": "alertmanager.yml",
            },
            {"name": "token", "mountPath": TOKEN_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {"app": NAME}},
        "spec": {
            "containers": [container],
            "volumes": [
                {"name": "config", "configMap": {"name": NAME}},
                {"name": "token", "secret": {"secretName": "cpu-alert-labeler-token"}},
                {"name": "tmp", "emptyDir": {}},
            ],
        },
    }


def start(layout: Layout, url: str) -> None:
    """A fresh Alertmanager pod sending to `url` (namespace recreated); does not wait."""
    base_image()
    binimage.ensure(layout, IMAGE, BINARY, base=BASE_IMAGE, user=NOBODY, files=TEMPLATES)
    kubectl(
        layout,
        "delete",
        "namespace",
        NAMESPACE,
        "--ignore-not-found",
        "--wait=true",
        "--timeout=60s",
        timeout=90,
    )
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
    }
    token = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "cpu-alert-labeler-token", "namespace": NAMESPACE},
        "stringData": {"token": deploy.webhook_token(layout)},
    }
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "data": {"alertmanager.yml": config(url)},
    }
    items = [namespace, token, configmap, _pod()]
    kubectl(
        layout, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )


def address(layout: Layout, timeout: float = 90) -> str:
    """http://POD_IP:9093 once the pod is Ready."""
    kubectl(
        layout,
        "-n",
        NAMESPACE,
        "wait",
        "--for=condition=Ready",
        f"pod/{NAME}",
        f"--timeout={int(timeout)}s",
        timeout=timeout + 20,
    )
    ip = kubectl(layout, "-n", NAMESPACE, "get", "pod", NAME, "-o", "jsonpath={.status.podIP}").stdout.strip()
    return f"http://{ip}:9093"


def post_alerts(base: str, alerts: list[dict]) -> None:
    req = urllib.request.Request(
        f"{base}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        if resp.status != 200:
            raise NodeError(f"POST /api/v2/alerts: {resp.status}")


def wait_notified(base: str, timeout: float = 60) -> float:
    """Seconds until Alertmanager counts a webhook notification (sent or failed)."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if AlertmanagerAPI(base).counter("alertmanager_notifications_total") > 0:
            return time.monotonic() - began
        time.sleep(0.2)
    raise NodeError("Alertmanager sent no notification")
