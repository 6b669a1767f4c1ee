"""OpenFaaS on the real node: the function deployed and invoked through its gateway, as users do.

We test these aspects:
- OpenFaaS (the gateway and faas-netes built from their pinned Go modules, installed from
  faas-netes' own yaml/) runs from local images, its namespace enforcing Pod Security
  "restricted" and the functions' namespace "baseline" (faas-netes' pod spec cannot meet
  restricted: testbed.platforms.faas.install says why);
- the README's faas-cli commands (login, secret create, deploy -f stack.yml with only the
  image changed) and openfaas/rbac.yaml deploy the function, and `faas-cli list` and
  `faas-cli describe` show it Ready from the local image;
- the README's `faas-cli invoke ... < alert.json`, through the gateway, labels the pods
  alert.json names (read back with kubectl); with a wrong token faas-cli says
  "Unauthorized access" and nothing is labeled;
- this Community Edition refuses zero replicas through its API (what an idler asks for),
  and at zero replicas set with kubectl an invocation through the gateway wakes the function
  and is answered 200 with the labels written (timing printed);
- the real chain (a pod burning CPU, cAdvisor, Prometheus on the shipped rules, the node's
  Alertmanager on the shipped gateway URL) moves the pod's label through the gateway, with
  no failed notification; the function's pod deleted while alerts flow loses no final label.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Iterator

import pytest

from testbed.chain import in_node
from testbed.chain.loopback import AlertmanagerAPI
from testbed.clusters.node import deploy, probe
from testbed.clusters.node import workload as burners
from testbed.clusters.node.containerd import PAUSE_IMAGE
from testbed.clusters.node.images import FUNCTION_IMAGE
from testbed.clusters.node.layout import Layout
from testbed.platforms import clis
from testbed.platforms.faas import install, service
from testbed.tools import require

# What alert.json calls for (tests/system/test_faas_cli.py: the same pods, the same labels).
EXPECTED = {("shop", "checkout-7d9f8b6c5-x2k4p"): "panne", ("default", "worker-0"): "moderate"}


def kubectl(layout: Layout, *args: str) -> str:
    res = deploy.kubectl(layout, *args, check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout


def label(layout: Layout, namespace: str, pod: str) -> str:
    return kubectl(layout, "-n", namespace, "get", "pod", pod, "-o", "jsonpath={.metadata.labels.status}")


@pytest.fixture(scope="module")
def openfaas(node: Layout) -> Iterator[Layout]:
    """OpenFaaS installed; the function removed and deployed again with the README's commands."""
    require(
        not install.missing(), "OpenFaaS built (make openfaas prometheus): " + ", ".join(install.missing())
    )
    require(clis.faas_cli().exists(), str(clis.faas_cli()))
    aimed = service.aimed_at_the_gateway(node)
    if aimed:  # `make cluster PLATFORM=openfaas` left it so: its re-sends would wake the
        # function the wake-up test puts at zero; the chain tests aim it themselves
        in_node.point_alertmanager(node, in_node.function_webhook(node))
    began = time.monotonic()
    install.install(node)
    installed = time.monotonic()
    service.remove(node)  # faas-cli must really create the function and its secret
    service.deploy_function(node)
    print(
        f"\nOpenFaaS gateway {install.GATEWAY}, faas-netes {install.FAAS_NETES}: ready in "
        f"{installed - began:.1f}s; the function deployed and Ready {time.monotonic() - installed:.1f}s later"
    )
    yield node
    if aimed:
        in_node.point_alertmanager(node, service.gateway_webhook(node))


@pytest.fixture
def alert_pods(openfaas: Layout) -> Iterator[Layout]:
    """The pods alert.json names (the pause image), fresh and unlabeled; removed afterwards."""
    deploy.kubectl(openfaas, "create", "namespace", "shop", check=False)
    for namespace, pod in EXPECTED:
        deploy.kubectl(openfaas, "-n", namespace, "delete", "pod", pod, "--ignore-not-found", "--wait=true")
        kubectl(openfaas, "-n", namespace, "run", pod, f"--image={PAUSE_IMAGE}", "--image-pull-policy=Never")
    yield openfaas
    for namespace, pod in EXPECTED:
        deploy.kubectl(openfaas, "-n", namespace, "delete", "pod", pod, "--wait=false", check=False)


def invoke(layout: Layout, token: str):
    """The README's `faas-cli invoke` line, as written, with `token` in its token.txt."""
    return service.invoke(layout, token)


def labels(layout: Layout) -> dict[tuple[str, str], str]:
    return {key: label(layout, *key) for key in EXPECTED}


def test_openfaas_runs_from_local_images_under_pod_security(openfaas):
    """The gateway, faas-netes and Prometheus run from our images; the namespaces enforce
    restricted (OpenFaaS' own) and baseline (the functions')."""
    pods = json.loads(kubectl(openfaas, "-n", install.NAMESPACE, "get", "pods", "-o", "json"))["items"]
    images = {c["image"] for p in pods for c in p["spec"]["containers"]}
    assert images == {install.image(n) for n in ("gateway", "faas-netes", "prometheus")}
    enforced = {
        ns: kubectl(
            openfaas,
            "get",
            "namespace",
            ns,
            "-o",
            r"jsonpath={.metadata.labels.pod-security\.kubernetes\.io/enforce}",
        )
        for ns in (install.NAMESPACE, install.FUNCTION_NAMESPACE)
    }
    assert enforced == {install.NAMESPACE: "restricted", install.FUNCTION_NAMESPACE: "baseline"}


