"""We test these aspects: holding under faults, concurrency and hostile input.

- the fault proxy: each injected kind reaches the client as the real API would answer
  (500, 503, 429 with a Status body) or as a broken connection; a dropped answer still
  writes; a delayed request lands after the client gave up; a healthy proxy forwards
  over one kept-alive connection; the same seed draws the same faults, in exact shares;
  its latency mode holds every forwarded request within its bounds (the same seed, the
  same holds) and changes nothing else; it counts forwarded requests by method and the
  apiserver's answers by status;
- the small campaigns of testbed.campaigns: fuzzed requests never get a 5xx from a
  healthy API and every answer is JSON; at 24 % injected API faults, with Alertmanager's
  re-sends, every pod ends on its newest state; shuffled and repeated states sent at once
  to four processes never leave a stale label; the production server answers every
  request of concurrent senders (speed figures are printed, never asserted).
"""

import http.client
import json
import time

import pytest

from testbed.campaigns import concurrency, faults, fuzz, load, pressure, slowclients
from testbed.campaigns.figures import table
from testbed.clusters.loopback import ADMIN
from testbed.faultproxy import KINDS, FaultProxy

SEED = 20261124


# == the fault proxy ======================================================================
@pytest.fixture
def proxy_for(apiserver):
    """A FaultProxy in front of the session apiserver, with given rates; closed afterwards."""
    made = []

    def build(rates=None, **options):
        proxy = FaultProxy(apiserver.url, apiserver.dir / "ca.crt", rates=rates or {}, **options)
        made.append(proxy)
        return proxy

    yield build
    for proxy in made:
        proxy.close()


def request(proxy, apiserver, method="GET", path="/api/v1/namespaces/default", body=None, *,
            timeout=10.0, conn=None):
    """One API request through the proxy as the admin; (status, JSON body)."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", int(proxy.url.rsplit(":", 1)[1]), timeout=timeout)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body), headers={
            "Authorization": f"Bearer {apiserver.users[ADMIN][0]}", "Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}"), response.headers
    finally:
        if own:
            conn.close()


def pod_body(name):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]}}


@pytest.mark.parametrize("kind,reason", [("500", "InternalError"), ("503", "ServiceUnavailable"),
                                         ("429", "TooManyRequests")])
def test_status_faults_answer_like_the_api(proxy_for, apiserver, kind, reason):
    """An injected 500/503/429 carries a Kubernetes Status body and is never forwarded."""
    proxy = proxy_for({kind: 1.0})
    status, doc, headers = request(proxy, apiserver)
    assert status == int(kind)
    assert (doc["kind"], doc["code"], doc["reason"]) == ("Status", int(kind), reason)
    assert (headers.get("Retry-After") is not None) == (kind == "429")
    assert proxy.summary() == {"requests": 1, "forwarded": 0, **{k: int(k == kind) for k in KINDS}}


def test_drop_closes_the_connection_without_an_answer(proxy_for, apiserver):
    """A dropped request gets no answer at all and is not forwarded."""
    proxy = proxy_for({"drop": 1.0})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        request(proxy, apiserver)
    assert proxy.counts["drop"] == 1 and proxy.forwarded == 0


def test_drop_after_forwarding_still_writes(proxy_for, apiserver, namespace):
    """The nastiest case: the write lands on the apiserver but its answer is dropped."""
    proxy = proxy_for({"drop_after": 1.0})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        request(proxy, apiserver, "POST", f"/api/v1/namespaces/{namespace}/pods", pod_body("landed"))
    assert proxy.forwarded == 1 and proxy.counts["drop_after"] == 1
    assert apiserver.get_pod(namespace, "landed")["metadata"]["name"] == "landed"


def test_delay_outlasts_the_client_then_writes_late(proxy_for, apiserver, namespace):
    """A delayed request times the client out, then still reaches the apiserver (a late write)."""
    proxy = proxy_for({"delay": 1.0}, delay=0.5)
    with pytest.raises(TimeoutError):
        request(proxy, apiserver, "POST", f"/api/v1/namespaces/{namespace}/pods", pod_body("late"),
                timeout=0.1)
    code = None
    for _ in range(100):  # bounded wait for the late write
        code, _ = apiserver.request("GET", f"/api/v1/namespaces/{namespace}/pods/late")
        if code == 200:
            break
        time.sleep(0.1)
    assert code == 200 and proxy.counts["delay"] == 1 and proxy.forwarded == 1


def test_healthy_proxy_forwards_over_one_kept_alive_connection(proxy_for, apiserver):
    """With no faults, answers are the apiserver's own, and the connection is reused."""
    proxy = proxy_for()
    conn = http.client.HTTPConnection("127.0.0.1", int(proxy.url.rsplit(":", 1)[1]), timeout=10)
    try:
        first = request(proxy, apiserver, conn=conn)
        sock = conn.sock
        second = request(proxy, apiserver, conn=conn)
        assert conn.sock is sock and sock is not None
    finally:
        conn.close()
    assert [first[0], second[0]] == [200, 200]
    assert first[1]["kind"] == "Namespace" and first[1]["metadata"]["name"] == "default"
    missing = request(proxy, apiserver, path="/api/v1/namespaces/absent-ns")
    assert missing[0] == 404 and missing[1]["reason"] == "NotFound"
    assert proxy.summary()["forwarded"] == 3 and sum(proxy.counts.values()) == 0


