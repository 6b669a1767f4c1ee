"""Campaign `pressure` (issue 20): a slow API, a throttling API, a skewed sender, and the bound.

Every scenario runs the production server of the function against a real apiserver:

- slow API: every API call held 50-200 ms by the fault proxy (no fault at all); one
  notification of more pods than one request's deadline can label, re-sent on 503 as
  Alertmanager does (a short pause, a capped number of re-sends);
- throttling API: a second apiserver whose in-flight limits answer 429 (see THROTTLE),
  reached as the shipped ClusterRole's user through the proxy in pass-through mode (it
  counts the calls); groups of pods change state three times, re-sent on 503; each label
  change must have its CpuLevelChanged Event (waited for a bounded time: the function may
  post them after answering);
- skewed sender: a sender whose clock runs S seconds ahead (every time, inside and
  beyond FUTURE_TIME_ALLOWANCE_SECONDS; or only endsAt, an Alertmanager ahead of its
  Prometheus) alternates critical and normal per pod and repeats each notification
  after the next.  Inside the allowance every pod must be on the last state sent after
  those late re-sends; beyond it times take no part, so the pod follows arrival order
  until the current group is sent again (Alertmanager's repeat_interval), after which
  every pod must be on the last state in every case;
- bound: how many pods ONE notification of `bound_pods` labels within the deadline,
  at fixed API latencies, counted on the apiserver after its answer.

Figures that must be zero: pods wrong at the end, Events missing.  The others are
measures (re-sends, API calls per changed pod, the bound), printed, never judged.
"""

from __future__ import annotations

import collections
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from testbed.campaigns.figures import Figure
from testbed.campaigns.scenarios import T0, State, alert_json, body, flip_flop, late_resends
from testbed.campaigns.sender import deliver, post
from testbed.campaigns.targets import (
    CampaignCheck,
    events_by_pod,
    grant_function_role,
    new_pods,
    pod_labels,
    run_threads,
    servers,
)
from testbed.clusters import Cluster
from testbed.clusters.loopback import ApiServer
from testbed.faultproxy import FaultProxy
from testbed.functionserver import FunctionServer
from testbed.net import http, metric

NAME = "pressure"
SLOW_LATENCY = (0.05, 0.2)  # seconds every API call is held in the slow scenario
PAUSE = 0.5  # seconds between re-sends of a notification (Alertmanager's backoff is short too)
# (which times, seconds ahead): every time inside and beyond the allowance (300 s), and only
# endsAt (issue 20's freeze: an Alertmanager a few minutes ahead of Prometheus).
SKEWS = (("every", 240), ("every", 600), ("endsAt", 240))
ALLOWANCE = 300  # FUTURE_TIME_ALLOWANCE_SECONDS' default
STEP = timedelta(milliseconds=100)  # real time between a pod's states in the skewed sender
EVENT_REASON = "CpuLevelChanged"
USER = "cpu-alert-labeler"  # the throttled identity: outside system:masters, which is exempt
# What makes a kube-apiserver answer 429 with `Retry-After: 1` (measured on 1.20.2 and 1.34.4,
# 16 clients GETting and PATCHing pods for 4 s: about 60 % 429s): the classic in-flight
# filter.  With API Priority and Fairness on (the default) the same limits only set APF's
# total concurrency and requests wait in its queues instead: no 429 in the same test, each
# call slower (on 1.34, 16 GETs in 4 s).
THROTTLE = {
    "--enable-priority-and-fairness=false": "",
    "--max-requests-inflight": "2",
    "--max-mutating-requests-inflight": "1",
}
CRITICAL = State("PodCpuFailure", "firing", T0, "97.3", "critical")
# The throttled pods' changes, in turn: every one changes the label (so each wants an Event).
CHANGES = [
    lambda at: State("PodCpuFailure", "firing", at, "97.3", "critical"),
    lambda at: State("PodCpuFailure", "resolved", at, "88", "critical"),
    lambda at: State("PodHighCpuUsage", "firing", at, "48.2", "moderate"),
]


