"""We test these aspects: the HTTP function against the real kube-apiserver.

- Alertmanager v4, old minimal form and faas-cli's text/plain bodies label the pods named;
- kubectl sees the labels; no other label or field of the pod changes;
- every outcome (labeled, unchanged, skipped, failed) and status (200, 400, 405, 413, 503);
- invalid names and malformed bodies are never sent to the API (a recording API proves it);
- health checks answer without the API; a bad configuration stops start-up.
"""

import json

import functions_framework
import pytest

from function import labeler
from function.errors import ConfigError
from testbed.fakeapi import FakeApi
from testbed.net import metric_samples
from testbed.paths import PAYLOADS, ROOT, SOURCE
from testbed.tools import kubectl
from testbed.webhooks import alert
from testbed.webhooks import webhook as build_webhook


def webhook(*alerts, **extra):
    return build_webhook(list(alerts), **extra)


def fire(
    pod, namespace, name="PodCpuFailure", cpu=None, status="firing", at="2026-11-24T09:00:00Z", **labels
):
    return alert(pod, namespace, name=name, cpu=cpu, status=status, starts_at=at, fp="ab12", labels=labels)


def post(client, body, path="/", content_type="application/json"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(path, data=data, content_type=content_type)


def label(apiserver, namespace, pod, key="status"):
    return apiserver.get_pod(namespace, pod)["metadata"].get("labels", {}).get(key)


def test_sample_payload_labels_pods_seen_by_kubectl(client, apiserver, namespace, tmp_path):
    """alert.json's shape: the most severe alert per pod is written and kubectl shows it."""
    apiserver.create_pod(namespace, "checkout-1")
    apiserver.create_pod(namespace, "worker-0")
    body = webhook(
        fire("checkout-1", namespace, "PodCpuFailure", "97.3"),
        fire("checkout-1", namespace, "PodHighCpuUsage", "58", status="resolved"),
        fire("worker-0", namespace, "PodHighCpuUsage", "41.7%"),
    )
    response = post(client, body)
    assert response.status_code == 200, response.json
    assert [a["outcome"] for a in response.json["alerts"]] == ["labeled", "skipped", "labeled"]
    assert response.json["counts"] == {"labeled": 2, "skipped": 1}
    table = kubectl(apiserver, tmp_path, "get", "pods", "-n", namespace, "-L", "status", "--no-headers")
    rows = {line.split()[0]: line.split()[-1] for line in table.splitlines()}
    assert rows == {"checkout-1": "panne", "worker-0": "moderate"}
    selected = kubectl(
        apiserver, tmp_path, "get", "pods", "-n", namespace, "-l", "status=panne", "-o", "name"
    )
    assert selected.split() == ["pod/checkout-1"]


def test_nothing_else_on_the_pod_changes(client, apiserver, namespace):
    """Only the status label and our annotations are added; labels, spec and status stay."""
    before = apiserver.create_pod(namespace, "api-1", labels={"app": "api", "tier": "web"})
    assert post(client, webhook(fire("api-1", namespace))).status_code == 200
    after = apiserver.get_pod(namespace, "api-1")
    assert after["metadata"]["labels"] == {"app": "api", "tier": "web", "status": "panne"}
    assert set(after["metadata"]["annotations"]) == {
        f"cpu-alert-labeler/{k}"
        for k in ("alert-time", "received-at", "alertname", "level", "cpu-usage", "fingerprint")
    } - {"cpu-alert-labeler/cpu-usage"}  # no cpu_usage annotation on this alert
    assert after["spec"] == before["spec"] and after["status"] == before["status"]
    for key in ("name", "namespace", "uid", "creationTimestamp"):
        assert after["metadata"][key] == before["metadata"][key]


@pytest.mark.parametrize(
    "path,content_type",
    [("/", "application/json"), ("/alert", "application/json"), ("/", "text/plain"), ("/x", None)],
)
def test_any_path_and_content_type(client, apiserver, namespace, path, content_type):
    """`/`, the old `/alert`, and faas-cli's text/plain body all work."""
    apiserver.create_pod(namespace, "api-1")
    response = post(client, webhook(fire("api-1", namespace, "PodHighCpuUsage")), path, content_type)
    assert response.status_code == 200 and response.json["counts"] == {"labeled": 1}
    assert label(apiserver, namespace, "api-1") == "moderate"


def test_minimal_form(client, apiserver, namespace):
    """The old minimal payload, without status or times, labels by CPU usage."""
    apiserver.create_pod(namespace, "api-1")
    body = {
        "alerts": [
            {
                "labels": {"alertname": "CpuSomething", "pod": "api-1", "namespace": namespace},
                "annotations": {"cpu_usage": "92%"},
            }
        ]
    }
    response = post(client, body)
    assert response.json["alerts"][0]["level"] == "critical"
    assert label(apiserver, namespace, "api-1") == "panne"


def test_missing_namespace_uses_default(make_client, apiserver, namespace):
    """An alert without a namespace label goes to DEFAULT_NAMESPACE."""
    apiserver.create_pod(namespace, "api-1")
    client = make_client(apiserver.kubeconfig(), DEFAULT_NAMESPACE=namespace)
    alert = fire("api-1", namespace)
    del alert["labels"]["namespace"]
    assert post(client, webhook(alert)).json["alerts"][0]["outcome"] == "labeled"
    assert label(apiserver, namespace, "api-1") == "panne"


def test_resolution_returns_to_normal_and_repeats_write_nothing(client, apiserver, namespace):
    """Firing -> panne; the same again -> unchanged (resourceVersion stays); resolved -> normal."""
    apiserver.create_pod(namespace, "api-1")
    assert post(client, webhook(fire("api-1", namespace))).json["alerts"][0]["outcome"] == "labeled"
    version = apiserver.get_pod(namespace, "api-1")["metadata"]["resourceVersion"]
    again = post(client, webhook(fire("api-1", namespace)))
    assert again.status_code == 200 and again.json["alerts"][0]["outcome"] == "unchanged"
    assert apiserver.get_pod(namespace, "api-1")["metadata"]["resourceVersion"] == version
    resolved = post(client, webhook(fire("api-1", namespace, status="resolved", at="2026-11-24T09:05:00Z")))
    entry = resolved.json["alerts"][0]
    assert (entry["outcome"], entry["label"], entry["previous"]) == ("labeled", "normal", "panne")
    assert label(apiserver, namespace, "api-1") == "normal"


def test_hand_edited_annotation_cannot_wedge_a_pod(client, apiserver, namespace):
    """A broken recorded time on the pod is treated as unrecorded: 200 and labeled, not 500."""
    apiserver.create_pod(namespace, "api-1")
    code, _ = apiserver.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}/pods/api-1",
        {"metadata": {"annotations": {"cpu-alert-labeler/alert-time": "0001-01-01T00:00:00+01:00"}}},
        content_type="application/merge-patch+json",
    )
    assert code == 200
    response = post(client, webhook(fire("api-1", namespace)))
    assert response.status_code == 200 and response.json["alerts"][0]["outcome"] == "labeled"


