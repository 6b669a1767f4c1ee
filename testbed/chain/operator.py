"""The Prometheus Operator, out of cluster, on a test 1.34 apiserver set up as kube-prometheus-stack sets it.

kube-prometheus-stack users never write Prometheus' or Alertmanager's configuration: the
operator generates both from the chart's `Prometheus` and `Alertmanager` resources and the
PrometheusRules, PodMonitors and AlertmanagerConfigs it selects. So the only honest test of
the shipped monitoring/ resources is to let the operator read them and to read what it
writes. This starts the pinned operator (testbed/pins/prometheus-operator/go.mod)
against a fresh 1.34 apiserver holding its CRDs (1.20 refuses them), creates the
resources the chart renders from its values, and gives back what the operator generated:

- Alertmanager's configuration, from the Secret `alertmanager-<name>-generated`;
- Prometheus' configuration, from the Secret `prometheus-<name>`, and its rule files, from
  the ConfigMaps `prometheus-<name>-rulefiles-<n>`.

Nothing runs the StatefulSets it creates (no controller manager, no kubelet).

The chart's objects come from its model (testbed/chain/kube_prometheus_stack.py). The one
deliberate difference from its defaults: the Prometheus resource names the Prometheus we
build (2.53.4), not the chart's 3.5.0, so that the generated configuration is one that
Prometheus can load (`NODE_IMAGES` says the same for the node).
"""

from __future__ import annotations

import base64
import gzip
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from testbed.clusters.crds import Kubectl, crd_server, ok
from testbed.clusters.loopback import ADMIN, ApiServer
from testbed.net import free_port
from testbed.process import Process
from testbed.tools import require

from . import builds
from .kube_prometheus_stack import ALERTMANAGER, NAMESPACE, PROMETHEUS, chart_objects, defaults, helm_merge

GENERATED_TIMEOUT = 60.0  # the operator reconciles within seconds; generous under load
OUR_PROMETHEUS = {"prometheus": {"prometheusSpec": {"image": {"tag": builds.PROMETHEUS_VERSION}}}}
"""The Prometheus we build: the operator generates its configuration for this version."""


class Stack:
    """The apiserver, the operator and the chart's resources; read what the operator generated."""

    def __init__(self, workdir: Path, server: ApiServer, kubectl: Kubectl, operator: Process):
        self.dir, self.server, self.kubectl, self.operator = workdir, server, kubectl, operator

    def apply(self, *args: str, stdin: object = None) -> str:
        """`kubectl apply ARGS` (server-side, as the CRDs are large), which must succeed."""
        return ok(self.kubectl("apply", "--server-side", *args, stdin=stdin))

    def _secret(self, name: str, key: str) -> bytes | None:
        code, doc = self.server.request("GET", f"/api/v1/namespaces/{NAMESPACE}/secrets/{name}")
        data = (doc.get("data") or {}).get(key) if code == 200 else None
        return None if data is None else gzip.decompress(base64.b64decode(data))

    def alertmanager_config(self) -> dict | None:
        """Alertmanager's configuration as the operator last generated it (None: not yet)."""
        raw = self._secret(f"alertmanager-{ALERTMANAGER}-generated", "alertmanager.yaml.gz")
        return None if raw is None else yaml.safe_load(raw)

    def prometheus_config(self) -> dict | None:
        """Prometheus' configuration as the operator last generated it (None: not yet)."""
        raw = self._secret(f"prometheus-{PROMETHEUS}", "prometheus.yaml.gz")
        return None if raw is None else yaml.safe_load(raw)

    def rule_files(self) -> dict[str, dict]:
        """The rule files the operator gives Prometheus: file name -> its rules (parsed)."""
        code, doc = self.server.request("GET", f"/api/v1/namespaces/{NAMESPACE}/configmaps")
        assert code == 200, doc
        prefix = f"prometheus-{PROMETHEUS}-rulefiles-"
        return {
            name: yaml.safe_load(text)
            for cm in doc["items"]
            if cm["metadata"]["name"].startswith(prefix)
            for name, text in (cm.get("data") or {}).items()
        }

    def loopback_prometheus(self, home: Path) -> Path:
        """The generated configuration written for a Prometheus on this host (its path): as the
        pod's config-reloader hands it over (`$(POD_NAME)` and `$(SHARD)` substituted), the
        operator's rule files in `home/rules/`, and service discovery pointed at this
        apiserver with its CA and the admin token (in a pod: in-cluster, the pod's account)."""
        rules = home / "rules"
        rules.mkdir(parents=True)
        for name, doc in self.rule_files().items():
            (rules / name).write_text(yaml.safe_dump(doc))
        token = home / "token"
        token.write_text(self.server.users[ADMIN][0])
        sd_auth = {
            "api_server": self.server.url,
            "tls_config": {"ca_file": str(self.server.dir / "ca.crt")},
            "authorization": {"credentials_file": str(token)},
        }
        config = self.prometheus_config()
        assert config is not None, "the operator generated no Prometheus configuration"
        config["rule_files"] = [str(rules / "*.yaml")]
        for job in [*config.get("scrape_configs", []), *config.get("alerting", {}).get("alertmanagers", [])]:
            for sd in job.get("kubernetes_sd_configs", []):
                sd.update(sd_auth)
        text = (
            yaml.safe_dump(config)
            .replace("$(POD_NAME)", f"prometheus-{PROMETHEUS}-0")
            .replace("$(SHARD)", "0")
        )
        path = home / "prometheus.yaml"
        path.write_text(text)
        return path

    def wait(self, what: str, read: Callable[[], object], holds: Callable[[object], bool]) -> object:
        """`read()` once `holds` of it (the operator reconciles asynchronously); fail naming `what`."""
        deadline = time.monotonic() + GENERATED_TIMEOUT
        while not holds(value := read()):
            self.operator.check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not within {GENERATED_TIMEOUT}s: {what}\nlast read: {value!r}\n"
                    + self.operator.tail(40)
                )
            time.sleep(0.2)
        return value


@contextmanager
def operator_stack(workdir: Path, values: dict, *, extra_crds: tuple[Path, ...] = ()) -> Iterator[Stack]:
    """A 1.34 apiserver with the operator's CRDs (and `extra_crds`, e.g. Knative's), the operator
    running against it, and the chart's resources for `values` (the chart's defaults merged
    with the user's) in NAMESPACE."""
    exe = builds.operator()
    require(exe.exists(), f"{exe} (make prometheus-operator)")
    crds = builds.operator_crds()
    with crd_server(workdir, [*crds, *extra_crds], "the Prometheus Operator's CRDs") as (server, kubectl):
        server.create_namespace(NAMESPACE)
        operator = Process(
            "prometheus-operator",
            [str(exe), f"--web.listen-address=127.0.0.1:{free_port()}", "--log-level=info"],
            workdir,
            env={**os.environ, "KUBECONFIG": str(server.kubeconfig())},
        )
        try:
            stack = Stack(workdir, server, kubectl, operator)
            for obj in chart_objects(helm_merge(helm_merge(defaults(), OUR_PROMETHEUS), values)):
                stack.apply("-f", "-", stdin=obj)
            yield stack
        finally:
            operator.stop()
