"""The function as a pod on a real Kubernetes v1.34 node (testbed.clusters.node), from what ships.

We test these aspects:
- the function's pod is Running in its namespace under the restricted Pod Security
  profile, from the image built from the shipped Dockerfile, and the profile is enforced;
- a webhook POSTed to the Service's ClusterIP (with the token from its Secret) labels a
  pod this test created, as `kubectl get pods -L status` shows; without the token, 401;
- the pod calls the API with its projected, bound, expiring ServiceAccount token;
- the spec guard lets the function's identity write its label and annotations and
  denies it a spec change, another label, owner references, and another object;
- the kit's Cluster calls (testbed.clusters) work on the node as on the loopback apiserver;
- `down` restores the host as it was recorded before the node changed it.

The node comes from the tier's session fixture (tests/node/conftest.py); `test_down`
runs last in the tier.
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import time

import pytest

from testbed.clusters.node import cluster, deploy, hoststate, pki, probe
from testbed.clusters.node.containerd import PAUSE_IMAGE
from testbed.clusters.node.images import FUNCTION_IMAGE
from testbed.clusters.node.layout import Layout
from testbed.process import alive

NS = deploy.NAMESPACE


def kubectl(layout: Layout, *args: str, check: bool = True) -> str:
    res = deploy.kubectl(layout, *args, check=False)
    if check:
        assert res.returncode == 0, res.stderr
    return res.stdout if check else res.stdout + res.stderr


def function_pod(layout: Layout) -> dict:
    pods = json.loads(kubectl(layout, "-n", NS, "get", "pods", "-l",
                              "app.kubernetes.io/name=cpu-alert-labeler", "-o", "json"))["items"]
    running = [p for p in pods if p["status"].get("phase") == "Running"]
    assert running, f"no Running function pod: {[p['status'] for p in pods]}"
    return running[0]


def test_the_node_is_a_cluster_like_the_loopback_apiserver(node):
    """The calls the campaigns and the API tier make on the loopback apiserver (a namespace, a
    ServiceAccount with a Role and its token, a kubeconfig for it, pods) work on the node."""
    api = cluster.Node(node)
    ns = f"seam-{secrets.token_hex(3)}"
    api.create_namespace(ns)
    try:
        rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
        reader = api.kubeconfig_for_token("reader", api.account_token(ns, "reader", rules))
        created = api.create_pod(ns, "seam", {"app": "seam"})
        assert api.get_pod(ns, "seam")["metadata"]["uid"] == created["metadata"]["uid"]
        as_reader = ["--kubeconfig", str(reader), "-n", ns]
        listed = subprocess.run([str(node.kubectl()), *as_reader, "get", "pods", "-o", "name"],
                                capture_output=True, text=True, timeout=60)
        assert (listed.returncode, listed.stdout.strip()) == (0, "pod/seam"), listed.stderr
        denied = subprocess.run([str(node.kubectl()), *as_reader, "delete", "pod", "seam"],
                                capture_output=True, text=True, timeout=60)
        assert denied.returncode != 0 and "forbidden" in denied.stderr, denied.stderr
    finally:
        api.request("DELETE", f"/api/v1/namespaces/{ns}")


def test_function_pod_runs_under_the_restricted_profile(node):
    """The pod is Running from the local image in a namespace that enforces `restricted`."""
    labels = json.loads(kubectl(node, "get", "namespace", NS, "-o", "json"))["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    pod = function_pod(node)
    container = pod["spec"]["containers"][0]
    assert container["image"] == FUNCTION_IMAGE
    assert container["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["spec"]["serviceAccountName"] == "cpu-alert-labeler"
    refused = kubectl(node, "-n", NS, "run", "root-pod", f"--image={PAUSE_IMAGE}", check=False)
    assert "violates PodSecurity \"restricted" in refused


def test_webhook_to_the_cluster_ip_labels_our_pod(node, workload):
    """An alert for our pod, sent to the Service's ClusterIP, sets status=panne on it."""
    url = f"http://{deploy.service_ip(node)}/"
    alert = probe.critical_alert(workload, "app")
    assert probe.post(url, alert, token=None)[0] == 401
    status, summary = probe.post(url, alert, token=deploy.webhook_token(node))
    assert status == 200, summary
    listing = kubectl(node, "-n", workload, "get", "pods", "-L", "status")
    print(listing)
    header, row = listing.splitlines()[:2]
    assert header.split()[-1] == "STATUS" and row.split()[0] == "app" and row.split()[-1] == "panne"


