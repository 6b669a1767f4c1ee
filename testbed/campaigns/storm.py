"""The storm: thousands of KWOK pods on a 1.34 kube-apiserver, Debian's Alertmanager on the
shipped route and receiver, the function as deployed; every pod's alerts at once.

`KwokCluster` starts etcd + kube-apiserver 1.34 (testbed.clusters.loopback), KWOK (pinned in
testbed/pins/kwok, its fast node and pod stages as --config, a /16 of pod IPs) managing
fake nodes, and N pods spread over namespaces of `per_namespace` pods, bound to those
nodes and Running (KWOK writes their status, as a kubelet would).  `Storm` adds the
function (`python -m function.server`, WORKERS replicas sharing one socket) and
Alertmanager on monitoring/alertmanager.yml with the routes' timers divided by SCALE, and
runs the two phases the shipped rules produce when a whole cluster goes over its limits and
back: PodHighCpuUsage and PodCpuFailure firing for every pod (-> panne), then both resolved
with PodCpuNormal firing (-> normal), each posted at once through Alertmanager's API.

Each phase is measured on the parts' own accounts: the time until a watch on the pods saw
every label right, counted from the post and from the first notification the function
received (its log); the API requests per changed pod from the apiserver's
`apiserver_request_total` (the function's verbs only: KWOK writes pod status, the harness
only watches); 429s; Alertmanager's failed notifications and requests; the function's
peak RSS.  The floor patches the same pods' label from a minimal keep-alive client with
the function's concurrency.  Nothing here asserts a time: tests assert counts and the
bench prints figures.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path

import urllib3

from function.config import Settings
from testbed.chain import configs
from testbed.chain.loopback import Alertmanager
from testbed.clusters.loopback import RELEASES, ApiServer
from testbed.functionserver import FunctionServer
from testbed.net import metric_samples
from testbed.platforms.clis import kwok as kwok_binary
from testbed.platforms.clis import kwok_stages
from testbed.process import Process, StartError

LABEL = Settings().label_key
META = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
META_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
FAKE = "kwok.x-k8s.io/node"  # the annotation KWOK is told to manage nodes by
# The shipped routes' timers, every one divided by SCALE (the levels route's 10s / 1m / 1h
# become 3.3 s / 20 s / 20 min; the normal route's 2m / 5m / 24h 40 s / 100 s / 8 h), in the
# same proportions, so which notification comes first is as shipped.  Not further: the notify
# context is max(group_interval, 10 s) (dispatch.go), and it must hold the function's 8 s
# deadline, a 503 and the re-send, as the shipped 1m does.
SCALE = 3.0


def missing() -> str | None:
    """What is missing to run a storm, or None."""
    if not kwok_binary().exists() or not kwok_stages():
        return f"{kwok_binary()}: run `make kwok`"
    return None


class Api:
    """A keep-alive client to the apiserver as admin (set-up, the watch, the floor, metrics)."""

    def __init__(self, apiserver: ApiServer, *, maxsize: int = 16):
        self.url = apiserver.url
        self.http = urllib3.PoolManager(
            num_pools=2,
            maxsize=maxsize,
            block=True,
            retries=False,
            ca_certs=str(apiserver.dir / "ca.crt"),
            cert_reqs="CERT_REQUIRED",
            timeout=urllib3.Timeout(connect=5, read=60),
        )
        self.auth = {"Authorization": f"Bearer {apiserver.users['admin'][0]}"}

    def call(
        self, method: str, path: str, doc: object = None, *, ok: int = 200, headers: dict | None = None
    ) -> dict:
        body = None if doc is None else json.dumps(doc).encode()
        hdrs = {**self.auth, "Content-Type": "application/json", **(headers or {})}
        resp = self.http.request(method, self.url + path, body=body, headers=hdrs)
        if resp.status != ok:
            raise StartError(f"{method} {path}: {resp.status} {resp.data[:300]!r}")
        return json.loads(resp.data or b"{}")

    def requests(self) -> Counter:
        """apiserver_request_total by (verb, resource, subresource, code); cluster-wide LISTs
        (the harness's watch, KWOK's informers) left out: the function lists namespaces."""
        resp = self.http.request("GET", self.url + "/metrics", headers=self.auth)
        counts: Counter = Counter()
        for labels, value in metric_samples(resp.data.decode(), "apiserver_request_total"):
            if labels.get("verb") == "LIST" and labels.get("scope") == "cluster":
                continue
            key = (labels.get("verb"), labels.get("resource"), labels.get("subresource"), labels.get("code"))
            counts[key] += int(value)
        return counts


def parallel(items: Iterable, fn: Callable, concurrency: int) -> None:
    """fn(item) for every item, `concurrency` at a time; the first error is raised."""
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(fn, item) for item in items]:
            future.result()


class KwokCluster:
    """A 1.34 apiserver holding `pods` Running KWOK pods over namespaces and fake nodes."""

    def __init__(self, workdir: Path, pods: int, *, per_namespace: int = 500, nodes: int = 10):
        self.dir, self.size, self.per_namespace, self.node_count = workdir, pods, per_namespace, nodes
        self.apiserver = ApiServer(workdir / "kube", version=RELEASES["1.34"])
        (workdir / "kube").mkdir(parents=True, exist_ok=True)
        self.pods: list[tuple[str, str]] = [
            (f"storm-{i // per_namespace:03d}", f"app-{i:05d}") for i in range(pods)
        ]
        self.kwok: Process | None = None
        self.api: Api | None = None

    @property
    def namespaces(self) -> list[str]:
        return sorted({ns for ns, _ in self.pods})

    def start(self) -> KwokCluster:
        self.apiserver.start()
        self.api = Api(self.apiserver)
        self.kwok = Process(
            "kwok",
            [
                str(kwok_binary()),
                "--kubeconfig",
                str(self.apiserver.kubeconfig()),
                *[part for stage in kwok_stages() for part in ("--config", str(stage))],
                f"--manage-nodes-with-annotation-selector={FAKE}=fake",
                "--cidr=10.64.0.0/16",  # the default /24 gives 254 pod IPs
                "--node-ip=10.63.0.1",
            ],
            self.dir,
        )
        for i in range(self.node_count):
            self.api.call("POST", "/api/v1/nodes", _node(f"fake-{i:02d}"), ok=201)
        self.kwok.wait_ready(self._nodes_ready, timeout=60)
        for ns in self.namespaces:
            self.api.call(
                "POST",
                "/api/v1/namespaces",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                ok=201,
            )
        parallel(enumerate(self.pods), self._create, 16)
        self.kwok.wait_ready(self._pods_running, timeout=60 + self.size / 50)
        return self

    def _create(self, item: tuple[int, tuple[str, str]]) -> None:
        i, (ns, name) = item
        assert self.api is not None
        self.api.call(
            "POST", f"/api/v1/namespaces/{ns}/pods", _pod(name, f"fake-{i % self.node_count:02d}"), ok=201
        )

    def _nodes_ready(self) -> bool:
        assert self.api is not None
        nodes = self.api.call("GET", "/api/v1/nodes")["items"]
        ready = [
            n
            for n in nodes
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n.get("status", {}).get("conditions", [])
            )
        ]
        return len(ready) == self.node_count

    def _pods_running(self) -> bool:
        assert self.api is not None
        pending = self.api.call("GET", "/api/v1/pods?fieldSelector=status.phase%21%3DRunning&limit=1")
        return not pending["items"]

    def floor(self, concurrency: int) -> float:
        """Seconds a minimal keep-alive client takes to patch every pod's label, `concurrency`
        in flight (a label of its own, so the function's state is left alone); run before the
        function and Alertmanager start, so nothing else loads the machine."""
        api = Api(self.apiserver, maxsize=concurrency)
        value = f"v{int(time.time())}"
        body = json.dumps({"metadata": {"labels": {"storm-floor": value}}}).encode()
        headers = {**api.auth, "Content-Type": "application/merge-patch+json", "Accept": META}

        def patch(key: tuple[str, str]) -> None:
            ns, pod = key
            resp = api.http.request(
                "PATCH", f"{api.url}/api/v1/namespaces/{ns}/pods/{pod}", body=body, headers=headers
            )
            if resp.status != 200:
                raise StartError(f"floor: {ns}/{pod}: {resp.status} {resp.data[:200]!r}")

        started = time.perf_counter()
        parallel(self.pods, patch, concurrency)
        return time.perf_counter() - started

    def stop(self) -> None:
        if self.kwok is not None:
            self.kwok.stop(10)
        self.apiserver.stop()


def _node(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "annotations": {FAKE: "fake"}, "labels": {"type": "kwok"}},
        "status": {"allocatable": {"cpu": "1000", "memory": "4Ti", "pods": "2000"}},
    }


def _pod(name: str, node: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "storm"}},
        "spec": {
            "nodeName": node,
            "containers": [
                {"name": "app", "image": "registry.invalid/app:1", "resources": {"limits": {"cpu": "500m"}}}
            ],
        },
    }


class LabelWatch:
    """Every storm pod's label as a watch on the pods sees it, and when all first held a value."""

    def __init__(self, api: Api, pods: list[tuple[str, str]]):
        self.api, self.wanted = api, set(pods)
        self.labels: dict[tuple[str, str], str | None] = {}
        self.counts: Counter = Counter()
        self._target: str | None = None
        self.reached: float | None = None
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._follow, args=(self._list(),), daemon=True)
        self._thread.start()

    def _follow(self, version: str) -> None:
        # The apiserver ends a watch that falls behind a burst (its cacher drops slow
        # watchers): list again and carry on.
        while not self._stop:
            try:
                self._watch(version)
            except (urllib3.exceptions.HTTPError, OSError, ValueError):
                pass
            if not self._stop:
                version = self._list()

    def _list(self) -> str:
        token, version = "", ""
        while True:
            doc = self.api.call(
                "GET", f"/api/v1/pods?limit=5000&continue={token}", headers={"Accept": META_LIST}
            )
            for item in doc["items"]:
                self._seen(item["metadata"])
            token, version = doc["metadata"].get("continue", ""), doc["metadata"]["resourceVersion"]
            if not token:
                return version

    def _seen(self, meta: dict) -> None:
        key = (meta["namespace"], meta["name"])
        if key not in self.wanted:
            return
        value = (meta.get("labels") or {}).get(LABEL)
        with self._lock:
            old = self.labels.get(key, "\0")
            if old != "\0":
                self.counts[old] -= 1
            self.labels[key] = value
            self.counts[value] += 1
            if (
                self._target is not None
                and self.reached is None
                and self.counts[self._target] == len(self.wanted)
            ):
                self.reached = time.monotonic()

    def _watch(self, version: str) -> None:
        url = f"{self.api.url}/api/v1/pods?watch=1&resourceVersion={version}&allowWatchBookmarks=true"
        resp = self.api.http.request(
            "GET",
            url,
            headers={**self.api.auth, "Accept": META},
            preload_content=False,
            timeout=urllib3.Timeout(connect=5, read=None),
        )
        buffer = b""
        for chunk in resp.stream(65536):
            if self._stop:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                event = json.loads(line)
                if event["type"] in ("ADDED", "MODIFIED"):
                    self._seen(event["object"]["metadata"])
        resp.release_conn()

    def expect(self, value: str) -> None:
        """From now on, note when every pod holds `value`."""
        with self._lock:
            self._target, self.reached = value, None
            if self.counts[value] == len(self.wanted):
                self.reached = time.monotonic()

    def wrong(self, value: str) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(k for k in self.wanted if self.labels.get(k) != value)

    def close(self) -> None:
        self._stop = True


