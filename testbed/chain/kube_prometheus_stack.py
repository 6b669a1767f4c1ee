"""kube-prometheus-stack, modelled: the values that decide what its operator selects, scrapes
and routes, and the objects its templates render from them.

Most people who run Prometheus on Kubernetes install this chart, so the shipped monitoring/
resources are tested under it: out of cluster (testbed/chain/operator.py reads the
configurations the operator generates) and on the node (testbed/chain/in_node.py runs the
operator, Prometheus and Alertmanager as pods). Both take their objects from here.

The chart is modelled, not copied: `defaults()` holds only the values that matter to us, as
kube-prometheus-stack 77.0.0 (appVersion v0.85.0, the operator we pin; Alertmanager v0.28.1)
sets them in values.yaml, and the functions below render them as its templates do:
templates/alertmanager/{alertmanager,secret,service,servicemonitor}.yaml,
templates/prometheus/{prometheus,service,servicemonitor,clusterrole}.yaml,
templates/prometheus-operator/deployment.yaml, templates/exporters/kubelet/servicemonitor.yaml
and the kube-state-metrics subchart's ServiceMonitor. Checked on 2026-12-07 against
77.0.0's values.yaml and templates (and 88.5.3, the chart's current release, operator
v0.93.1: the same defaults for everything here). Alertmanager's configuration is the
chart's `alertmanager.config` (tests/fixtures/).

Left out, each for a reason: Grafana, node-exporter and the chart's own rules and
dashboards (nothing here reads them); the operator's admission webhook and its TLS listener
(their certificates come from a Job that patches webhook configurations: nothing of ours is
admitted or refused by them); the chart's PodDisruptionBudgets and anti-affinity (one node).
"""

from __future__ import annotations

import yaml

from testbed.paths import ROOT

from . import configs

CHART_VERSION = "77.0.0"
RELEASE = "kube-prometheus-stack"  # the Helm release name; the chart's `release` label
NAMESPACE = "monitoring"
ALERTMANAGER = f"{RELEASE}-alertmanager"
PROMETHEUS = f"{RELEASE}-prometheus"
OPERATOR = f"{RELEASE}-operator"
KUBELET_SERVICE = f"{RELEASE}-kubelet"
"""The Service (in kube-system) the operator keeps pointing at every node's kubelet."""
KUBE_STATE_METRICS = f"{RELEASE}-kube-state-metrics"
# What the user sets on top of the chart's defaults (README, "Under kube-prometheus-stack").
USER_VALUES = ROOT / "monitoring" / "kube-prometheus-stack-values.yaml"

NON_ROOT = {
    "runAsGroup": 2000,
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "fsGroup": 2000,
    "seccompProfile": {"type": "RuntimeDefault"},
}
"""prometheusSpec.securityContext and alertmanagerSpec.securityContext, as the chart sets them."""


def _image(registry: str, repository: str, tag: str) -> dict:
    return {"registry": registry, "repository": repository, "tag": tag}