@dataclass(frozen=True)
class Size:
    slow_pods: int  # one notification of this many pods on the slow API
    resends: int  # at most this many re-sends of one notification
    throttle_pods: int
    throttle_changes: int  # state changes per throttled pod
    throttle_group: int  # pods per throttled notification
    throttle_senders: int
    skew_pods: int  # per skew
    skew_states: int  # states per pod, critical and normal in turn
    bound_pods: int  # the one notification of the bound
    latencies_ms: tuple[int, ...]  # fixed API latencies of the bound
    events_wait: float  # seconds to wait for Events posted after the answers


SIZES = {
    "full": Size(500, 30, 200, 3, 5, 8, 40, 6, 2000, (0, 10, 25, 50, 100), 30.0),
    "small": Size(200, 10, 40, 3, 5, 8, 10, 4, 200, (0, 25, 100), 15.0),
}


@dataclass
class Resent:
    """One notification sent until 2xx (or the cap): its answers, in order."""

    answers: list[tuple[int | None, Any]] = field(default_factory=list)
    gave_up: bool = False

    @property
    def resends(self) -> int:
        return max(len(self.answers) - 1, 0)

    def labeled(self, index: int | None = None) -> collections.Counter[str]:
        """Pods with a `labeled` outcome, in every answer or in answer `index`."""
        chosen = self.answers if index is None else self.answers[index : index + 1]
        return collections.Counter(
            entry.get("pod", "")
            for _, answer in chosen
            if isinstance(answer, dict)
            for entry in answer.get("alerts", [])
            if entry.get("outcome") == "labeled"
        )


def resend(url: str, sent: bytes, cap: int) -> Resent:
    """Send `sent` until it is answered 2xx or 4xx, pausing PAUSE between re-sends."""
    result = Resent()
    delivery = deliver(
        url,
        sent,
        until=time.monotonic() + (cap + 1) * 40,
        max_attempts=cap + 1,
        first_backoff=PAUSE,
        max_backoff=PAUSE,
        answers=result.answers,
    )
    result.gave_up = not delivery.delivered
    return result


@contextlib.contextmanager
def behind_proxy(
    apiserver: Cluster, workdir: Path, name: str, token: str, seed: int
) -> Iterator[tuple[FunctionServer, FaultProxy]]:
    """One function server whose API calls cross a (fault-free) proxy; both closed after."""
    proxy = FaultProxy(apiserver.url, apiserver.ca, seed=seed)
    try:
        kubeconfig = proxy.kubeconfig(workdir / f"kubeconfig-{name}", token)
        with servers(workdir, name, 1, {"KUBECONFIG": str(kubeconfig)}) as (server,):
            yield server, proxy
    finally:
        proxy.close()


# == slow API ============================================================================
@dataclass
class Slow:
    pods: int = 0
    wrong: int = 0
    sent: Resent = field(default_factory=Resent)
    forwarded: int = 0
    seconds: float = 0.0

    def figures(self) -> list[Figure]:
        lo, hi = (round(x * 1000) for x in SLOW_LATENCY)
        what = f"slow API {lo}-{hi} ms"
        first = sum(self.sent.labeled(0).values()) if self.sent.answers else 0
        return [
            Figure(NAME, f"{what}: pods wrong at the end (of {self.pods})", self.wrong, zero=True),
            Figure(
                NAME, f"{what}: re-sends needed{' (gave up)' if self.sent.gave_up else ''}", self.sent.resends
            ),
            Figure(NAME, f"{what}: pods labeled by the first notification", first),
            Figure(NAME, f"{what}: API calls per changed pod", _per(self.forwarded, self.pods)),
            Figure(NAME, f"{what}: seconds", round(self.seconds, 1)),
        ]