@dataclass
class Phase:
    """One phase's figures."""

    name: str
    value: str  # the label every pod must end with
    pods: int
    from_post: float | None = None  # seconds from the post to every pod right (None: not reached)
    from_first: float | None = None  # from the first notification the function received
    requests: Counter = field(default_factory=Counter)  # the function's API requests by kind
    throttled: int = 0  # 429s the apiserver answered in the phase
    notifications: int = 0  # Alertmanager's notifications (attempts) to the webhook
    failed_notifications: int = 0  # notifications Alertmanager gave up on
    failed_requests: int = 0  # attempts that failed (each re-sent while time remains)
    wrong: list[tuple[str, str]] = field(default_factory=list)
    webhooks: list[dict] = field(default_factory=list)  # the function's webhook log lines

    @property
    def calls(self) -> int:
        return sum(self.requests.values())

    @property
    def per_pod(self) -> float:
        return self.calls / self.pods

    @property
    def rate(self) -> float | None:
        return self.pods / self.from_first if self.from_first else None


# The function's API requests, by the apiserver's verb and resource (subresource "": pod
# status is KWOK's; nodes and leases are KWOK's too).
KINDS = {
    ("GET", "pods"): "GET pod",
    ("LIST", "pods"): "LIST pods",
    ("PATCH", "pods"): "PATCH pod",
    ("POST", "events"): "POST event",
    ("PATCH", "events"): "PATCH event",
    ("PUT", "events"): "PUT event",
}


