"""We test these aspects: the shipped route under kube-prometheus-stack's default Alertmanager
configuration (tests/fixtures/, with monitoring/alertmanager.yml's route and receiver merged
in as README says), on Debian's real Alertmanager fed alerts through its API.

- with InfoInhibitor firing in a namespace (as it does wherever info alerts fire and no
  warning or critical does), PodCpuNormal, PodHighCpuUsage and PodCpuFailure, with the
  severities of the shipped rules, all reach the function's receiver, one notification per
  pod, with the bearer token; a pod in `panne`, which fires both our warning and our critical
  alert (the levels are cumulative), gets both in one notification, the warning not muted
  (the chart's critical-mutes-warning rule needs the same alertname);
- the chart's inhibit rules are in force (positive controls): an `info` alert of that
  namespace is suppressed, inhibited by InfoInhibitor, and so is PodCpuNormal carrying the
  old `severity: info`, which therefore never reaches the receiver: the defect the shipped
  severities avoid;
- the chart's own Watchdog goes to its `null` receiver, not to the function;
- Alertmanager counts no failed notification;
- a notification no pod of which the function may label (403: its Role does not reach the
  namespace) is a failed notification where the stack looks: the real function answers 422,
  which Alertmanager, on the chart's defaults, counts in alertmanager_notifications_failed_total
  (what the chart's AlertmanagerFailedToSendAlerts pages on) and does not send again;
- with the README's optional inhibit rule added (a pod's critical alert mutes its warning,
  for pagers), the function's notifications still give the right level: `panne` while
  PodCpuFailure fires (the warning muted), `moderate` once it resolves (the warning back in
  the same notification), never `normal`.

A recording receiver stands for the function where the claim is about delivery, not labels
(tests/system/test_e2e.py drives the function behind the shipped configuration); the real
function, on the real apiserver, where the claim is about its answer.
"""

import json
import re
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from function.alerts import parse_body
from function.config import Settings
from function.model import Level
from function.plan import Scope, plan
from testbed.chain import configs
from testbed.chain.loopback import Alertmanager, Function, wait_for
from testbed.chain.receiver import Receiver
from testbed.tools import require_tool

DELIVERY_TIMEOUT = 30.0  # group_wait is 1s here; generous for a loaded machine


def shipped_severity(alertname: str) -> str:
    rules = yaml.safe_load(configs.RULES.read_text())
    (rule,) = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == alertname]
    return rule["labels"]["severity"]


def alert(alertname: str, namespace: str, severity: str, pod: str | None = None) -> dict:
    labels = {"alertname": alertname, "namespace": namespace, "severity": severity}
    if pod:
        labels["pod"] = pod
    return {"labels": labels, "annotations": {"cpu_usage": "50.0"},
            "startsAt": datetime.now(timezone.utc).isoformat(), "generatorURL": "http://test.invalid/"}


@pytest.fixture
def alertmanager(tmp_path):
    tools = {name: require_tool(name) for name in ("prometheus-alertmanager", "amtool")}
    token = secrets.token_hex(16)
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    with Receiver() as receiver:
        am = Alertmanager("alertmanager-kps", tmp_path, tools["prometheus-alertmanager"], tools["amtool"],
                          receiver.url, token_file, build=configs.kube_prometheus_stack_alertmanager)
        try:
            yield am, receiver, token
        finally:
            am.process.stop()


def states(am: Alertmanager, namespace: str) -> dict[tuple[str, str], dict]:
    """(alertname, pod) -> Alertmanager's status of that alert (state, inhibitedBy)."""
    return {(a["labels"]["alertname"], a["labels"].get("pod", "")): a["status"]
            for a in am.alerts_where(f'namespace="{namespace}"')}