def slow_api(server: FunctionServer, proxy: FaultProxy, apiserver: Cluster, size: Size) -> Slow:
    pods = [f"s{i}-app" for i in range(size.slow_pods)]
    namespace = new_pods(apiserver, "rel-slow", pods, threads=8)
    sent = body("{}:{slow}", [alert_json(namespace, pod, CRITICAL) for pod in pods])
    proxy.set_latency(SLOW_LATENCY)
    before, began = proxy.forwarded, time.perf_counter()
    try:
        result = Slow(pods=len(pods), sent=resend(server.url, sent, size.resends))
    finally:
        proxy.set_latency(None)
    result.seconds = time.perf_counter() - began
    result.forwarded = proxy.forwarded - before
    labels = pod_labels(apiserver, namespace)
    result.wrong = sum(labels.get(pod) != CRITICAL.label for pod in pods)
    return result


# == throttling API ======================================================================
@dataclass
class Throttled:
    check: CampaignCheck = field(default_factory=CampaignCheck)
    sent: list[Resent] = field(default_factory=list)
    changes: collections.Counter[str] = field(default_factory=collections.Counter)
    events: collections.Counter[str] = field(default_factory=collections.Counter)
    forwarded: int = 0
    throttled: int = 0  # 429s the apiserver answered
    waited: float = 0.0
    seconds: float = 0.0

    @property
    def missing(self) -> int:
        return sum(max(n - self.events[pod], 0) for pod, n in self.changes.items())

    def figures(self) -> list[Figure]:
        what = "throttling API"
        changes = sum(self.changes.values())
        return [
            Figure(NAME, f"{what}: 429s answered by the apiserver", self.throttled),
            Figure(
                NAME,
                f"{what}: pods wrong at the end (of {self.check.pods})",
                self.check.wrong_label,
                zero=True,
            ),
            Figure(
                NAME,
                f"{what}: pods whose alert-time is not the newest state's",
                self.check.wrong_time,
                zero=True,
            ),
            Figure(NAME, f"{what}: notifications / re-sends", f"{len(self.sent)} / {_resends(self.sent)}"),
            Figure(NAME, f"{what}: notifications given up", sum(s.gave_up for s in self.sent), zero=True),
            Figure(NAME, f"{what}: label changes (labeled answers)", changes),
            Figure(NAME, f"{what}: API calls per changed pod", _per(self.forwarded, changes)),
            Figure(NAME, f"{what}: Events missing", self.missing, zero=True),
            Figure(NAME, f"{what}: Events beyond the changes", sum((self.events - self.changes).values())),
            Figure(
                NAME, f"{what}: seconds (+ waiting for Events)", f"{self.seconds:.1f} (+{self.waited:.1f})"
            ),
        ]


def throttling_api(apiserver: ApiServer, size: Size, seed: int, workdir: Path) -> Throttled:
    (workdir / "throttled").mkdir()
    throttled = ApiServer(workdir / "throttled", version=apiserver.version, extra_options=THROTTLE)
    token = throttled.add_user(USER)
    throttled.start()
    try:
        grant_function_role(throttled, USER)
        with behind_proxy(throttled, workdir, "throttle", token, seed) as (server, proxy):
            return _throttle(throttled, server, proxy, size)
    finally:
        throttled.stop()


def _throttle(api: Cluster, server: FunctionServer, proxy: FaultProxy, size: Size) -> Throttled:
    pods = [f"t{i}-app" for i in range(size.throttle_pods)]
    namespace = new_pods(api, "rel-throttle", pods, threads=4)  # as admin: never throttled
    groups = [pods[i : i + size.throttle_group] for i in range(0, len(pods), size.throttle_group)]
    result = Throttled()
    truth: dict[str, State] = {}
    for g, group in enumerate(groups):
        for pod in group:
            truth[pod] = _change(size.throttle_changes - 1, g)

    def send(mine: list[tuple[int, list[str]]]) -> None:
        for g, group in mine:
            for k in range(size.throttle_changes):  # in order, each until 2xx, as Alertmanager does
                state = _change(k, g)
                sent = resend(
                    server.url,
                    body(f"{{}}:{{g={g}}}", [alert_json(namespace, p, state) for p in group]),
                    size.resends,
                )
                result.sent.append(sent)  # list.append is atomic
                result.changes.update(sent.labeled())

    numbered = list(enumerate(groups))
    shares = [(numbered[i :: size.throttle_senders],) for i in range(size.throttle_senders)]
    began = time.perf_counter()
    run_threads(send, shares, "throttle", timeout=900)
    result.seconds = time.perf_counter() - began
    result.forwarded, result.throttled = proxy.forwarded, proxy.statuses[429]
    result.check.compare(api, namespace, truth)
    until = time.monotonic() + size.events_wait
    while True:  # the function may post Events after answering: wait for them, bounded
        result.events = events_by_pod(api, namespace, EVENT_REASON)
        if not result.missing or time.monotonic() > until:
            break
        time.sleep(0.5)
    result.waited = time.perf_counter() - began - result.seconds
    return result


