"""We test these aspects: the monitoring files users apply (monitoring/).

- the Prometheus rule file is valid for promtool, and its unit tests
  (monitoring/rules_test.yml) pass: PodCpuNormal fires under 33%, the warning
  from 33% and the critical alert from 66% (both above 66%: cumulative), with
  the right `cpu_usage`, and at every evaluation of a handover an alert at or
  above the level being left fires until the new level's alert fires;
- both Alertmanager configurations are valid for amtool, and differ only in
  the function's URL;
- the PrometheusRule carries exactly the rules of the plain rule file;
- the function's own alerts (group cpu-alert-labeler-self) pass their promtool unit tests
  (monitoring/self_rules_test.yml), are warnings its own route never takes, and the alert on
  notifications that stop arriving looks back further than the routes re-send;
- the rules and the Alertmanager route agree with the function's defaults:
  alert names, thresholds, the CPU annotation, the pod and namespace labels;
- each alert keeps firing exactly as long as the next level waits (`for:`);
- no alert has a severity that kube-prometheus-stack's default inhibit rules mute
  (`info`), each uses one its routes expect, and an optional `cluster` label is
  carried through every aggregation and the route's grouping;
- merged into kube-prometheus-stack's default configuration, the shipped route
  takes our three alerts (amtool check-config and `amtool config routes test`),
  and leaves Watchdog and InfoInhibitor to the chart's `null` receiver;
- the AlertmanagerConfig variant carries the same route and receiver, and, as
  the operator generates it, reaches pods of every namespace only without the
  injected `namespace` matcher (the strategy its comment asks for);
- the PodMonitor scrapes the function's /metrics on its container port, by the name the pod
  spec gives it and by the one Knative does.
"""

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from function.config import Settings
from testbed.chain import configs
from testbed.chain.kube_prometheus_stack import helm_merge
from testbed.paths import ROOT
from testbed.tools import require_tool

MONITORING = ROOT / "monitoring"
RULES = MONITORING / "prometheus-rules.yml"
RULES_TEST = MONITORING / "rules_test.yml"
SELF_RULES_TEST = MONITORING / "self_rules_test.yml"
OPERATOR_RULE = MONITORING / "prometheusrule.yaml"
ALERTMANAGER_CONFIG = MONITORING / "alertmanagerconfig.yaml"
POD_MONITOR = MONITORING / "podmonitor.yaml"
# Severities kube-prometheus-stack's routes and rules use; `info` is muted by InfoInhibitor.
SEVERITIES = {"critical", "warning", "none"}
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
    """The labeling group's rules (the recording rule and the three levels)."""
    (group,) = [g for g in load(RULES)["groups"] if g["name"] == "cpu-alert-labeler"]
    return group["rules"]


def self_alerts() -> dict[str, dict]:
    """The alerts on the function itself (group cpu-alert-labeler-self)."""
    (group,) = [g for g in load(RULES)["groups"] if g["name"] == "cpu-alert-labeler-self"]
    return {rule["alert"]: rule for rule in group["rules"]}


def alerts() -> dict[str, dict]:
    return {rule["alert"]: rule for rule in rules() if "alert" in rule}


def labeler_route(config: dict) -> dict:
    (route,) = [r for r in config["route"]["routes"] if r["receiver"] == "cpu-alert-labeler"]
    return route


def test_rules_run_in_the_order_the_handovers_rely_on():
    """The percentage is recorded first, and PodCpuNormal is evaluated before the upper alerts,
    so it already fires when they resolve on the way down (the rules file says why)."""
    names = [rule.get("record") or rule["alert"] for rule in rules()]
    assert names == [
        "namespace_pod:cpu_usage_percent_of_limit:rate5m",
        "PodCpuNormal",
        "PodHighCpuUsage",
        "PodCpuFailure",
    ]


def test_promtool_accepts_the_rule_file():
    """promtool finds the rule file valid (syntax, PromQL, templates)."""
    promtool = require_tool("promtool")
    result = run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, output(result)


@pytest.mark.parametrize("tests", [RULES_TEST, SELF_RULES_TEST], ids=lambda p: p.name)
def test_rule_unit_tests_pass(tests):
    """The promtool unit tests pass: levels, boundaries, annotations, handovers; and the
    alerts on the function itself (self_rules_test.yml)."""
    promtool = require_tool("promtool")
    result = run(promtool, "test", "rules", str(tests))
    assert result.returncode == 0, output(result)