def test_same_seed_same_faults_in_exact_shares(proxy_for, apiserver):
    """Sequential requests draw the same faults for the same seed, each kind in its exact share."""
    rates = {"500": 0.2, "503": 0.2, "429": 0.1}
    drawn = []
    for _ in range(2):
        proxy = proxy_for(rates, seed=7, deck=20)
        for _ in range(40):
            request(proxy, apiserver)
        drawn.append(proxy.injected)
        assert dict(proxy.counts) == {"500": 8, "503": 8, "429": 4}
        assert proxy.forwarded == 20
    assert drawn[0] == drawn[1]
    other = proxy_for(rates, seed=8, deck=20)
    for _ in range(40):
        request(other, apiserver)
    assert other.injected != drawn[0]


def test_latency_mode_holds_each_forwarded_request_within_its_bounds(proxy_for, apiserver):
    """Every request is forwarded after a hold between the bounds; the same seed holds the
    same times; answers are the apiserver's own, counted by method and status."""
    holds = []
    for _ in range(2):
        proxy = proxy_for(latency=(0.05, 0.2), seed=3)
        began = time.perf_counter()
        answers = [request(proxy, apiserver)[0] for _ in range(6)]
        elapsed = time.perf_counter() - began
        assert answers == [200] * 6 and proxy.forwarded == 6 and sum(proxy.counts.values()) == 0
        assert 6 * 0.05 <= proxy.held <= 6 * 0.2 and elapsed >= proxy.held
        holds.append(proxy.held)
    assert holds[0] == holds[1]
    assert proxy.methods == {"GET": 6} and proxy.statuses == {200: 6}


def test_fixed_latency_can_change_while_serving(proxy_for, apiserver):
    """Equal bounds hold a fixed time; set_latency() changes it for the next requests."""
    proxy = proxy_for(latency=(0.1, 0.1))
    began = time.perf_counter()
    request(proxy, apiserver)
    assert time.perf_counter() - began >= 0.1 and proxy.held == pytest.approx(0.1)
    proxy.set_latency(None)
    request(proxy, apiserver, path="/api/v1/namespaces/absent-ns")
    assert proxy.held == pytest.approx(0.1) and proxy.statuses == {200: 1, 404: 1}
    with pytest.raises(ValueError):
        proxy.set_latency((0.2, 0.1))


@pytest.mark.parametrize("rates", [{"500": 0.7, "drop": 0.5}, {"teapot": 0.1}, {"503": -0.1}])
def test_impossible_rates_are_refused(apiserver, rates):
    """Rates over 100 % in total, unknown kinds or negative rates are an error, not a silent cap."""
    with pytest.raises(ValueError):
        FaultProxy(apiserver.url, apiserver.dir / "ca.crt", rates=rates).close()


# == the campaigns, small size ============================================================
def show(result):
    print("\n" + table(result.figures()))


