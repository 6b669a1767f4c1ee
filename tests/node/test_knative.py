"""Knative Serving on the real node: the function deployed as users do, scaled to zero, woken.

We test these aspects:
- Knative Serving (built from its pinned Go modules, installed from its own config files)
  runs from local images, its activator connected to its autoscaler through cluster DNS;
- the README's `kn service create` and `kubectl apply -k knative/` each bring a Revision
  to Ready in a namespace that enforces Pod Security "restricted" (the queue-proxy
  sidecar included), while the Route stays not Ready: there is no networking layer;
- the Revision scales to zero when idle; a webhook sent to its public Service while at
  zero is held by the activator, a pod starts, the alert's pod gets its label and the
  answer is 200; then it scales to zero again (timings printed, not asserted);
- the node's Alertmanager (a pod run by the Prometheus Operator, on the shipped
  AlertmanagerConfig) delivers a firing alert to a Revision at zero by its cluster DNS name,
  which wakes and labels the pod, with no failed notification;
- the real chain of the node's monitoring side (a pod burning CPU, cAdvisor, Prometheus and
  its rules, Alertmanager, all run by the operator: testbed.chain.in_node) delivers to the Revision at zero, the
  burning pod gets `panne`, and no notification fails.

Durations are shortened for the test (testbed.platforms.serving.install.TEST_AUTOSCALER); figures
at full size are in `make bench` (bench/knative.py).
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest

from testbed.chain import in_node
from testbed.chain.loopback import AlertmanagerAPI, PrometheusAPI
from testbed.clusters.node import deploy, probe
from testbed.clusters.node import workload as burners
from testbed.clusters.node.layout import Layout
from testbed.platforms import clis
from testbed.platforms.serving import install, service
from testbed.tools import require

NO_INGRESS = (
    "No networking layer on this node (Kourier, Contour and Istio need Envoy, which no "
    "reachable registry carries): Routes stay not Ready (IngressNotConfigured); "
    "Revisions are reached through their public Service"
)
NAMESPACES = (service.KN_NAMESPACE, service.KUSTOMIZE_NAMESPACE)


def kubectl(layout: Layout, *args: str) -> str:
    res = install.kubectl(layout, *args, check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.fixture(scope="module")
def knative(node):
    """Knative installed; the function deployed by kn and by the overlay, fresh each run;
    returns {namespace: Revision}."""
    require(not install.missing(), "Knative Serving built (make knative): " + ", ".join(install.missing()))
    require(clis.kn().exists(), str(clis.kn()))
    aimed = service.aimed_at_a_revision(node)
    if aimed:  # `make cluster PLATFORM=knative` left it so: its re-sends would keep the
        # Revisions awake; the last test aims it at a Revision itself
        in_node.point_alertmanager(node, in_node.function_webhook(node))
    prior = install.autoscaler_settings(node)  # a reused Knative gets its own durations back
    began = time.monotonic()
    install.install(node, install.TEST_AUTOSCALER)
    installed = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        for ns in NAMESPACES:  # kn must really create its Service: start from nothing
            pool.submit(
                install.kubectl,
                node,
                "delete",
                "namespace",
                ns,
                "--ignore-not-found",
                "--timeout=90s",
                timeout=120,
            )
    service.deploy_kn(node)
    service.deploy_kustomize(node)
    with ThreadPoolExecutor(2) as pool:
        revisions = dict(zip(NAMESPACES, pool.map(lambda ns: service.revision(node, ns), NAMESPACES)))
    ready = time.monotonic()
    print(
        f"\n{NO_INGRESS}.\nKnative Serving {install.VERSION} ready in {installed - began:.1f}s; "
        f"both Revisions Ready {ready - installed:.1f}s later"
    )
    yield revisions
    if prior is not None:
        install.set_autoscaler(node, {key: prior[key] for key in install.TEST_AUTOSCALER})
    if aimed:
        kn_revision = service.revision(node, service.KN_NAMESPACE)["metadata"]["name"]
        in_node.point_alertmanager(node, service.revision_webhook(node, service.KN_NAMESPACE, kn_revision))


def label(layout: Layout, namespace: str, pod: str) -> str:
    return kubectl(layout, "-n", namespace, "get", "pod", pod, "-o", "jsonpath={.metadata.labels.status}")


def at_zero(layout: Layout, namespace: str, revision: str, timeout: float = 90) -> float:
    """Seconds until the Revision's Deployment wants no pod and none is left, not even terminating."""
    began = time.monotonic()
    probe.wait_for(
        lambda: (
            service.replicas(layout, namespace, revision) == 0
            and not revision_pods(layout, namespace, revision)
        ),
        f"{namespace}/{revision} at zero",
        timeout,
    )
    return time.monotonic() - began


def revision_pods(layout: Layout, namespace: str, revision: str) -> list[dict]:
    return json.loads(
        kubectl(
            layout,
            "-n",
            namespace,
            "get",
            "pods",
            "-l",
            f"serving.knative.dev/revision={revision}",
            "-o",
            "json",
        )
    )["items"]


