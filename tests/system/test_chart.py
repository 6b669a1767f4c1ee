"""We test these aspects: the Helm chart (charts/cpu-alert-labeler/) and the kustomize overlays are
one source.  The chart's resource templates are the ones testbed/platforms/chart.py generates from the
rendered overlays and monitoring/ (committed and current); with the same inputs (release and
namespace cpu-alert-labeler, an image, another namespace) `helm template` gives the overlays'
objects, Helm's own labels aside (same containers, settings, security context, RBAC), and
with monitoring on, the shipped PrometheusRule, PodMonitor and AlertmanagerConfig; a value
reaches both sides it names (thresholds and alert names: the function's settings, the rules
and the route; the namespace scope: the self-monitoring alert that expects notifications),
and the rules so rewritten pass promtool; values.schema.json and the chart's checks refuse
bad values with a message naming them; `helm lint` passes for each platform and toggle; the
chart's README documents exactly values.yaml's settings, and the README's `helm install` renders.  On a 1.34 apiserver holding
Knative's and the Prometheus Operator's CRDs, every platform and toggle is accepted whole by
`kubectl apply --dry-run=server --validate=strict`, and its pod passes the restricted Pod
Security profile of the overlays' namespace.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Iterator

import pytest
import yaml

from testbed.chain import builds
from testbed.clusters.crds import Kubectl, crd_apiserver, ok
from testbed.clusters.node.layout import pinned_kubectl
from testbed.platforms import chart, clis, manifests
from testbed.platforms.manifests import find
from testbed.tools import require

KNATIVE_ONLY = ("containerConcurrency", "timeoutSeconds")
MONITORING = ["--set", "monitoring.enabled=true"]
TOKEN = ["--set", "webhookToken.create=true", "--set-string", "webhookToken.value=0123456789abcdef"]
# Each platform with each toggle, as `helm template` options.
CASES = {
    "deployment": [],
    "knative": ["--set", "platform=knative"],
    "deployment-monitoring": MONITORING,
    "knative-monitoring-token": ["--set", "platform=knative", *MONITORING, *TOKEN],
    "deployment-token": TOKEN,
    "monitoring-no-self-rules": [*MONITORING, "--set", "monitoring.prometheusRule.selfMonitoring=false"],
    "monitoring-rule-only": [
        *MONITORING,
        "--set",
        "monitoring.podMonitor.enabled=false",
        "--set",
        "monitoring.alertmanagerConfig.enabled=false",
    ],
    "settings": [
        "--set",
        "dryRun=true",
        "--set",
        "namespaces.deny={kube-system}",
        "--set",
        "namespaces.allow={shop,default}",
        "--set",
        "extraEnv[0].name=LOG_LEVEL,extraEnv[0].value=DEBUG",
        "--set",
        "label.key=example.com/cpu",
    ],
}


@pytest.fixture(scope="module", autouse=True)
def _tools() -> None:
    require(clis.helm().exists(), str(clis.helm()))
    require(pinned_kubectl().exists(), str(pinned_kubectl()))


def kinds(objects: list[dict]) -> list[str]:
    return sorted(o["kind"] for o in objects)


def env(workload: dict) -> dict[str, str]:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return {item["name"]: item["value"] for item in container["env"]}


def same(rendered: dict, shipped: dict) -> None:
    """The chart's object is the shipped one: field for field but Helm's labels in selectors and
    pod templates; on the object itself the chart's labels are the shipped ones and more."""
    ours = chart.without_helm_labels(rendered)
    assert isinstance(ours, dict)
    labels = ours["metadata"].pop("labels", {})
    theirs = {**shipped, "metadata": dict(shipped["metadata"])}
    assert theirs["metadata"].pop("labels", {}).items() <= labels.items()
    assert ours == theirs


def test_templates_are_the_generated_ones():
    """Every generated template is committed as testbed/platforms/chart.py makes it from today's shipped
    files (after editing deploy/, knative/ or monitoring/: `make chart`)."""
    stale = [n for n, text in chart.generate().items() if (chart.TEMPLATES / n).read_text() != text]
    assert stale == [], f"run `make chart`: {stale} differ from the shipped manifests"


