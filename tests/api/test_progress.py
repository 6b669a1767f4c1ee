"""We test these aspects (issue 20, progress across re-sends): what a notification costs in
API calls, counted by a proxy in front of the real apiserver.

- a notification naming many pods of a namespace reads them in one metadata LIST, then one
  PATCH per pod (and its Event), never a GET per pod;
- the same notification repeated after a 200 costs one LIST and writes nothing;
- re-sent after a 503 (the deadline ran out), it writes only the pods still to change and
  reads none of those the first try wrote;
- a pod the LIST does not hold is skipped as not found, and the others are labeled;
- an identity without `list` on pods (an older ClusterRole) still labels, pod by pod.
"""

from collections import Counter

from function import labeler
from testbed.clusters.loopback import ADMIN
from testbed.faultproxy import FaultProxy
from testbed.webhooks import alert, webhook


def notification(namespace, pods):
    return webhook([alert(pod, namespace, name="PodCpuFailure", fp=f"f{pod}") for pod in pods])


def kinds(proxy: FaultProxy, namespace: str) -> Counter:
    """The calls forwarded: LIST, GET, PATCH, Event."""
    pods = f"/api/v1/namespaces/{namespace}/pods"
    out: Counter = Counter()
    for method, path in proxy.calls:
        if path == pods:
            out["LIST"] += 1
        elif path.startswith(pods + "/"):
            out[method] += 1
        elif path.endswith("/events"):
            out["Event"] += 1
    return out


def test_many_pods_are_read_in_one_list_and_a_re_send_costs_nothing(make_client, apiserver, namespace, tmp_path):
    pods = [f"web-{i}" for i in range(40)]
    for pod in pods:
        apiserver.create_pod(namespace, pod)
    with FaultProxy(apiserver.url, apiserver.dir / "ca.crt") as proxy:
        client = make_client(proxy.kubeconfig(tmp_path / "kc", apiserver.users[ADMIN][0]))
        body = notification(namespace, pods + ["gone"])
        response = client.post("/", json=body)
        assert response.status_code == 200, response.json
        assert response.json["counts"] == {"labeled": 40, "skipped": 1}
        gone = [a for a in response.json["alerts"] if a["pod"] == "gone"]
        assert gone[0]["reason"] == "pod not found"
        assert kinds(proxy, namespace) == {"LIST": 1, "PATCH": 40, "Event": 40}
        proxy.calls.clear()
        again = client.post("/", json=body)  # a repeat (repeat_interval) after a 200: one LIST
        assert again.status_code == 200 and again.json["counts"] == {"unchanged": 40, "skipped": 1}
        assert kinds(proxy, namespace) == {"LIST": 1}  # a label changed by hand would be seen
    assert {apiserver.get_pod(namespace, p)["metadata"]["labels"]["status"] for p in pods} == {"panne"}


def test_without_list_rights_pods_are_read_one_by_one(make_client, apiserver, namespace, tmp_path):
    """An identity with the ClusterRole of before (get and patch only) labels pod by pod."""
    token = apiserver.account_token(namespace, "no-list", [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "patch"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}])
    pods = [f"api-{i}" for i in range(20)]
    for pod in pods:
        apiserver.create_pod(namespace, pod)
    with FaultProxy(apiserver.url, apiserver.dir / "ca.crt") as proxy:
        client = make_client(proxy.kubeconfig(tmp_path / "kc", token))
        response = client.post("/", json=notification(namespace, pods))
        assert response.status_code == 200 and response.json["counts"] == {"labeled": 20}, response.json
        assert kinds(proxy, namespace) == {"LIST": 1, "GET": 20, "PATCH": 20, "Event": 20}


def test_a_re_send_after_503_spends_nothing_on_what_the_first_try_wrote(make_client, apiserver, namespace,
                                                                          tmp_path):
    # Fewer pods than LIST_FROM, so each is read alone: only what the cache vouches for
    # saves the reads of the pods the first try wrote.
    pods = [f"db-{i}" for i in range(labeler.LIST_FROM - 2)]
    for pod in pods:
        apiserver.create_pod(namespace, pod)
    with FaultProxy(apiserver.url, apiserver.dir / "ca.crt", latency=(0.15, 0.15)) as proxy:
        # 2 pods at once, a GET and a PATCH of 0.15 s each, 1.2 s: about 8 pods, so 503.
        client = make_client(proxy.kubeconfig(tmp_path / "kc", apiserver.users[ADMIN][0]),
                             REQUEST_DEADLINE_SECONDS="1.2", PATCH_CONCURRENCY_PER_REQUEST="2",
                             EMIT_EVENTS="false")
        body = notification(namespace, pods)
        first = client.post("/", json=body)
        assert first.status_code == 503, first.json
        done = {a["pod"] for a in first.json["alerts"] if a["outcome"] == "labeled"}
        assert 0 < len(done) < len(pods)
        proxy.calls.clear()
        second = client.post("/", json=body)
        patched = {path.rsplit("/", 1)[1] for method, path in proxy.calls if method == "PATCH"}
        read = {path.rsplit("/", 1)[1] for method, path in proxy.calls
                if method == "GET" and path.startswith(f"/api/v1/namespaces/{namespace}/pods/")}
        assert not (patched | read) & done, (patched | read) & done  # nothing spent on those
        assert patched, "the re-send labeled the pods still to change"
        # (a PATCH of the first try held past its timeout may land during the second: that pod
        # then reads as labeled or unchanged there, never written twice the wrong way)
        assert {a["pod"] for a in second.json["alerts"] if a["outcome"] == "unchanged"} >= done