def test_fuzz_never_gets_a_5xx_from_a_healthy_api(apiserver, tmp_path):
    """Mutated bodies, methods, paths and auth headers: no 5xx, every answer a JSON object."""
    result = fuzz.run(apiserver, fuzz.SIZES["small"], SEED, tmp_path)
    show(result)
    assert result.sent == fuzz.SIZES["small"].requests
    assert result.statuses[200] > 0 and result.statuses[400] > 0  # it labels and it refuses
    assert result.bugs == 0, (result.exceptions, result.samples)
    assert result.not_json == 0, result.samples


def test_fault_campaign_ends_every_pod_on_its_newest_state(apiserver, tmp_path):
    """Through 24 % injected API faults of every kind, with re-sends, no final label is wrong."""
    result = faults.run(apiserver, faults.SIZES["small"], SEED, tmp_path)
    show(result)
    assert all(result.proxy[kind] > 0 for kind in KINDS), result.proxy
    assert result.check.pods == faults.SIZES["small"].pods
    assert result.tally.undelivered == 0 and result.tally.failed_entries == 0
    assert result.check.wrong_label == 0, result.check.details
    assert result.check.wrong_time == 0, result.check.details


def test_concurrent_shuffled_states_leave_no_stale_label(apiserver, tmp_path):
    """Four processes, fifty senders, shuffled and repeated states: the newest wins on every pod."""
    result = concurrency.run(apiserver, concurrency.SIZES["small"], SEED, tmp_path)
    show(result)
    assert result.processes >= 4 and result.senders >= 50
    assert result.check.pods == concurrency.SIZES["small"].pods
    assert result.tally.outcomes["unchanged (stale, refused)"] > 0  # old states did arrive late
    assert result.tally.undelivered == 0
    assert result.check.wrong_label == 0, result.check.details  # stale overwrites
    assert result.check.wrong_time == 0, result.check.details


def test_load_is_answered_in_full(apiserver, tmp_path):
    """Concurrent keep-alive senders against the production server's workers: every request gets a 2xx."""
    size = load.SIZES["small"]
    result = load.run(apiserver, size, SEED, tmp_path)
    show(result)
    assert result.requests == size.senders * size.requests
    assert result.errors == 0, result.error_kinds


def test_slow_clients_never_starve_health_checks(apiserver, tmp_path):
    """Idle and trickling connections never starve /healthz; an oversized body is refused
    before it is read whole, and the server's memory does not grow by its size."""
    size = slowclients.SIZES["small"]
    result = slowclients.run(apiserver, size, SEED, tmp_path)
    show(result)
    assert [count for count, *_ in result.health] == list(size.hostile_counts)
    assert all(failed == 0 for *_, failed in result.health), result.details()
    for _, sent, peak in result.body:
        assert sent < size.body_mib  # the server closed before taking it all
        assert peak - result.baseline_mib < size.body_mib / 2


def test_pressure_leaves_every_pod_right_and_every_change_recorded(apiserver, tmp_path):
    """A slow API (50-200 ms a call) with re-sends, a throttling API (429s), senders 240 s
    and 600 s ahead (every time, or only endsAt) with late re-sends: no pod ends wrong, no
    label change lacks its Event, and a re-send costs no read of what was written."""
    size = pressure.SIZES["small"]
    result = pressure.run(apiserver, size, SEED, tmp_path)
    show(result)
    assert result.throttled.throttled > 0  # the apiserver did throttle
    assert result.slow.wrong == 0, result.details()
    assert result.throttled.check.wrong_label == 0 and result.throttled.check.wrong_time == 0, result.details()
    assert result.throttled.missing == 0, result.details()
    assert [s.wrong for s in result.skewed] == [0] * len(pressure.SKEWS), result.details()
    inside = [s.wrong_late for s in result.skewed if s.skew <= pressure.ALLOWANCE]
    assert inside == [0] * len(inside), result.details()  # late re-sends stay stale
    # Progress across re-sends: the re-sent notification reads nothing it already wrote, and
    # the LIST reads the rest, so about one PATCH and one Event per changed pod.
    assert result.slow.forwarded <= 2.5 * result.slow.pods, result.slow.forwarded