@pytest.mark.parametrize("case", sorted(CASES))
def test_helm_lint_passes(case):
    """`helm lint --strict` finds nothing for each platform and toggle."""
    result = subprocess.run(
        [str(clis.helm()), "lint", "--strict", str(chart.CHART), *CASES[case]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("platform, overlay", [("deployment", "plain"), ("knative", "knative")])
def test_chart_renders_the_overlays_objects(platform, overlay):
    """With the release and namespace the overlays use, the chart's objects are the overlay's,
    field for field (Helm's labels aside); the overlay's Namespace is the one it leaves out."""
    rendered = chart.template("--set", f"platform={platform}")
    expected = [o for o in manifests.render(overlay) if o["kind"] != "Namespace"]
    assert kinds(rendered) == kinds(expected)
    for obj in expected:
        same(find(rendered, obj["kind"], obj["apiVersion"]), obj)


@pytest.mark.parametrize("platform, overlay", [("deployment", "plain"), ("knative", "knative")])
def test_same_inputs_same_objects(tmp_path, platform, overlay):
    """An image and a namespace set the Helm way (--set image.*, -n) give what a user's overlay
    setting them the kustomize way (`images:`, `namespace:`) gives."""
    target = manifests.OVERLAYS[overlay].relative_to(manifests.ROOT)
    directory = manifests.ROOT / ".cache" / f"chart-overlay-{tmp_path.name}"
    directory.mkdir(parents=True, exist_ok=True)
    try:
        (directory / "kustomization.yaml").write_text(
            f"resources: [../../{target.as_posix()}]\nnamespace: monitoring-fns\nimages:\n"
            "  - name: ghcr.io/example/cpu-alert-labeler\n    newName: localhost/cpu-alert-labeler\n"
            "    newTag: dev\n"
        )
        expected = [o for o in manifests.render_dir(directory) if o["kind"] != "Namespace"]
    finally:
        for path in directory.iterdir():
            path.unlink()
        directory.rmdir()
    rendered = chart.template(
        "--set",
        f"platform={platform}",
        "--set",
        "image.repository=localhost/cpu-alert-labeler,image.tag=dev",
        namespace="monitoring-fns",
    )
    for obj in expected:
        same(find(rendered, obj["kind"], obj["apiVersion"]), obj)


@pytest.mark.parametrize("name", ["prometheusrule.yaml", "podmonitor.yaml", "alertmanagerconfig.yaml"])
def test_monitoring_resources_are_the_shipped_ones(name):
    """With monitoring on and the defaults, each resource is monitoring/'s file as shipped."""
    shipped = yaml.safe_load((chart.MONITORING / name).read_text())
    rendered = find(chart.template(*MONITORING), shipped["kind"])
    same(rendered, shipped)


def test_a_value_reaches_both_sides():
    """Thresholds and alert names set once reach the function's settings, the PrometheusRule's
    alerts and comparisons, the self-monitoring alert's selector and the route's matcher; the
    release label reaches the rule and the PodMonitor."""
    objects = chart.template(
        *MONITORING,
        "--set",
        "thresholds.moderate=40.5,thresholds.critical=80",
        "--set",
        "alerts.normal=CpuOk,alerts.moderate=CpuHigh,alerts.critical=CpuDown",
        "--set",
        "monitoring.release=prom",
    )
    settings = env(find(objects, "Deployment"))
    assert settings["MODERATE_THRESHOLD"] == "40.5" and settings["CRITICAL_THRESHOLD"] == "80"
    assert settings["ALERT_LEVELS"] == "CpuOk=normal,CpuHigh=moderate,CpuDown=critical"
    rule = find(objects, "PrometheusRule")
    alerts = {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    assert alerts["CpuOk"].strip().endswith("< 40.5")
    assert alerts["CpuHigh"].strip().endswith(">= 40.5")
    assert alerts["CpuDown"].strip().endswith(">= 80")
    assert 'alertname=~"CpuHigh|CpuDown"' in alerts["CpuAlertLabelerNotNotified"]
    assert 'alertname="CpuOk"' in alerts["CpuAlertLabelerNotNotified"]
    route = find(objects, "AlertmanagerConfig")["spec"]["route"]
    assert {"name": "alertname", "matchType": "=~", "value": "CpuOk|CpuHigh|CpuDown"} in route["matchers"]
    assert rule["metadata"]["labels"]["release"] == "prom"
    assert find(objects, "PodMonitor")["metadata"]["labels"]["release"] == "prom"


@pytest.mark.parametrize(
    "options, message",
    [
        (["--set", "label.critical=-panne"], "/label/critical"),
        (["--set", "label.normal=" + "n" * 64], "/label/normal"),
        (["--set", "label.key=a/b/c"], "/label/key"),
        (
            ["--set", "thresholds.moderate=70"],
            "thresholds.moderate (70) must be below thresholds.critical (66)",
        ),
        (["--set", "thresholds.critical=120"], "/thresholds/critical"),
        (["--set", "label.moderate=panne"], "must differ"),
        (["--set", "alerts.normal=Pod-Cpu"], "/alerts/normal"),
        (["--set", "platform=openfaas"], "/platform"),
        (["--set", "namespaces.deny={Kube_System}"], "/namespaces/deny/0"),
        (["--set", "extraEnv[0].name=THREADS"], "/extraEnv/0/name"),
        (["--set", "webhookToken.create=true"], "set webhookToken.value"),
        (["--set", "lable.key=x"], "lable"),
    ],
)
def test_bad_values_are_refused_by_name(options, message):
    """A value Kubernetes or the function would refuse stops `helm template` (and so `helm
    install`) before anything is sent, with a message naming the value."""
    with pytest.raises(ValueError) as refused:
        chart.template(*options)
    assert message in str(refused.value)


@pytest.mark.parametrize(
    "case, expected",
    [
        ("deployment", ["ClusterRole", "ClusterRoleBinding", "Deployment", "Service", "ServiceAccount"]),
        ("knative", ["ClusterRole", "ClusterRoleBinding", "Service", "ServiceAccount"]),
        (
            "knative-monitoring-token",
            ["AlertmanagerConfig", "ClusterRole", "ClusterRoleBinding", "PodMonitor", "PrometheusRule"]
            + ["Secret", "Secret", "Service", "ServiceAccount"],
        ),
        (
            "deployment-token",
            ["ClusterRole", "ClusterRoleBinding", "Deployment", "Secret", "Service"] + ["ServiceAccount"],
        ),
        (
            "monitoring-rule-only",
            ["ClusterRole", "ClusterRoleBinding", "Deployment", "PrometheusRule"]
            + ["Service", "ServiceAccount"],
        ),
    ],
)
def test_each_toggle_renders_its_objects(case, expected):
    """Each platform and toggle makes exactly its objects."""
    assert kinds(chart.template(*CASES[case])) == sorted(expected)


def test_self_monitoring_toggle_drops_only_that_group():
    """selfMonitoring=false leaves the CPU group and drops the function's own alerts."""
    rule = find(chart.template(*CASES["monitoring-no-self-rules"]), "PrometheusRule")
    assert [g["name"] for g in rule["spec"]["groups"]] == ["cpu-alert-labeler"]


def test_the_namespace_scope_reaches_the_not_notified_alert():
    """CPU alerts of namespaces the function may not label are not expected to reach it:
    CpuAlertLabelerNotNotified leaves them out (the function stamps only namespaces in scope)."""

    def selector(*options: str) -> str:
        rule = find(chart.template(*MONITORING, *options), "PrometheusRule")
        (expr,) = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]
                   if r.get("alert") == "CpuAlertLabelerNotNotified"]  # fmt: skip
        return expr.split("ALERTS{")[1].split("}")[0]

    assert "namespace" not in selector()
    scoped = selector("--set", "namespaces.allow={shop,web}", "--set", "namespaces.deny={kube-system}")
    assert 'namespace=~"shop|web"' in scoped and 'namespace!~"kube-system"' in scoped


def test_promtool_accepts_the_rendered_rules(tmp_path):
    """The rules as values rewrite them (alert names, thresholds, the namespace scope) are valid
    for promtool, templates and all."""
    require(builds.promtool().exists(), str(builds.promtool()))
    rule = find(
        chart.template(
            *MONITORING,
            "--set", "alerts.normal=CpuOk,thresholds.moderate=40.5",
            "--set", "namespaces.allow={shop,web}", "--set", "namespaces.deny={kube-system}",
        ),
        "PrometheusRule",
    )  # fmt: skip
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    result = subprocess.run([str(builds.promtool()), "check", "rules", str(path)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_settings_reach_the_pod():
    """Dry run, the namespace lists, a label key and an extra setting become the pod's env."""
    settings = env(find(chart.template(*CASES["settings"]), "Deployment"))
    assert settings["DRY_RUN"] == "true" and settings["LOG_LEVEL"] == "DEBUG"
    assert settings["NAMESPACE_DENY"] == "kube-system" and settings["NAMESPACE_ALLOW"] == "shop,default"
    assert settings["LABEL_KEY"] == "example.com/cpu"


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory) -> Iterator[Kubectl]:
    """The pinned kubectl against a fresh 1.34 apiserver with Knative's and the operator's CRDs,
    the overlays' restricted namespace and the monitoring namespace in place."""
    with crd_apiserver(
        tmp_path_factory.mktemp("kube-1.34"),
        manifests.knative_crds() + builds.operator_crds(),
        "Knative Serving and Prometheus Operator CRDs (make knative-crds prometheus-operator)",
    ) as run:
        namespace = find(manifests.render("plain"), "Namespace")
        ok(run("apply", "-f", "-", stdin=namespace))
        ok(run("create", "namespace", "monitoring"))
        yield run


@pytest.mark.parametrize("case", sorted(CASES))
def test_server_accepts_every_case_whole(kubectl, case):
    """`kubectl apply --dry-run=server --validate=strict` accepts every object of the case, and
    the pod its workload's controller would make passes the namespace's restricted profile."""
    objects = chart.template(*CASES[case])
    result = kubectl(
        "apply",
        "--dry-run=server",
        "--validate=strict",
        "-f",
        "-",
        stdin={"apiVersion": "v1", "kind": "List", "items": objects},
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    workload = next(o for o in objects if "template" in o.get("spec", {}))
    pod = manifests.controller_pod(workload, "cpu-alert-labeler-0")
    for field in KNATIVE_ONLY:  # Knative's own, kept in the Revision, not the pod
        pod["spec"].pop(field, None)
    result = kubectl("create", "--dry-run=server", "--validate=strict", "-f", "-", stdin=pod)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr


def test_a_weakened_pod_is_refused_there(kubectl):
    """Control: the namespace enforces the profile, so the acceptance above means something."""
    workload = find(chart.template(), "Deployment")
    pod = manifests.controller_pod(workload, "cpu-alert-labeler-weak")
    pod["spec"]["containers"][0]["securityContext"].pop("runAsNonRoot")
    result = kubectl("create", "--dry-run=server", "-f", "-", stdin=pod)
    assert result.returncode != 0 and "restricted" in result.stderr, result.stderr


def leaves(values: dict, prefix: str = "") -> list[str]:
    """The dotted paths of values.yaml's settings (a mapping of settings is descended into;
    `resources`, a free mapping, is one setting)."""
    paths = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key != "resources":
            paths += leaves(value, path + ".")
        else:
            paths.append(path)
    return paths


def test_the_chart_readme_lists_every_value():
    """Each setting of values.yaml has its row in the chart's README table, and no row names a
    setting values.yaml does not have."""
    values = yaml.safe_load((chart.CHART / "values.yaml").read_text())
    readme = (chart.CHART / "README.md").read_text()
    table = readme[readme.index("## Values") :].split("\n## ")[0]
    rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    documented = {name for row in rows for name in re.findall(r"`([\w.]+)`", row)}
    assert set(leaves(values)) == documented


def test_the_readmes_helm_install_renders():
    """The README's `helm install` command, its placeholders filled, is accepted by the chart."""
    readme = (chart.ROOT / "README.md").read_text()
    start = readme.index("helm install cpu-alert-labeler charts/cpu-alert-labeler")
    words = shlex.split(readme[start : readme.index("```", start)].replace("\\\n", " "))
    words = [w.replace("REGISTRY", "registry.example").replace("$TOKEN", "0123456789abcdef") for w in words]
    assert words[:3] == ["helm", "install", "cpu-alert-labeler"] and words[4:6] == ["-n", "cpu-alert-labeler"]
    objects = chart.template(*words[6:])
    (container,) = find(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example/cpu-alert-labeler:0.1.0"
    assert find(objects, "Secret")["metadata"]["name"] == "cpu-alert-labeler-token"