def seconds(duration: str) -> int:
    """A Prometheus duration of one unit ("90m", "2h") in seconds."""
    number, unit = re.fullmatch(r"(\d+)([smhd])", duration).groups()  # type: ignore[union-attr]
    return int(number) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def test_the_not_notified_alert_waits_longer_than_the_routes_repeat_interval():
    """CpuAlertLabelerNotNotified looks back further than the shipped routes re-send a
    namespace's group (repeat_interval plus group_interval), each clause against its route:
    the alerts above normal against the namespace route (hourly), PodCpuNormal against its
    child route (daily), so a working route never trips it."""
    expr = self_alerts()["CpuAlertLabelerNotNotified"]["expr"]
    clauses = re.findall(r'ALERTS\{alertname=~?"([^"]+)".*?\[(\d+[smhd])\]\)+ < (\d+)\b', expr, re.S)
    waits = {}
    for names, window, age in clauses:
        assert seconds(window) == int(age), (window, age)
        for name in names.split("|"):
            waits[name] = int(age)
    assert set(waits) == {n for n, _ in Settings().alert_levels}, waits
    resource = load(ALERTMANAGER_CONFIG)["spec"]["route"]
    resends = []  # (alert names, repeat_interval, group_interval) of each route that takes them
    for name in WEBHOOK_URLS:
        route = labeler_route(load(MONITORING / name))
        (child,) = route["routes"]
        resends.append(
            ({"PodCpuNormal"}, child["repeat_interval"], child.get("group_interval", route["group_interval"]))
        )
        resends.append(
            ({"PodHighCpuUsage", "PodCpuFailure"}, route["repeat_interval"], route["group_interval"])
        )
    (child,) = resource["routes"]
    resends.append(
        ({"PodCpuNormal"}, child["repeatInterval"], child.get("groupInterval", resource["groupInterval"]))
    )
    resends.append(
        ({"PodHighCpuUsage", "PodCpuFailure"}, resource["repeatInterval"], resource["groupInterval"])
    )
    for names, repeat, group in resends:
        for name in names:
            assert seconds(repeat) + seconds(group) < waits[name], (name, repeat, group, waits[name])


def test_the_self_alerts_never_reach_the_functions_route():
    """The function's own alerts are warnings for people: its route does not take them."""
    (matcher,) = labeler_route(load(MONITORING / "alertmanager.yml"))["matchers"]
    pattern = re.fullmatch(r'alertname\s*=~\s*"([^"]*)"', matcher).group(1)  # type: ignore[union-attr]
    for name, alert in self_alerts().items():
        assert not re.fullmatch(pattern, name)
        assert alert["labels"]["severity"] == "warning"


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
    """Each alert compares the recorded percentage with the function's thresholds; the two
    upper alerts have no upper bound (cumulative), so a handover between them never leaves
    the pod with nothing firing, whichever of Prometheus's per-rule posts arrives first."""
    settings = Settings()
    moderate, critical = settings.moderate_threshold, settings.critical_threshold
    expected = {
        "normal": [("<", moderate)],
        "moderate": [(">=", moderate)],
        "critical": [(">=", critical)],
    }
    found = {}
    for name, level in settings.alert_levels:
        expr = alerts()[name]["expr"]
        assert RECORD in expr, f"{name}: {expr}"
        found[level] = [(op, float(number)) for op, number in COMPARISON.findall(expr)]
    assert found == expected


def groupings(expr: str, operator: str) -> list[set[str]]:
    """The label sets of every `OPERATOR by (...)` (and `on (...)`) in a PromQL expression."""
    return [{label.strip() for label in g.split(",")} for g in re.findall(rf"{operator} \(([^)]*)\)", expr)]


def test_alerts_carry_what_the_function_reads():
    """Alerts carry the pod and namespace labels (and the cluster, if any) and the CPU annotation."""
    settings = Settings()
    (record,) = [rule for rule in rules() if rule.get("record") == RECORD]
    pod = {"cluster", settings.namespace_label, settings.pod_label}
    assert groupings(record["expr"], "sum by") == [pod, pod], record["expr"]
    # Limits are de-duplicated per container, and the usage joined per container.
    assert groupings(record["expr"], "max by") == [pod | {"container"}] * 2, record["expr"]
    assert groupings(record["expr"], "on") == [pod | {"container"}], record["expr"]
    for name, alert in alerts().items():
        assert alert["annotations"][settings.cpu_annotation] == '{{ printf "%.1f" $value }}', name


