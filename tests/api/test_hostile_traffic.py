"""We test these aspects (issue 16 findings 1, 5, 6, 7 and issue 13 items 3, 4) through the
function against the real kube-apiserver:

- a notification from the future does not freeze a pod's label;
- Alertmanager's tie sequence (issue 16, finding 5) ends on the true level;
- a resolved alert with a zero endsAt does not overwrite a newer state;
- a repeat at a newer time is `unchanged` and writes no Event; CPU text is trimmed in Events;
- a huge integer in an unknown field is ignored (200, not 400);
- a label someone else set is never overwritten: `skipped`, named, counted;
- truncatedAlerts reaches the answer, the log line and a metric;
- a small notification is answered while a big one is still being applied.
"""

import json
import threading

from testbed import net

T1, T2 = "2026-11-24T09:00:00Z", "2026-11-24T09:01:00Z"


def webhook(*alerts, **extra):
    return {"version": "4", "groupKey": "{}:{}", "status": "firing", "alerts": list(alerts), **extra}


def fire(pod, namespace, name="PodCpuFailure", status="firing", at=T1, fp="ab12", cpu=None,
         ends=None):
    return {"status": status, "labels": {"alertname": name, "pod": pod, "namespace": namespace},
            "annotations": {"cpu_usage": cpu} if cpu is not None else {},
            "startsAt": at, "fingerprint": fp,
            "endsAt": ends if ends is not None else (at if status == "resolved" else "0001-01-01T00:00:00Z")}


def post(client, body):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/", data=data, content_type="application/json")


def label(apiserver, namespace, pod):
    return apiserver.get_pod(namespace, pod)["metadata"].get("labels", {}).get("status")


def outcome(response, index=0):
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["alerts"][index]["outcome"]


def events(apiserver, namespace):
    code, doc = apiserver.request("GET", f"/api/v1/namespaces/{namespace}/events")
    assert code == 200
    return [e["message"] for e in doc["items"] if e["reason"] == "CpuLevelChanged"]


def metric(client, name):
    return net.metric(client.get("/metrics").get_data(as_text=True), name)


def test_a_future_time_does_not_freeze_the_label(client, apiserver, namespace):
    """Critical from the year 2099, then a real normal: the pod ends normal, not frozen."""
    apiserver.create_pod(namespace, "web")
    assert outcome(post(client, webhook(fire("web", namespace, at="2099-01-01T00:00:00Z")))) == "labeled"
    annotations = apiserver.get_pod(namespace, "web")["metadata"]["annotations"]
    assert "cpu-alert-labeler/alert-time" not in annotations
    assert outcome(post(client, webhook(fire("web", namespace, "PodCpuNormal", at=T2)))) == "labeled"
    assert label(apiserver, namespace, "web") == "normal"


def test_a_recorded_future_time_heals(client, apiserver, namespace):
    """A pod that recorded a future time (an older release did) accepts the next notification."""
    apiserver.create_pod(namespace, "web")
    code, _ = apiserver.request("PATCH", f"/api/v1/namespaces/{namespace}/pods/web", {"metadata": {
        "labels": {"status": "panne"}, "annotations": {
            "cpu-alert-labeler/alert-time": "2099-01-01T00:00:00.000000Z",
            "cpu-alert-labeler/level": "critical"}}}, content_type="application/merge-patch+json")
    assert code == 200
    assert outcome(post(client, webhook(fire("web", namespace, "PodCpuNormal", at=T2)))) == "labeled"
    assert label(apiserver, namespace, "web") == "normal"


def test_the_tie_sequence_ends_on_the_true_level(client, apiserver, namespace):
    """{F@t1}; {F@t1, N@t2}; {F resolved@t2, N@t2}; {N@t2}: the pod ends normal."""
    apiserver.create_pod(namespace, "web")
    failure = dict(name="PodCpuFailure", fp="F")
    normal = fire("web", namespace, "PodCpuNormal", at=T2, fp="N")
    post(client, webhook(fire("web", namespace, **failure)))
    post(client, webhook(fire("web", namespace, **failure), normal))
    assert label(apiserver, namespace, "web") == "panne"
    resolving = webhook(fire("web", namespace, status="resolved", at=T2, **failure), normal)
    assert outcome(post(client, resolving), 1) == "labeled"
    assert outcome(post(client, webhook(normal))) == "unchanged"
    assert label(apiserver, namespace, "web") == "normal"


