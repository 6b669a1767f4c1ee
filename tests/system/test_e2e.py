"""We test these aspects: the whole chain on real components, on loopback.

Debian's Prometheus (2.42) scrapes a stand-in for cAdvisor and kube-state-metrics
(testbed/chain/metrics_target.py) and evaluates the shipped monitoring/prometheus-rules.yml;
Debian's Alertmanager (0.25) routes with the shipped monitoring/alertmanager.yml to the
function, served as in production by function/server.py (waitress) with a bearer
token; the function labels pods on a real kube-apiserver; kubectl reads the labels.
Only durations, the function's address and the token file are rewritten
(testbed/chain/configs.py says which, and why).

- every pod with a CPU limit is labeled `status=normal` (PodCpuNormal fires);
- as its usage rises, a pod is labeled `status=moderate` (33% to 66% of its limit) or
  `status=panne` (66% and more), each pod on its own: the same pod name in two
  namespaces is two pods, a pod of several containers is judged on their summed
  limits, a pod whose usage does not move keeps `status=normal`;
- on the way up the function never writes `normal` (the function's own log of every
  change): with Prometheus posting each rule's alerts separately and Alertmanager flushing
  every second, the cumulative rules leave no notification with nothing firing;
- as its usage falls, PodCpuNormal takes over and the pod is `status=normal` again;
  when its series vanish, its alert resolves and the pod is `status=normal` again;
- `kubectl get pods -L status` shows each of these states;
- a label changed by hand is written back by Alertmanager's re-send of the unchanged
  state (`repeat_interval`), as monitoring/alertmanager.yml promises;
- Alertmanager counts no failed notification (`alertmanager_notifications_failed_total`
  stays 0): the function answers every notification, re-sends included, with 2xx;
- a wrong bearer token fails the notification (401) and leaves the pod alone; the
  right token in the file heals it without restarting Alertmanager.

Every wait is bounded and is no speed claim: one that times out fails with each link's
view of the pod (metrics target, Prometheus, Alertmanager, function, pod) and the tail
of every program's log.  With -s the test prints how long each step took.
"""

import secrets
import time
import uuid
from collections import Counter
from datetime import datetime, timezone

import pytest

from function.config import Settings
from testbed.chain import configs
from testbed.chain.loopback import Alertmanager, Chain, Expect, Function, Prometheus, await_labels, wait_for
from testbed.chain.metrics_target import MetricsTarget
from testbed.tools import kubectl, require_tool

# The function's default thresholds, which the shipped rules use (tests/system/test_monitoring.py).
MODERATE, CRITICAL = Settings().moderate_threshold, Settings().critical_threshold
START_TIMEOUT = 90.0  # Prometheus's first scrape alone waits ~5s for service discovery
STEP_TIMEOUT = 60.0  # a level change takes ~10-15s here (10s rate window, 2s for:, 1s group)
REPEAT_TIMEOUT = 45.0  # a re-send comes within repeat_interval (10s) of the last notification


@pytest.fixture(scope="module")
def tools():
    return {name: require_tool(name) for name in ("prometheus", "prometheus-alertmanager", "amtool")}


@pytest.fixture(scope="module")
def chain(apiserver, tools, tmp_path_factory):
    """Metrics target, function, Alertmanager and Prometheus, started in that order, stopped in reverse."""
    workdir = tmp_path_factory.mktemp("e2e")
    print(f"\ne2e: configurations and logs in {workdir}")
    token = secrets.token_hex(16)
    token_file = workdir / "token"
    token_file.write_text(token + "\n")  # a Secret's file usually ends with a newline
    target = MetricsTarget().start()
    started = []
    try:
        function = Function(workdir, apiserver.kubeconfig(), token)
        started.append(function.process)
        alertmanager = Alertmanager("alertmanager", workdir, tools["prometheus-alertmanager"], tools["amtool"],
                                    function.url, token_file)
        started.append(alertmanager.process)
        prometheus = Prometheus(workdir, tools["prometheus"], target.address, alertmanager.address)
        started.append(prometheus.process)
        yield Chain(apiserver, token, target, function, alertmanager, prometheus)
    finally:
        for process in reversed(started):
            process.stop()
        target.stop()


def kubectl_labels(apiserver, tmp_path, selector: str) -> tuple[str, dict[tuple[str, str], str | None]]:
    """`kubectl get pods -A -l SELECTOR -L status`: its output, and each pod's status label."""
    out = kubectl(apiserver, tmp_path, "get", "pods", "-A", "-l", selector, "-L", "status")
    header, *rows = out.splitlines()
    width = len(header.split())  # NAMESPACE NAME READY STATUS RESTARTS AGE STATUS; empty label: one less
    labels = {}
    for row in rows:
        cells = row.split()
        labels[(cells[0], cells[1])] = cells[-1] if len(cells) == width else None
    return out, labels


def check_kubectl(chain, tmp_path, selector, wanted: dict[tuple[str, str], str], title: str) -> None:
    out, labels = kubectl_labels(chain.apiserver, tmp_path, selector)
    print(f"\n$ kubectl get pods -A -l {selector} -L status   # {title}\n{out}", end="")
    assert labels == wanted, "kubectl shows other labels than the pods reached:\n" + "\n".join(
        chain.diagnose(ns, pod, label) for (ns, pod), label in wanted.items() if labels.get((ns, pod)) != label)


