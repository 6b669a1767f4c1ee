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

The chart is modelled, not copied: `DEFAULTS` holds only the values that decide what the
operator selects and how it routes, as kube-prometheus-stack 77.0.0 (appVersion v0.85.0,
the operator we pin; Alertmanager v0.28.1) sets them in values.yaml, and `chart_objects`
renders them as its templates/alertmanager/alertmanager.yaml, secret.yaml and
templates/prometheus/prometheus.yaml do. Checked on 2026-12-04 against 77.0.0 and 88.5.3
(the chart's current release, operator v0.93.1): the same defaults in both. The Alertmanager
configuration is the chart's `alertmanager.config` (tests/fixtures/). The one deliberate
difference: the Prometheus resource names the Prometheus we build (2.53.4), not the chart's
3.5.0, so that the generated configuration is one that Prometheus can load.
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
from testbed.paths import ROOT
from testbed.process import Process
from testbed.tools import require

from . import builds, configs

CHART_VERSION = "77.0.0"
RELEASE = "kube-prometheus-stack"  # the Helm release name; the chart's `release` label
NAMESPACE = "monitoring"
ALERTMANAGER = f"{RELEASE}-alertmanager"
PROMETHEUS = f"{RELEASE}-prometheus"
# What the user sets on top of the chart's defaults (README, "Under kube-prometheus-stack").
USER_VALUES = ROOT / "monitoring" / "kube-prometheus-stack-values.yaml"
GENERATED_TIMEOUT = 60.0  # the operator reconciles within seconds; generous under load


def defaults() -> dict:
    """The chart's values that decide selection and routing (values.yaml of CHART_VERSION)."""
    return {
        "alertmanager": {
            "alertmanagerSpec": {
                "alertmanagerConfigSelector": {},
                "alertmanagerConfigNamespaceSelector": {},
                "alertmanagerConfigMatcherStrategy": {},  # unset: the operator's OnNamespace
                "secrets": [],
            },
            "config": yaml.safe_load(configs.KUBE_PROMETHEUS_STACK.read_text()),
        },
        "prometheus": {
            "prometheusSpec": {
                "ruleSelectorNilUsesHelmValues": True,
                "ruleSelector": {},
                "ruleNamespaceSelector": {},
                "podMonitorSelectorNilUsesHelmValues": True,
                "podMonitorSelector": {},
                "podMonitorNamespaceSelector": {},
                "serviceMonitorSelectorNilUsesHelmValues": True,
                "serviceMonitorSelector": {},
                "serviceMonitorNamespaceSelector": {},
            }
        },
    }


def helm_merge(base: dict, values: dict) -> dict:
    """Helm's merge of user values over a chart's: maps merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = helm_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def user_values() -> dict:
    """The values the README tells a user to set (monitoring/kube-prometheus-stack-values.yaml)."""
    return yaml.safe_load(USER_VALUES.read_text())


def _selector(spec: dict, name: str) -> dict:
    """As the chart's template: the value if set, else `release: <release>` when
    `<name>NilUsesHelmValues` (the default), else everything."""
    if spec.get(name):
        return spec[name]
    return {"matchLabels": {"release": RELEASE}} if spec.get(f"{name}NilUsesHelmValues") else {}


def chart_objects(values: dict) -> list[dict]:
    """The Alertmanager (with its configuration Secret) and the Prometheus the chart renders."""
    am, prom = values["alertmanager"], values["prometheus"]["prometheusSpec"]
    am_spec = am["alertmanagerSpec"]
    meta = {"namespace": NAMESPACE, "labels": {"release": RELEASE}}
    alertmanager_spec: dict = {
        "version": "v0.28.1",
        "replicas": 1,
        "alertmanagerConfigSelector": am_spec["alertmanagerConfigSelector"] or {},
        "alertmanagerConfigNamespaceSelector": am_spec["alertmanagerConfigNamespaceSelector"] or {},
    }
    if am_spec.get("alertmanagerConfigMatcherStrategy"):
        alertmanager_spec["alertmanagerConfigMatcherStrategy"] = am_spec["alertmanagerConfigMatcherStrategy"]
    if am_spec.get("secrets"):
        alertmanager_spec["secrets"] = am_spec["secrets"]
    prometheus_spec = {
        "version": builds.PROMETHEUS_VERSION,
        "replicas": 1,
        "alerting": {"alertmanagers": [{"namespace": NAMESPACE, "name": ALERTMANAGER, "port": "http-web"}]},
        **{
            f"{kind}Selector": _selector(prom, f"{kind}Selector")
            for kind in ("rule", "podMonitor", "serviceMonitor")
        },
        **{
            f"{kind}NamespaceSelector": prom[f"{kind}NamespaceSelector"] or {}
            for kind in ("rule", "podMonitor", "serviceMonitor")
        },
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": f"alertmanager-{ALERTMANAGER}", **meta},
            "stringData": {"alertmanager.yaml": yaml.safe_dump(am["config"], sort_keys=False)},
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "Alertmanager",
            "metadata": {"name": ALERTMANAGER, **meta},
            "spec": alertmanager_spec,
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "Prometheus",
            "metadata": {"name": PROMETHEUS, **meta},
            "spec": prometheus_spec,
        },
    ]


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
            for obj in chart_objects(helm_merge(defaults(), values)):
                stack.apply("-f", "-", stdin=obj)
            yield stack
        finally:
            operator.stop()
