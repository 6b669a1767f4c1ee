"""We test these aspects: every decision is visible, on the real apiserver and in metrics and logs.

- a change writes the prefixed annotations and a CpuLevelChanged Event that kubectl describe shows;
- a failed Event (the identity may not create Events) never fails the label change;
- server-side dry run persists nothing, reports what would change, and emits no Event;
- /metrics counters move by the right amounts, also summed across several server worker processes;
- one JSON log line per request and per change, with the documented fields.
"""

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from prometheus_client.parser import text_string_to_metric_families

from testbed.functionserver import FunctionServer
from testbed.net import answers
from testbed.tools import kubectl
from testbed.webhooks import alert, webhook


def fire(pod, namespace, name="PodCpuFailure", cpu="97.3", status="firing", at="2026-11-24T09:00:00Z"):
    return alert(pod, namespace, name=name, cpu=cpu, status=status, starts_at=at, fp="fp-1")


def post(client, *alerts):
    return client.post("/", data=json.dumps(webhook(list(alerts))), content_type="application/json")


def events_for(apiserver, namespace, pod):
    code, doc = apiserver.request("GET", f"/api/v1/namespaces/{namespace}/events")
    assert code == 200
    return [e for e in doc["items"] if e["involvedObject"]["name"] == pod]


def test_annotations_and_event_tell_the_story(client, apiserver, namespace, tmp_path):
    """kubectl describe pod shows the annotations and the Event of each change."""
    apiserver.create_pod(namespace, "api-1")
    assert post(client, fire("api-1", namespace)).status_code == 200
    resolved = fire("api-1", namespace, status="resolved", at="2026-11-24T09:10:00Z")
    assert post(client, resolved).status_code == 200
    described = kubectl(apiserver, tmp_path, "describe", "pod", "-n", namespace, "api-1")
    assert "cpu-alert-labeler/alert-time: 2026-11-24T09:10:00.000000Z" in described
    assert "cpu-alert-labeler/level: normal" in described
    assert "CpuLevelChanged" in described
    assert "status: <none> -> panne (PodCpuFailure, cpu 97.3%)" in described
    assert "status: panne -> normal (PodCpuFailure)" in described
    events = events_for(apiserver, namespace, "api-1")
    assert sorted(e["type"] for e in events) == ["Normal", "Warning"]  # critical is a Warning
    assert all(e["source"]["component"] == "cpu-alert-labeler" for e in events)
    listed = kubectl(apiserver, tmp_path, "get", "events", "-n", namespace, "--field-selector",
                     "reason=CpuLevelChanged", "--no-headers")
    assert len(listed.splitlines()) == 2


def test_repeat_emits_no_event(client, apiserver, namespace):
    """A repeat of the current state writes nothing and records nothing."""
    apiserver.create_pod(namespace, "api-1")
    post(client, fire("api-1", namespace))
    post(client, fire("api-1", namespace))
    assert len(events_for(apiserver, namespace, "api-1")) == 1


def test_event_failure_does_not_fail_the_change(make_client, apiserver, namespace, tmp_path, capfd):
    """An identity that may patch pods but not create Events still labels; the Event is
    dropped for good (403 is not retried), logged and counted."""
    token = apiserver.account_token(namespace, "pods-only", [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "patch"]}])
    kubeconfig = apiserver.kubeconfig_for_token("pods-only", token, tmp_path / "kc")
    apiserver.create_pod(namespace, "api-1")
    response = post(make_client(kubeconfig), fire("api-1", namespace))
    assert response.status_code == 200 and response.json["alerts"][0]["outcome"] == "labeled"
    assert apiserver.get_pod(namespace, "api-1")["metadata"]["labels"]["status"] == "panne"
    assert events_for(apiserver, namespace, "api-1") == []
    assert '"event":"event_dropped"' in capfd.readouterr().err


def test_dry_run_persists_nothing_and_reports(make_client, apiserver, namespace):
    """DRY_RUN=true: the API validates, nothing changes, the answer marks the would-be change."""
    before = apiserver.create_pod(namespace, "api-1")
    client = make_client(apiserver.kubeconfig(), DRY_RUN="true")
    response = post(client, fire("api-1", namespace), fire("ghost", namespace))
    assert response.status_code == 200
    body = response.json
    assert body["dryRun"] is True
    labeled, ghost = body["alerts"]
    assert (labeled["outcome"], labeled["label"], labeled["dryRun"]) == ("labeled", "panne", True)
    assert ghost["outcome"] == "skipped"
    after = apiserver.get_pod(namespace, "api-1")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert "status" not in after["metadata"]["labels"]
    assert events_for(apiserver, namespace, "api-1") == []


def samples(text: str) -> dict:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def delta(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0) - before.get(key, 0)