def api_calls(client, call):
    text = client.get("/metrics").get_data(as_text=True)
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("cpu_alert_labeler_api_call_duration_seconds_count{") and f'call="{call}"' in line
    )


def test_a_pod_this_process_wrote_last_is_not_read_again(client, apiserver, namespace):
    """The next change of a pod we wrote goes straight to the conditional PATCH (no GET)."""
    apiserver.create_pod(namespace, "api-1")
    post(client, webhook(fire("api-1", namespace)))
    gets, patches = api_calls(client, "get"), api_calls(client, "patch")
    resolved = post(client, webhook(fire("api-1", namespace, status="resolved", at="2026-11-24T09:05:00Z")))
    assert resolved.json["alerts"][0]["outcome"] == "labeled"
    assert (api_calls(client, "get") - gets, api_calls(client, "patch") - patches) == (0, 1)
    assert label(apiserver, namespace, "api-1") == "normal"


def test_a_pod_changed_by_another_writer_is_read_again(client, apiserver, namespace):
    """If another instance wrote a newer state after us, our remembered version gets 409,
    the pod is read afresh, and the older notification is refused as stale."""
    apiserver.create_pod(namespace, "api-1")
    post(client, webhook(fire("api-1", namespace, at="2026-11-24T09:00:00Z")))
    code, _ = apiserver.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}/pods/api-1",
        {
            "metadata": {
                "labels": {"status": "moderate"},
                "annotations": {
                    "cpu-alert-labeler/alert-time": "2026-11-24T09:10:00.000000Z",
                    "cpu-alert-labeler/level": "moderate",
                },
            }
        },
        content_type="application/merge-patch+json",
    )
    assert code == 200
    older = post(client, webhook(fire("api-1", namespace, status="resolved", at="2026-11-24T09:05:00Z")))
    assert older.json["alerts"][0]["outcome"] == "unchanged"
    assert "stale" in older.json["alerts"][0]["reason"]
    assert label(apiserver, namespace, "api-1") == "moderate"


