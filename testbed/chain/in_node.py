"""The monitoring side of the node, as kube-prometheus-stack runs it: the Prometheus Operator as
a pod, managing Prometheus and Alertmanager as pods, kube-state-metrics, and the chart's
ServiceMonitors (the kubelet, kube-state-metrics, Prometheus and Alertmanager themselves);
then the shipped monitoring/ resources applied as the README has users apply them: the
values file, the PrometheusRule, the PodMonitor, the webhook token's Secret and the
AlertmanagerConfig, which the operator turns into Prometheus' and Alertmanager's
configurations.

Nothing here writes a Prometheus or Alertmanager configuration: the operator generates both
from the chart's resources (testbed/chain/kube_prometheus_stack.py) and the shipped ones.
What the node changes, each for a reason:
- images: every program from the binaries the project builds (Prometheus, kube-state-metrics,
  the operator and its config-reloader from the Go module proxy, Debian's Alertmanager 0.25),
  in images of their own under `localhost/`, named through the chart's own image values;
- the pace (configs.CADVISOR): the Prometheus resource's scrape and evaluation intervals, the
  kubelet's and kube-state-metrics' ServiceMonitor intervals (all chart values), and in the
  shipped resources only durations: the rules' `for:`, `keep_firing_for:` and rate window,
  the PodMonitor's interval, the AlertmanagerConfig's timers;
- the kubelet's /metrics/resource is scraped too (`kubelet.serviceMonitor.resource`, a chart
  value, off by default): the same metric name as cAdvisor's, so the rules' `metrics_path`
  matcher is put to the test.

Alertmanager runs in a pod and resolves cluster names, so the AlertmanagerConfig's URL is
the one users configure (the function's Service, a Knative Revision's, the OpenFaaS
gateway's); `point_alertmanager()` changes it (and whose alerts go there) and returns once
the running Alertmanager has loaded it: through the operator and the config-reloader, which
sees the generated Secret when the kubelet refreshes the pod's volume (its syncFrequency,
testbed/clusters/node/kubelet.py).
"""

from __future__ import annotations

import copy
import json
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from testbed.clusters.node import NodeError, binimage, deploy, kubelet
from testbed.clusters.node.images import BASE_IMAGE, base_image
from testbed.clusters.node.layout import Layout
from testbed.paths import ROOT
from testbed.pins import module_dir
from testbed.tools import require

from . import builds, configs
from . import kube_prometheus_stack as kps

NAMESPACE = kps.NAMESPACE
PACE = configs.CADVISOR
MONITORING = ROOT / "monitoring"
RECEIVER = "cpu-alert-labeler"
"""The AlertmanagerConfig's and its token Secret's name, as shipped."""
READY_TIMEOUT = 240.0
"""From nothing: CRDs, five images into containerd, the operator, then its StatefulSets."""
RELOAD_TIMEOUT = 90.0
"""An AlertmanagerConfig change reaches Alertmanager within the kubelet's sync period and
the config-reloader's poll; generous under load."""

ALERTMANAGER_BINARY = Path("/usr/bin/prometheus-alertmanager")
ALERTMANAGER_TEMPLATES = tuple(
    Path("/usr/share/prometheus/alertmanager") / f for f in ("default.tmpl", "email.tmpl")
)
"""Debian's build reads its default notification templates from these files at start-up."""
ALERTMANAGER_VERSION = "v0.25.0"  # Debian 12's prometheus-alertmanager
NOBODY = {
    "runAsNonRoot": True,
    "runAsUser": 65534,
    "runAsGroup": 65534,
    "fsGroup": 65534,
    "seccompProfile": {"type": "RuntimeDefault"},
}
"""The pod securityContext the chart gives the operator and kube-state-metrics."""
OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"
KSM_MODULE = "k8s.io/kube-state-metrics/v2"


@dataclass(frozen=True)
class Image:
    """One program's image: where its binary comes from and lands (its entrypoint)."""

    binary: Path
    repository: str
    tag: str
    directory: str = "/bin"
    debian: bool = False
    """On the node's Debian base (a dynamically linked binary) rather than FROM scratch."""

    @property
    def ref(self) -> str:
        return f"localhost/{self.repository}:{self.tag}"