def test_the_pod_uses_its_projected_bound_token(node):
    """The token the function reads is the kubelet's projected one: bound to its pod, expiring."""
    pod = function_pod(node)
    projected = [v for v in pod["spec"]["volumes"] if v["name"].startswith("kube-api-access-")]
    assert projected and any("serviceAccountToken" in s for s in projected[0]["projected"]["sources"])
    token = kubectl(node, "-n", NS, "exec", pod["metadata"]["name"], "--",
                    "cat", "/var/run/secrets/kubernetes.io/serviceaccount/token")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["sub"] == "system:serviceaccount:cpu-alert-labeler:cpu-alert-labeler"
    assert claims["kubernetes.io"]["pod"]["name"] == pod["metadata"]["name"]
    assert claims["exp"] > time.time()


@pytest.fixture
def as_function(node, tmp_path):
    """kubectl as the function's ServiceAccount (a fresh token from the TokenRequest API)."""
    token = kubectl(node, "-n", NS, "create", "token", "cpu-alert-labeler").strip()
    config = pki.kubeconfig(node, "function", tmp_path / "kubeconfig", token=token)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(node.kubectl()), "--kubeconfig", str(config), *args],
                              capture_output=True, text=True, timeout=60)

    return run


def test_spec_guard_allows_the_label_and_denies_the_rest(node, workload, as_function):
    """Label and annotations pass; spec, other labels, owners and other objects are denied."""
    allowed = [
        ["label", "pod", "app", "status=moderate", "--overwrite"],
        ["annotate", "pod", "app", "cpu-alert-labeler/level=moderate", "--overwrite"],
    ]
    for args in allowed:
        res = as_function("-n", workload, *args)
        assert res.returncode == 0, (args, res.stderr)
    denied = {
        "spec": ["patch", "pod", "app", "--type=merge", "-p", '{"spec":{"activeDeadlineSeconds":5}}'],
        "label": ["label", "pod", "app", "app=hijacked", "--overwrite"],
        "annotation": ["annotate", "pod", "app", "other/key=x"],
        "owner": ["patch", "pod", "app", "--type=merge", "-p",
                  '{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap",'
                  '"name":"gone","uid":"00000000-0000-0000-0000-000000000000"}]}}'],
        "other object": ["label", "namespace", workload, "status=panne", "--overwrite"],
        "deployment": ["-n", NS, "scale", "deployment", "cpu-alert-labeler", "--replicas=0"],
    }
    for what, args in denied.items():
        full = args if args[0] == "-n" else ["-n", workload, *args]
        res = as_function(*full)
        assert res.returncode != 0, f"{what} was allowed"
        assert "denied" in res.stderr or "forbidden" in res.stderr.lower(), (what, res.stderr)
    labels = json.loads(kubectl(node, "-n", workload, "get", "pod", "app", "-o", "json"))["metadata"]["labels"]
    assert labels == {"app": "demo", "status": "moderate"}


def test_down_restores_the_host(node):
    """After down, no daemon of the node runs (nor a container: the monitoring side is pods),
    and sysctls, nftables, links, mounts, cgroups and folders are as recorded."""
    snapshot = json.loads((node.state / "host-state.json").read_text())
    daemons = [m.daemon(node) for m in cluster.ORDER]
    pids = {d.name: pid for d in daemons if (pid := d.pid()) is not None}
    assert {m.daemon(node).name for m in cluster.ORDER} <= set(pids), pids
    cluster.down(node)
    assert not node.state.exists()
    assert {name: pid for name, pid in pids.items() if alive(pid)} == {}  # a zombie is not alive
    assert hoststate._ruleset() == snapshot["ruleset"]
    assert hoststate._links() == snapshot["links"]
    assert hoststate._mounts() == snapshot["mounts"]
    assert hoststate._cgroups() == snapshot["cgroups"]
    now = hoststate._sysctls()
    changed = {k for k, v in snapshot["sysctls"].items() if k in now and now[k] != v}
    assert not changed
    assert [p for p in hoststate.CREATED_PATHS if p.exists()] == \
        [p for p in hoststate.CREATED_PATHS if str(p) in snapshot["paths"]]