def function_requests(before: Counter, after: Counter) -> tuple[Counter, int]:
    """The function's requests between two samples of the counters, by kind; and the 429s."""
    kinds: Counter = Counter()
    throttled = 0
    for (verb, resource, subresource, code), value in after.items():
        delta = int(value - before.get((verb, resource, subresource, code), 0))
        if not delta:
            continue
        if code == "429":
            throttled += delta
        kind = KINDS.get((verb, resource)) if not subresource else None
        if kind:
            kinds[kind] += delta
    return kinds, throttled


class Storm:
    """The function and Alertmanager in front of a KwokCluster; runs phases and the floor."""

    def __init__(
        self,
        cluster: KwokCluster,
        *,
        amtool: str,
        alertmanager: str,
        env: dict | None = None,
        scale: float = SCALE,
        route: Path | None = None,
    ):
        """`scale` divides the route's timers; `route` is another Alertmanager configuration
        to run instead of the shipped one (an older design, say), rewritten the same way."""
        self.cluster, self.scale = cluster, scale
        assert cluster.api is not None
        self.api = cluster.api
        token = secrets.token_hex(16)
        token_file = cluster.dir / "webhook-token"
        token_file.write_text(token)
        self.env = {
            "KUBECONFIG": str(cluster.apiserver.kubeconfig()),
            "WEBHOOK_TOKEN": token,
            **(env or {}),
        }
        self.function = FunctionServer("function", cluster.dir, self.env).wait_ready(60)
        self.alertmanager = Alertmanager(
            "alertmanager",
            cluster.dir,
            alertmanager,
            amtool,
            self.function.url,
            token_file,
            build=partial(configs.alertmanager, scale=scale, source=route or configs.ALERTMANAGER),
        )
        # Whether PodCpuNormal has a route of its own (an earlier design had one for all three).
        self._split = 'alertname = "PodCpuNormal"' in self.alertmanager.config.read_text()
        self.watch = LabelWatch(self.api, cluster.pods)
        self._log_seen = 0
        self._started = datetime.now(timezone.utc)  # when the storm's alerts began firing
        self._normal_since: datetime | None = None  # PodCpuNormal's startsAt in the steady phase
        self._pending: list[dict] = []  # webhook log lines read during a phase

    def stop(self) -> None:
        self.watch.close()
        self.alertmanager.process.stop(10)
        self.function.stop()

    # -- the phases ----------------------------------------------------------------------
    def steady(self, timeout: float) -> Phase:
        """PodCpuNormal fires for every pod, as for any pod with a CPU limit under 33 %."""
        # Just begun (startsAt now): the normal route's new groups wait their group_wait and
        # go out whole (an older startsAt sends a group at once, with the alerts it has so far).
        self._normal_since = datetime.now(timezone.utc)
        alerts = [
            _alert("PodCpuNormal", ns, pod, cpu="12.0", starts=self._normal_since)
            for ns, pod in self.cluster.pods
        ]
        return self._phase("steady (normal)", "normal", alerts, timeout, route="normal")

    def storm(self, timeout: float) -> Phase:
        """PodHighCpuUsage and PodCpuFailure fire for every pod; PodCpuNormal resolves."""
        now = self._started = datetime.now(timezone.utc)
        alerts = [
            _alert(name, ns, pod, cpu="92.0", starts=now)
            for ns, pod in self.cluster.pods
            for name in ("PodHighCpuUsage", "PodCpuFailure")
        ]
        if self._normal_since is not None:
            alerts += [
                _alert("PodCpuNormal", ns, pod, cpu="92.0", starts=self._normal_since, ends=now)
                for ns, pod in self.cluster.pods
            ]
        return self._phase("storm (firing)", "panne", alerts, timeout, route="levels")

    def calm(self, timeout: float) -> Phase:
        """Both upper alerts resolve in the evaluation in which PodCpuNormal fires."""
        now = datetime.now(timezone.utc)
        # PodCpuNormal's startsAt is when its condition began, `for:` (2m, scaled) before it
        # fires and the upper alerts resolve (keep_firing_for equal to for:).
        active = max(now - timedelta(seconds=120 / self.scale), self._started + timedelta(seconds=1))
        alerts = []
        for ns, pod in self.cluster.pods:
            alerts.append(_alert("PodCpuNormal", ns, pod, cpu="12.0", starts=active))
            for name in ("PodHighCpuUsage", "PodCpuFailure"):
                alerts.append(_alert(name, ns, pod, cpu="12.0", starts=self._started, ends=now))
        return self._phase("calm (resolving)", "normal", alerts, timeout, route="levels")

    def _phase(self, name: str, value: str, alerts: list[dict], timeout: float, *, route: str) -> Phase:
        """Post `alerts`, wait until every pod holds `value` and the function has answered a
        notification of every namespace from `route` ("levels" or "normal", see _route), then
        until it is quiet; the figures.  (The other route's notifications of the same alerts
        may come later: the normal route's group_interval is 5m, scaled.)"""
        phase = Phase(name, value, len(self.cluster.pods))
        am_before = self._am_counters()
        before = self.api.requests()
        self.watch.expect(value)
        posted = time.monotonic()
        posted_wall = time.time()
        for i in range(0, len(alerts), 5000):
            self.alertmanager.post_alerts(alerts[i : i + 5000])
        deadline = posted + timeout
        while self.watch.reached is None and time.monotonic() < deadline:
            self.function.process.check_alive()
            time.sleep(0.1)
        seen: set[str] = set()
        route = route if self._split else "levels"
        while len(seen) < len(self.cluster.namespaces) and time.monotonic() < deadline:
            self._pending += self._webhooks()
            seen = {key for w in self._pending if _route(key := str(w.get("group_key"))) == route}
            time.sleep(0.5)
        self._settle()
        after = self.api.requests()
        phase.requests, phase.throttled = function_requests(before, after)
        am_after = self._am_counters()
        phase.notifications, phase.failed_notifications, phase.failed_requests = (
            int(am_after[i] - am_before[i]) for i in range(3)
        )
        phase.wrong = self.watch.wrong(value)
        phase.webhooks, self._pending = self._pending + self._webhooks(), []
        if self.watch.reached is not None:
            phase.from_post = self.watch.reached - posted
            arrived = [arrival(w) for w in phase.webhooks if w.get("status") is not None]
            first = min((a for a in arrived if a >= posted_wall - 1), default=None)
            if first is not None:
                phase.from_first = max(0.0, phase.from_post - (first - posted_wall))
        return phase

    def _settle(self, quiet: float = 3.0, limit: float = 60.0) -> None:
        """Wait until the function has sent nothing for `quiet` seconds (its Events from the
        outbox included), so the phase's counters are complete."""
        end = time.monotonic() + limit
        last = self.api.requests()
        calm_since = time.monotonic()
        while time.monotonic() < end:
            time.sleep(0.5)
            now = self.api.requests()
            kinds, _ = function_requests(last, now)
            if kinds:
                last, calm_since = now, time.monotonic()
            elif time.monotonic() - calm_since >= quiet:
                return

    def _am_counters(self) -> tuple[float, float, float]:
        am = self.alertmanager
        return (
            am.counter("alertmanager_notifications_total"),
            am.counter("alertmanager_notifications_failed_total"),
            am.counter("alertmanager_notification_requests_failed_total"),
        )

    def _webhooks(self) -> list[dict]:
        """The function's webhook log lines since the last call."""
        lines = self.function.process.lines()
        found = []
        for line in lines[self._log_seen :]:
            if line.startswith("{") and '"event":"webhook"' in line:
                found.append(json.loads(line))
        self._log_seen = len(lines)
        return found

    def listen(self, seconds: float) -> tuple[float, list[dict], Counter]:
        """From now (wall time, returned first), the function's webhook log lines over the
        next `seconds`, and its API requests then."""
        self._webhooks()
        before, began = self.api.requests(), time.time()
        time.sleep(seconds)
        kinds, _ = function_requests(before, self.api.requests())
        return began, self._webhooks(), kinds

    def events(self) -> Counter:
        """CpuLevelChanged Events per storm pod (a cluster-wide LIST, left out of the counts)."""
        counts: Counter = Counter()
        token = ""
        while True:
            doc = self.api.call(
                "GET", f"/api/v1/events?fieldSelector=reason%3DCpuLevelChanged&limit=5000&continue={token}"
            )
            for item in doc["items"]:
                counts[(item["involvedObject"]["namespace"], item["involvedObject"]["name"])] += 1
            token = doc["metadata"].get("continue", "")
            if not token:
                return counts

    def rss_mb(self) -> float:
        """Peak RSS (VmHWM) of the function's serving processes, the largest, in MiB."""
        pids = self.function.process.children() or [self.function.process.pid]
        return max(_vm_hwm(pid) for pid in [self.function.process.pid, *pids])