def report(title: str, expects: list[Expect]) -> None:
    print(f"\n{title}")
    for e in expects:
        print("  " + e.report())


def test_cpu_levels_travel_from_prometheus_to_the_pod_label(chain: Chain, tmp_path):
    """Pods are labeled normal, then moderate or panne as their CPU rises, then normal as it falls
    or vanishes, as kubectl shows; a label edited by hand is written back by the next re-send;
    Alertmanager counts no failed notification."""
    run = uuid.uuid4().hex[:6]
    shop, batch = f"e2e-shop-{run}", f"e2e-batch-{run}"
    # (namespace, pod, container CPU limits in cores, rise to %, then fall to % or None: vanish)
    pods = [
        (shop, "web", {"web": 1.0}, 50, 10),
        (shop, "checkout", {"checkout": 0.5}, 90, 10),
        (shop, "api", {"api": 1.0}, None, None),  # stays at 10%: normal throughout
        (batch, "api", {"api": 1.5, "exporter": 0.5}, 75, 20),  # same name, other namespace
        (batch, "report", {"report": 2.0}, 50, None),  # its series vanish: the alert resolves
    ]
    selector = f"e2e={run}"
    for namespace in (shop, batch):
        chain.apiserver.create_namespace(namespace)
    for namespace, pod, limits, _, _ in pods:
        chain.apiserver.create_pod(namespace, pod, labels={"app": pod, "e2e": run})
        chain.target.add_pod(namespace, pod, limits, percent=10)
    failed_before = chain.alertmanager.failed()
    calls_before = len(chain.function.log("webhook"))  # the function may serve other tests too

    def level(percent):
        return "panne" if percent >= CRITICAL else "moderate" if percent >= MODERATE else "normal"

    def passes(percent):
        low, high = {"normal": (None, MODERATE), "moderate": (MODERATE, CRITICAL),
                     "panne": (CRITICAL, None)}[level(percent)]
        words = f"< {high:g}%" if low is None else f">= {low:g}%"
        return (lambda v: v is not None and (low is None or v >= low) and (high is None or v < high)), words

    # 1. Every pod at 10%: PodCpuNormal labels them all normal.
    since = time.monotonic()
    crossed, words = passes(10)
    expects = [Expect(ns, pod, "normal", crossed, words, since) for ns, pod, *_ in pods]
    await_labels(chain, expects, START_TIMEOUT)
    report(f"start (Prometheus ready {since - chain.prometheus.started:.1f}s before the pods were exported; "
           "its first scrape waits ~5s for service discovery): time from the change to the recorded "
           "crossing, and from the crossing to the label:", expects)
    check_kubectl(chain, tmp_path, selector, {(ns, pod): "normal" for ns, pod, *_ in pods}, "all at 10%")

    # 2. Usage rises: each pod to its level; the pod that does not move stays normal.
    changes_before = len(chain.function.log("pod_change"))
    expects, steady = [], []
    for namespace, pod, _, rise, _ in pods:
        if rise is None:
            steady.append(Expect(namespace, pod, "normal", lambda v: True, "unchanged", time.monotonic()))
            continue
        changed = chain.target.set_percent(namespace, pod, rise)
        crossed, words = passes(rise)
        expects.append(Expect(namespace, pod, level(rise), crossed, words, changed))
    await_labels(chain, expects + steady, STEP_TIMEOUT)
    report("rise: time from the change to the recorded crossing, and from the crossing to the label:", expects)
    for e in steady:
        assert e.seen == ["normal"], f"{e.namespace}/{e.pod} did not keep normal: {e.seen}"
    # Every label the function wrote on the way up: a `normal` among them is the handover gap
    # (a notification with a resolved alert and nothing firing) that exclusive ranges left.
    written = [(d.get("namespace"), d.get("pod"), d.get("label")) for d in chain.function.log("pod_change")[changes_before:]
               if d.get("namespace") in (shop, batch) and d.get("outcome") == "labeled"]
    print(f"\nrise: labels written, in order: {written}")
    assert not [w for w in written if w[2] == "normal"], f"normal written on the way up: {written}"
    wanted = {(ns, pod): level(rise) if rise is not None else "normal" for ns, pod, _, rise, _ in pods}
    check_kubectl(chain, tmp_path, selector, wanted, "after the rise")

    # A label changed by hand is written back by Alertmanager's next re-send of the
    # unchanged state (repeat_interval, shortened to 10s here).
    kubectl(chain.apiserver, tmp_path, "label", "pod", "-n", shop, "web", "status=normal", "--overwrite")
    took = wait_for(lambda: chain.label(shop, "web") == "moderate", REPEAT_TIMEOUT,
                    lambda: chain.diagnose(shop, "web", "moderate") + "\n" + chain.tails())
    print(f"\nhand edit: {shop}/web set to status=normal with kubectl, back to moderate {took:.1f}s later "
          f"(Alertmanager re-sends every {configs.REPEAT_INTERVAL})")

    # 3. Usage falls back under 33% (PodCpuNormal takes over), or the pod's series vanish
    #    (its alert resolves with nothing else firing).
    expects = []
    for namespace, pod, _, rise, fall in pods:
        if rise is None:
            continue
        if fall is None:
            changed = chain.target.remove_pod(namespace, pod)
            expects.append(Expect(namespace, pod, "normal", lambda v: v is None, "no value", changed))
        else:
            changed = chain.target.set_percent(namespace, pod, fall)
            crossed, words = passes(fall)
            expects.append(Expect(namespace, pod, "normal", crossed, words, changed))
    await_labels(chain, expects, STEP_TIMEOUT)
    report("fall: time from the change to the recorded crossing, and from the crossing to the label:", expects)
    check_kubectl(chain, tmp_path, selector, {(ns, pod): "normal" for ns, pod, *_ in pods}, "after the fall")

    # 4. Not one notification failed; every webhook call was answered 200.
    failed = chain.alertmanager.failed()
    sent = chain.alertmanager.counter("alertmanager_notifications_total")
    statuses = Counter(d.get("status") for d in chain.function.log("webhook")[calls_before:])
    changes = Counter(d.get("outcome") for d in chain.function.log("pod_change")
                      if d.get("namespace") in (shop, batch))
    print(f"\nAlertmanager: {sent:g} notifications, {failed - failed_before:g} failed; "
          f"function: webhook statuses {dict(statuses)}, pod changes {dict(changes)}")
    assert failed == failed_before, (
        f"Alertmanager counted {failed - failed_before:g} failed notification(s); "
        f"webhook statuses {dict(statuses)}\n{chain.tails()}")
    assert set(statuses) == {200}, f"webhook statuses {dict(statuses)}\n{chain.function.process.tail()}"


