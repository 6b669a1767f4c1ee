"""The chain on loopback: metrics target -> Prometheus -> Alertmanager -> function -> kube-apiserver.

Each component is the real program (Debian's prometheus and prometheus-alertmanager,
the function under its production server, function/server.py) with its
output in a file.  `Chain.diagnose()` asks every link in turn what it knows about a
pod, so a wait that times out says where the chain broke instead of only that a
label is missing.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from function.config import LEVEL_NAMES, Settings
from testbed.clusters.loopback import ApiServer
from testbed.functionserver import FunctionServer
from testbed.net import free_port, get_json, http
from testbed.process import Process, StartError

from . import configs
from .metrics_target import MetricsTarget

ROOT = configs.ROOT
RECORD = "namespace_pod:cpu_usage_percent_of_limit:rate5m"
LABEL_KEY = Settings().label_key
# Label value -> the alert that sets it, from the function's defaults
# (PodCpuNormal -> normal, PodHighCpuUsage -> moderate, PodCpuFailure -> panne).
ALERT_FOR_LABEL = {
    Settings().label_values[LEVEL_NAMES.index(level)]: name for name, level in Settings().alert_levels
}


class Function:
    """The function as deployed: `python -m function.server`, the production server."""

    def __init__(self, workdir: Path, kubeconfig: Path, token: str):
        self.server = FunctionServer(
            "function", workdir, {"KUBECONFIG": str(kubeconfig), "WEBHOOK_TOKEN": token}
        )
        self.url = self.server.url
        self.process = self.server.process
        self.server.wait_ready(60)

    def log(self, event: str) -> list[dict]:
        """The function's JSON log lines of one event ("webhook", "pod_change")."""
        found = []
        for line in self.process.lines():
            if line.startswith("{"):
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                if doc.get("event") == event:
                    found.append(doc)
        return found

    def refused(self) -> list[dict]:
        return refused_calls(self.log("webhook"))

    def webhooks_for(self, namespace: str, pod: str) -> list[dict]:
        return group_calls(self.log("webhook"), namespace, pod)


def refused_calls(calls: list[dict]) -> list[dict]:
    """Webhook calls (the function's `webhook` log lines) refused before the body was read
    (401, 413...): they carry no group."""
    return [d for d in calls if "group_key" not in d and d.get("status") != 200]


def group_calls(calls: list[dict], namespace: str, pod: str) -> list[dict]:
    """Webhook calls whose Alertmanager group holds this pod's alerts (the route groups by
    namespace: the pod's namespace, and the pod if a route groups by it)."""
    return [
        d
        for d in calls
        if f'namespace="{namespace}"' in (key := str(d.get("group_key")))
        and ("pod=" not in key or f'pod="{pod}"' in key)
    ]


class AlertmanagerAPI:
    """What a test asks a running Alertmanager at `url`: its alerts and its counters."""

    def __init__(self, url: str):
        self.url = url

    def post_alerts(self, alerts: list[dict]) -> None:
        status, body = http("POST", self.url + "/api/v2/alerts", alerts)
        assert status == 200, f"POST /api/v2/alerts: {status} {body[:300]!r}"

    def alerts(self, namespace: str, pod: str) -> list[dict]:
        return self.alerts_where(f'namespace="{namespace}"', f'pod="{pod}"')

    def alerts_where(self, *matchers: str) -> list[dict]:
        """Alerts matching every matcher, muted ones included (their status says so)."""
        query = urllib.parse.urlencode([("filter", m) for m in matchers])
        return get_json(f"{self.url}/api/v2/alerts?{query}")

    def counter(self, name: str) -> float:
        """Sum of a counter over its labels, from Alertmanager's own /metrics."""
        status, body = http("GET", self.url + "/metrics")
        assert status == 200, f"GET /metrics: {status}"
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in body.decode().splitlines()
            if line.startswith(name + "{") or line.startswith(name + " ")
        )

    def failed(self) -> float:
        return self.counter("alertmanager_notifications_failed_total")


