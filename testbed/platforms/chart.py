"""The Helm chart's resource templates, generated from the shipped manifests: one source of truth.

charts/cpu-alert-labeler/ ships two kinds of files.  Written by hand: Chart.yaml, values.yaml,
values.schema.json, templates/_helpers.tpl, templates/secret.yaml, NOTES.txt, README.md.
Generated here (`make chart`, i.e. `python -m testbed.platforms.chart`): every other template, from

- the kustomize overlays as `kubectl kustomize` renders them (deploy/plain/, knative/): the
  ServiceAccount and RBAC, the Deployment and its Service, the Knative Service;
- monitoring/prometheusrule.yaml, podmonitor.yaml and alertmanagerconfig.yaml as shipped.

Each object is taken whole and only the fields a chart value sets are replaced by a template
expression (the tables below name them), so an edit of a shipped file reaches the chart at the
next `make chart`, and tests/system/test_chart.py fails until the committed templates are the
generated ones.  A field the chart templates that has vanished from the shipped file stops the
generator (a value that would silently do nothing), as does a threshold or alert name the
rules no longer carry where the chart expects it.  The Namespace is not rendered: Helm installs
into a namespace that exists (charts/cpu-alert-labeler/README.md says how to label it).

How a template expression survives the YAML dump: it is dumped as a marker (@@V<n>@@ a whole
scalar, @@S<n>@@ inside a string, @@Y<n>@@ a block from toYaml, @@B<n>@@ a line of raw
template text), literal `{{`/`}}` (Prometheus' own templates) are escaped, then the markers
are replaced.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys

import yaml

from testbed.clusters.node.layout import pinned_kubectl
from testbed.paths import ROOT
from testbed.platforms import manifests

CHART = ROOT / "charts" / "cpu-alert-labeler"
TEMPLATES = CHART / "templates"
MONITORING = ROOT / "monitoring"
NAME = "cpu-alert-labeler"
FULLNAME = 'include "cal.fullname" .'
LABELS = 'include "cal.labels" .'
SELECTOR = 'include "cal.selectorLabels" .'
ALERT_REGEX = 'include "cal.alertRegex" .'
SCOPE = 'include "cal.namespaceMatchers" .'

# Environment variables of the shipped pod that a chart value sets.  Every one must be in
# deploy/pod/pod.yaml; the pod's other variables are copied as they are.
ENV = {
    "LABEL_KEY": ".Values.label.key | quote",
    "LABEL_NORMAL": ".Values.label.normal | quote",
    "LABEL_MODERATE": ".Values.label.moderate | quote",
    "LABEL_CRITICAL": ".Values.label.critical | quote",
    "ALERT_LEVELS": (
        'printf "%s=normal,%s=moderate,%s=critical" .Values.alerts.normal .Values.alerts.moderate'
        " .Values.alerts.critical | quote"
    ),
    "MODERATE_THRESHOLD": ".Values.thresholds.moderate | toString | quote",
    "CRITICAL_THRESHOLD": ".Values.thresholds.critical | toString | quote",
}
# Variables the shipped pod leaves at their defaults, set only when their value is given.
OPTIONAL_ENV = """\
{{- with .Values.namespaces.allow }}
- name: NAMESPACE_ALLOW
  value: {{ join "," . | quote }}
{{- end }}
{{- with .Values.namespaces.deny }}
- name: NAMESPACE_DENY
  value: {{ join "," . | quote }}
{{- end }}
{{- if .Values.dryRun }}
- name: DRY_RUN
  value: "true"
{{- end }}
{{- with .Values.extraEnv }}
{{- toYaml . | nindent NINDENT }}
{{- end }}"""
# The shipped rules' alerts: the chart value naming each, and the threshold its expression
# compares with (the same comparison the rule file makes, found there exactly once).
ALERTS = {
    "PodCpuNormal": (".Values.alerts.normal", "< ", "33", ".Values.thresholds.moderate"),
    "PodHighCpuUsage": (".Values.alerts.moderate", ">= ", "33", ".Values.thresholds.moderate"),
    "PodCpuFailure": (".Values.alerts.critical", ">= ", "66", ".Values.thresholds.critical"),
}
SHIPPED_ALERT_REGEX = "|".join(ALERTS)
SELF_GROUP = "cpu-alert-labeler-self"


class Template:
    """One generated template file: objects with markers, rendered to Helm template text."""

    def __init__(self) -> None:
        self.exprs: list[str] = []

    def mark(self, kind: str, expr: str) -> str:
        self.exprs.append(expr)
        return f"@@{kind}{len(self.exprs) - 1}@@"

    def value(self, expr: str) -> str:
        return self.mark("V", expr)

    def inline(self, expr: str) -> str:
        return self.mark("S", expr)

    def block(self, expr: str) -> str:
        return self.mark("Y", expr)

    def raw(self, text: str) -> str:
        return self.mark("B", text)

    def text(self, obj: dict) -> str:
        dumped = _escape(yaml.dump(obj, Dumper=_Dumper, sort_keys=False, width=4096))
        spliced = []
        for line in dumped.splitlines():
            found = re.fullmatch(r"(\s*)(?:- )?'@@B(\d+)@@'(?:: null)?", line)
            if not found:
                spliced.append(line)
                continue
            indent, raw = found.group(1), self.exprs[int(found.group(2))]
            spliced += [indent + r.replace("NINDENT", str(len(indent))) for r in raw.splitlines()]
        lines = []
        for line in spliced:
            found = re.fullmatch(r"(\s*)(.*): '@@Y(\d+)@@'", line)
            if found:
                indent, key, n = found.group(1), found.group(2), int(found.group(3))
                line = f"{indent}{key}: {{{{- {self.exprs[n]} | nindent {len(indent) + 2} }}}}"
            line = re.sub(r"'@@V(\d+)@@'", lambda m: "{{ " + self.exprs[int(m.group(1))] + " }}", line)
            line = re.sub(r"@@S(\d+)@@", lambda m: "{{ " + self.exprs[int(m.group(1))] + " }}", line)
            assert "@@" not in line, line
            lines.append(line)
        return "\n".join(lines) + "\n"


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def _replace_once(text: str, old: str, new: str, where: str) -> str:
    if text.count(old) != 1:
        raise SystemExit(f"{where}: expected {old!r} once, found it {text.count(old)} times")
    return text.replace(old, new)


def _metadata(t: Template, obj: dict, namespace: str | None) -> None:
    """Name, namespace and labels: the release's name and labels, the shipped labels kept."""
    meta = obj["metadata"]
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != "app.kubernetes.io/name"}
    new: dict = {"name": t.value(FULLNAME)}
    if namespace is not None:
        new["namespace"] = t.value(namespace)
    new["labels"] = {**labels, t.raw("{{- " + LABELS + " | nindent NINDENT }}"): None}
    rest = {k: v for k, v in meta.items() if k not in ("name", "namespace", "labels")}
    obj["metadata"] = {**new, **rest}