def test_no_alert_has_a_severity_the_default_inhibit_rules_mute():
    """Each alert's severity is one routes expect and never `info`; PodCpuNormal, firing for
    every pod, is `none`; the levels' severities rise with the level."""
    by_level = {level: alerts()[name]["labels"]["severity"] for name, level in Settings().alert_levels}
    assert set(by_level.values()) <= SEVERITIES, by_level
    assert by_level == {"normal": "none", "moderate": "warning", "critical": "critical"}


def test_usage_comes_from_cadvisor_only():
    """The usage selector names kube-prometheus' kubelet job and cAdvisor path, and containers with an image."""
    (record,) = [rule for rule in rules() if rule.get("record") == RECORD]
    (selector,) = re.findall(r"container_cpu_usage_seconds_total\{([^}]*)\}", record["expr"])
    matchers = {m.strip() for m in selector.split(",")}
    assert {'job="kubelet"', 'metrics_path="/metrics/cadvisor"', 'image!=""', 'container!=""'} <= matchers


def test_each_alert_keeps_firing_as_long_as_the_next_waits():
    """keep_firing_for equals for: a level is left as slowly as it is entered, and the upper
    alerts still firing resolve in the evaluation in which PodCpuNormal fires."""
    durations = {(alert["for"], alert["keep_firing_for"]) for alert in alerts().values()}
    assert len(durations) == 1, durations
    ((wait, keep),) = durations
    assert wait == keep


@pytest.mark.parametrize("name", sorted(WEBHOOK_URLS))
def test_alertmanager_sends_each_pods_alerts_with_resolutions(name):
    """The route takes exactly the function's alerts, one group per namespace (a storm is a
    notification per namespace), resolved ones included; PodCpuNormal has its own child route,
    re-sent once a day (a steady cluster is quiet), the upper levels every hour."""
    config = load(MONITORING / name)
    route = labeler_route(config)
    (matcher,) = route["matchers"]
    match = re.fullmatch(r'alertname\s*=~\s*"([^"]*)"', matcher)
    assert match, matcher
    assert set(match.group(1).split("|")) == {n for n, _ in Settings().alert_levels}
    assert route["group_by"] == ["cluster", "namespace"]
    (normal,) = route["routes"]
    assert normal["matchers"] == ['alertname = "PodCpuNormal"']
    assert "group_by" not in normal  # inherited: a namespace per group
    assert (route["repeat_interval"], normal["repeat_interval"]) == ("1h", "24h")
    (receiver,) = [r for r in config["receivers"] if r["name"] == "cpu-alert-labeler"]
    (webhook,) = receiver["webhook_configs"]
    assert webhook["send_resolved"] is True
    assert webhook["http_config"]["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/etc/alertmanager/secrets/cpu-alert-labeler/token",
    }


def amtool_route(amtool: str, config: Path, labels: dict[str, str]) -> str:
    """The receiver(s) `amtool config routes test` picks for an alert with these labels."""
    result = run(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={config}",
        *(f"{k}={v}" for k, v in labels.items()),
    )
    assert result.returncode == 0, output(result)
    return result.stdout.strip()


@pytest.fixture
def kube_prometheus_stack(tmp_path) -> Path:
    """kube-prometheus-stack's default Alertmanager configuration with the shipped route merged in."""
    path = tmp_path / "alertmanager.yml"
    path.write_text(
        configs.kube_prometheus_stack_alertmanager(
            url=WEBHOOK_URLS["alertmanager.yml"], token_file=tmp_path / "token"
        )
    )
    return path


def test_the_route_merged_into_kube_prometheus_stacks_defaults_is_valid(kube_prometheus_stack):
    """amtool accepts the chart's defaults with our route and receiver merged in, inhibit rules kept."""
    amtool = require_tool("amtool")
    result = run(amtool, "check-config", str(kube_prometheus_stack))
    assert result.returncode == 0, output(result)
    assert "4 inhibit rules" in result.stdout, output(result)


@pytest.mark.parametrize(
    "alertname,severity",
    [("PodCpuNormal", "none"), ("PodHighCpuUsage", "warning"), ("PodCpuFailure", "critical")],
)
def test_kube_prometheus_stacks_routes_send_our_alerts_to_the_function(
    kube_prometheus_stack, alertname, severity
):
    """Under the chart's routes each of our alerts goes to the function's receiver only."""
    amtool = require_tool("amtool")
    labels = {
        "alertname": alertname,
        "severity": severity,
        "namespace": "shop",
        "pod": "api",
        "cluster": "eu",
    }
    assert amtool_route(amtool, kube_prometheus_stack, labels) == configs.RECEIVER