def test_knative_runs_from_local_images_with_cluster_dns(node, knative):
    """The four components run from our images; the activator is Ready, which it is only
    once its websocket to autoscaler.knative-serving.svc.cluster.local is up."""
    deployments = json.loads(kubectl(node, "-n", install.NAMESPACE, "get", "deployments", "-o", "json"))[
        "items"
    ]
    images = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"] for d in deployments
    }
    assert images == {name: install.image(name) for name in install.DEPLOYMENTS}
    assert all(d["status"].get("readyReplicas") == 1 for d in deployments), [d["status"] for d in deployments]
    logs = kubectl(node, "-n", install.NAMESPACE, "logs", "deployment/activator")
    assert "Connecting to Autoscaler at ws://autoscaler.knative-serving.svc.cluster.local:8080" in logs


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_revision_ready_under_restricted_route_without_ingress(node, knative, namespace):
    """kn's and the overlay's Service: Configuration and Revision Ready (their pod, the
    queue-proxy included, admitted under `restricted`); the Route is not, for want of an ingress."""
    labels = json.loads(kubectl(node, "get", "namespace", namespace, "-o", "json"))["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    conditions = {c["type"]: c for c in knative[namespace]["status"]["conditions"]}
    assert conditions["Ready"]["status"] == "True" and conditions["ContainerHealthy"]["status"] == "True"
    configuration = json.loads(
        kubectl(node, "-n", namespace, "get", "configuration", service.NAME, "-o", "json")
    )
    assert {c["type"]: c["status"] for c in configuration["status"]["conditions"]}["Ready"] == "True"
    route = json.loads(kubectl(node, "-n", namespace, "get", "route", service.NAME, "-o", "json"))
    ready = {c["type"]: c for c in route["status"]["conditions"]}["Ready"]
    print(f"\n{namespace}: Route Ready={ready['status']} ({ready.get('reason')}: {ready.get('message')})")
    assert ready["status"] != "True" and ready.get("reason") == "IngressNotConfigured"
    template = json.loads(
        kubectl(
            node,
            "-n",
            namespace,
            "get",
            "deployment",
            f"{knative[namespace]['metadata']['name']}-deployment",
            "-o",
            "json",
        )
    )
    containers = {c["name"]: c for c in template["spec"]["template"]["spec"]["containers"]}
    queue = containers.pop("queue-proxy")
    assert queue["image"] == install.image("queue")
    assert queue["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert queue["securityContext"]["runAsNonRoot"] and queue["securityContext"]["capabilities"]["drop"] == [
        "ALL"
    ]
    # kn leaves the container unnamed (Knative calls it user-container), the overlay names it.
    (user,) = containers.values()
    assert user["image"] == service.IMAGE


def test_scales_to_zero_wakes_for_a_webhook_and_sleeps_again(node, knative, workload):
    """At zero, a webhook to the Revision's public Service wakes a pod, labels ours, gets 200."""
    ns = service.KN_NAMESPACE
    revision = knative[ns]["metadata"]["name"]
    idle = at_zero(node, ns, revision)
    url = f"http://{service.public_service_ip(node, ns, revision)}/"
    with ThreadPoolExecutor(1) as pool:
        sent = time.monotonic()
        pod_ready = pool.submit(first_ready, node, ns, revision, sent)
        status, summary = probe.post(
            url, probe.critical_alert(workload, "app"), deploy.webhook_token(node), host=service.host(node, ns, revision)
        )
        answered = time.monotonic() - sent
        ready = pod_ready.result()
    assert status == 200, summary
    assert summary["counts"] == {"labeled": 1}
    assert label(node, workload, "app") == "panne"
    assert ready is not None, "no pod of the Revision became Ready"
    back = at_zero(node, ns, revision)
    print(
        f"\nat zero after {idle:.1f}s of waiting; webhook sent at zero -> a pod of the Revision Ready "
        f"+{ready:.1f}s -> 200 with the label written +{answered:.2f}s; back to zero {back:.1f}s later "
        f"(stable window {install.TEST_AUTOSCALER['stable-window']}, grace "
        f"{install.TEST_AUTOSCALER['scale-to-zero-grace-period']})"
    )


def first_ready(
    layout: Layout, namespace: str, revision: str, since: float, timeout: float = 30
) -> float | None:
    """Seconds from `since` until a pod of the Revision is Ready (polled every 0.2 s)."""
    while time.monotonic() - since < timeout:
        for pod in revision_pods(layout, namespace, revision):
            if any(
                c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])
            ):
                return time.monotonic() - since
        time.sleep(0.2)
    return None