def defaults() -> dict:
    """The chart's values that decide selection, scraping and routing (values.yaml of CHART_VERSION)."""
    return {
        "alertmanager": {
            "alertmanagerSpec": {
                "image": _image("quay.io", "prometheus/alertmanager", "v0.28.1"),
                "alertmanagerConfigSelector": {},
                "alertmanagerConfigNamespaceSelector": {},
                "alertmanagerConfigMatcherStrategy": {},  # unset: the operator's OnNamespace
                "secrets": [],
                "retention": "120h",
                "securityContext": NON_ROOT,
            },
            "config": yaml.safe_load(configs.KUBE_PROMETHEUS_STACK.read_text()),
        },
        "prometheus": {
            "prometheusSpec": {
                "image": _image("quay.io", "prometheus/prometheus", "v3.5.0"),
                "scrapeInterval": "",  # empty: the operator's default (30s)
                "evaluationInterval": "",
                "retention": "10d",
                "securityContext": NON_ROOT,
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
        "prometheusOperator": {
            "image": _image("quay.io", "prometheus-operator/prometheus-operator", ""),
            "prometheusConfigReloader": {
                "image": _image("quay.io", "prometheus-operator/prometheus-config-reloader", "")
            },
            "secretFieldSelector": (
                "type!=kubernetes.io/dockercfg,type!=kubernetes.io/service-account-token,type!=helm.sh/release.v1"
            ),
        },
        "kubelet": {
            "namespace": "kube-system",
            "serviceMonitor": {
                "interval": "",
                "https": True,
                "insecureSkipVerify": True,
                "kubelet": True,
                "probes": True,
                "cAdvisor": True,
                "cAdvisorInterval": "10s",
                "resource": False,
                "resourcePath": "/metrics/resource/v1alpha1",
                "resourceInterval": "10s",
            },
        },
        "kube-state-metrics": {"prometheus": {"monitor": {"interval": "", "honorLabels": True}}},
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


def image_ref(image: dict, default_tag: str = "") -> str:
    """registry/repository:tag, as the chart's templates join an image value."""
    return f"{image['registry']}/{image['repository']}:{image['tag'] or default_tag}"


def _selector(spec: dict, name: str) -> dict:
    """As the chart's template: the value if set, else `release: <release>` when
    `<name>NilUsesHelmValues` (the default), else everything."""
    if spec.get(name):
        return spec[name]
    return {"matchLabels": {"release": RELEASE}} if spec.get(f"{name}NilUsesHelmValues") else {}


def _meta(name: str, namespace: str = NAMESPACE, **labels: str) -> dict:
    return {"name": name, "namespace": namespace, "labels": {**labels, "release": RELEASE}}


def _common_spec(spec: dict, account: str) -> dict:
    """What the chart sets alike on its Alertmanager and its Prometheus."""
    return {
        "image": image_ref(spec["image"]),
        "version": spec["image"]["tag"],
        "replicas": 1,
        "retention": spec["retention"],
        "portName": "http-web",
        "securityContext": spec["securityContext"],
        "serviceAccountName": account,
    }


def chart_objects(values: dict) -> list[dict]:
    """The Alertmanager (with its configuration Secret) and the Prometheus the chart renders."""
    am, prom = values["alertmanager"], values["prometheus"]["prometheusSpec"]
    am_spec = am["alertmanagerSpec"]
    alertmanager_spec: dict = {
        **_common_spec(am_spec, ALERTMANAGER),
        "alertmanagerConfigSelector": am_spec["alertmanagerConfigSelector"] or {},
        "alertmanagerConfigNamespaceSelector": am_spec["alertmanagerConfigNamespaceSelector"] or {},
    }
    if am_spec.get("alertmanagerConfigMatcherStrategy"):
        alertmanager_spec["alertmanagerConfigMatcherStrategy"] = am_spec["alertmanagerConfigMatcherStrategy"]
    if am_spec.get("secrets"):
        alertmanager_spec["secrets"] = am_spec["secrets"]
    prometheus_spec = {
        **_common_spec(prom, PROMETHEUS),
        "alerting": {"alertmanagers": [{"namespace": NAMESPACE, "name": ALERTMANAGER, "port": "http-web"}]},
        **{
            interval: prom[interval]
            for interval in ("scrapeInterval", "evaluationInterval")
            if prom[interval]
        },
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
            "metadata": _meta(f"alertmanager-{ALERTMANAGER}"),
            "stringData": {"alertmanager.yaml": yaml.safe_dump(am["config"], sort_keys=False)},
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "Alertmanager",
            "metadata": _meta(ALERTMANAGER),
            "spec": alertmanager_spec,
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "Prometheus",
            "metadata": _meta(PROMETHEUS),
            "spec": prometheus_spec,
        },
    ]


# -- what runs the two: identities, Services, the ServiceMonitors of the chart ------------------
def _account(name: str, rules: list[dict] | None) -> list[dict]:
    """A ServiceAccount in NAMESPACE, and a ClusterRole of `rules` bound to it (if any)."""
    objects: list[dict] = [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name)}]
    if rules is not None:
        cluster_meta = {"name": name, "labels": {"release": RELEASE}}
        objects += [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": cluster_meta,
                "rules": rules,
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": cluster_meta,
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            },
        ]
    return objects


PROMETHEUS_RULES = [
    {
        "apiGroups": [""],
        "resources": ["nodes", "nodes/metrics", "services", "endpoints", "pods"],
        "verbs": ["get", "list", "watch"],
    },
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["get", "list", "watch"]},
    {"nonResourceURLs": ["/metrics", "/metrics/cadvisor"], "verbs": ["get"]},
]
"""templates/prometheus/clusterrole.yaml's rules."""