@pytest.mark.parametrize("alertname", ["Watchdog", "InfoInhibitor", "KubePodCrashLooping"])
def test_kube_prometheus_stacks_own_alerts_keep_their_routes(kube_prometheus_stack, alertname):
    """The chart's own alerts still go where its defaults send them (`null`), not to the function."""
    amtool = require_tool("amtool")
    labels = {"alertname": alertname, "severity": "none", "namespace": "shop", "pod": "api"}
    assert amtool_route(amtool, kube_prometheus_stack, labels) == "null"


def test_the_alertmanagerconfig_carries_the_shipped_route_and_receiver():
    """The AlertmanagerConfig's route and webhook say what alertmanager.yml says, in the operator's fields."""
    resource = load(ALERTMANAGER_CONFIG)
    assert (resource["apiVersion"], resource["kind"]) == (
        "monitoring.coreos.com/v1alpha1",
        "AlertmanagerConfig",
    )
    shipped = load(MONITORING / "alertmanager.yml")
    route, spec_route = labeler_route(shipped), resource["spec"]["route"]
    (matcher,) = spec_route["matchers"]
    assert f'{matcher["name"]} {matcher["matchType"]} "{matcher["value"]}"' == route["matchers"][0]
    assert spec_route["receiver"] == route["receiver"] == configs.RECEIVER
    assert (
        spec_route["groupBy"],
        spec_route["groupWait"],
        spec_route["groupInterval"],
        spec_route["repeatInterval"],
    ) == (route["group_by"], route["group_wait"], route["group_interval"], route["repeat_interval"])
    ((child, shipped_child),) = zip(spec_route["routes"], route["routes"])
    (child_matcher,) = child["matchers"]
    assert [
        f'{child_matcher["name"]} {child_matcher["matchType"]} "{child_matcher["value"]}"'
    ] == shipped_child["matchers"]
    assert (child["groupWait"], child["groupInterval"], child["repeatInterval"]) == (
        shipped_child["group_wait"],
        shipped_child["group_interval"],
        shipped_child["repeat_interval"],
    )
    (receiver,) = resource["spec"]["receivers"]
    (webhook,) = receiver["webhookConfigs"]
    (shipped_webhook,) = [r for r in shipped["receivers"] if r["name"] == configs.RECEIVER][0][
        "webhook_configs"
    ]
    assert (webhook["url"], webhook["sendResolved"], webhook["maxAlerts"]) == (
        shipped_webhook["url"],
        shipped_webhook["send_resolved"],
        shipped_webhook["max_alerts"],
    )
    assert webhook["httpConfig"]["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": "cpu-alert-labeler", "key": "token"},
    }


def operator_generated(resource: dict, *, namespace_matcher: bool, token_file: Path) -> dict:
    """kube-prometheus-stack's defaults plus the AlertmanagerConfig as the prometheus-operator renders
    it: receiver named `<namespace>/<name>/<receiver>`, the route first with `continue: true`, and
    with the OnNamespace strategy a `namespace="<its namespace>"` matcher added."""
    meta, spec = resource["metadata"], resource["spec"]
    prefix = f"{meta['namespace']}/{meta['name']}/"
    matchers = [f'{m["name"]}{m["matchType"]}"{m["value"]}"' for m in spec["route"]["matchers"]]
    if namespace_matcher:
        matchers.append(f'namespace="{meta["namespace"]}"')
    (receiver,) = spec["receivers"]
    (webhook,) = receiver["webhookConfigs"]
    config = yaml.safe_load(configs.KUBE_PROMETHEUS_STACK.read_text())
    config["route"]["routes"].insert(
        0,
        {
            "receiver": prefix + spec["route"]["receiver"],
            "matchers": matchers,
            "continue": True,
            "group_by": spec["route"]["groupBy"],
            "group_wait": spec["route"]["groupWait"],
            "group_interval": spec["route"]["groupInterval"],
            "repeat_interval": spec["route"]["repeatInterval"],
            "routes": [
                {
                    "matchers": [f'{m["name"]}{m["matchType"]}"{m["value"]}"' for m in child["matchers"]],
                    "group_wait": child["groupWait"],
                    "group_interval": child["groupInterval"],
                    "repeat_interval": child["repeatInterval"],
                }
                for child in spec["route"].get("routes", [])
            ],
        },
    )
    config["receivers"].append(
        {
            "name": prefix + receiver["name"],
            "webhook_configs": [
                {
                    "url": webhook["url"],
                    "send_resolved": webhook["sendResolved"],
                    "max_alerts": webhook["maxAlerts"],
                    "http_config": {"authorization": {"type": "Bearer", "credentials_file": str(token_file)}},
                }
            ],
        }
    )
    return config


