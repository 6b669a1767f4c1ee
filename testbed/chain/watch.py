"""The node's monitoring chain as a test sees it: each link's view of a pod, so a wait can
follow a pod's label (testbed.chain.loopback.await_labels) and a failure can name the
link that broke: Prometheus' percentage and alerts, Alertmanager's alerts and failed
notifications, the function's log, the pod's label.

Labels are read straight from the apiserver (one GET per pod and poll, no kubectl
process), and a read that fails while the apiserver restarts returns the label last
seen, so a fault does not show up as a label that vanished.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections import Counter

from function.config import Settings
from testbed.chain import in_node
from testbed.chain.diagnosis import Diagnosis
from testbed.chain.loopback import AlertmanagerAPI, PrometheusAPI
from testbed.clusters.node import deploy
from testbed.clusters.node.layout import Layout

LABEL_KEY = Settings().label_key
FUNCTION_SELECTOR = "app.kubernetes.io/name=cpu-alert-labeler"


class NodeChain:
    """Prometheus, Alertmanager, the function and the apiserver of a node whose monitoring runs."""

    def __init__(self, layout: Layout):
        self.layout = layout
        self.prometheus = PrometheusAPI(in_node.prometheus_url(layout))
        self.alertmanager = AlertmanagerAPI(in_node.alertmanager_url(layout))
        self._token = (layout.pki / "admin.token").read_text()
        self._tls = ssl.create_default_context(cafile=str(layout.pki / "ca.crt"))
        self._last: dict[tuple[str, str], str | None] = {}

    def pod(self, namespace: str, pod: str) -> dict | None:
        """The pod from the apiserver, None if it does not exist; OSError if unreachable."""
        req = urllib.request.Request(
            f"{self.layout.url}/api/v1/namespaces/{namespace}/pods/{pod}",
            headers={"Authorization": f"Bearer {self._token}"},
        )
        try:
            with urllib.request.urlopen(req, context=self._tls, timeout=5) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise

    def label(self, namespace: str, pod: str) -> str | None:
        try:
            found = self.pod(namespace, pod)
        except OSError:  # the apiserver restarting: keep what was last seen
            return self._last.get((namespace, pod))
        value = found["metadata"].get("labels", {}).get(LABEL_KEY) if found else None
        self._last[(namespace, pod)] = value
        return value

    def function_log(self, event: str) -> list[dict]:
        """The function's JSON log lines of one event ("webhook", "pod_change"), from its current pod(s)."""
        return [d for d in self._log_lines() if d.get("event") == event]

    def _log_lines(self) -> list[dict]:
        res = deploy.kubectl(
            self.layout, "-n", deploy.NAMESPACE, "logs", "-l", FUNCTION_SELECTOR, "--tail=-1", check=False
        )
        lines = []
        for line in res.stdout.splitlines():
            if line.startswith("{"):
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    continue
        return lines

    def changes(self, namespace: str, pod: str) -> list[dict]:
        """The function's `pod_change` lines for one pod."""
        return [
            d
            for d in self.function_log("pod_change")
            if d.get("namespace") == namespace and d.get("pod") == pod
        ]

    def webhook_statuses(self) -> Counter:
        return Counter(d.get("status") for d in self.function_log("webhook"))

    def listing(self, namespace: str) -> str:
        """`kubectl get pods -L status` in the namespace, as a user would look."""
        return deploy.kubectl(self.layout, "-n", namespace, "get", "pods", "-L", LABEL_KEY).stdout

    def exported(self, namespace: str, pod: str) -> tuple[bool, str]:
        """What the kubelet's cAdvisor and kube-state-metrics give Prometheus for the pod."""
        where = f'namespace="{namespace}", pod="{pod}"'
        usage = self.prometheus.query(f'count(container_cpu_usage_seconds_total{{{where}, job="kubelet"}})')
        limit = self.prometheus.query(f'kube_pod_container_resource_limits{{{where}, resource="cpu"}}')
        limits = sorted({float(r["value"][1]) for r in limit})
        facts = f"cAdvisor: {usage[0]['value'][1] if usage else 0} usage series; kube-state-metrics: CPU limit {limits or 'none'}"
        return bool(usage) and bool(limit), facts

    def diagnose(self, namespace: str, pod: str, wanted: str) -> str:
        """Each link's view of the pod that should carry `wanted` (testbed.chain.diagnosis)."""
        return Diagnosis(self, namespace, pod, wanted).text()

    def tails(self) -> str:
        return in_node.tails(self.layout)