def test_our_alerts_reach_the_function_under_kube_prometheus_stacks_inhibit_rules(alertmanager):
    """InfoInhibitor firing mutes info alerts, not ours: normal, moderate and critical all arrive."""
    am, receiver, token = alertmanager
    normal, moderate, critical = (shipped_severity(n) for n in ("PodCpuNormal", "PodHighCpuUsage", "PodCpuFailure"))
    am.post_alerts([
        alert("InfoInhibitor", "shop", "none"),
        alert("InfoInhibitor", "quiet", "none"),
        alert("Watchdog", "monitoring", "none"),
        alert("KubeQuotaAlmostFull", "shop", "info"),  # a user's info alert: muted (control)
        alert("PodCpuNormal", "shop", normal, "idle"),
        alert("PodHighCpuUsage", "shop", moderate, "busy"),
        alert("PodHighCpuUsage", "shop", moderate, "burner"),  # >= 66%: both fire
        alert("PodCpuFailure", "shop", critical, "burner"),
        alert("PodCpuNormal", "quiet", normal, "idle"),
        alert("PodCpuNormal", "shop", "info", "legacy"),  # the old severity: muted (control)
    ])
    wanted = {("shop", "idle"): {"PodCpuNormal"}, ("shop", "busy"): {"PodHighCpuUsage"},
              ("shop", "burner"): {"PodHighCpuUsage", "PodCpuFailure"},
              ("quiet", "idle"): {"PodCpuNormal"}}

    def delivered() -> dict[tuple[str, str], set[str]]:  # every pod notified, its firing alerts
        found: dict[tuple[str, str], set[str]] = {}
        for n in receiver.notifications():
            for pod, names in n.pods().items():
                found.setdefault(pod, set()).update(names)
        return found

    def explain() -> str:
        return (f"received {delivered()}\nAlertmanager's view of shop: {states(am, 'shop')}\n"
                + am.process.tail())

    took = wait_for(lambda: all(delivered().get(g) == names for g, names in wanted.items()),
                    DELIVERY_TIMEOUT, explain)
    shop = states(am, "shop")
    # The controls: the chart's inhibit rules are really in force.
    for muted in (("KubeQuotaAlmostFull", ""), ("PodCpuNormal", "legacy")):
        assert shop[muted]["state"] == "suppressed" and shop[muted]["inhibitedBy"], explain()
    for ours in (("PodCpuNormal", "idle"), ("PodHighCpuUsage", "busy"), ("PodHighCpuUsage", "burner"),
                 ("PodCpuFailure", "burner")):
        assert shop[ours]["state"] == "active" and not shop[ours]["inhibitedBy"], explain()
    # Every group of ours has been flushed (group_wait 1s) by now, the muted one included.
    time.sleep(2 * float(configs.GROUP_WAIT.rstrip("s")))
    got = delivered()
    assert set(got) == set(wanted), f"notified groups {sorted(got)}; only ours, never ('shop', 'legacy')"
    assert {n.authorization for n in receiver.notifications()} == {f"Bearer {token}"}
    assert am.failed() == 0
    suppressed = sorted(f"{name}/{pod or '-'}" for (name, pod), s in shop.items() if s["state"] == "suppressed")
    print(f"\nkube-prometheus-stack defaults: {len(wanted)} pods' alerts delivered in {took:.1f}s "
          f"with InfoInhibitor firing; suppressed in shop: {suppressed}")


def readme_inhibit_rule() -> dict:
    """The optional inhibit rule the README offers to users who page on warnings, as written there."""
    readme = (configs.ROOT / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "alertname = PodCpuFailure" in b]
    (rule,) = yaml.safe_load(block)["inhibit_rules"]
    return rule


def with_readme_inhibit_rule(*, url: str, token_file: Path) -> str:
    config = yaml.safe_load(configs.kube_prometheus_stack_alertmanager(url=url, token_file=token_file))
    config["inhibit_rules"].append(readme_inhibit_rule())
    return yaml.safe_dump(config, sort_keys=False)


def planned_level(body: dict) -> Level | None:
    """The level the function's plan() gives the pod of one notification (None: no change)."""
    settings, levels = Settings(), dict(Settings().alert_levels)
    payload = parse_body(json.dumps(body).encode(), max_alerts=100, pod_label=settings.pod_label,
                         namespace_label=settings.namespace_label, cpu_annotation=settings.cpu_annotation)
    by_name: list[Level | None] = [Level[levels[a.name].upper()] for a in payload.alerts]
    _, targets = plan(payload.alerts, by_name, Scope("shop", (), ()))
    return next((target.level for target in targets.values()), None)