def _pod(t: Template, template: dict) -> None:
    """The function's pod, as deploy/pod/ defines it, with the chart's values in."""
    meta = template.setdefault("metadata", {})
    assert meta.get("labels", {}).get("app.kubernetes.io/name") == NAME, meta
    meta["labels"] = {t.raw("{{- " + SELECTOR + " | nindent NINDENT }}"): None}
    spec = template["spec"]
    spec["serviceAccountName"] = t.value(FULLNAME)
    (container,) = spec["containers"]
    container["image"] = t.value(
        'printf "%s:%s" .Values.image.repository (toString .Values.image.tag) | quote'
    )
    env = {item["name"]: item for item in container["env"]}
    missing = set(ENV) - set(env)
    if missing:
        raise SystemExit(f"deploy/pod/pod.yaml no longer sets {sorted(missing)}: the chart's values for them")
    for name, expr in ENV.items():
        env[name]["value"] = t.value(expr)
    container["env"].append(t.raw(OPTIONAL_ENV))
    container["resources"] = t.block("toYaml .Values.resources")
    (volume,) = [v for v in spec["volumes"] if "secret" in v]
    volume["secret"]["secretName"] = t.value('include "cal.tokenSecret" .')


def _when(condition: str, body: str) -> str:
    return f"{{{{- if {condition} }}}}\n{body}{{{{- end }}}}\n"