class Alertmanager(AlertmanagerAPI):
    """prometheus-alertmanager on the shipped configuration, pointed at the function."""

    def __init__(
        self,
        name: str,
        workdir: Path,
        exe: str,
        amtool: str,
        function_url: str,
        token_file: Path,
        *,
        build: Callable[..., str] = configs.alertmanager,
    ):
        """`build` writes the configuration from the URL and token file (the shipped file by default)."""
        home = workdir / name
        home.mkdir()
        self.config = home / "alertmanager.yml"
        self.config.write_text(build(url=function_url, token_file=token_file))
        # The rewritten file must still be a valid configuration, by amtool's reading too.
        check = subprocess.run(
            [amtool, "check-config", str(self.config)], capture_output=True, text=True, timeout=60
        )
        if check.returncode != 0:
            raise StartError(f"amtool check-config {self.config}:\n{check.stdout}{check.stderr}")
        port = free_port()
        super().__init__(f"http://127.0.0.1:{port}")
        self.address = f"127.0.0.1:{port}"
        self.process = Process(
            name,
            [
                exe,
                "--config.file",
                str(self.config),
                "--storage.path",
                str(home / "data"),
                "--web.listen-address",
                self.address,
                # No cluster: with one, the first notification waits for gossip to settle (~10s).
                "--cluster.listen-address=",
            ],
            workdir,
        )
        self.process.wait_ready(self.url + "/-/ready", timeout=60)


