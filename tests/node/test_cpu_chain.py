"""Real CPU moves the label: the whole chain on the node, under kube-prometheus-stack's defaults.

The monitoring side runs as `make cluster` runs it (testbed/chain/in_node.py), the way
kube-prometheus-stack users have it: the Prometheus Operator as a pod runs Prometheus and
Alertmanager as pods on the chart's defaults, Prometheus scrapes the kubelet (its
/metrics/cadvisor AND, a chart value turned on, /metrics/resource) and kube-state-metrics
through the chart's ServiceMonitors and the function's pods through the shipped PodMonitor,
evaluates the shipped PrometheusRule (durations shortened to the node's pace,
configs.CADVISOR), and Alertmanager delivers through the shipped AlertmanagerConfig to the
function's Service by its cluster DNS name, with the token of the Secret README has users
create.

We test these aspects, with pods that really burn CPU (testbed/clusters/node/burn.py), each limited
to 100m, all started at once and watched in parallel:
- a pod at ~90% of its limit is labeled `panne`, one at ~45% `moderate`, an idle one
  `normal`: real cAdvisor and kube-state-metrics figures cross the shipped thresholds;
- a pod climbing to `panne` is never seen back at `normal` once above it (the handover gap
  of exclusive ranges, seen here before the rules became cumulative; the labels are polled
  every 0.5 s, so this is evidence, not proof: rules_test.yml and test_handovers.py are);
- the kubelet's two endpoints are both scraped and the pod at 90% reads about 90%, not 180%;
- a burner that stops goes back to `normal`;
- a pod deleted while its alert fires is skipped by the function (no error, nothing written);
- faults: the function's pod deleted as the first notifications go out (its Deployment
  replaces it, Alertmanager sends again) and the apiserver restarted as a level change is
  about to be delivered: every final label is right, and once both faults are over a round
  of re-sends fails no notification.

Printed as evidence (no timing is asserted): per pod, the seconds from the CPU change to
Prometheus recording the crossing, and from there to the label on the pod; `kubectl get
pods -L status` after each phase; alertmanager_notifications_failed_total per phase.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

import pytest
import yaml

from function.config import Settings
from testbed.chain import builds, configs, in_node
from testbed.chain.loopback import Expect, await_labels, wait_for
from testbed.chain.watch import FUNCTION_SELECTOR, NodeChain
from testbed.clusters.node import apiserver, deploy, workload
from testbed.process import StartError
from testbed.tools import require_tool

MODERATE, CRITICAL = Settings().moderate_threshold, Settings().critical_threshold
PERCENT = {"hot": 90, "warm": 45, "idle": 0, "stopper": 90, "doomed": 90}
FIRST = {"hot": "panne", "warm": "moderate", "idle": "normal", "stopper": "panne", "doomed": "panne"}
FINAL = {"hot": "panne", "warm": "moderate", "idle": "normal", "stopper": "normal"}
PHASE_TIMEOUT = 150.0  # ~30s here: pods start, two cAdvisor samples, the 20s window, for: 4s
REPEAT = float(configs.CADVISOR.repeat_interval.rstrip("s"))  # re-sends of an unchanged state
JOB = f"{deploy.NAMESPACE}/cpu-alert-labeler"  # the operator's `job` for a PodMonitor: its namespace/name
RECOVERY_TIMEOUT = 120.0  # in-flight retries end within ~10s, then one quiet repeat interval


@pytest.fixture(scope="module")
def chain(node):
    """The monitoring side up (kept afterwards: the node's teardown takes it with the node)."""
    in_node.require_built()
    try:
        took = in_node.start(node)
    except StartError as err:  # a command's or a NodeError
        pytest.fail(f"monitoring bring-up failed: {err}")
    print(f"\nmonitoring side up in {took:.1f}s (the Prometheus Operator {builds.OPERATOR_VERSION} running "
          f"Prometheus {builds.PROMETHEUS_VERSION} and Debian's Alertmanager, kube-state-metrics "
          f"{builds.KSM_VERSION}); pace {configs.CADVISOR}")
    yield NodeChain(node)


@pytest.fixture
def namespace(node):
    name = f"burn-{uuid.uuid4().hex[:6]}"
    yield name
    deploy.kubectl(node, "delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def faults() -> Iterator[list[Fault]]:
    """The test's faults, cancelled and waited for when it ends, pass or fail: a fault still
    waiting for its moment must not restart the apiserver while the node goes down."""
    started: list[Fault] = []
    yield started
    for fault in started:
        fault.cancel()


class Fault:
    """An action run in the background once `when()` holds (polled, bounded): a fault injected
    at a moment chosen by what the chain is doing, while the test keeps watching."""

    def __init__(self, name: str, when: Callable[[], bool], act: Callable[[], None], timeout: float,
                 registry: list[Fault]):
        self.name, self.when, self.act, self.timeout = name, when, act, timeout
        self.at: float | None = None
        self.took: float | None = None
        self.error: str | None = None
        self.cancelled = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        registry.append(self)
        self.thread.start()

    def _run(self) -> None:
        deadline = time.monotonic() + self.timeout
        try:
            while not self.when():
                if self.cancelled.is_set():
                    return
                if time.monotonic() > deadline:
                    self.error = f"{self.name}: its moment never came within {self.timeout:.0f}s"
                    return
                time.sleep(0.2)
            self.at = time.monotonic()
            self.act()
            self.took = time.monotonic() - self.at
        except Exception as err:  # reported by join(), in the test's thread
            self.error = f"{self.name}: {err!r}"

    def join(self) -> None:
        self.thread.join(self.timeout + 120)
        assert self.error is None, self.error

    def cancel(self) -> None:
        """Never act from now on; wait for an action already under way to finish."""
        self.cancelled.set()
        self.thread.join(self.timeout + 120)


class Quiet:
    """True once every one of the pods' groups has been delivered to the function again (a 200)
    and a whole repeat interval has gone by, with no notification failing meanwhile: each
    group has had its re-send, and every one got through.  Counted from the function's log,
    so other namespaces' groups (the function's own pods fire PodCpuNormal too) count for
    nothing."""

    def __init__(self, chain: NodeChain, namespace: str, pods: list[str]):
        self.chain, self.namespace, self.pods = chain, namespace, pods
        self.mark = self._read()

    def _read(self) -> tuple[float, float, dict[str, int]]:
        delivered = dict.fromkeys(self.pods, 0)
        for line in self.chain.function_log("webhook"):
            key = str(line.get("group_key", ""))
            if line.get("status") == 200 and f'namespace="{self.namespace}"' in key:
                for pod in self.pods:
                    delivered[pod] += "pod=" not in key or f'pod="{pod}"' in key  # a namespace group: all
        return time.monotonic(), self.chain.alertmanager.failed(), delivered

    def __call__(self) -> bool:
        now = self._read()
        if now[1] != self.mark[1]:  # a failure: start over from here
            self.mark = now
        resent = all(now[2][pod] > self.mark[2][pod] for pod in self.pods)
        return now[0] - self.mark[0] >= REPEAT and resent


def test_the_generated_route_sends_cpu_alerts_of_any_namespace_to_the_function(node, chain, tmp_path):
    """The configuration the operator generated from the chart's values, the README's values file
    and the shipped AlertmanagerConfig, as the running Alertmanager holds it: `amtool config
    routes test` sends the CPU alerts of a pod in any namespace to the function's receiver and
    the chart's own alerts to `null`."""
    require_tool("amtool")
    config = yaml.safe_load(urllib.request.urlopen(f"{chain.alertmanager.url}/api/v2/status", timeout=10).read())
    path = tmp_path / "alertmanager.yaml"
    path.write_text(config["config"]["original"])
    ours = f"{in_node.NAMESPACE}/{in_node.RECEIVER}/{in_node.RECEIVER}"
    for namespace in ("shop", deploy.NAMESPACE, in_node.NAMESPACE):
        for alert in ("PodCpuNormal", "PodHighCpuUsage", "PodCpuFailure"):
            labels = [f"alertname={alert}", f"namespace={namespace}", "pod=p"]
            got = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={path}", *labels],
                                 capture_output=True, text=True, timeout=60)
            assert got.returncode == 0 and got.stdout.strip() == ours, (labels, got.stdout, got.stderr)
    chart_own = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={path}", "alertname=Watchdog"],
                               capture_output=True, text=True, timeout=60)
    assert chart_own.stdout.strip() == "null", chart_own.stdout
    (route,) = [r for r in yaml.safe_load(path.read_text())["route"]["routes"] if r.get("receiver") == ours]
    print(f"\nthe route the operator generated: {json.dumps(route)}")