def images() -> dict[str, Image]:
    return {
        "operator": Image(builds.operator(), "prometheus-operator", builds.OPERATOR_VERSION),
        "config-reloader": Image(
            builds.operator("prometheus-config-reloader"),
            "prometheus-config-reloader",
            builds.OPERATOR_VERSION,
        ),
        "prometheus": Image(builds.prometheus(), "prometheus", builds.PROMETHEUS_VERSION),
        "alertmanager": Image(
            ALERTMANAGER_BINARY, "alertmanager-debian", ALERTMANAGER_VERSION, "/", debian=True
        ),
        "kube-state-metrics": Image(
            builds.kube_state_metrics(), "kube-state-metrics", builds.KSM_VERSION, "/"
        ),
    }


def require_built() -> None:
    """For a test: every program of the stack is built (skipped on a laptop, failed in CI)."""
    for image in images().values():
        require(
            image.binary.exists(), f"{image.binary} (make prometheus-operator prometheus kube-state-metrics)"
        )


def _chart_image(image: Image) -> dict:
    return {"registry": "localhost", "repository": image.repository, "tag": image.tag}


def node_values() -> dict:
    """The values this node sets over the chart's defaults and the README's: the local images
    and the test's pace (see the docstring)."""
    found = images()
    return {
        "prometheusOperator": {
            "image": _chart_image(found["operator"]),
            "prometheusConfigReloader": {"image": _chart_image(found["config-reloader"])},
        },
        "prometheus": {
            "prometheusSpec": {
                "image": _chart_image(found["prometheus"]),
                "scrapeInterval": PACE.scrape,
                "evaluationInterval": PACE.evaluation,
            }
        },
        "alertmanager": {"alertmanagerSpec": {"image": _chart_image(found["alertmanager"])}},
        "kubelet": {
            "serviceMonitor": {"interval": PACE.scrape, "resource": True, "resourcePath": "/metrics/resource"}
        },
        "kube-state-metrics": {"prometheus": {"monitor": {"interval": PACE.scrape}}},
    }


def values() -> dict:
    """The chart's defaults, the README's values file over them, then the node's."""
    return kps.helm_merge(kps.helm_merge(kps.defaults(), kps.user_values()), node_values())


@dataclass(frozen=True)
class Webhook:
    """Where Alertmanager delivers, and the bearer token it presents (the Secret's `token`)."""

    url: str
    token: str
    namespace: str | None = None
    """Only alerts of this namespace go to the receiver (a test's own), as an AlertmanagerConfig
    in that namespace would have it (the operator adds the same matcher); None: every
    namespace's, as shipped."""


def shipped(name: str) -> dict:
    return yaml.safe_load((MONITORING / name).read_text())


def function_webhook(layout: Layout) -> Webhook:
    """The shipped URL (the function's Service) with the token of the function's Secret."""
    config = shipped("alertmanagerconfig.yaml")
    (receiver,) = config["spec"]["receivers"]
    return Webhook(receiver["webhookConfigs"][0]["url"], deploy.webhook_token(layout))


# -- objects -------------------------------------------------------------------------------
def _module_yaml(module: str, pins: str, *paths: str) -> list[dict]:
    """Documents of files in a pinned Go module (its example manifests), as the module ships them."""
    folder = module_dir(pins, module)
    return [doc for p in paths for doc in yaml.safe_load_all((folder / p).read_text()) if doc]


def _renamed(doc: dict, name: str) -> dict:
    doc = copy.deepcopy(doc)
    doc["metadata"] = {"name": name, "labels": {"release": kps.RELEASE}}
    if doc["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
        doc["metadata"]["namespace"] = NAMESPACE
    if doc["kind"].endswith("Binding"):
        doc["roleRef"]["name"] = name
        doc["subjects"] = [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}]
    return doc


def _identity(module: str, pins: str, prefix: str, name: str) -> list[dict]:
    """The ServiceAccount, ClusterRole and binding a module's example ships (files
    `<prefix><kind>.yaml`), under the chart's name."""
    kinds = ("service-account", "cluster-role", "cluster-role-binding")
    return [
        _renamed(doc, name) for doc in _module_yaml(module, pins, *(f"{prefix}{kind}.yaml" for kind in kinds))
    ]


def _deployment(name: str, labels: dict, container: dict, security: dict) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {**labels, "release": kps.RELEASE}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": {**labels, "release": kps.RELEASE}},
                "spec": {
                    "serviceAccountName": name,
                    # The modules' ServiceAccounts say false; their Deployments mount the token.
                    "automountServiceAccountToken": True,
                    "securityContext": security,
                    "containers": [
                        {
                            "imagePullPolicy": "IfNotPresent",
                            "securityContext": binimage.RESTRICTED,
                            **container,
                        }
                    ],
                },
            },
        },
    }