def test_a_resolution_without_time_does_not_overwrite(client, apiserver, namespace):
    """A resolved alert with a zero endsAt cannot be ordered: the recorded state stays."""
    apiserver.create_pod(namespace, "web")
    post(client, webhook(fire("web", namespace, at=T2)))
    zero = fire("web", namespace, status="resolved", at=T1, ends="0001-01-01T00:00:00Z")
    response = post(client, webhook(zero))
    assert outcome(response) == "unchanged" and "without a time" in response.json["alerts"][0]["reason"]
    assert label(apiserver, namespace, "web") == "panne"


def test_a_repeat_at_a_newer_time_is_unchanged_without_an_event(client, apiserver, namespace):
    """Same level re-sent with a newer time: the time is recorded, no Event, `unchanged`;
    the one Event written has a tidy CPU text."""
    apiserver.create_pod(namespace, "web")
    assert outcome(post(client, webhook(fire("web", namespace, cpu=" 90% ")))) == "labeled"
    assert outcome(post(client, webhook(fire("web", namespace, at=T2, cpu=" 90% ")))) == "unchanged"
    annotations = apiserver.get_pod(namespace, "web")["metadata"]["annotations"]
    assert annotations["cpu-alert-labeler/alert-time"].startswith("2026-11-24T09:01")
    assert events(apiserver, namespace) == ["status: <none> -> panne (PodCpuFailure, cpu 90%)"]


def test_a_huge_integer_in_an_unknown_field_is_ignored(client, apiserver, namespace):
    apiserver.create_pod(namespace, "web")
    body = json.dumps(webhook(fire("web", namespace))).encode()[:-1] + b', "x": ' + b"7" * 5000 + b"}"
    assert outcome(post(client, body)) == "labeled"


def test_a_label_set_by_someone_else_is_left_alone(client, apiserver, namespace):
    """status=active from a Deployment's template is not ours: skipped, named, counted,
    nothing written; a pod with one of our values is labeled as usual."""
    apiserver.create_pod(namespace, "owned", labels={"app": "x", "status": "active"})
    apiserver.create_pod(namespace, "ours", labels={"app": "x", "status": "moderate"})
    before = metric(client, "cpu_alert_labeler_foreign_labels_total")
    response = post(client, webhook(fire("owned", namespace), fire("ours", namespace)))
    first, second = response.json["alerts"]
    assert first["outcome"] == "skipped" and "status=active" in first["reason"]
    assert second["outcome"] == "labeled"
    pod = apiserver.get_pod(namespace, "owned")["metadata"]
    assert pod["labels"]["status"] == "active" and not pod.get("annotations")
    assert label(apiserver, namespace, "ours") == "panne"
    assert metric(client, "cpu_alert_labeler_foreign_labels_total") == before + 1


def test_truncated_alerts_are_reported(client, apiserver, namespace, capsys):
    """truncatedAlerts > 0: in the answer, the webhook log line and a metric."""
    apiserver.create_pod(namespace, "web")
    before = metric(client, "cpu_alert_labeler_truncated_alerts_total")
    response = post(client, webhook(fire("web", namespace), truncatedAlerts=7))
    assert response.status_code == 200 and response.json["truncatedAlerts"] == 7
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert [line["truncated_alerts"] for line in lines if line["event"] == "webhook"] == [7]
    assert metric(client, "cpu_alert_labeler_truncated_alerts_total") == before + 7


def test_a_small_notification_is_answered_while_a_big_one_runs(make_client, apiserver, namespace):
    """A 400-pod notification is running when a one-pod one arrives: the small one is
    answered first (one request may hold only part of the patch pool)."""
    client = make_client(apiserver.kubeconfig(), PATCH_CONCURRENCY="4",
                         PATCH_CONCURRENCY_PER_REQUEST="2", EMIT_EVENTS="false",
                         REQUEST_DEADLINE_SECONDS="120")
    pods = [f"big-{i}" for i in range(400)]
    for pod in pods + ["small"]:
        apiserver.create_pod(namespace, pod)
    finished: list[str] = []
    started = threading.Event()

    def big():
        started.set()
        response = post(client, webhook(*(fire(p, namespace) for p in pods)))
        finished.append(f"big {response.status_code}")

    thread = threading.Thread(target=big)
    thread.start()
    started.wait()
    selector = "labelSelector=status%3Dpanne&limit=1"
    for _ in range(2000):  # until the big notification has labeled a pod
        _, doc = apiserver.request("GET", f"/api/v1/namespaces/{namespace}/pods?{selector}")
        if doc["items"]:
            break
    response = post(client, webhook(fire("small", namespace)))
    finished.append(f"small {response.status_code}")
    thread.join(180)
    assert finished == ["small 200", "big 200"]
    _, doc = apiserver.request("GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector=status%3Dpanne")
    assert len(doc["items"]) == 401