def _service(name: str, port: int, selector: dict) -> dict:
    """The chart's Service in front of Prometheus or Alertmanager (port `http-web`), labelled for
    its own ServiceMonitor (`self-monitor`)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, app=name, **{"self-monitor": "true"}),
        "spec": {
            "ports": [{"name": "http-web", "port": port, "targetPort": port}],
            "selector": selector,
        },
    }


def _service_monitor(
    name: str, namespace: str, selector: dict, endpoints: list[dict], job_label: str = ""
) -> dict:
    spec: dict = {
        "selector": {"matchLabels": selector},
        "namespaceSelector": {"matchNames": [namespace]},
        "endpoints": endpoints,
    }
    if job_label:
        spec["jobLabel"] = job_label
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _meta(name, app=name),
        "spec": spec,
    }


def _kubelet_endpoints(monitor: dict) -> list[dict]:
    """templates/exporters/kubelet/servicemonitor.yaml's endpoints: the kubelet's own /metrics,
    /metrics/cadvisor, /metrics/probes and (off by default) /metrics/resource, each series
    labelled with its `metrics_path` (the chart's relabelings; the rules select on it)."""
    scheme = "https" if monitor["https"] else "http"
    auth = (
        {
            "tlsConfig": {
                "caFile": "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
                "insecureSkipVerify": monitor["insecureSkipVerify"],
            },
            "bearerTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token",
        }
        if monitor["https"]
        else {}
    )
    path_label = [{"action": "replace", "sourceLabels": ["__metrics_path__"], "targetLabel": "metrics_path"}]

    def endpoint(path: str | None, interval: str, relabel: bool) -> dict:
        found: dict = {
            "port": f"{scheme}-metrics",
            "scheme": scheme,
            **auth,
            "honorLabels": True,
            "honorTimestamps": True,
        }
        if path:
            found["path"] = path
        if monitor["interval"] or interval:
            found["interval"] = monitor["interval"] or interval
        if relabel:
            found["relabelings"] = path_label
        return found

    wanted = [
        ("kubelet", None, "", False),
        ("cAdvisor", "/metrics/cadvisor", monitor["cAdvisorInterval"], True),
        ("probes", "/metrics/probes", "", True),
        ("resource", monitor["resourcePath"], monitor["resourceInterval"], True),
    ]
    return [endpoint(path, interval, relabel) for key, path, interval, relabel in wanted if monitor[key]]


def cluster_objects(values: dict) -> list[dict]:
    """Beside the two resources: their identities, the chart's Services in front of them, and
    the ServiceMonitors with which the chart has Prometheus scrape the kubelet,
    kube-state-metrics, Prometheus and Alertmanager (selected by their `release` label)."""
    kubelet = values["kubelet"]
    ksm_monitor = values["kube-state-metrics"]["prometheus"]["monitor"]
    ksm_endpoint: dict = {"port": "http", "honorLabels": ksm_monitor["honorLabels"]}
    if ksm_monitor["interval"]:
        ksm_endpoint["interval"] = ksm_monitor["interval"]
    self_interval = values["prometheus"]["prometheusSpec"]["scrapeInterval"]
    self_endpoint = {
        "port": "http-web",
        "path": "/metrics",
        **({"interval": self_interval} if self_interval else {}),
    }
    return [
        *_account(PROMETHEUS, PROMETHEUS_RULES),
        *_account(ALERTMANAGER, None),
        _service(
            PROMETHEUS,
            9090,
            {"app.kubernetes.io/name": "prometheus", "operator.prometheus.io/name": PROMETHEUS},
        ),
        _service(
            ALERTMANAGER, 9093, {"app.kubernetes.io/name": "alertmanager", "alertmanager": ALERTMANAGER}
        ),
        _service_monitor(
            KUBELET_SERVICE,
            kubelet["namespace"],
            {"app.kubernetes.io/name": "kubelet", "k8s-app": "kubelet"},
            _kubelet_endpoints(kubelet["serviceMonitor"]),
            job_label="k8s-app",
        ),
        _service_monitor(
            KUBE_STATE_METRICS,
            NAMESPACE,
            {"app.kubernetes.io/name": "kube-state-metrics", "app.kubernetes.io/instance": RELEASE},
            [ksm_endpoint],
            job_label="app.kubernetes.io/name",
        ),
        _service_monitor(
            PROMETHEUS,
            NAMESPACE,
            {"app": PROMETHEUS, "release": RELEASE, "self-monitor": "true"},
            [self_endpoint],
        ),
        _service_monitor(
            ALERTMANAGER,
            NAMESPACE,
            {"app": ALERTMANAGER, "release": RELEASE, "self-monitor": "true"},
            [self_endpoint],
        ),
    ]


def operator_args(values: dict, version: str) -> list[str]:
    """The operator's arguments as templates/prometheus-operator/deployment.yaml renders them
    (with its TLS listener and admission webhook off, see the docstring)."""
    op = values["prometheusOperator"]
    return [
        f"--kubelet-service={values['kubelet']['namespace']}/{KUBELET_SERVICE}",
        "--kubelet-endpoints=true",
        "--kubelet-endpointslice=false",
        "--localhost=127.0.0.1",
        f"--prometheus-config-reloader={image_ref(op['prometheusConfigReloader']['image'], version)}",
        "--config-reloader-cpu-request=0",
        "--config-reloader-cpu-limit=0",
        "--config-reloader-memory-request=0",
        "--config-reloader-memory-limit=0",
        f"--secret-field-selector={op['secretFieldSelector']}",
    ]