def _alert(name: str, ns: str, pod: str, *, cpu: str, starts: datetime, ends: datetime | None = None) -> dict:
    """An alert as Prometheus posts it for the shipped rules (labels, annotations, times)."""
    severity = {"PodCpuNormal": "none", "PodHighCpuUsage": "warning", "PodCpuFailure": "critical"}[name]
    doc = {
        "labels": {"alertname": name, "namespace": ns, "pod": pod, "severity": severity},
        "annotations": {"cpu_usage": cpu, "summary": f"Pod {ns}/{pod} uses {cpu}% of its CPU limit"},
        "startsAt": _rfc3339(starts),
        "generatorURL": "http://prometheus.invalid/graph",
    }
    # A firing alert ends when Prometheus stops re-sending it (4 evaluations); the storm ends first.
    doc["endsAt"] = _rfc3339(ends or starts + timedelta(minutes=30))
    return doc


def _route(group_key: str) -> str:
    """The route of a notification's group key: "normal" (the PodCpuNormal child) or "levels"."""
    return "normal" if '{alertname="PodCpuNormal"}:' in group_key else "levels"


def _rfc3339(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def arrival(webhook: dict) -> float:
    """Wall time a webhook request arrived: its log line's time less its duration."""
    at = datetime.strptime(webhook["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return at.timestamp() - webhook.get("duration_ms", 0) / 1000


def _vm_hwm(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0