def test_metric_counters_move_by_the_right_amounts(client, apiserver, namespace):
    """A known payload moves each counter by exactly what it contains."""
    apiserver.create_pod(namespace, "a")
    apiserver.create_pod(namespace, "b")
    before = samples(client.get("/metrics").get_data(as_text=True))
    post(client, fire("a", namespace), fire("a", namespace, "PodHighCpuUsage", "50", "resolved"),
         fire("b", namespace, "Other", "40"), fire("ghost", namespace), fire("c", namespace, "Disk", "n/a"))
    after = samples(client.get("/metrics").get_data(as_text=True))
    alerts = "cpu_alert_labeler_alerts_received_total"
    assert delta(before, after, alerts, status="firing", level="critical") == 2
    assert delta(before, after, alerts, status="resolved", level="moderate") == 1
    assert delta(before, after, alerts, status="firing", level="moderate") == 1
    assert delta(before, after, alerts, status="firing", level="unclassified") == 1
    changes = "cpu_alert_labeler_changes_total"
    assert delta(before, after, changes, outcome="labeled") == 2
    assert delta(before, after, changes, outcome="skipped") == 1  # the ghost pod
    api = "cpu_alert_labeler_api_call_duration_seconds_count"
    assert delta(before, after, api, call="get", result="ok") == 2
    assert delta(before, after, api, call="get", result="NotFound") == 1
    assert delta(before, after, api, call="patch", result="ok") == 2
    assert delta(before, after, api, call="event", result="ok") == 2
    assert delta(before, after, "cpu_alert_labeler_request_duration_seconds_count", code="200") == 1


def test_metrics_sum_across_server_workers(apiserver, namespace, tmp_path):
    """With 3 single-threaded workers and parallel senders, several workers serve requests,
    and /metrics counts every one of them, whichever worker served it."""
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    server = FunctionServer("server", tmp_path, {
        "KUBECONFIG": str(apiserver.kubeconfig()), "WORKERS": "3", "THREADS": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "LOG_LEVEL": "WARNING"})
    base = server.url.rstrip("/")
    try:
        server.process.wait_ready(lambda: len(server.process.children()) >= 3 and answers(base + "/healthz"), 90)
        body = json.dumps({"alerts": [fire("ghost", namespace)]}).encode()

        def send(_):
            request = urllib.request.Request(base + "/", data=body, method="POST")
            return urllib.request.urlopen(request, timeout=30).status

        with ThreadPoolExecutor(6) as senders:  # more senders than workers: all get work
            statuses = list(senders.map(send, range(60)))
        text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    finally:
        server.stop()
    assert statuses == [200] * 60
    # prometheus-client keeps one counter_<pid>.db per process that counted something.
    pids = {p.stem.rsplit("_", 1)[1] for p in metrics_dir.glob("counter_*.db")}
    assert len(pids) >= 2, f"expected samples from several workers, got {sorted(pids)}"
    got = samples(text)
    key = ("cpu_alert_labeler_alerts_received_total", (("level", "critical"), ("status", "firing")))
    assert got[key] == 60
    assert got[("cpu_alert_labeler_changes_total", (("outcome", "skipped"),))] == 60


def test_one_log_line_per_request_and_per_change(client, apiserver, namespace, capfd):
    """JSON lines: a `webhook` line with counts and duration, a `pod_change` line per pod."""
    apiserver.create_pod(namespace, "a")
    apiserver.create_pod(namespace, "b")
    capfd.readouterr()
    body = {"version": "4", "groupKey": "{}:{pod=\"a\"}", "alerts": [fire("a", namespace), fire("b", namespace)]}
    client.post("/", data=json.dumps(body), content_type="application/json")
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    requests = [entry for entry in lines if entry["event"] == "webhook"]
    changes = [entry for entry in lines if entry["event"] == "pod_change"]
    assert len(requests) == 1 and len(changes) == 2
    request = requests[0]
    assert (request["status"], request["group_key"], request["alerts"]) == (200, '{}:{pod="a"}', 2)
    assert request["counts"] == {"labeled": 2} and request["duration_ms"] > 0
    assert {c["pod"] for c in changes} == {"a", "b"}
    for change in changes:
        assert (change["namespace"], change["outcome"], change["label"], change["previous"]) == (
            namespace, "labeled", "panne", None)
        assert change["alertname"] == "PodCpuFailure" and change["cpu_level"] == "critical"
        assert change["level"] == "info"
    assert "annotations" not in json.dumps(lines)  # no payload dumps


def test_log_level_filters(make_client, apiserver, namespace, capfd, tmp_path):
    """LOG_LEVEL=WARNING keeps successful requests quiet but still logs failures."""
    apiserver.create_pod(namespace, "a")
    client = make_client(apiserver.kubeconfig(), LOG_LEVEL="WARNING")
    capfd.readouterr()
    post(client, fire("a", namespace))
    assert '"event":"webhook"' not in capfd.readouterr().err
    closed = make_client(apiserver.kubeconfig(), LOG_LEVEL="WARNING", API_ATTEMPTS="1",
                         KUBECONFIG=str(_closed_port_kubeconfig(tmp_path)))
    assert post(closed, fire("a", namespace)).status_code == 503
    err = capfd.readouterr().err
    assert '"event":"pod_change"' in err and '"level":"warning"' in err
    assert '"event":"webhook"' in err and '"level":"error"' in err


def _closed_port_kubeconfig(tmp_path):
    from testbed.fakeapi import FakeApi
    api = FakeApi()
    path = api.kubeconfig(tmp_path / "closed-kubeconfig")
    api.close()
    return path