def rbac(objects: list[dict]) -> str:
    t = Template()
    docs = []
    for kind in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding"):
        obj = copy.deepcopy(manifests.find(objects, kind))
        _metadata(t, obj, ".Release.Namespace" if kind == "ServiceAccount" else None)
        if kind == "ClusterRoleBinding":
            obj["roleRef"]["name"] = t.value(FULLNAME)
            (subject,) = obj["subjects"]
            subject.update(name=t.value(FULLNAME), namespace=t.value(".Release.Namespace"))
        docs.append(t.text(obj))
    return "---\n".join(docs)


def deployment(objects: list[dict]) -> str:
    t = Template()
    workload = copy.deepcopy(manifests.find(objects, "Deployment", "apps/v1"))
    _metadata(t, workload, ".Release.Namespace")
    workload["spec"]["replicas"] = t.value(".Values.replicas")
    workload["spec"]["selector"]["matchLabels"] = {t.raw("{{- " + SELECTOR + " | nindent NINDENT }}"): None}
    _pod(t, workload["spec"]["template"])
    service = copy.deepcopy(manifests.find(objects, "Service", "v1"))
    _metadata(t, service, ".Release.Namespace")
    service["spec"]["selector"] = {t.raw("{{- " + SELECTOR + " | nindent NINDENT }}"): None}
    return _when('eq .Values.platform "deployment"', t.text(workload) + "---\n" + t.text(service))


