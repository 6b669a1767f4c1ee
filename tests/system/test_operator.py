"""We test these aspects: the shipped monitoring/ resources as the Prometheus Operator reads them
under kube-prometheus-stack, the way most users run Prometheus on Kubernetes. The pinned
operator (v0.85.0) runs out of cluster on a 1.34 apiserver holding the chart's Prometheus and
Alertmanager resources (chart 77.0.0's defaults, merged with the values the README asks for,
monitoring/kube-prometheus-stack-values.yaml: testbed/chain/operator.py); the function,
its token Secret and monitoring/'s resources are applied as the README says; the tests read
the configurations the operator generates.

- the README's steps are the ones these tests take (the values file, then the three resources);
- the route generated from monitoring/alertmanagerconfig.yaml sends the three CPU alerts of a
  pod in any namespace (a user's, the function's, Alertmanager's own) to the function's
  receiver, and the chart's own alerts (Watchdog, InfoInhibitor) still to `null`
  (`amtool config routes test` on the generated configuration);
- the PrometheusRule is selected (its `release` label): its groups reach Prometheus' rule
  files unchanged, while a copy without the label does not (control), and Prometheus loads
  them;
- without the values the README asks for, the same route takes Alertmanager's namespace only
  (control: what the values file is for);
- the PodMonitor selects the function's pods on the plain Deployment and on Knative (the pods
  those controllers make of the rendered overlays, testbed.platforms.manifests.controller_pod), one
  target per pod, on the container port that serves /metrics (8080), never the queue-proxy's:
  Prometheus 2.53, run on the generated configuration, lists them as its targets.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from testbed.chain import builds, in_node
from testbed.chain.kube_prometheus_stack import NAMESPACE, USER_VALUES, user_values
from testbed.chain.operator import Stack, operator_stack
from testbed.net import free_port
from testbed.paths import ROOT
from testbed.platforms import manifests
from testbed.process import Process
from testbed.tools import require, require_tool

MONITORING = ROOT / "monitoring"
OURS = f"{NAMESPACE}/cpu-alert-labeler/cpu-alert-labeler"  # the operator's name for the receiver
FUNCTION_NS = "cpu-alert-labeler"
JOB_PREFIX = f"podMonitor/{FUNCTION_NS}/cpu-alert-labeler/"
# Pod addresses for discovery only: nothing listens, a target's health does not matter here.
PODS = {
    "plain": ("cpu-alert-labeler-5d9c7-abcde", "127.0.0.11"),
    "knative": ("cpu-alert-labeler-00001-deployment-6b8f-fghij", "127.0.0.12"),
}
# What the README's kube-prometheus-stack steps have the user apply, in its order.
APPLIED = ("prometheusrule.yaml", "podmonitor.yaml", "alertmanagerconfig.yaml")
TARGETS_TIMEOUT = 60.0  # discovery and the first target list take a few seconds


def apply_token_secret(stack: Stack) -> None:
    """The webhook token's Secret in Alertmanager's namespace, as the README has users create it."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "cpu-alert-labeler", "namespace": NAMESPACE},
        "stringData": {"token": secrets.token_hex(16)},
    }
    stack.apply("-f", "-", stdin=secret)


def unlabeled_rule() -> dict:
    """The shipped PrometheusRule under another name and without its `release` label."""
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    rule["metadata"]["name"] = "cpu-alert-labeler-unlabeled"
    rule["metadata"]["labels"].pop("release")
    return rule


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    """The stack, with the function and monitoring/ applied in the README's order."""
    with operator_stack(tmp_path_factory.mktemp("operator"), user_values()) as stack:
        stack.apply("-k", str(ROOT / "deploy" / "plain"))
        apply_token_secret(stack)
        stack.apply("-f", "-", stdin=unlabeled_rule())  # first: seen by the time ours is
        for name in APPLIED:
            stack.apply("-f", str(MONITORING / name))
        stack.wait(
            "the function's receiver in the generated Alertmanager configuration",
            stack.alertmanager_config,
            lambda c: OURS in json.dumps(c),
        )
        stack.wait(
            "the PodMonitor's jobs in the generated Prometheus configuration",
            stack.prometheus_config,
            lambda c: JOB_PREFIX in json.dumps(c),
        )
        stack.wait(
            "the PrometheusRule in Prometheus' rule files",
            stack.rule_files,
            lambda files: any("cpu-alert-labeler-unlabeled" not in n and FUNCTION_NS in n for n in files),
        )
        yield stack