class PrometheusAPI:
    """What a test asks a running Prometheus at `url`: queries, the recorded percentages, alerts."""

    def __init__(self, url: str):
        self.url = url

    def query(self, expr: str) -> list[dict]:
        doc = get_json(f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
        return doc["data"]["result"]

    def percentages(self) -> dict[tuple[str, str], float]:
        """The recording rule's latest value per pod."""
        return {
            (r["metric"]["namespace"], r["metric"]["pod"]): float(r["value"][1]) for r in self.query(RECORD)
        }

    def alerts(self, namespace: str, pod: str) -> list[dict]:
        return [
            a
            for a in get_json(self.url + "/api/v1/alerts")["data"]["alerts"]
            if a["labels"].get("namespace") == namespace and a["labels"].get("pod") == pod
        ]


class Prometheus(PrometheusAPI):
    """Debian's prometheus on the shipped rules (durations shortened), scraping the metrics target."""

    def __init__(
        self,
        workdir: Path,
        exe: str,
        target: str,
        alertmanager: str | None,
        *,
        build: Callable[[Path], str] | None = None,
    ):
        """`build` writes the configuration from the rules file's path (default: the stand-in's jobs)."""
        home = workdir / "prometheus"
        home.mkdir()
        rules = home / "prometheus-rules.yml"
        rules.write_text(configs.rules())
        self.config = config = home / "prometheus.yml"
        config.write_text(
            build(rules)
            if build
            else configs.prometheus(rules_file=rules, target=target, alertmanager=alertmanager or "")
        )
        super().__init__(f"http://127.0.0.1:{free_port()}")
        self.process = Process(
            "prometheus",
            [
                exe,
                "--config.file",
                str(config),
                "--storage.tsdb.path",
                str(home / "data"),
                "--web.listen-address",
                self.url.removeprefix("http://"),
            ],
            workdir,
        )
        self.process.wait_ready(self.url + "/-/ready", timeout=60)
        self.started = time.monotonic()


@dataclass
class Chain:
    """Every link, for the test to drive and for a failure to question."""

    apiserver: ApiServer
    token: str
    target: MetricsTarget
    function: Function
    alertmanager: Alertmanager
    prometheus: Prometheus

    def label(self, namespace: str, pod: str) -> str | None:
        return self.apiserver.get_pod(namespace, pod)["metadata"].get("labels", {}).get(LABEL_KEY)

    # The diagnosis' links (testbed.chain.diagnosis.Links).
    def exported(self, namespace: str, pod: str) -> tuple[bool, str]:
        return True, self.target.describe(namespace, pod)

    def function_log(self, event: str) -> list[dict]:
        return self.function.log(event)

    def pod(self, namespace: str, pod: str) -> dict | None:
        return self.apiserver.get_pod(namespace, pod)

    def processes(self) -> list[Process]:
        return [self.prometheus.process, self.alertmanager.process, self.function.process]

    def tails(self) -> str:
        return "\n".join(p.tail() for p in self.processes())

    def diagnose(
        self, namespace: str, pod: str, wanted: str, *, alertmanager: Alertmanager | None = None
    ) -> str:
        """Each link's view of the pod, and the first link that does not hold what `wanted` needs.

        With another `alertmanager` (one the test posts alerts to), Prometheus is left out.
        """
        from .diagnosis import Diagnosis  # diagnosis reads the links this module defines

        return Diagnosis(self, namespace, pod, wanted, alertmanager).text()


@dataclass
class Expect:
    """A pod that must reach `label` once Prometheus's percentage passes its threshold."""

    namespace: str
    pod: str
    label: str
    crossed: Callable[[float | None], bool]  # the recorded percentage (None: no series) is past it
    threshold: str  # the crossing, in words, for the report
    changed_at: float  # when the test changed the pod's usage (monotonic)
    crossed_at: float | None = None
    labeled_at: float | None = None
    seen: list[str | None] = field(default_factory=list)  # the label values observed, in order

    def report(self) -> str:
        """When the crossing was recorded and the label arrived, counted from the change."""
        name = f"{self.namespace}/{self.pod}"
        if self.labeled_at is None:
            return f"{name}: {LABEL_KEY}={self.label} not seen (labels seen: {self.seen})"
        if self.crossed_at is None:
            return (
                f"{name}: {LABEL_KEY}={self.label} {self.labeled_at - self.changed_at:5.1f}s after the change "
                f"(crossing {self.threshold} not seen before the label)"
            )
        return (
            f"{name}: recorded {self.threshold} {self.crossed_at - self.changed_at:5.1f}s after the change, "
            f"{LABEL_KEY}={self.label} on the pod {self.labeled_at - self.crossed_at:5.1f}s after that "
            f"(labels seen: {' -> '.join(str(v) for v in self.seen)})"
        )


class Watched(Protocol):
    """What await_labels() needs of a chain: this module's Chain, or the node's (testbed.chain.watch)."""

    @property
    def prometheus(self) -> PrometheusAPI: ...

    def label(self, namespace: str, pod: str) -> str | None: ...

    def diagnose(self, namespace: str, pod: str, wanted: str) -> str: ...

    def tails(self) -> str: ...


def await_labels(chain: Watched, expects: list[Expect], timeout: float, poll: float = 0.2) -> None:
    """Watch Prometheus and the pods until every pod has its label; on timeout, fail with a diagnosis."""
    deadline = time.monotonic() + timeout
    while True:
        percents = chain.prometheus.percentages()
        now = time.monotonic()
        for e in expects:
            if e.crossed_at is None and e.crossed(percents.get((e.namespace, e.pod))):
                e.crossed_at = now
        for e in expects:
            value = chain.label(e.namespace, e.pod)
            if not e.seen or e.seen[-1] != value:
                e.seen.append(value)
            if value == e.label and e.labeled_at is None:
                e.labeled_at = time.monotonic()
        missing = [e for e in expects if e.labeled_at is None]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{len(missing)} pod(s) without their label after {timeout}s:\n"
                + "\n".join(
                    chain.diagnose(e.namespace, e.pod, e.label) + f"\n  labels seen: {e.seen}"
                    for e in missing
                )
                + "\n"
                + chain.tails()
            )
        time.sleep(poll)


def wait_for(
    condition: Callable[[], bool], timeout: float, explain: Callable[[], str], poll: float = 0.2
) -> float:
    """Poll `condition` until true (the seconds it took); past `timeout`, fail with `explain()`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout}s:\n{explain()}")
        time.sleep(poll)
    return time.monotonic() - started