def _operator(chart: dict) -> list[dict]:
    """The operator's Deployment as the chart renders it; its RBAC as the operator's module ships it."""
    op = chart["prometheusOperator"]
    container = {
        "name": "kube-prometheus-stack",
        "image": kps.image_ref(op["image"], builds.OPERATOR_VERSION),
        "args": kps.operator_args(chart, builds.OPERATOR_VERSION),
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2},
    }
    labels = {"app": kps.OPERATOR}
    return [
        *_identity(
            OPERATOR_MODULE,
            "testbed/pins/prometheus-operator",
            "example/rbac/prometheus-operator/prometheus-operator-",
            kps.OPERATOR,
        ),
        _deployment(kps.OPERATOR, labels, container, NOBODY),
    ]


def _kube_state_metrics() -> list[dict]:
    """kube-state-metrics as the chart's subchart runs it (port `http`, its default resources),
    its RBAC as its module's example ships it."""
    labels = {"app.kubernetes.io/name": "kube-state-metrics", "app.kubernetes.io/instance": kps.RELEASE}
    container = {
        "name": "kube-state-metrics",
        "image": images()["kube-state-metrics"].ref,
        "args": ["--port=8080", "--telemetry-port=8081"],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8081}, "periodSeconds": 2},
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": kps.KUBE_STATE_METRICS,
            "namespace": NAMESPACE,
            "labels": {**labels, "release": kps.RELEASE},
        },
        "spec": {"ports": [{"name": "http", "port": 8080, "targetPort": "http"}], "selector": labels},
    }
    return [
        *_identity(
            KSM_MODULE, "testbed/pins/kube-state-metrics", "examples/standard/", kps.KUBE_STATE_METRICS
        ),
        _deployment(kps.KUBE_STATE_METRICS, labels, container, NOBODY),
        service,
    ]


def _namespace() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
    }


def stack_objects() -> list[dict]:
    """Everything the chart would install on the node, in apply order (CRDs apart)."""
    chart = values()
    return [
        _namespace(),
        *_operator(chart),
        *_kube_state_metrics(),
        *kps.cluster_objects(chart),
        *kps.chart_objects(chart),
    ]


def prometheus_rule() -> dict:
    """monitoring/prometheusrule.yaml with its labeling group's durations at the node's pace
    (configs.rules: the same rewrite as the rules file; the two files hold the same groups);
    the self-monitoring group as shipped."""
    rule = shipped("prometheusrule.yaml")
    paced = {g["name"]: g for g in yaml.safe_load(configs.rules(PACE))["groups"]}
    rule["spec"]["groups"] = [paced.get(g["name"], g) for g in rule["spec"]["groups"]]
    return rule


def pod_monitor() -> dict:
    monitor = shipped("podmonitor.yaml")
    for endpoint in monitor["spec"]["podMetricsEndpoints"]:
        endpoint["interval"] = PACE.scrape
    return monitor


def alertmanager_config(webhook: Webhook) -> dict:
    """monitoring/alertmanagerconfig.yaml delivering to `webhook`, its routes' timers at the pace."""
    config = shipped("alertmanagerconfig.yaml")
    route = config["spec"]["route"]
    for r in (route, *route["routes"]):
        r.update(
            groupWait=PACE.group_wait, groupInterval=PACE.group_interval, repeatInterval=PACE.repeat_interval
        )
    if webhook.namespace:
        route["matchers"] = [
            *route["matchers"],
            {"name": "namespace", "matchType": "=", "value": webhook.namespace},
        ]
    (receiver,) = config["spec"]["receivers"]
    receiver["webhookConfigs"][0]["url"] = webhook.url
    return config