@pytest.fixture(scope="module")
def generated_alertmanager(stack, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("alertmanager") / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(stack.alertmanager_config()))
    return path


def routes(amtool: str, config: Path, labels: dict[str, str]) -> str:
    """The receivers `amtool config routes test` picks for an alert with these labels."""
    result = subprocess.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            *(f"{k}={v}" for k, v in labels.items()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_readmes_steps_are_the_ones_tested():
    """README's "Under kube-prometheus-stack" passes the values file tested here and applies the
    resources tested here, in the same order."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Under kube-prometheus-stack") :].split("\n## ")[0]
    assert f"-f {USER_VALUES.relative_to(ROOT)}" in section
    (line,) = [ln for ln in section.splitlines() if "kubectl apply -f monitoring/" in ln]
    assert re.findall(r"-f monitoring/([\w.-]+\.ya?ml)", line) == list(APPLIED), line


def test_amtool_accepts_the_generated_configuration(generated_alertmanager):
    """The configuration the operator generated is valid for amtool."""
    amtool = require_tool("amtool")
    result = subprocess.run(
        [amtool, "check-config", str(generated_alertmanager)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("namespace", ["shop", FUNCTION_NS, NAMESPACE])
@pytest.mark.parametrize(
    "alertname,severity",
    [("PodCpuNormal", "none"), ("PodHighCpuUsage", "warning"), ("PodCpuFailure", "critical")],
)
def test_cpu_alerts_of_any_namespace_reach_the_function(
    generated_alertmanager, namespace, alertname, severity
):
    """Each CPU alert of a pod in any namespace goes to the function's receiver."""
    amtool = require_tool("amtool")
    labels = {"alertname": alertname, "severity": severity, "namespace": namespace, "pod": "api"}
    got = routes(amtool, generated_alertmanager, labels)
    route = yaml.safe_load(generated_alertmanager.read_text())["route"]["routes"][0]
    assert got == OURS, f"{labels} went to {got!r}; the generated route is {route}"


@pytest.mark.parametrize("alertname", ["Watchdog", "InfoInhibitor"])
def test_the_charts_own_alerts_keep_their_receiver(generated_alertmanager, alertname):
    """The chart's own alerts still go to its `null` receiver, not to the function."""
    amtool = require_tool("amtool")
    assert (
        routes(
            amtool, generated_alertmanager, {"alertname": alertname, "severity": "none", "namespace": "shop"}
        )
        == "null"
    )


def test_the_prometheusrule_is_selected_and_a_copy_without_the_release_label_is_not(stack):
    """The operator gives Prometheus the shipped groups unchanged, and not the unlabeled copy."""
    files = stack.rule_files()
    shipped = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())["spec"]["groups"]
    ours = [doc for name, doc in files.items() if "unlabeled" not in name and FUNCTION_NS in name]
    assert [doc["groups"] for doc in ours] == [shipped], sorted(files)
    assert not [name for name in files if "unlabeled" in name], sorted(files)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


@pytest.fixture(scope="module")
def prometheus(stack, tmp_path_factory) -> Iterator[str]:
    """Prometheus 2.53 on the generated configuration, with the function's pods as the
    Deployment and Knative would make them (Running, at a loopback address); its URL."""
    exe = builds.prometheus()
    require(exe.exists(), f"{exe} (make prometheus)")
    home = tmp_path_factory.mktemp("prometheus")
    config = stack.loopback_prometheus(home)
    for overlay, (name, address) in PODS.items():
        objects = manifests.render(overlay)
        (workload,) = [
            o
            for o in objects
            if o["kind"] in ("Deployment", "Service")
            and o["apiVersion"] != "v1"
            and o["metadata"]["name"] == "cpu-alert-labeler"
        ]
        pod = manifests.controller_pod(workload, name)
        stack.server.expect(201, "POST", f"/api/v1/namespaces/{FUNCTION_NS}/pods", pod)
        code, doc = stack.server.request(
            "PATCH",
            f"/api/v1/namespaces/{FUNCTION_NS}/pods/{name}/status",
            {"status": {"phase": "Running", "podIP": address, "podIPs": [{"ip": address}]}},
            content_type="application/merge-patch+json",
        )
        assert code == 200, doc
    url = f"http://127.0.0.1:{free_port()}"
    process = Process(
        "prometheus",
        [
            str(exe),
            f"--config.file={config}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address={url.removeprefix('http://')}",
        ],
        home,
    )
    try:
        process.wait_ready(url + "/-/ready", timeout=60)
        yield url
    finally:
        process.stop()


