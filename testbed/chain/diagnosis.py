"""Which link of the monitoring chain broke: each link questioned in order about one pod.

The exporters (what do they give Prometheus for the pod?), Prometheus (does it scrape, does
it record the crossing, does it fire?), Alertmanager (is the alert active, was it sent?), the
function (did it answer, what did it log?), the apiserver (what does the pod carry?): the
first answer that falls short names the broken link, and a failing test prints it.

One diagnosis for both chains: the loopback one (testbed.chain.loopback.Chain) and the
node's (testbed.chain.watch.NodeChain) each give the `Links` below.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Protocol

from function.config import Settings

from .loopback import (
    ALERT_FOR_LABEL,
    LABEL_KEY,
    RECORD,
    AlertmanagerAPI,
    PrometheusAPI,
    group_calls,
    refused_calls,
)


class Links(Protocol):
    """What a chain lets a diagnosis ask."""

    @property
    def prometheus(self) -> PrometheusAPI: ...

    @property
    def alertmanager(self) -> AlertmanagerAPI: ...

    def exported(self, namespace: str, pod: str) -> tuple[bool, str]:
        """Whether the pod's CPU figures are exported, and what they are."""
        ...

    def function_log(self, event: str) -> list[dict]:
        """The function's JSON log lines of one event ("webhook", "pod_change")."""
        ...

    def pod(self, namespace: str, pod: str) -> dict | None:
        """The pod from the apiserver, None if it does not exist."""
        ...


class Diagnosis:
    """Questions every link in order; the first answer that falls short is the broken link."""

    def __init__(
        self, links: Links, namespace: str, pod: str, wanted: str, alertmanager: AlertmanagerAPI | None = None
    ):
        self.links, self.ns, self.pod, self.wanted = links, namespace, pod, wanted
        self.via_prometheus = alertmanager is None
        self.alertmanager = alertmanager or links.alertmanager
        self.alert = ALERT_FOR_LABEL.get(wanted)
        self.lines = [f"{namespace}/{pod} should carry {LABEL_KEY}={wanted}; the chain, link by link:"]
        self.broken: str | None = None

    def link(self, name: str, ok: bool, facts: str) -> None:
        self.lines.append(f"  [{'ok' if ok else 'NO'}] {name}: {facts}")
        if not ok and self.broken is None:
            self.broken = name

    def ask(self, name: str, question: Callable[[], tuple[bool, str]]) -> None:
        try:
            ok, facts = question()
        except Exception as exc:  # a link that cannot even answer is broken too
            ok, facts = False, f"could not ask: {exc!r}"
        self.link(name, ok, facts)

    def text(self) -> str:
        if self.via_prometheus:
            self.ask("exporters", lambda: self.links.exported(self.ns, self.pod))
            self.ask("Prometheus scrapes", self.scrapes)
            self.ask("Prometheus recorded percentage", self.recorded)
            self.ask("Prometheus alerts", self.prometheus_alerts)
        self.ask("Alertmanager alerts", self.alertmanager_alerts)
        self.ask("function called", self.function_calls)
        self.ask("function's change", self.function_changes)
        self.ask("pod", self.pod_state)
        self.lines.append(f"  => first broken link: {self.broken or 'none found (a race? look at the logs)'}")
        return "\n".join(self.lines)

    # Normal is reached two ways: PodCpuNormal fires, or every alert of the pod resolves.
    def satisfied_by(self, firing: set[str]) -> bool:
        if self.wanted == "normal":
            return firing in (set(), {"PodCpuNormal"})
        return self.alert in firing

    def scrapes(self):
        up = {r["metric"]["job"]: r["value"][1] for r in self.links.prometheus.query("up")}
        return bool(up) and set(up.values()) == {"1"}, f"up {up}"

    def recorded(self):
        series = self.links.prometheus.query(
            f'count(container_cpu_usage_seconds_total{{namespace="{self.ns}", pod="{self.pod}"}})'
        )
        value = self.links.prometheus.percentages().get((self.ns, self.pod))
        gone = self.wanted == "normal" and not series
        facts = f"{series[0]['value'][1] if series else 0} counter series; {RECORD} = {value}"
        return value is not None or gone, facts + (" (pod no longer exported)" if gone else "")

    def prometheus_alerts(self):
        alerts = self.links.prometheus.alerts(self.ns, self.pod)
        firing = {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}
        facts = (
            ", ".join(
                f"{a['labels']['alertname']} {a['state']} (value {float(a['value']):.1f})" for a in alerts
            )
            or "none"
        )
        return self.satisfied_by(firing), facts

    def alertmanager_alerts(self):
        alerts = self.alertmanager.alerts(self.ns, self.pod)
        active = {a["labels"]["alertname"] for a in alerts if a["status"]["state"] == "active"}
        facts = (
            ", ".join(
                f"{a['labels']['alertname']} {a['status']['state']} until {a['endsAt']}" for a in alerts
            )
            or "none"
        )
        failed = self.alertmanager.failed()
        return self.satisfied_by(active), f"{facts}; notifications failed so far: {failed:g}"

    def function_calls(self):
        webhooks = self.links.function_log("webhook")
        calls = group_calls(webhooks, self.ns, self.pod)
        statuses = [c.get("status") for c in calls]
        refusals = Counter(c.get("status") for c in refused_calls(webhooks))
        return (
            bool(calls) and statuses[-1] == 200,
            f"{len(calls)} webhook call(s) for the pod's groups (its namespace), "
            f"statuses {statuses[-8:]}, last counts {calls[-1].get('counts') if calls else None}; "
            f"calls of any group refused before reading: {dict(refusals) or 'none'}",
        )

    def function_changes(self):
        changes = [
            d
            for d in self.links.function_log("pod_change")
            if d.get("namespace") == self.ns and d.get("pod") == self.pod
        ]
        last = changes[-1] if changes else {}
        facts = "; ".join(
            f"{d.get('alertname')} -> {d.get('label')} {d.get('outcome')}"
            + (f" ({d['reason']})" if d.get("reason") else "")
            for d in changes[-4:]
        )
        return last.get("label") == self.wanted and last.get("outcome") in (
            "labeled",
            "unchanged",
        ), facts or "no pod_change logged"

    def pod_state(self):
        found = self.links.pod(self.ns, self.pod)
        if found is None:
            return False, "no such pod"
        meta = found["metadata"]
        label = meta.get("labels", {}).get(LABEL_KEY)
        notes = {
            k.split("/", 1)[1]: v
            for k, v in meta.get("annotations", {}).items()
            if k.startswith(Settings().annotation_prefix + "/")
        }
        return label == self.wanted, f"{LABEL_KEY}={label}; annotations {notes}"