def _token_secret(webhook: Webhook) -> dict:
    """The Secret README's "Alertmanager receiver" has users create in Alertmanager's namespace."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": RECEIVER, "namespace": NAMESPACE},
        "stringData": {"token": webhook.token},
    }


# -- lifecycle -----------------------------------------------------------------------------
def kubectl(layout: Layout, *args: str, **kw):
    return deploy.kubectl(layout, *args, **kw)


def _apply(layout: Layout, objects: list[dict], *extra: str) -> None:
    kubectl(
        layout,
        "apply",
        *extra,
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}),
    )


def _images(layout: Layout) -> None:
    for image in images().values():
        if not image.binary.exists():
            raise NodeError(
                f"missing {image.binary} (make prometheus-operator prometheus kube-state-metrics deps-monitoring)"
            )
    base_image()
    for image in images().values():
        if image.debian:
            binimage.ensure(
                layout,
                image.ref,
                image.binary,
                base=BASE_IMAGE,
                files=ALERTMANAGER_TEMPLATES,
                directory=image.directory,
            )
        else:
            binimage.ensure(layout, image.ref, image.binary, directory=image.directory)


def _crds(layout: Layout) -> None:
    crds = builds.operator_crds()
    if not crds:
        raise NodeError("the Prometheus Operator's CRDs are missing (make prometheus-operator)")
    kubectl(layout, "apply", "--server-side", "--force-conflicts", *(a for c in crds for a in ("-f", str(c))))
    deploy.established(layout, [_crd_name(c) for c in crds])


def _crd_name(path: Path) -> str:
    # BaseLoader: the CRDs' schemas hold a bare `=` (YAML 1.1's value tag), which SafeLoader refuses.
    return yaml.load(path.read_text(), Loader=yaml.BaseLoader)["metadata"]["name"]


def _pods_ready(layout: Layout) -> dict[str, bool]:
    """Whether each of the stack's programs has a Ready pod."""
    res = kubectl(layout, "-n", NAMESPACE, "get", "pods", "-o", "json", check=False)
    pods = json.loads(res.stdout)["items"] if res.returncode == 0 else []
    ready = {
        p["metadata"]["name"]
        for p in pods
        if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    }
    return {
        program: any(name.startswith(prefix) for name in ready) for program, prefix in POD_PREFIXES.items()
    }


POD_PREFIXES = {
    "prometheus-operator": f"{kps.OPERATOR}-",
    "kube-state-metrics": f"{kps.KUBE_STATE_METRICS}-",
    "prometheus": f"prometheus-{kps.PROMETHEUS}-",
    "alertmanager": f"alertmanager-{kps.ALERTMANAGER}-",
}


def status(layout: Layout) -> dict[str, bool]:
    if not layout.admin_kubeconfig.exists():
        return dict.fromkeys(POD_PREFIXES, False)
    return _pods_ready(layout)


def _service_url(layout: Layout, name: str, port: int) -> str:
    ip = kubectl(
        layout, "-n", NAMESPACE, "get", "service", name, "-o", "jsonpath={.spec.clusterIP}"
    ).stdout.strip()
    return f"http://{ip}:{port}"


def prometheus_url(layout: Layout) -> str:
    """The chart's Prometheus Service, by its ClusterIP (the host reaches it through kube-proxy)."""
    return _service_url(layout, kps.PROMETHEUS, 9090)


def alertmanager_url(layout: Layout) -> str:
    return _service_url(layout, kps.ALERTMANAGER, 9093)


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def _wait(what: str, check, timeout: float, layout: Layout) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, ValueError) as err:  # not up yet
            last = err
        time.sleep(1)
    raise NodeError(f"not within {timeout:.0f}s: {what} (last error: {last!r})\n{tails(layout)}")


def _rules_loaded(layout: Layout) -> bool:
    groups = _get(f"{prometheus_url(layout)}/api/v1/rules")["data"]["groups"]
    wanted = {g["name"] for g in shipped("prometheusrule.yaml")["spec"]["groups"]}
    return wanted <= {g["name"] for g in groups}


def loaded_webhook(layout: Layout) -> dict | None:
    """The webhook receiver of ours in the configuration Alertmanager runs (None: none)."""
    config = yaml.safe_load(_get(f"{alertmanager_url(layout)}/api/v2/status")["config"]["original"])
    for receiver in config.get("receivers", []):
        if receiver["name"].endswith(f"/{RECEIVER}/{RECEIVER}"):
            return receiver["webhook_configs"][0]
    return None


def _route_matches(layout: Layout, webhook: Webhook) -> bool:
    config = yaml.safe_load(_get(f"{alertmanager_url(layout)}/api/v2/status")["config"]["original"])
    route = next(
        r
        for r in config["route"].get("routes", [])
        if r.get("receiver", "").endswith(f"/{RECEIVER}/{RECEIVER}")
    )
    restricted = any("namespace=" in m for m in route.get("matchers", []))
    return restricted == bool(webhook.namespace) and (
        not webhook.namespace or any(webhook.namespace in m for m in route["matchers"])
    )