def _change(k: int, group: int) -> State:
    """The k-th state of a throttled group: a minute apart, each a new label."""
    return CHANGES[k % len(CHANGES)](T0 + timedelta(minutes=k, seconds=group))


# == skewed sender =======================================================================
@dataclass
class Skewed:
    times: str
    skew: int
    pods: int = 0
    wrong_late: int = 0  # after the late re-sends
    wrong: int = 0  # after the current group was sent again
    resends: int = 0
    details: list[str] = field(default_factory=list)

    def figures(self) -> list[Figure]:
        what = f"sender +{self.skew} s ({self.times})"
        inside = self.skew <= ALLOWANCE
        late = f"pods wrong after late re-sends of older states (of {self.pods})"
        return [
            Figure(NAME, f"{what}: {late}", self.wrong_late, zero=inside),
            Figure(NAME, f"{what}: pods wrong once the current group is re-sent", self.wrong, zero=True),
            Figure(NAME, f"{what}: re-sends after 503", self.resends),
        ]


def skewed_sender(server: FunctionServer, apiserver: Cluster, size: Size, times: str, skew: int) -> Skewed:
    pods = [f"k{i}-app" for i in range(size.skew_pods)]
    namespace = new_pods(apiserver, f"rel-skew{skew}{times.lower()}", pods, threads=4)
    now, ahead = datetime.now(timezone.utc), timedelta(seconds=skew)
    start, ends_ahead = (now + ahead, timedelta(0)) if times == "every" else (now, ahead)
    sequences = {
        pod: late_resends(
            flip_flop(namespace, pod, start=start, step=STEP, states=size.skew_states, ends_ahead=ends_ahead)
        )
        for pod in pods
    }
    result = Skewed(times, skew, pods=len(pods))
    resends: list[int] = []
    began = time.monotonic()

    def send(pod: str) -> None:
        for timed in sequences[pod]:
            time.sleep(max(began + timed.after - time.monotonic(), 0))  # the states' real spacing
            resends.append(resend(server.url, timed.body, size.resends).resends)  # atomic

    def wrong(when: str) -> int:
        labels = pod_labels(apiserver, namespace)
        count = 0
        for pod, sequence in sequences.items():
            want = [t for t in sequence if not t.resend][-1].state.label
            if labels.get(pod) != want:
                count += 1
                result.details.append(
                    f"+{skew} s ({times}) {when}: {namespace}/{pod}: label {labels.get(pod)!r}, want {want!r}"
                )
        return count

    run_threads(send, [(pod,) for pod in pods], "skew", timeout=300)
    result.wrong_late = wrong("after late re-sends")

    def repeat(pod: str) -> None:  # Alertmanager's repeat_interval: the current group again
        current = [t for t in sequences[pod] if not t.resend][-1]
        resends.append(resend(server.url, current.body, size.resends).resends)

    run_threads(repeat, [(pod,) for pod in pods], "skew-repeat", timeout=300)
    result.wrong = wrong("after the repeat")
    result.resends = sum(resends)
    return result