def test_the_podmonitor_scrapes_the_functions_pod(node, chain):
    """The shipped PodMonitor (in the function's namespace, `release` label) gives Prometheus one
    target per function pod, on its container port, and it is up."""
    pods = function_pods(node)

    def targets() -> dict[str, str]:
        found = chain.prometheus.query(f'up{{namespace="{deploy.NAMESPACE}", job="{JOB}"}}')
        return {r["metric"]["pod"]: r["value"][1] for r in found}

    wait_for(lambda: pods <= {pod for pod, up in targets().items() if up == "1"}, 60,
             lambda: f"function pods {pods}, PodMonitor targets {targets()}")
    jobs = {r["metric"]["job"] for r in chain.prometheus.query(f'up{{namespace="{deploy.NAMESPACE}"}}')}
    assert jobs == {JOB}, jobs  # one job, and its pods found once: not also on the queue-proxy's ports


def kubectl(node, *args: str) -> str:
    return deploy.kubectl(node, *args).stdout


def function_pods(node) -> set[str]:
    """The function's pods not being deleted (a previous run's may still be terminating)."""
    pods = json.loads(kubectl(node, "-n", deploy.NAMESPACE, "get", "pods", "-l", FUNCTION_SELECTOR, "-o", "json"))
    return {p["metadata"]["name"] for p in pods["items"] if not p["metadata"].get("deletionTimestamp")}