def aimed_at(layout: Layout) -> str | None:
    """The URL the AlertmanagerConfig delivers to (None: the stack is not installed)."""
    res = kubectl(
        layout,
        "-n",
        NAMESPACE,
        "get",
        "alertmanagerconfig",
        RECEIVER,
        "-o",
        "jsonpath={.spec.receivers[0].webhookConfigs[0].url}",
        check=False,
    )
    return res.stdout.strip() or None if res.returncode == 0 else None


def point_alertmanager(layout: Layout, webhook: Webhook) -> None:
    """Deliver to `webhook` from now on: the token Secret and the AlertmanagerConfig applied;
    returns once the running Alertmanager has loaded them."""
    _apply(layout, [_token_secret(webhook), alertmanager_config(webhook)])
    _wait(
        f"Alertmanager delivering to {webhook.url}",
        lambda: (
            (loaded := loaded_webhook(layout)) is not None
            and loaded["url"] == webhook.url
            and _route_matches(layout, webhook)
        ),
        RELOAD_TIMEOUT,
        layout,
    )


def _kubelet_samples_pods(layout: Layout) -> None:
    """Refuse a running kubelet without kubelet.py's cAdvisor flags (a node brought up by an
    older checkout): without them its CPU series carry no pod labels, or come every 10-20 s.
    Restarting someone's kubelet behind their back is not ours to do: recreate the node."""
    pid = kubelet.daemon(layout).pid()
    if pid is None:
        raise NodeError("the kubelet is not running: bring the node up first")
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    missing = [flag for flag in ("--containerd", "--housekeeping-interval") if flag.encode() not in argv]
    if missing:
        raise NodeError(
            f"the running kubelet lacks {' '.join(missing)} (a node from an older checkout): "
            "make cluster-down && make cluster"
        )


def start(layout: Layout, webhook: Webhook | None = None, log=print) -> float:
    """Bring the stack up (what already runs is kept, the shipped resources re-applied);
    returns the seconds it took."""
    began = time.monotonic()
    _kubelet_samples_pods(layout)
    _images(layout)
    _crds(layout)
    _apply(layout, stack_objects())
    # As README's kube-prometheus-stack steps: the rule, the monitor, the token and the route.
    _apply(layout, [prometheus_rule(), pod_monitor()])
    _wait(
        "the operator, Prometheus, Alertmanager and kube-state-metrics Ready",
        lambda: all(_pods_ready(layout).values()),
        READY_TIMEOUT,
        layout,
    )
    _wait(
        "Prometheus loading the shipped PrometheusRule", lambda: _rules_loaded(layout), RELOAD_TIMEOUT, layout
    )
    point_alertmanager(layout, webhook or function_webhook(layout))
    log(
        f"monitoring (kube-prometheus-stack {kps.CHART_VERSION}'s defaults, operator {builds.OPERATOR_VERSION}) "
        f"ready in {time.monotonic() - began:.0f}s"
    )
    return time.monotonic() - began


def deliver(layout: Layout, webhook: Webhook, to: str, log=print) -> None:
    """Start the monitoring side delivering to `webhook` (`to` says what it reaches), and say
    where Prometheus and Alertmanager answer: the platforms' `up` ends with this."""
    start(layout, webhook=webhook, log=log)
    log(
        f"monitoring: Prometheus {prometheus_url(layout)}, Alertmanager "
        f"{alertmanager_url(layout)}, delivering to {to}"
    )


def tails(layout: Layout, lines: int = 15) -> str:
    """The last log lines of each program of the stack, for a failure's message."""
    out = []
    for program, prefix in POD_PREFIXES.items():
        res = kubectl(layout, "-n", NAMESPACE, "get", "pods", "-o", "name", check=False)
        pods = [p for p in res.stdout.split() if p.removeprefix("pod/").startswith(prefix)]
        for pod in pods:
            log = kubectl(
                layout, "-n", NAMESPACE, "logs", pod, "--all-containers", f"--tail={lines}", check=False
            )
            out.append(f"--- {program} ({pod}):\n{log.stdout}{log.stderr}")
    return "\n".join(out) or "(no pods of the monitoring stack)"