@pytest.mark.parametrize(
    "strategy,reaches", [("OnNamespace", False), ("OnNamespaceExceptForAlertmanagerNamespace", True)]
)
def test_the_alertmanagerconfig_reaches_other_namespaces_only_without_the_namespace_matcher(
    tmp_path, strategy, reaches
):
    """As generated under OnNamespace, the route takes only alerts of its own namespace (`monitoring`),
    so a pod in `shop` is never labeled; in the Alertmanager's namespace under
    OnNamespaceExceptForAlertmanagerNamespace (or None) it takes every namespace's alerts."""
    amtool = require_tool("amtool")
    resource = load(ALERTMANAGER_CONFIG)
    config = tmp_path / "generated.yml"
    config.write_text(
        yaml.safe_dump(
            operator_generated(
                resource, namespace_matcher=strategy == "OnNamespace", token_file=tmp_path / "token"
            )
        )
    )
    result = run(amtool, "check-config", str(config))
    assert result.returncode == 0, output(result)
    ours = "monitoring/cpu-alert-labeler/cpu-alert-labeler"
    labels = {"alertname": "PodCpuFailure", "severity": "critical", "pod": "api"}
    # Past ours (`continue: true`) no other route of the chart matches, so only ours; an alert
    # that ours does not take falls to the root's `null`.
    assert amtool_route(amtool, config, {**labels, "namespace": "monitoring"}) == ours
    assert amtool_route(amtool, config, {**labels, "namespace": "shop"}) == (ours if reaches else "null")


def test_the_podmonitor_scrapes_the_functions_metrics_port():
    """The PodMonitor selects the function's pods in its namespace and scrapes /metrics on the
    container port by either of its names: http1 (the pod spec, the Deployment) or user-port
    (Knative's name for it); tests/system/test_operator.py checks what Prometheus makes of it."""
    monitor = load(POD_MONITOR)
    assert (monitor["apiVersion"], monitor["kind"]) == ("monitoring.coreos.com/v1", "PodMonitor")
    assert monitor["metadata"]["namespace"] == "cpu-alert-labeler"
    assert monitor["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "cpu-alert-labeler"}}
    endpoints = monitor["spec"]["podMetricsEndpoints"]
    assert [(e["port"], e["path"]) for e in endpoints] == [("http1", "/metrics"), ("user-port", "/metrics")]


def test_the_docs_kube_prometheus_stack_values_give_the_shipped_route(tmp_path):
    """docs/monitoring.md's values snippet (the route in the chart's own configuration), merged over the chart's defaults as Helm merges, is valid,
    keeps the chart's inhibit rules and Watchdog route, and carries alertmanager.yml's route and receiver."""
    amtool = require_tool("amtool")
    readme = (MONITORING.parent / "docs" / "monitoring.md").read_text()
    (snippet,) = [
        block
        for block in re.findall(r"```yaml\n(.*?)```", readme, re.S)
        if block.startswith("alertmanager:\n")
    ]
    values = yaml.safe_load(snippet)["alertmanager"]
    assert values["alertmanagerSpec"]["secrets"] == ["cpu-alert-labeler"]
    defaults = yaml.safe_load(configs.KUBE_PROMETHEUS_STACK.read_text())
    merged = helm_merge(defaults, values["config"])
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(merged))
    result = run(amtool, "check-config", str(path))
    assert result.returncode == 0, output(result)
    assert merged["inhibit_rules"] == defaults["inhibit_rules"]
    shipped = load(MONITORING / "alertmanager.yml")
    first, *others = merged["route"]["routes"]
    assert first == labeler_route(shipped)
    assert others == defaults["route"]["routes"]
    assert merged["receivers"] == shipped["receivers"]
    for alertname in ("PodCpuNormal", "PodHighCpuUsage", "PodCpuFailure"):
        assert (
            amtool_route(amtool, path, {"alertname": alertname, "namespace": "shop", "pod": "api"})
            == configs.RECEIVER
        )