def test_alertmanager_delivers_to_a_sleeping_function(node, knative, workload):
    """A firing alert through the node's Alertmanager (a pod, resolving the Revision's name through
    cluster DNS) reaches the overlay's Revision at zero: it wakes, the pod gets its label, and
    Alertmanager counts no failed notification."""
    ns = service.KUSTOMIZE_NAMESPACE
    revision = knative[ns]["metadata"]["name"]
    webhook = dataclasses.replace(service.revision_webhook(node, ns, revision), namespace=workload)
    in_node.start(node, webhook=webhook)
    alertmanager = AlertmanagerAPI(in_node.alertmanager_url(node))
    try:
        failed = alertmanager.failed()
        at_zero(node, ns, revision)
        now = datetime.now(timezone.utc).isoformat()
        sent = time.monotonic()
        alertmanager.post_alerts(
            [
                {
                    "labels": {
                        "alertname": "PodCpuFailure",
                        "namespace": workload,
                        "pod": "app",
                        "severity": "critical",
                    },
                    "annotations": {"cpu_usage": "91.0"},
                    "startsAt": now,
                    "generatorURL": "http://knative.invalid/",
                }
            ],
        )
        probe.wait_for(lambda: label(node, workload, "app") == "panne", "the label from Alertmanager's webhook", 60)
        labelled = time.monotonic() - sent
        assert alertmanager.failed() == failed
    finally:
        in_node.point_alertmanager(node, in_node.function_webhook(node))
    print(
        f"\nAlertmanager -> Revision at zero: label written {labelled:.1f}s after the alert was "
        f"posted (group_wait {in_node.PACE.group_wait}); failed notifications: 0"
    )


def test_the_podmonitor_scrapes_a_knative_pod(node, knative, workload):
    """The shipped PodMonitor, applied in the namespace of the kustomize overlay's Service,
    gives Prometheus the woken Revision's pod as one target on the function's port, which
    Knative renames `user-port`, never on the queue-proxy's."""
    in_node.require_built()
    ns = service.KUSTOMIZE_NAMESPACE
    revision = knative[ns]["metadata"]["name"]
    in_node.start(node)
    monitor = in_node.pod_monitor()
    monitor["metadata"]["namespace"] = ns
    install.kubectl(node, "apply", "-f", "-", input=json.dumps(monitor))
    prometheus = PrometheusAPI(in_node.prometheus_url(node))
    status, summary = probe.post(
        f"http://{service.public_service_ip(node, ns, revision)}/",
        probe.critical_alert(workload, "app"),
        deploy.webhook_token(node),
        host=service.host(node, ns, revision),
    )
    assert status == 200, summary
    seen = f'max_over_time(up{{namespace="{ns}", job="{ns}/cpu-alert-labeler"}}[5m])'
    probe.wait_for(lambda: bool(prometheus.query(seen)), "the woken pod as a PodMonitor target", 90)
    targets = prometheus.query(seen)
    assert {(t["metric"]["endpoint"], t["value"][1]) for t in targets} == {("user-port", "1")}, targets


@pytest.fixture
def burning(node):
    name = f"burn-{uuid.uuid4().hex[:6]}"
    yield name
    install.kubectl(node, "delete", "namespace", name, "--wait=false", check=False)


def test_real_cpu_chain_delivers_to_a_sleeping_function(node, knative, burning):
    """A pod at 90% of its CPU limit: Prometheus fires, the node's Alertmanager sends to the kn
    Revision while it is at zero, the Revision wakes, the pod gets `panne`, nothing fails.
    Alertmanager's route takes only the burning namespace's alerts here, so no other pod's
    alert can wake the Revision first: it has no pod when the burner's alert reaches
    Alertmanager, and the pod that serves the label starts after that."""
    in_node.require_built()
    ns = service.KN_NAMESPACE
    revision = knative[ns]["metadata"]["name"]
    webhook = dataclasses.replace(service.revision_webhook(node, ns, revision), namespace=burning)
    in_node.start(node, webhook=webhook)
    alertmanager = AlertmanagerAPI(in_node.alertmanager_url(node))
    try:
        failed = alertmanager.failed()
        at_zero(node, ns, revision)
        created = time.monotonic()
        burners.apply(node, burning, [burners.burner("hot", 90)])
        probe.wait_for(lambda: alertmanager.alerts_where(f'namespace="{burning}"'), "the burner's alert in Alertmanager",
                 150, poll=0.2)
        alerted = datetime.now(timezone.utc)
        assert revision_pods(node, ns, revision) == [], "the Revision was awake before the burner's alert"
        probe.wait_for(lambda: label(node, burning, "hot") == "panne", "panne on the burning pod", 150, poll=0.5)
        labelled = time.monotonic() - created
        woke = revision_pods(node, ns, revision)
        assert alertmanager.failed() == failed
        assert woke, "the label was written, yet no pod of the Revision ran"
        started = min(datetime.fromisoformat(p["metadata"]["creationTimestamp"].replace("Z", "+00:00")) for p in woke)
        assert started >= alerted.replace(microsecond=0), (started, alerted)
    finally:
        in_node.point_alertmanager(node, in_node.function_webhook(node))
    print(
        f"\nreal chain -> Revision at zero: the burning pod labelled panne {labelled:.1f}s after its "
        f"creation (cAdvisor, a {in_node.PACE.rate_window} rate window, for: {in_node.PACE.hold}); "
        f"the Revision woke for it; failed notifications: 0"
    )