def test_the_readme_inhibit_rule_keeps_the_functions_levels(tmp_path):
    """With the README's inhibit rule, a pod in panne notifies PodCpuFailure alone (the warning
    muted): `panne`; once PodCpuFailure resolves, the warning is back in the same notification
    as the resolution: `moderate`; no notification gives `normal`."""
    tools = {name: require_tool(name) for name in ("prometheus-alertmanager", "amtool")}
    token_file = tmp_path / "token"
    token_file.write_text(secrets.token_hex(16) + "\n")
    with Receiver() as receiver:
        am = Alertmanager("alertmanager-inhibit", tmp_path, tools["prometheus-alertmanager"], tools["amtool"],
                          receiver.url, token_file, build=with_readme_inhibit_rule)
        try:
            def ours() -> list[dict]:
                return [n.body for n in receiver.notifications() if ("shop", "hot") in n.pods()]

            def explain() -> str:
                return f"notifications {ours()}\nAlertmanager's view: {states(am, 'shop')}\n" + am.process.tail()

            warning = alert("PodHighCpuUsage", "shop", "warning", "hot")
            critical = alert("PodCpuFailure", "shop", "critical", "hot")
            am.post_alerts([warning, critical])  # as Prometheus would: both fire at >= 66%
            wait_for(lambda: any(planned_level(b) == Level.CRITICAL for b in ours()), DELIVERY_TIMEOUT, explain)
            muted = states(am, "shop")[("PodHighCpuUsage", "hot")]
            assert muted["state"] == "suppressed" and muted["inhibitedBy"], explain()

            resolved = dict(critical, endsAt=datetime.now(timezone.utc).isoformat())
            am.post_alerts([warning, resolved])  # the critical alert resolves, the warning fires on
            wait_for(lambda: planned_level(ours()[-1]) == Level.MODERATE, DELIVERY_TIMEOUT, explain)
            levels = [planned_level(b) for b in ours()]
            print(f"\nREADME inhibit rule: the pod's notifications gave {[lv.name.lower() if lv is not None else lv for lv in levels]}")
            assert Level.NORMAL not in levels and None not in levels, explain()
            assert am.failed() == 0
        finally:
            am.process.stop()


def test_a_notification_no_pod_of_which_can_be_labeled_is_a_failed_notification(apiserver, namespace, tmp_path):
    """All pods of the notification forbidden to the function (its Role covers another
    namespace): it answers 422, never 5xx, and Alertmanager counts a failed notification."""
    tools = {name: require_tool(name) for name in ("prometheus-alertmanager", "amtool")}
    apiserver.create_pod(namespace, "api")
    elsewhere = f"{namespace}-own"
    apiserver.create_namespace(elsewhere)
    rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "patch"]}]
    identity = apiserver.kubeconfig_for_token("labeler", apiserver.account_token(elsewhere, "labeler", rules))
    token = secrets.token_hex(16)
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    function = Function(tmp_path, identity, token)
    am = Alertmanager("alertmanager-kps", tmp_path, tools["prometheus-alertmanager"], tools["amtool"],
                      function.url, token_file, build=configs.kube_prometheus_stack_alertmanager)
    try:
        am.post_alerts([alert("PodCpuFailure", namespace, "critical", "api")])

        def explain() -> str:
            return f"webhooks {function.webhooks_for(namespace, 'api')}\n{am.process.tail()}\n{function.process.tail()}"

        wait_for(lambda: am.failed() >= 1, DELIVERY_TIMEOUT, explain)
        answers = [w["status"] for w in function.webhooks_for(namespace, "api")]
        assert answers and set(answers) == {422}, explain()  # never 5xx: nothing to retry
        pod = apiserver.get_pod(namespace, "api")
        assert "status" not in pod["metadata"].get("labels", {})
    finally:
        am.process.stop()
        function.process.stop()