def test_faas_cli_list_and_describe_show_it_ready(openfaas):
    """faas-cli list names the function with one replica; describe says Ready, the local image."""
    listed = service.faas_cli(openfaas, "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert [row[0] for row in rows] == [service.NAME] and rows[0][-1] == "1", listed.stdout
    described = service.describe(openfaas)
    assert described["Status"] == "Ready", described
    assert described["Image"] == FUNCTION_IMAGE
    assert described["Available replicas"] == "1"


def test_wrong_token_through_the_gateway_is_refused_and_labels_nothing(alert_pods):
    """faas-cli's own words for the function's 401, relayed by the gateway; no label written."""
    result = invoke(alert_pods, "not-the-token")
    assert result.returncode != 0
    assert "Unauthorized access" in result.stdout + result.stderr
    assert labels(alert_pods) == {key: "" for key in EXPECTED}


def test_invoke_through_the_gateway_labels_the_pods(alert_pods):
    """The README's invoke with alert.json: 0 exit, the function's JSON answer, each pod labeled."""
    result = invoke(alert_pods, deploy.webhook_token(alert_pods))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["counts"], result.stdout
    assert labels(alert_pods) == EXPECTED


def test_community_edition_refuses_zero_through_its_api(openfaas):
    """What an idler would ask for, the gateway's scale-function with 0 replicas, leaves one:
    this gateway raises it to 1 (scaling/ranges.go) and this faas-netes refuses 0 ("replicas
    cannot be set to 0 in OpenFaaS CE"), so no idler can work with these versions."""
    assert service.scale(openfaas, 0) == 202
    assert service.replicas(openfaas) == 1


def test_wakes_from_zero_through_the_gateway(alert_pods):
    """At zero replicas (set with kubectl, outside OpenFaaS), the next invocation through the
    gateway wakes the function (its scale_from_zero), answered 200 with the labels written
    (after at most two 503s re-sent, as Alertmanager re-sends them)."""
    kubectl(
        alert_pods, "-n", install.FUNCTION_NAMESPACE, "scale", f"deployment/{service.NAME}", "--replicas=0"
    )
    probe.wait_for(lambda: not service.pods(alert_pods), "no function pod", 120)
    sent = time.monotonic()
    refused = []
    # The gateway forwards once the Deployment is available, which can be before faas-netes'
    # Endpoints cache holds the pod: then the answer is 503 "No endpoints available", which
    # Alertmanager re-sends; so does this test, at most twice.
    while (result := invoke(alert_pods, deploy.webhook_token(alert_pods))).returncode != 0 and len(refused) < 2:
        assert "No endpoints available" in result.stdout + result.stderr, result.stdout + result.stderr
        refused.append(result)
    answered = time.monotonic() - sent
    assert result.returncode == 0, result.stderr
    assert labels(alert_pods) == EXPECTED
    assert service.replicas(alert_pods) == 1
    print(
        f"\nwake-up from zero through the gateway: answered 200 with the labels {answered:.2f}s after "
        f"the first invoke ({len(refused)} answered 503 first)"
    )


@pytest.fixture
def burning(openfaas: Layout) -> Iterator[str]:
    """A namespace for burners; the node's Alertmanager aimed at the gateway (the shipped URL)
    for that namespace's alerts only, then put back as it was."""
    in_node.require_built()
    name = f"burn-{uuid.uuid4().hex[:6]}"
    in_node.start(
        openfaas, webhook=dataclasses.replace(service.gateway_webhook(openfaas), namespace=name)
    )
    yield name
    # As the openfaas fixture left it: aimed at the plain function.
    in_node.point_alertmanager(openfaas, in_node.function_webhook(openfaas))
    deploy.kubectl(openfaas, "delete", "namespace", name, "--wait=false", check=False)


def test_real_cpu_chain_through_the_gateway(openfaas, burning):
    """A pod at 90% of its CPU limit gets `panne` through the gateway; no notification fails."""
    alertmanager = AlertmanagerAPI(in_node.alertmanager_url(openfaas))
    failed = alertmanager.failed()
    created = time.monotonic()
    burners.apply(openfaas, burning, [burners.burner("hot", 90)])
    probe.wait_for(
        lambda: label(openfaas, burning, "hot") == "panne", "panne on the burning pod", 150, poll=0.5
    )
    labelled = time.monotonic() - created
    assert alertmanager.failed() == failed
    print(
        f"\nreal chain -> gateway: the burning pod labelled panne {labelled:.1f}s after its creation; failed: 0"
    )


def test_function_pod_deleted_while_alerts_flow_loses_no_final_label(openfaas, burning):
    """The function's pod deleted as the first alerts reach Alertmanager: its Deployment
    replaces it, Alertmanager retries, and each burner still ends with its label."""
    alertmanager = AlertmanagerAPI(in_node.alertmanager_url(openfaas))
    failed = alertmanager.failed()
    burners.apply(openfaas, burning, [burners.burner("hot", 90), burners.burner("calm", 0)])
    probe.wait_for(
        lambda: alertmanager.alerts_where(f'namespace="{burning}"'), "the burners' alerts", 150, poll=0.2
    )
    (pod,) = service.pods(openfaas)
    kubectl(
        openfaas, "-n", install.FUNCTION_NAMESPACE, "delete", "pod", pod["metadata"]["name"], "--wait=false"
    )
    probe.wait_for(
        lambda: (label(openfaas, burning, "hot"), label(openfaas, burning, "calm")) == ("panne", "normal"),
        "panne and normal on the burners",
        150,
        poll=0.5,
    )
    replaced = [p["metadata"]["name"] for p in service.pods(openfaas)]
    assert pod["metadata"]["name"] not in replaced, replaced
    print(
        f"\nfunction pod deleted mid-flow: final labels kept; failed notifications {alertmanager.failed() - failed:.0f}"
    )