# == the bound ===========================================================================
@dataclass(frozen=True)
class Bound:
    latency_ms: int
    pods: int
    labeled: int  # on the apiserver after the one answer
    status: int | None
    seconds: float
    patch_ms: float | None = None  # the function's own mean PATCH time during the notification

    def figure(self) -> Figure:
        patch = f", PATCH {self.patch_ms:.0f} ms" if self.patch_ms is not None else ""
        return Figure(
            NAME,
            f"bound at {self.latency_ms:>3} ms per call: pods labeled by one notification of {self.pods}",
            f"{self.labeled} ({self.status} in {self.seconds:.1f} s{patch})",
        )


def patch_time(url: str) -> tuple[float, float]:
    """(seconds, count) of the function's successful PATCHes so far, from its /metrics: the
    latency the API showed it, proxy included."""
    _, body = http("GET", url + "/metrics")
    text, name = body.decode(), "cpu_alert_labeler_api_call_duration_seconds"
    return (
        metric(text, f"{name}_sum", call="patch", result="ok"),
        metric(text, f"{name}_count", call="patch", result="ok"),
    )


def bound(server: FunctionServer, proxy: FaultProxy, apiserver: Cluster, size: Size, ms: int) -> Bound:
    pods = [f"b{i}-app" for i in range(size.bound_pods)]
    namespace = new_pods(apiserver, f"rel-bound{ms}", pods, threads=8)
    sent = body("{}:{bound}", [alert_json(namespace, pod, CRITICAL) for pod in pods])
    proxy.set_latency((ms / 1000, ms / 1000) if ms else None)
    spent, calls = patch_time(server.url)
    began = time.perf_counter()
    try:
        status, _ = post(server.url, sent, timeout=60)
    finally:
        proxy.set_latency(None)
    seconds = time.perf_counter() - began
    spent_after, calls_after = patch_time(server.url)
    patch_ms = 1000 * (spent_after - spent) / (calls_after - calls) if calls_after > calls else None
    labels = pod_labels(apiserver, namespace)
    labeled = sum(labels.get(pod) == CRITICAL.label for pod in pods)
    return Bound(ms, len(pods), labeled, status, seconds, patch_ms)


# == the campaign ========================================================================
@dataclass
class PressureResult:
    slow: Slow = field(default_factory=Slow)
    throttled: Throttled = field(default_factory=Throttled)
    skewed: list[Skewed] = field(default_factory=list)
    bounds: list[Bound] = field(default_factory=list)

    def figures(self) -> list[Figure]:
        return [
            *self.slow.figures(),
            *self.throttled.figures(),
            *[f for skewed in self.skewed for f in skewed.figures()],
            *[b.figure() for b in self.bounds],
        ]

    def details(self) -> list[str]:
        lines = [d for skewed in self.skewed for d in skewed.details[:5]]
        lines += self.throttled.check.details[:5]
        short = {p: n - self.throttled.events[p] for p, n in self.throttled.changes.items()}
        lines += [f"throttled {p}: {n} Event(s) missing" for p, n in sorted(short.items()) if n > 0][:5]
        return lines


def run(apiserver: ApiServer, size: Size, seed: int, workdir: Path) -> PressureResult:
    """The slow API, the skewed sender and the bound on the campaigns' apiserver, through one
    proxy and function server; the throttling API on its own apiserver."""
    result = PressureResult()
    with behind_proxy(apiserver, workdir, "pressure", apiserver.token(), seed) as (server, proxy):
        result.slow = slow_api(server, proxy, apiserver, size)
        result.skewed = [skewed_sender(server, apiserver, size, times, skew) for times, skew in SKEWS]
        result.bounds = [bound(server, proxy, apiserver, size, ms) for ms in size.latencies_ms]
    result.throttled = throttling_api(apiserver, size, seed, workdir)
    return result


def _per(calls: int, changed: int) -> str:
    return f"{calls / changed:.2f} ({calls} / {changed})" if changed else f"- ({calls} / 0)"


def _resends(sent: list[Resent]) -> int:
    return sum(s.resends for s in sent)
