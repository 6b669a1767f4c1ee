"""We test these aspects: the monitoring files users apply (monitoring/).

- the Prometheus rule file is valid for promtool, and its unit tests
  (monitoring/rules_test.yml) pass: each alert fires at its CPU level only,
  with the right `cpu_usage`, and one level hands over to the next without a
  gap;
- both Alertmanager configurations are valid for amtool, and differ only in
  the function's URL;
- the PrometheusRule carries exactly the rules of the plain rule file;
- the rules and the Alertmanager route agree with the function's defaults:
  alert names, thresholds, the CPU annotation, the pod and namespace labels;
- each alert keeps firing exactly as long as the next level waits (`for:`).
"""

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from function.config import Settings
from testbed.paths import ROOT
from testbed.tools import require_tool

MONITORING = ROOT / "monitoring"
RULES = MONITORING / "prometheus-rules.yml"
RULES_TEST = MONITORING / "rules_test.yml"
OPERATOR_RULE = MONITORING / "prometheusrule.yaml"
RECORD = "namespace_pod:cpu_usage_percent_of_limit:rate5m"
WEBHOOK_URLS = {
    "alertmanager.yml": "http://cpu-alert-labeler.cpu-alert-labeler.svc.cluster.local/",
    "alertmanager-openfaas.yml": "http://gateway.openfaas.svc.cluster.local:8080/function/cpu-alert-labeler",
}
COMPARISON = re.compile(r"(<=|>=|==|!=|<|>)\s*(\d+(?:\.\d+)?)")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def output(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def load(path: Path):
    return yaml.safe_load(path.read_text())


def rules() -> list[dict]:
    return [rule for group in load(RULES)["groups"] for rule in group["rules"]]


def alerts() -> dict[str, dict]:
    return {rule["alert"]: rule for rule in rules() if "alert" in rule}


def labeler_route(config: dict) -> dict:
    (route,) = [r for r in config["route"]["routes"] if r["receiver"] == "cpu-alert-labeler"]
    return route


def test_promtool_accepts_the_rule_file():
    """promtool finds the rule file valid (syntax, PromQL, templates)."""
    promtool = require_tool("promtool")
    result = run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, output(result)


def test_rule_unit_tests_pass():
    """The promtool unit tests pass: levels, boundaries, annotations, handovers."""
    promtool = require_tool("promtool")
    result = run(promtool, "test", "rules", str(RULES_TEST))
    assert result.returncode == 0, output(result)


@pytest.mark.parametrize("name", sorted(WEBHOOK_URLS))
def test_amtool_accepts_the_alertmanager_config(name):
    """amtool finds the Alertmanager configuration valid."""
    amtool = require_tool("amtool")
    # Checked in place: amtool 0.25 does not open credentials_file (Alertmanager
    # reads it at each notification), so its absence here is no error.
    result = run(amtool, "check-config", str(MONITORING / name))
    assert result.returncode == 0, output(result)


def test_alertmanager_configs_differ_only_in_the_url():
    """The Knative and OpenFaaS configurations are the same but for the webhook URL."""
    configs = {}
    for name, url in WEBHOOK_URLS.items():
        config = load(MONITORING / name)
        (receiver,) = [r for r in config["receivers"] if r["name"] == "cpu-alert-labeler"]
        (webhook,) = receiver["webhook_configs"]
        assert webhook.pop("url") == url
        configs[name] = config
    knative, openfaas = configs.values()
    assert knative == openfaas


def test_prometheusrule_has_the_plain_files_groups():
    """The PrometheusRule's spec.groups equal the plain rule file's groups."""
    operator = load(OPERATOR_RULE)
    assert operator["apiVersion"] == "monitoring.coreos.com/v1"
    assert operator["kind"] == "PrometheusRule"
    assert operator["spec"]["groups"] == load(RULES)["groups"]


def test_alert_names_are_the_functions_alert_levels():
    """The rules define exactly the alerts the function classifies by name."""
    assert set(alerts()) == {name for name, _ in Settings().alert_levels}


def test_thresholds_are_the_functions_defaults():
    """Each alert compares the recorded percentage with the function's thresholds."""
    settings = Settings()
    moderate, critical = settings.moderate_threshold, settings.critical_threshold
    expected = {
        "normal": [("<", moderate)],
        "moderate": [(">=", moderate), ("<", critical)],
        "critical": [(">=", critical)],
    }
    found = {}
    for name, level in settings.alert_levels:
        expr = alerts()[name]["expr"]
        assert RECORD in expr, f"{name}: {expr}"
        found[level] = [(op, float(number)) for op, number in COMPARISON.findall(expr)]
    assert found == expected


def test_alerts_carry_what_the_function_reads():
    """Alerts carry the pod and namespace labels and the CPU annotation the function reads."""
    settings = Settings()
    (record,) = [rule for rule in rules() if rule.get("record") == RECORD]
    groupings = re.findall(r"by \(([^)]*)\)", record["expr"])
    assert groupings and all(
        {label.strip() for label in g.split(",")} == {settings.namespace_label, settings.pod_label}
        for g in groupings
    ), record["expr"]
    for name, alert in alerts().items():
        assert alert["annotations"][settings.cpu_annotation] == '{{ printf "%.1f" $value }}', name
        assert alert["labels"]["severity"], name


def test_each_alert_keeps_firing_as_long_as_the_next_waits():
    """keep_firing_for equals for: so the old level resolves when the new one fires."""
    durations = {(alert["for"], alert["keep_firing_for"]) for alert in alerts().values()}
    assert len(durations) == 1, durations
    ((wait, keep),) = durations
    assert wait == keep


@pytest.mark.parametrize("name", sorted(WEBHOOK_URLS))
def test_alertmanager_sends_each_pods_alerts_with_resolutions(name):
    """The route takes exactly the function's alerts, one group per pod, resolved ones included."""
    config = load(MONITORING / name)
    route = labeler_route(config)
    (matcher,) = route["matchers"]
    match = re.fullmatch(r'alertname\s*=~\s*"([^"]*)"', matcher)
    assert match, matcher
    assert set(match.group(1).split("|")) == {n for n, _ in Settings().alert_levels}
    assert route["group_by"] == ["namespace", "pod"]
    (receiver,) = [r for r in config["receivers"] if r["name"] == "cpu-alert-labeler"]
    (webhook,) = receiver["webhook_configs"]
    assert webhook["send_resolved"] is True
    assert webhook["http_config"]["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/etc/alertmanager/secrets/cpu-alert-labeler/token",
    }