def knative(objects: list[dict]) -> str:
    t = Template()
    service = copy.deepcopy(manifests.find(objects, "Service", "serving.knative.dev/v1"))
    _metadata(t, service, ".Release.Namespace")
    template = service["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    annotations["autoscaling.knative.dev/min-scale"] = t.value(".Values.knative.minScale | toString | quote")
    annotations["autoscaling.knative.dev/max-scale"] = t.value(".Values.knative.maxScale | toString | quote")
    _pod(t, template)
    return _when('eq .Values.platform "knative"', t.text(service))


def _enabled(name: str) -> str:
    return f"and .Values.monitoring.enabled .Values.monitoring.{name}.enabled"


def _monitoring_resource(t: Template, name: str, namespace: str) -> dict:
    """monitoring/NAME, named and labelled by the release, its `release` label the value's."""
    obj = yaml.safe_load((MONITORING / name).read_text())
    _metadata(t, obj, namespace)
    labels = obj["metadata"]["labels"]
    labels.pop("release")
    labels["release"] = t.value(".Values.monitoring.release | quote")
    return obj


def prometheus_rule() -> str:
    t = Template()
    rule = _monitoring_resource(t, "prometheusrule.yaml", ".Values.monitoring.namespace")
    groups = rule["spec"]["groups"]
    for group in groups:
        for item in group["rules"]:
            where = f"monitoring/prometheusrule.yaml {item.get('alert') or item.get('record')}"
            if item.get("alert") in ALERTS:
                name_expr, op, number, value = ALERTS[item["alert"]]
                item["alert"] = t.value(name_expr)
                item["expr"] = _replace_once(item["expr"], op + number, op + t.inline(value), where)
            elif item.get("alert") == "CpuAlertLabelerNotNotified":
                # Its two clauses (alerts above normal, PodCpuNormal) by the chart's alert
                # names, and only for the namespaces the function may label (namespaces.allow
                # and .deny): the others are not expected to reach it.
                upper = f'alertname=~"{t.inline(".Values.alerts.moderate")}|{t.inline(".Values.alerts.critical")}"'
                normal = f'alertname="{t.inline(".Values.alerts.normal")}"'
                for old, new in (
                    ('alertname=~"PodHighCpuUsage|PodCpuFailure"', upper),
                    ('alertname="PodCpuNormal"', normal),
                ):
                    item["expr"] = _replace_once(item["expr"], old, new + t.inline(SCOPE), where)
    self_groups = [g for g in groups if g["name"] == SELF_GROUP]
    if len(self_groups) != 1:
        raise SystemExit(f"monitoring/prometheusrule.yaml: expected one group {SELF_GROUP}")
    index = groups.index(self_groups[0])
    body = yaml.dump([self_groups[0]], Dumper=_Dumper, sort_keys=False, width=4096)
    groups[index] = t.raw(
        "{{- if .Values.monitoring.prometheusRule.selfMonitoring }}\n" + _escape(body) + "{{- end }}"
    )
    return _when(_enabled("prometheusRule"), t.text(rule))


def _escape(text: str) -> str:
    """Literal braces escaped, markers left for Template.text to replace."""
    return re.sub(r"\{\{|\}\}", lambda m: '{{ "' + m.group() + '" }}', text)


def pod_monitor() -> str:
    t = Template()
    monitor = _monitoring_resource(t, "podmonitor.yaml", ".Release.Namespace")
    assert monitor["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": NAME}
    monitor["spec"]["selector"]["matchLabels"] = {t.raw("{{- " + SELECTOR + " | nindent NINDENT }}"): None}
    return _when(_enabled("podMonitor"), t.text(monitor))


def alertmanager_config() -> str:
    t = Template()
    config = _monitoring_resource(t, "alertmanagerconfig.yaml", ".Values.monitoring.namespace")
    (matcher,) = [m for m in config["spec"]["route"]["matchers"] if m["name"] == "alertname"]
    assert matcher["value"] == SHIPPED_ALERT_REGEX, matcher
    matcher["value"] = t.value(ALERT_REGEX + " | quote")
    (receiver,) = config["spec"]["receivers"]
    (webhook,) = receiver["webhookConfigs"]
    assert webhook["url"] == f"http://{NAME}.{NAME}.svc.cluster.local/", webhook["url"]
    webhook["url"] = t.value(
        'printf "http://%s.%s.svc.cluster.local/" (' + FULLNAME + ") .Release.Namespace | quote"
    )
    webhook["httpConfig"]["authorization"]["credentials"]["name"] = t.value(
        'include "cal.alertmanagerSecret" .'
    )
    return _when(_enabled("alertmanagerConfig"), t.text(config))


def generate() -> dict[str, str]:
    """Every generated template: file name -> text."""
    if not pinned_kubectl().exists():
        raise SystemExit(
            f"{pinned_kubectl()} is missing (make node-binaries): its kustomize renders the overlays"
        )
    plain, knative_objects = manifests.render("plain"), manifests.render("knative")
    files = {
        "rbac.yaml": (rbac(plain), "deploy/base/ (kubectl kustomize deploy/plain)"),
        "deployment.yaml": (
            deployment(plain),
            "deploy/plain/ and deploy/pod/ (kubectl kustomize deploy/plain)",
        ),
        "knative-service.yaml": (
            knative(knative_objects),
            "knative/ and deploy/pod/ (kubectl kustomize knative)",
        ),
        "prometheusrule.yaml": (prometheus_rule(), "monitoring/prometheusrule.yaml"),
        "podmonitor.yaml": (pod_monitor(), "monitoring/podmonitor.yaml"),
        "alertmanagerconfig.yaml": (alertmanager_config(), "monitoring/alertmanagerconfig.yaml"),
    }
    return {
        name: f"# GENERATED from {source} by `make chart` (testbed/platforms/chart.py): edit the source, not this.\n{text}"
        for name, (text, source) in files.items()
    }


def main() -> None:
    for name, text in generate().items():
        (TEMPLATES / name).write_text(text)
        print(f"wrote {(TEMPLATES / name).relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()


# Labels Helm's conventions add and the kustomize overlays do not carry.
HELM_LABELS = (
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)


def template(*args: str, release: str = NAME, namespace: str = NAME) -> list[dict]:
    """`helm template` of the chart at the Kubernetes the kit runs, parsed; `args` are its
    options (--set ...).  Raises with Helm's message when it refuses the values."""
    from testbed.platforms import clis

    result = subprocess.run(
        [
            str(clis.helm()),
            "template",
            release,
            str(CHART),
            "-n",
            namespace,
            "--kube-version",
            manifests.KUBERNETES_VERSION,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise ValueError(result.stderr.strip())
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


def without_helm_labels(obj: object) -> object:
    """`obj` with Helm's own labels dropped wherever labels appear, and empty labels gone."""
    if isinstance(obj, list):
        return [without_helm_labels(o) for o in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    for key, value in obj.items():
        if key in HELM_LABELS:
            continue
        value = without_helm_labels(value)
        if key == "labels" and value == {}:
            continue
        out[key] = value
    return out