def test_stale_notification_does_not_overwrite(client, apiserver, namespace):
    """A resolved notification older than the firing state on the pod is left unapplied."""
    apiserver.create_pod(namespace, "api-1")
    post(client, webhook(fire("api-1", namespace, at="2026-11-24T10:00:00Z")))
    stale = post(client, webhook(fire("api-1", namespace, status="resolved", at="2026-11-24T09:59:00Z")))
    assert stale.json["alerts"][0]["outcome"] == "unchanged"
    assert "stale" in stale.json["alerts"][0]["reason"]
    assert label(apiserver, namespace, "api-1") == "panne"


def test_resolved_normal_changes_nothing(client, apiserver, namespace):
    """A resolved PodCpuNormal is skipped and the pod keeps its label."""
    apiserver.create_pod(namespace, "api-1", labels={"status": "moderate"})
    response = post(client, webhook(fire("api-1", namespace, "PodCpuNormal", status="resolved")))
    assert response.json["alerts"][0]["outcome"] == "skipped"
    assert label(apiserver, namespace, "api-1") == "moderate"


def test_missing_pod_is_skipped_with_200(client, apiserver, namespace):
    """A pod that does not exist is skipped and reported; other pods are still labeled."""
    apiserver.create_pod(namespace, "real")
    response = post(client, webhook(fire("ghost", namespace), fire("real", namespace)))
    assert response.status_code == 200
    ghost, real = response.json["alerts"]
    assert (ghost["outcome"], ghost["reason"]) == ("skipped", "pod not found")
    assert real["outcome"] == "labeled"


def test_configured_key_and_values(make_client, apiserver, namespace):
    """LABEL_KEY and the level values are what gets written, and only that key."""
    apiserver.create_pod(namespace, "api-1")
    client = make_client(apiserver.kubeconfig(), LABEL_KEY="example.com/cpu", LABEL_CRITICAL="hot")
    post(client, webhook(fire("api-1", namespace)))
    labels = apiserver.get_pod(namespace, "api-1")["metadata"]["labels"]
    assert labels == {"app": "demo", "example.com/cpu": "hot"}


def test_alert_labels_cannot_choose_the_key_or_value(client, apiserver, namespace):
    """Labels and annotations of the alert named like our key or values write nothing of theirs."""
    apiserver.create_pod(namespace, "api-1")
    alert = fire("api-1", namespace, "PodHighCpuUsage")
    alert["labels"].update({"status": "hacked", "label_key": "owner", "value": "root"})
    alert["annotations"].update({"status": "hacked", "label": "app=evil"})
    post(client, webhook(alert))
    assert apiserver.get_pod(namespace, "api-1")["metadata"]["labels"] == {
        "app": "demo",
        "status": "moderate",
    }


@pytest.fixture
def recording_api(tmp_path):
    api = FakeApi(500)
    yield api
    api.close()


@pytest.mark.parametrize(
    "labels",
    [
        {"pod": "web;kubectl delete pod --all", "namespace": "shop"},
        {"pod": "web 1", "namespace": "shop"},
        {"pod": "../../secrets/x", "namespace": "shop"},
        {"pod": "a" * 300, "namespace": "shop"},
        {"pod": "web", "namespace": "shop?dryRun=All"},
        {"pod": "web", "namespace": "Shop"},
        {"namespace": "shop"},
    ],
)
def test_invalid_names_never_reach_the_api(make_client, recording_api, tmp_path, labels):
    """Names that are not Kubernetes names are skipped with a reason and no request is sent."""
    client = make_client(recording_api.kubeconfig(tmp_path / "kubeconfig"))
    alert = {"labels": {"alertname": "PodCpuFailure", **labels}, "annotations": {}}
    response = post(client, {"alerts": [alert]})
    assert response.status_code == 200
    assert response.json["alerts"][0]["outcome"] == "skipped"
    assert recording_api.requests == []