def crossing(level: str) -> tuple[Callable[[float | None], bool], str]:
    """The recorded percentage that means `level`, and its words for the report."""
    if level == "panne":
        return (lambda v: v is not None and v >= CRITICAL), f">= {CRITICAL:g}%"
    if level == "moderate":
        return (lambda v: v is not None and MODERATE <= v < CRITICAL), f"{MODERATE:g}-{CRITICAL:g}%"
    return (lambda v: v is not None and v < MODERATE), f"< {MODERATE:g}%"


def expect(namespace: str, pod: str, level: str, changed: float) -> Expect:
    crossed, words = crossing(level)
    return Expect(namespace, pod, level, crossed, words, changed)


def report(title: str, expects: list[Expect]) -> None:
    print(f"\n{title}")
    for e in expects:
        print("  " + e.report())


def restart_apiserver(node, took: dict[str, float]) -> None:
    """Stop the apiserver and start it again. SIGTERM, then SIGKILL after 5 s: it drains its
    requests first, which took 20 s here, so in effect it often crashes; either is a fault."""
    began = time.monotonic()
    apiserver.daemon(node).stop(timeout=5)
    took["stop"] = time.monotonic() - began
    apiserver.start(node)
    took["start"] = time.monotonic() - began - took["stop"]


def test_real_cpu_moves_the_label_through_faults(node, chain, namespace, faults):
    """90% -> panne, 45% -> moderate, idle -> normal, stopped -> normal, deleted -> skipped, with
    the function's pod deleted mid-burst and the apiserver restarted mid-run."""
    failed = {"before": chain.alertmanager.failed()}
    old_function = function_pods(node)
    assert old_function, "no live function pod to delete"

    # 1. All five burners at once; the function's pod is deleted as soon as Alertmanager
    #    holds the first of their alerts, i.e. as the burst of notifications goes out.
    created = time.monotonic()
    workload.apply(node, namespace, [workload.burner(name, p) for name, p in PERCENT.items()])
    first = [expect(namespace, pod, level, created) for pod, level in FIRST.items()]
    fault1 = Fault(
        "function pod deleted",
        lambda: bool(chain.alertmanager.alerts_where(f'namespace="{namespace}"')),
        lambda: deploy.kubectl(node, "-n", deploy.NAMESPACE, "delete", "pod", *old_function, "--wait=false",
                               "--ignore-not-found"),
        PHASE_TIMEOUT,
        faults,
    )
    await_labels(chain, first, PHASE_TIMEOUT, poll=0.5)
    fault1.join()
    failed["phase 1"] = chain.alertmanager.failed()
    report("burners started: time from the pods' creation to the recorded crossing, and on to the label:",
           first)
    assert fault1.at is not None
    for e in first:
        risen = e.seen[next((i for i, v in enumerate(e.seen) if v not in (None, "normal")), len(e.seen)):]
        assert e.label == "normal" or "normal" not in risen, f"{e.pod} went back to normal: {e.seen}"
    print(f"  (the function's pod {' '.join(old_function)} was deleted {fault1.at - created:.1f}s after "
          f"the pods' creation; replaced by {' '.join(function_pods(node) - old_function) or 'nothing yet'})")
    print(chain.listing(namespace))
    assert function_pods(node) - old_function, "the Deployment did not replace the deleted function pod"

    # The kubelet's two endpoints are both scraped, and only cAdvisor's is counted.
    paths = {r["metric"]["metrics_path"] for r in chain.prometheus.query(
        f'container_cpu_usage_seconds_total{{job="kubelet", namespace="{namespace}", pod="hot", container="burn"}}')}
    assert paths == {"/metrics/cadvisor", "/metrics/resource"}, paths
    hot = chain.prometheus.percentages()[(namespace, "hot")]
    print(f"pod at 90% of its limit recorded at {hot:.1f}% with both kubelet endpoints scraped")
    assert CRITICAL <= hot < 120, f"{hot}: counted twice would read about 180"

    # 2. The stopper stops, the doomed pod is deleted while PodCpuFailure fires for it, and the
    #    apiserver is restarted once Prometheus records the stopper's fall, as its change goes out.
    stopped = time.monotonic()
    workload.stop(node, namespace, "stopper")
    deleted = datetime.now(timezone.utc)
    deploy.kubectl(node, "-n", namespace, "delete", "pod", "doomed", "--wait=false")
    below = crossing("normal")[0]
    restart: dict[str, float] = {}
    fault2 = Fault(
        "apiserver restarted",
        lambda: below(chain.prometheus.percentages().get((namespace, "stopper"))),
        lambda: restart_apiserver(node, restart),
        PHASE_TIMEOUT,
        faults,
    )
    second = [expect(namespace, "stopper", "normal", stopped)]
    await_labels(chain, second, PHASE_TIMEOUT, poll=0.5)
    fault2.join()
    assert fault2.at is not None and fault2.took is not None

    def skipped() -> list[dict]:
        return [d for d in chain.changes(namespace, "doomed") if d.get("outcome") == "skipped"]

    wait_for(lambda: bool(skipped()), PHASE_TIMEOUT,
             lambda: chain.diagnose(namespace, "doomed", "(skipped)") + "\n" + chain.tails(), poll=1)
    failed["phase 2"] = chain.alertmanager.failed()
    report("burner stopped: time from the stop to the recorded crossing, and on to the label:", second)
    print(f"  (the apiserver was stopped {fault2.at - stopped:.1f}s after the burner's stop, which took "
          f"{restart['stop']:.1f}s, and was ready again {restart['start']:.1f}s later)")
    skip = skipped()[0]
    when = datetime.fromisoformat(skip["time"].replace("Z", "+00:00"))
    print(f"pod deleted while PodCpuFailure fired: the function skipped it {(when - deleted).total_seconds():.1f}s "
          f"after the deletion ({skip.get('alertname')}, {skip.get('reason')})")
    assert not [d for d in chain.changes(namespace, "doomed") if d.get("outcome") == "failed"]
    print(chain.listing(namespace))

    # 3. After both faults: notifications recover (a repeat interval of re-sends, every
    #    group's, with none failed; what failed before is the faults' doing), labels all right.
    quiet = Quiet(chain, namespace, list(FINAL))
    took = wait_for(quiet, RECOVERY_TIMEOUT, lambda: "notifications kept failing:\n" + chain.tails(), poll=1)
    failed["after recovery"] = chain.alertmanager.failed()
    print(f"notifications recovered: none failed for {REPEAT:g}s of re-sends, {took:.0f}s after the label change")
    labels = {pod: chain.label(namespace, pod) for pod in FINAL}
    print(chain.listing(namespace))
    print("alertmanager_notifications_failed_total: " + ", ".join(f"{k} {v:g}" for k, v in failed.items())
          + f"; function's webhook statuses (current pod) {dict(chain.webhook_statuses())}")
    assert labels == FINAL, "\n".join(chain.diagnose(namespace, p, FINAL[p]) for p in FINAL) + chain.tails()
    assert chain.pod(namespace, "doomed") is None