def test_a_wrong_token_fails_the_notification_until_the_token_file_is_fixed(chain, tools, namespace, tmp_path):
    """With a wrong token in its file, Alertmanager's notification fails (401) and the pod is left
    alone; once the file holds the right token, the next notification labels the pod, with no restart."""
    chain.apiserver.create_pod(namespace, "worker")
    token_file = tmp_path / "token"
    token_file.write_text("not-the-token\n")
    alertmanager = Alertmanager("alertmanager-wrong-token", tmp_path, tools["prometheus-alertmanager"],
                                tools["amtool"], chain.function.url, token_file)
    try:
        def explain():
            return (chain.diagnose(namespace, "worker", "panne", alertmanager=alertmanager) + "\n"
                    + alertmanager.process.tail() + "\n" + chain.function.process.tail())

        # Straight to Alertmanager: this case needs no Prometheus.
        refused_before = len(chain.function.refused())
        now = datetime.now(timezone.utc).isoformat()
        alertmanager.post_alerts([{
            "labels": {"alertname": "PodCpuFailure", "namespace": namespace, "pod": "worker", "severity": "critical"},
            "annotations": {"cpu_usage": "91.0"}, "startsAt": now, "generatorURL": "http://e2e.invalid/"}])

        def refused():  # 401 comes before the body is read, so the function's log line has no group
            answered_401 = [c for c in chain.function.refused()[refused_before:] if c.get("status") == 401]
            return alertmanager.failed() >= 1 and bool(answered_401)

        wait_for(refused, 30, explain)
        assert chain.label(namespace, "worker") is None, explain()
        assert chain.function.webhooks_for(namespace, "worker") == [], explain()  # none got past the token

        token_file.write_text(chain.token + "\n")
        took = wait_for(lambda: chain.label(namespace, "worker") == "panne", 30, explain)
        print(f"\nwrong token: notifications refused with 401 ({alertmanager.failed():g} counted failed); "
              f"{took:.1f}s after the token file was fixed the pod was labeled panne")
    finally:
        alertmanager.process.stop()


def test_the_diagnosis_names_the_link_that_falls_short(chain: Chain):
    """A pod at 10 % is `normal` through every link; asked why it does not carry `panne`, the
    diagnosis finds every link before Prometheus' alerts sound, and names that one (no
    PodCpuFailure fires); asked about `normal`, it finds no broken link."""
    run = uuid.uuid4().hex[:6]
    namespace = f"e2e-why-{run}"
    chain.apiserver.create_namespace(namespace)
    chain.apiserver.create_pod(namespace, "idle", labels={"e2e": run})
    chain.target.add_pod(namespace, "idle", {"idle": 1.0}, percent=10)
    expects = [
        Expect(namespace, "idle", "normal", lambda v: v is not None and v < 33, "< 33%", time.monotonic())
    ]
    await_labels(chain, expects, 60)
    wrong = chain.diagnose(namespace, "idle", "panne")
    assert wrong.splitlines()[-1] == "  => first broken link: Prometheus alerts", wrong
    assert "[ok] exporters" in wrong and "[ok] Prometheus recorded percentage" in wrong, wrong
    right = chain.diagnose(namespace, "idle", "normal")
    assert "[NO]" not in right, right