@pytest.mark.parametrize(
    "body,status,message",
    [
        (b"{not json", 400, "not JSON"),
        (b"", 400, "not JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (json.dumps({"alerts": []}).encode(), 400, "empty"),
        (json.dumps({"alerts": "x"}).encode(), 400, "must be a list"),
        (json.dumps({"alerts": [{"labels": {"pod": ["x"]}}]}).encode(), 400, "labels must be"),
        (json.dumps({"alerts": [{"status": "maybe"}]}).encode(), 400, "firing"),
        (json.dumps({"alerts": [{}] * 2001}).encode(), 413, "limit is 2000"),
        (b" " * (4_194_304 + 1), 413, "limit"),
    ],
)
def test_malformed_bodies_are_4xx_and_never_reach_the_api(
    make_client, recording_api, tmp_path, body, status, message
):
    """Each malformed body gets its 4xx with a JSON error naming the problem, and no API call."""
    client = make_client(recording_api.kubeconfig(tmp_path / "kubeconfig"))
    response = post(client, body)
    assert response.status_code == status
    assert message in response.json["error"]
    assert recording_api.requests == []


def test_body_limit_is_configurable(make_client, recording_api, tmp_path):
    """MAX_BODY_BYTES bounds the body before it is parsed."""
    client = make_client(
        recording_api.kubeconfig(tmp_path / "kubeconfig"), MAX_BODY_BYTES="2048", MAX_ALERTS="1"
    )
    response = post(client, webhook(fire("a" * 200, "shop", cpu="9" * 2000)))
    assert response.status_code == 413 and recording_api.requests == []
    response = post(client, webhook(fire("a", "shop"), fire("b", "shop")))
    assert response.status_code == 413 and "2 alerts" in response.json["error"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'cpu_alert_labeler_refused_total{limit="body"}' in metrics
    assert 'cpu_alert_labeler_refused_total{limit="alerts"}' in metrics


def test_unclassified_alerts_are_skipped(client, apiserver, namespace):
    """An alert with no known name and no readable CPU is skipped with a reason, 200."""
    apiserver.create_pod(namespace, "api-1")
    response = post(client, webhook(fire("api-1", namespace, "DiskFull", cpu="lots")))
    assert response.status_code == 200
    assert response.json["alerts"][0]["outcome"] == "skipped"
    assert "unclassified" in response.json["alerts"][0]["reason"]
    assert label(apiserver, namespace, "api-1") is None


@pytest.mark.parametrize(
    "status,reason", [(500, "InternalError"), (503, "ServiceUnavailable"), (429, "TooManyRequests")]
)
def test_retryable_api_failures_answer_503(make_client, tmp_path, status, reason):
    """5xx and 429 from the API fail the pod as retryable, so Alertmanager sends again."""
    api = FakeApi(status, reason)
    try:
        client = make_client(api.kubeconfig(tmp_path / "kubeconfig"))
        response = post(client, webhook(fire("api-1", "shop")))
        assert response.status_code == 503
        entry = response.json["alerts"][0]
        assert entry["outcome"] == "failed" and str(status) in entry["reason"]
        assert api.requests == [api.requests[0]] * 4  # API_ATTEMPTS tries of the same read
        assert api.requests[0][0] == "GET"
    finally:
        api.close()


def test_slow_api_is_cut_by_the_request_deadline(make_client, tmp_path):
    """An API slower than the call timeout: retried while the deadline allows, then 503."""
    api = FakeApi(200, delay=3)
    try:
        client = make_client(
            api.kubeconfig(tmp_path / "kubeconfig"),
            API_TIMEOUT_SECONDS="0.2",
            REQUEST_DEADLINE_SECONDS="1",
            API_ATTEMPTS="50",
        )
        response = post(client, webhook(fire("api-1", "shop")))
        assert response.status_code == 503
        assert response.json["alerts"][0]["outcome"] == "failed"
        assert 2 <= len(api.requests) < 50  # retried, but stopped by the deadline, not by attempts
    finally:
        api.close()


def test_unreachable_api_answers_503(make_client, tmp_path):
    """A closed port is a retryable failure (503), not a crash."""
    api = FakeApi()
    kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
    api.close()
    client = make_client(kubeconfig)
    response = post(client, webhook(fire("api-1", "shop")))
    assert response.status_code == 503
    assert "unreachable" in response.json["alerts"][0]["reason"]


def test_forbidden_is_failed_for_good_and_not_retried(make_client, tmp_path):
    """A 403 will not heal by sending again: the pod is failed and, no pod of the notification
    labeled, the answer is 422 (a 4xx: not re-sent, but counted by Alertmanager as failed)."""
    api = FakeApi(403, "Forbidden")
    try:
        response = post(
            make_client(api.kubeconfig(tmp_path / "kubeconfig")),
            webhook(fire("api-1", "shop"), fire("api-2", "shop", "DiskFull")),
        )
        assert response.status_code == 422
        assert [a["outcome"] for a in response.json["alerts"]] == ["failed", "skipped"]
        assert response.json["status"] == "ok"
    finally:
        api.close()


def test_each_notified_namespace_is_stamped_for_the_not_notified_alert(client, apiserver, namespace):
    """A notification's CPU alerts stamp the time on their namespace's series (the shipped
    CpuAlertLabelerNotNotified alert compares it with the alerts Prometheus fires, namespace
    by namespace); an unclassified alert, or a namespace no cluster could have, stamps nothing."""
    apiserver.create_pod(namespace, "api-1")
    post(
        client,
        webhook(
            fire("api-1", namespace),
            fire("db", "elsewhere-unclassified", "DiskFull"),
            fire("db", "Not_A/Namespace"),
        ),
    )
    metrics = client.get("/metrics").get_data(as_text=True)
    stamped = {
        labels["alert_namespace"]: value
        for labels, value in metric_samples(metrics, "cpu_alert_labeler_last_notification_timestamp_seconds")
    }
    assert namespace in stamped and not {"elsewhere-unclassified", "Not_A/Namespace"} & set(stamped), stamped
    assert stamped[namespace] > 1.7e9  # a Unix time, not a count


def test_the_stamped_namespaces_are_bounded(make_client, apiserver, namespace, monkeypatch):
    """The notification-time series is a bounded set: past labeler.STAMPED_MAX namespaces a
    new one is not stamped (an authenticated sender inventing names cannot grow /metrics
    without end), while those already stamped keep being refreshed."""
    monkeypatch.setattr(labeler, "STAMPED_MAX", 1)
    client = make_client(apiserver.kubeconfig())
    post(client, webhook(fire("a", namespace)))
    post(client, webhook(fire("a", f"{namespace}-second")))
    stamped = {
        labels["alert_namespace"]
        for labels, _ in metric_samples(
            client.get("/metrics").get_data(as_text=True),
            "cpu_alert_labeler_last_notification_timestamp_seconds",
        )
    }
    assert namespace in stamped, stamped
    assert f"{namespace}-second" not in stamped, stamped


def test_success_stands_when_another_pod_fails(client, apiserver, namespace):
    """One pod's outcome does not undo or hide another's label."""
    apiserver.create_pod(namespace, "good")
    response = post(client, webhook(fire("good", namespace), fire("missing", namespace)))
    assert [a["outcome"] for a in response.json["alerts"]] == ["labeled", "skipped"]
    assert label(apiserver, namespace, "good") == "panne"


@pytest.mark.parametrize("path", ["/healthz", "/_/health", "/_/ready"])
def test_health_answers_without_the_api(make_client, recording_api, tmp_path, path):
    """Health checks are 200 and touch nothing."""
    client = make_client(recording_api.kubeconfig(tmp_path / "kubeconfig"))
    response = client.get(path)
    assert response.status_code == 200 and response.json == {"status": "ok"}
    assert recording_api.requests == []


def test_other_methods_are_405(client):
    """GET on the webhook path is not a webhook."""
    response = client.get("/")
    assert response.status_code == 405 and response.headers["Allow"] == "POST"


@pytest.mark.parametrize(
    "env,variable",
    [
        ({"LABEL_KEY": "bad key!"}, "LABEL_KEY"),
        ({"LABEL_CRITICAL": "en panne"}, "LABEL_CRITICAL"),
        ({"CRITICAL_THRESHOLD": "10"}, "CRITICAL_THRESHOLD"),
    ],
)
def test_bad_config_stops_start_up(monkeypatch, env, variable):
    """Loading the function with a bad setting fails with a message naming the variable."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=variable):
        functions_framework.create_app("handle", SOURCE)


def test_no_cluster_config_is_a_clear_error(make_client, tmp_path, monkeypatch):
    """Without in-cluster config or kubeconfig the answer says so (500), it does not hang."""
    monkeypatch.setenv("HOME", str(tmp_path))
    client = make_client(tmp_path / "absent-kubeconfig")
    response = post(client, webhook(fire("api-1", "shop")))
    assert response.status_code == 500
    assert "kubeconfig" in response.json["error"]


def test_sample_file_is_a_v4_payload():
    """alert.json at the root is the captured v4 payload the tests use."""
    root_sample = json.loads((ROOT / "alert.json").read_text())
    assert root_sample == json.loads((PAYLOADS / "alertmanager-v4.json").read_text())
    assert root_sample["version"] == "4" and len(root_sample["alerts"]) == 3