def function_targets(url: str) -> dict[str, list[dict]]:
    """Pod name -> the PodMonitor's active targets for it."""
    doc = get_json(url + "/api/v1/targets?state=active")
    found: dict[str, list[dict]] = {}
    for target in doc["data"]["activeTargets"]:
        if target["scrapePool"].startswith(JOB_PREFIX):
            found.setdefault(target["labels"].get("pod", ""), []).append(target)
    return found


@pytest.mark.parametrize("overlay", sorted(PODS))
def test_the_podmonitor_scrapes_the_functions_pod(prometheus, stack, overlay):
    """Prometheus, on what the operator generated, scrapes the function's pod of this overlay
    once, on its port 8080 at /metrics, labelled with the function's namespace and pod."""
    name, address = PODS[overlay]
    deadline = time.monotonic() + TARGETS_TIMEOUT
    while not (found := function_targets(prometheus)).get(name) and time.monotonic() < deadline:
        time.sleep(0.5)
    jobs = [
        j["relabel_configs"]
        for j in stack.prometheus_config()["scrape_configs"]
        if j["job_name"].startswith(JOB_PREFIX)
    ]
    pod = stack.server.request("GET", f"/api/v1/namespaces/{FUNCTION_NS}/pods/{name}")[1]["metadata"]
    assert found.get(name), (
        f"no target for the {overlay} pod (labels {pod['labels']}); "
        f"targets: {sorted(found)}; the PodMonitor's relabelling: {jobs}"
    )
    (target,) = found[name]
    assert target["scrapeUrl"] == f"http://{address}:8080/metrics"
    assert (target["labels"]["namespace"], target["labels"]["job"]) == (
        FUNCTION_NS,
        "cpu-alert-labeler/cpu-alert-labeler",
    )


def test_prometheus_loads_the_selected_rules(prometheus):
    """Prometheus, on the operator's rule files, evaluates the shipped alerts: the levels and
    the alerts on the function itself."""
    shipped = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())["spec"]["groups"]
    wanted = {rule.get("alert") or rule["record"] for group in shipped for rule in group["rules"]}
    deadline = time.monotonic() + TARGETS_TIMEOUT
    while True:
        groups = get_json(prometheus + "/api/v1/rules")["data"]["groups"]
        names = {rule["name"] for group in groups for rule in group["rules"]}
        if wanted <= names or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert wanted <= names, names


def test_without_the_readmes_values_the_route_takes_one_namespace(tmp_path):
    """Control: on the chart's defaults alone (no kube-prometheus-stack-values.yaml), the
    operator confines the route to Alertmanager's namespace: `shop`'s alerts go to `null`,
    which CpuAlertLabelerNotNotified is there to report."""
    amtool = require_tool("amtool")
    with operator_stack(tmp_path, {}) as stack:
        apply_token_secret(stack)
        stack.apply("-f", str(MONITORING / "alertmanagerconfig.yaml"))
        config = stack.wait(
            "the function's receiver in the generated Alertmanager configuration",
            stack.alertmanager_config,
            lambda c: OURS in json.dumps(c),
        )
    path = tmp_path / "generated.yaml"
    path.write_text(yaml.safe_dump(config))
    labels = {"alertname": "PodCpuFailure", "severity": "critical", "pod": "api"}
    assert routes(amtool, path, {**labels, "namespace": NAMESPACE}) == OURS
    assert routes(amtool, path, {**labels, "namespace": "shop"}) == "null"


def test_the_nodes_monitoring_objects_pass_strict_validation(stack):
    """What the node tier installs for its monitoring side (testbed.chain.in_node: the chart's
    objects for the operator, kube-state-metrics, Prometheus and Alertmanager, then the shipped
    resources at the node's pace) is accepted by a 1.34 apiserver holding the operator's CRDs,
    under strict field validation: no field the API does not know."""
    objects = [
        *in_node.stack_objects(),
        in_node.prometheus_rule(),
        in_node.pod_monitor(),
        in_node.alertmanager_config(
            in_node.Webhook("http://cpu-alert-labeler.cpu-alert-labeler.svc.cluster.local/", "t")
        ),
    ]
    kinds = {o["kind"] for o in objects}
    assert {
        "Deployment",
        "Prometheus",
        "Alertmanager",
        "ServiceMonitor",
        "PrometheusRule",
        "PodMonitor",
    } <= kinds
    result = stack.kubectl(
        "apply", "--server-side", "--dry-run=server", "--validate=strict", "-f", "-",
        stdin={"apiVersion": "v1", "kind": "List", "items": objects},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
