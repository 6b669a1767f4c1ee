"""The pipeline: body -> alerts -> one native classification -> plan -> patches -> report.

Owns the per-process resources (the Kubernetes client and a bounded thread
pool for patching pods concurrently), built lazily on first use so that they
are created in the serving worker process, after any fork, never before it.

Each pod is decided and patched on its own (read first, unless this process
wrote it last: see podcache.py), under one deadline for the whole request
(kept below Alertmanager's notify timeout): retryable API failures are
retried with jittered exponential backoff while time and attempts remain; a
409 means the pod moved on, so it is read and decided again; a server's
Retry-After is waited for when the deadline allows.  A failure on one pod never
undoes or hides another's success.  A change's Event that the API refuses for
now is sent again in the background (events.py), never holding the answer.  A PATCH
whose answer was lost (a timeout cut to the deadline, say) may still have landed: its
Event is then posted once a read shows the pod carrying that very write (see _confirm).
"""

import hashlib
import logging
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from . import alerts as alerts_mod
from . import logs
from .classifier import Classifier
from .config import KNOWN_FOR, Settings
from .errors import ApiError, Conflict, NotFound, Rejected, Unavailable
from .events import NoChange, Outbox, Send
from .k8snames import is_dns_label
from .kube import Kube, connect
from .metrics import ALERTS, CHANGES, FOREIGN_LABELS, NOTIFIED, TRUNCATED
from .model import Level, OutcomeKind, PodKey, PodMeta
from .plan import Decision, Keys, Scope, Target, cpu_text, decide, plan
from .podcache import PodCache
from .report import Outcome, Report, entry

_CONFLICT_ATTEMPTS = 8  # re-read and re-decide after 409 at most this often
_FIRST_BACKOFF = 0.05  # seconds; doubles after each retryable failure, with jitter
_CACHE_SIZE = 4096  # pods whose last written metadata this process remembers
LIST_FROM = 16  # pods of one namespace, unknown to this process, from which one LIST reads them
STAMPED_MAX = 2000  # namespaces whose notification time this process exports (series bound)
UNSEEN_FOR = 30.0  # seconds a PATCH whose answer was lost may still land, read for until then

log = logging.getLogger(logs.LOGGER_NAME)


class Deadline:
    """A point in monotonic time that a request's API calls must finish by, and the wall
    time the request arrived (no alert time later than it is recorded)."""

    def __init__(self, seconds: float):
        self._end = time.monotonic() + seconds
        self.arrived = datetime.now(timezone.utc)

    def remaining(self) -> float:
        return self._end - time.monotonic()


@dataclass(frozen=True, slots=True)
class Unseen:
    """A label change's PATCH that got no answer (a timeout, a lost connection): the API
    may have applied it.  `before` is what it was decided on, `patch` what it wrote."""

    before: PodMeta
    patch: dict
    at: datetime


@dataclass(frozen=True, slots=True)
class Known:
    """What is known of a pod before its change: metadata to decide on (None: the pod does
    not exist), and whether a decision to write nothing on it is final (no read)."""

    meta: PodMeta | None
    final: bool


class Labeler:
    """One per process: settings and classifier at once, client and pool on first use."""

    def __init__(self, settings: Settings, kube_factory: Callable[[Settings], Kube] | None = None):
        self.settings = settings
        self.keys = Keys(label=settings.label_key, prefix=settings.annotation_prefix)
        self.values = settings.label_values  # by level; read for every pod, built once
        self._order_window = timedelta(seconds=settings.order_window)
        self.scope = Scope(settings.default_namespace, settings.namespace_allow, settings.namespace_deny)
        self.classifier = Classifier(
            moderate=settings.moderate_threshold,
            critical=settings.critical_threshold,
            by_name=settings.alert_levels,
        )
        self._cache = PodCache(size=_CACHE_SIZE, label=settings.label_key, prefix=settings.annotation_prefix)
        self._kube_factory = kube_factory or _default_kube
        self._kube: Kube | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.outbox = Outbox(timeout=settings.api_timeout)
        self._unlistable: set[str] = set()  # namespaces where the API refused a LIST (403)
        self._stamped: set[str] = set()  # namespaces with a notification-time series

    def _stamp(self, namespaces: set[str]) -> None:
        """Stamp the notification time on each namespace's series.  Only valid names, and at
        most STAMPED_MAX of them: what a sender invents cannot grow /metrics without end."""
        for namespace in filter(is_dns_label, namespaces):
            if namespace not in self._stamped:
                if len(self._stamped) >= STAMPED_MAX:
                    continue
                self._stamped.add(namespace)
            NOTIFIED.labels(namespace).set_to_current_time()

    def close(self, timeout: float) -> int:
        """Send the Events still waiting, for up to `timeout` seconds; the number dropped."""
        return self.outbox.flush(timeout)

    def _resources(self) -> tuple[Kube, ThreadPoolExecutor]:
        with self._lock:
            if self._kube is None or self._pool is None:
                self._kube = self._kube_factory(self.settings)
                self._pool = ThreadPoolExecutor(self.settings.patch_concurrency, thread_name_prefix="patch")
            return self._kube, self._pool

    def handle(self, body: bytes, deadline: Deadline) -> Report:
        s = self.settings
        payload = alerts_mod.parse_body(
            body,
            max_alerts=s.max_alerts,
            pod_label=s.pod_label,
            namespace_label=s.namespace_label,
            cpu_annotation=s.cpu_annotation,
        )
        levels = self.classifier.classify([(a.name, a.cpu) for a in payload.alerts])
        received = Counter(
            (a.status, lv.name.lower() if lv is not None else "unclassified")
            for a, lv in zip(payload.alerts, levels)
        )
        for labels, count in received.items():  # one metric update per kind, not per alert
            ALERTS.labels(*labels).inc(count)
        if payload.truncated:
            TRUNCATED.inc(payload.truncated)
        self._stamp({a.namespace for a, lv in zip(payload.alerts, levels) if lv is not None and a.namespace})
        trust_until = deadline.arrived + timedelta(seconds=s.future_allowance)
        items, targets = plan(
            payload.alerts, levels, self.scope, trust_until=trust_until, received=deadline.arrived
        )
        outcomes = self._apply(targets, deadline, trust_until) if targets else {}
        entries = [
            entry(
                item,
                outcomes.get(item.key) if item.key else None,
                label=self.values[targets[item.key].level] if item.key else None,
                dry_run=s.dry_run,
            )
            for item in items
        ]
        retry = any(o.retryable for o in outcomes.values())
        if retry:  # Alertmanager sends this again: what this request wrote needs no read then
            written = (OutcomeKind.LABELED, OutcomeKind.UNCHANGED)
            self._cache.vouch((k for k, o in outcomes.items() if o.kind in written), KNOWN_FOR)
        return Report(payload.group_key, entries, retry, s.dry_run, payload.truncated)

    def _apply(
        self, targets: dict[PodKey, Target], deadline: Deadline, trust_until: datetime
    ) -> dict[PodKey, Outcome]:
        """Labels first, then Events: the deadline goes to labels, and an Event it leaves no
        time for is sent from the outbox."""
        kube, pool = self._resources()
        known = self._known(kube, pool, targets, deadline)
        results = self._windowed(
            pool,
            {
                key: (self._apply_one, kube, target, deadline, trust_until, known.get(key))
                for key, target in targets.items()
            },
        )
        announcements = {
            key: (self._announce, send, targets[key], deadline)
            for key, (_, send) in results.items()
            if send is not None
        }
        self._windowed(pool, announcements)
        return {key: outcome for key, (outcome, _) in results.items()}

    def _windowed(self, pool: ThreadPoolExecutor, calls: dict) -> dict:
        # Every call goes through the pool, so PATCH_CONCURRENCY bounds the API calls in
        # flight per process whatever the number of requests served at once.  One request
        # keeps at most PATCH_CONCURRENCY_PER_REQUEST of them queued or running, so a big
        # notification cannot fill the pool's queue ahead of a small one sent after it.
        window = threading.BoundedSemaphore(self.settings.patch_concurrency_per_request)
        futures = {}
        for key, (call, *args) in calls.items():
            window.acquire()
            future = pool.submit(call, *args)
            future.add_done_callback(lambda _: window.release())
            futures[key] = future
        return {key: future.result() for key, future in futures.items()}

    def _known(
        self, kube: Kube, pool: ThreadPoolExecutor, targets: dict[PodKey, Target], deadline: Deadline
    ) -> dict[PodKey, Known]:
        """What is known of each pod before its change, without a read per pod: this process's
        own last writes (final for the pods a request wrote before answering 503), and one
        metadata LIST (in pages) for each namespace where LIST_FROM or more pods are not
        known for sure.  A re-sent notification so costs about one PATCH per pod still to
        change, on this replica or another."""
        known: dict[PodKey, Known] = {}
        unknown: dict[str, set[str]] = {}
        for key in targets:
            hit = self._cache.get(key)
            if hit is not None:
                known[key] = Known(hit[0], final=hit[1])
            if hit is None or not hit[1]:
                unknown.setdefault(key[0], set()).add(key[1])
        busy = {
            ns: names
            for ns, names in unknown.items()
            if len(names) >= LIST_FROM and ns not in self._unlistable
        }
        if not busy:
            return known
        lists = self._windowed(
            pool, {ns: (self._list, kube, ns, names, deadline) for ns, names in busy.items()}
        )
        for namespace, (pods, complete) in lists.items():
            for name in busy[namespace]:
                if name in pods:
                    known[(namespace, name)] = Known(pods[name], final=True)
                elif complete:  # read to its end without the pod: the pod does not exist
                    known[(namespace, name)] = Known(None, final=True)
        return known

    def _list(
        self, kube: Kube, namespace: str, names: set[str], deadline: Deadline
    ) -> tuple[dict[str, PodMeta], bool]:
        """The pods `names` of the namespace found, and whether the LIST was complete; what
        it did not find is read pod by pod.  It takes at most half the time left, so the
        PATCHes keep the rest."""
        try:
            return kube.list_pods(
                namespace=namespace,
                names=names,
                budget=deadline.remaining() / 2,
                timeout=lambda: self._timeout(deadline),
            )
        except Rejected as exc:
            if exc.code == 403:
                # RBAC without `list` on pods there (an older ClusterRole, or a Role per
                # namespace): read that namespace pod by pod from now on, and say so once.
                self._unlistable.add(namespace)
                logs.event(log, "list_refused", logging.WARNING, namespace=namespace, reason=str(exc))
        except ApiError:
            pass  # unavailable for now (or a page expired): the per-pod reads retry against the deadline
        return {}, False

    def _apply_one(
        self, kube: Kube, target: Target, deadline: Deadline, trust_until: datetime, known: Known | None
    ) -> tuple[Outcome, Send | None]:
        try:
            outcome, send = self._change(kube, target, deadline, trust_until, known)
        except Exception:  # a bug must not hide the other pods' outcomes
            log.exception("unexpected error changing %s/%s", target.namespace, target.pod)
            outcome, send = Outcome(OutcomeKind.FAILED, "internal error", retryable=True), None
        CHANGES.labels(outcome.kind.value).inc()
        failed = outcome.kind is OutcomeKind.FAILED
        logs.event(
            log,
            "pod_change",
            logging.WARNING if failed else logging.INFO,
            namespace=target.namespace,
            pod=target.pod,
            outcome=outcome.kind.value,
            previous=outcome.previous,
            label=self.values[target.level],
            cpu_level=target.level.name.lower(),
            alertname=target.cause.name[:256],
            reason=outcome.reason or None,
            dry_run=self.settings.dry_run,
        )
        return outcome, send

    def _change(
        self, kube: Kube, target: Target, deadline: Deadline, trust_until: datetime, known: Known | None
    ) -> tuple[Outcome, Send | None]:
        """The pod's outcome and its Event.  When a PATCH of the change got no answer and no
        later try recorded the change itself (the later try met the write already there, or
        the deadline came first), the Event is one that reads the pod first (_confirm): the
        change may be there, made by that PATCH, with no Event yet."""
        unseen: list[Unseen] = []
        outcome, send = self._tries(kube, target, deadline, trust_until, known, unseen)
        if send is None and unseen:
            send = self._confirm(kube, target, unseen[-1])
        return outcome, send

    def _tries(
        self,
        kube: Kube,
        target: Target,
        deadline: Deadline,
        trust_until: datetime,
        known: Known | None,
        unseen: list[Unseen],
    ) -> tuple[Outcome, Send | None]:
        """Attempts until one settles the pod: re-read at once after 409, back off after a
        retryable failure (at least the server's Retry-After), give up (retryable) when
        attempts or the deadline run out."""
        failures = conflicts = 0
        backoff = _FIRST_BACKOFF
        while True:
            try:
                return self._attempt(kube, target, deadline, trust_until, known, unseen)
            except Conflict:
                conflicts += 1
                known = None  # what was known is older than the pod: read it
                self._cache.drop((target.namespace, target.pod))
                if conflicts >= _CONFLICT_ATTEMPTS:
                    return Outcome(
                        OutcomeKind.FAILED, "the pod kept changing under us (409)", retryable=True
                    ), None
            except NotFound:
                return Outcome(OutcomeKind.SKIPPED, "pod not found"), None
            except Unavailable as exc:
                failures += 1
                pause = max(backoff * random.uniform(0.5, 1.5), exc.retry_after or 0.0)
                if failures >= self.settings.api_attempts or deadline.remaining() <= pause:
                    return Outcome(OutcomeKind.FAILED, str(exc), retryable=True), None
                time.sleep(pause)
                backoff *= 2
            except ApiError as exc:
                return Outcome(OutcomeKind.FAILED, str(exc), retryable=exc.retryable), None

    def _attempt(
        self,
        kube: Kube,
        target: Target,
        deadline: Deadline,
        trust_until: datetime,
        known: Known | None,
        unseen: list[Unseen],
    ) -> tuple[Outcome, Send | None]:
        """One decision and conditional patch; API errors propagate to _tries (a label
        change's PATCH that got no answer is noted in `unseen` first).

        The decision is first made on what is known of the pod (this process's last write,
        or the LIST), if anything; the pod is read only when nothing is known, or when what
        is known calls for no write but is not vouched for (the label may have been changed
        by hand since: a repeat_interval re-send writes it back).  The Event of a label change is
        returned to be sent once every pod of the request is labeled.
        """
        key = (target.namespace, target.pod)
        value = self.values[target.level]

        def decide_on(meta: PodMeta) -> Decision:
            return decide(
                target,
                meta,
                keys=self.keys,
                value=value,
                ours=self.values,
                trust_until=trust_until,
                order_window=self._order_window,
            )

        if known is not None and known.meta is None:
            raise NotFound("pod not found")
        meta = known.meta if known is not None else None
        decision = decide_on(meta) if meta is not None else None
        if meta is None or decision is None or (decision.patch is None and not (known and known.final)):
            meta = kube.read_pod(namespace=target.namespace, name=target.pod, timeout=self._timeout(deadline))
            decision = decide_on(meta)
        if decision.patch is None:
            if decision.kind is OutcomeKind.SKIPPED:
                FOREIGN_LABELS.inc()
            return Outcome(decision.kind, decision.reason), None
        timeout = self._timeout(deadline)  # outside the try: no time left means nothing sent
        try:
            written = kube.patch_pod(
                namespace=target.namespace,
                name=target.pod,
                patch=decision.patch,
                dry_run=self.settings.dry_run,
                timeout=timeout,
            )
        except Unavailable as exc:
            if decision.kind is OutcomeKind.LABELED and _may_have_landed(exc):
                unseen.append(Unseen(meta, decision.patch, datetime.now(timezone.utc)))
            raise
        if not self.settings.dry_run:
            self._cache.put(key, written)
        if decision.kind is not OutcomeKind.LABELED:
            return Outcome(decision.kind, decision.reason), None
        previous = meta.labels.get(self.keys.label)
        return Outcome(OutcomeKind.LABELED, previous=previous), self._event(
            kube, target, written, previous, value
        )

    def _timeout(self, deadline: Deadline) -> float:
        """The next call's timeout: the configured one, cut to the time left."""
        remaining = deadline.remaining()
        if remaining <= 0:
            # No call at all rather than one too short to answer (a write that lands unseen).
            raise Unavailable("request deadline passed")
        return min(self.settings.api_timeout, remaining)

    def _event(
        self,
        kube: Kube,
        target: Target,
        written: PodMeta,
        previous: str | None,
        value: str,
        changed: datetime | None = None,
    ) -> Send | None:
        """How to post the change's Event (None when no Event is wanted): shown when the pod
        is described, named by the change so that a second try is no second Event."""
        if self.settings.dry_run or not self.settings.emit_events:
            return None
        detail = target.cause.name[:256] or "alert"
        cpu = cpu_text(target)
        if cpu:
            detail += f", cpu {cpu}{'' if cpu.endswith('%') else '%'}"
        message = f"{self.keys.label}: {previous or '<none>'} -> {value} ({detail})"
        changed = changed or datetime.now(timezone.utc)
        # Only what the Event needs is kept (it may wait in the outbox): not the pod's metadata.
        pod = PodMeta(written.uid, written.resource_version, {}, {})
        namespace, name, warning = target.namespace, target.pod, target.level == Level.CRITICAL
        named = event_name(name, written)

        def send(timeout: float) -> None:
            kube.pod_event(
                pod=pod,
                namespace=namespace,
                name=name,
                reason="CpuLevelChanged",
                message=message,
                warning=warning,
                timeout=timeout,
                at=changed,
                event_name=named,
            )

        return send

    def _confirm(self, kube: Kube, target: Target, unseen: Unseen) -> Send | None:
        """How to post the Event of a change whose PATCH got no answer: read the pod; when it
        carries that very write (our label and every annotation the PATCH wrote, among them
        the request's own received-at, so a re-send's write of the same state is not taken
        for it), post the Event named by what was read (the name the lost answer would have
        given, if nothing wrote the pod since); while the pod is still at the version the
        PATCH was decided on, the PATCH may yet land (try again later, for UNSEEN_FOR
        seconds); else the write did not land and there is no change to record (NoChange)."""
        if self.settings.dry_run or not self.settings.emit_events:
            return None
        value = self.values[target.level]
        label, before, until = self.keys.label, unseen.before, time.monotonic() + UNSEEN_FOR
        wanted = {label: value}, unseen.patch["metadata"].get("annotations") or {}

        def confirm(timeout: float) -> None:
            end = time.monotonic() + timeout
            meta = kube.read_pod(namespace=target.namespace, name=target.pod, timeout=timeout)
            if meta.uid == before.uid and _carries(meta, *wanted):
                send = self._event(kube, target, meta, before.labels.get(label), value, unseen.at)
                assert send is not None
                left = end - time.monotonic()
                if left <= 0:
                    raise Unavailable("no time left to post the Event after the read")
                send(left)
            elif meta.uid == before.uid and meta.resource_version == before.resource_version:
                if time.monotonic() < until:
                    raise Unavailable("the PATCH whose answer was lost is not seen yet")
                raise NoChange("the PATCH whose answer was lost did not land")
            else:
                raise NoChange("the pod does not carry the write whose answer was lost")

        return confirm

    def _announce(self, send: Send, target: Target, deadline: Deadline) -> None:
        """Post an Event with the time the request has left (the outbox sends it again when
        the API refuses it for now, or no time is left); it never fails the change."""
        remaining = deadline.remaining()
        timeout = min(self.settings.api_timeout, remaining) if remaining > 0 else None
        self.outbox.send(send, timeout, namespace=target.namespace, pod=target.pod)


def event_name(pod: str, written: PodMeta) -> str:
    """The Event's name: the pod's, then a digest of the write it records (uid and the
    resourceVersion our PATCH produced), so every try of one change names the same Event."""
    digest = hashlib.sha256(f"{written.uid}/{written.resource_version}".encode()).hexdigest()[:16]
    return f"{pod[:236].rstrip('.-')}.{digest}"  # at most 253 characters, a DNS subdomain


def _may_have_landed(exc: Unavailable) -> bool:
    """Whether a write that failed so may have been applied: no answer at all (a timeout, a
    lost connection), or the API's own 500 or 504 (a storage timeout: "may still be
    processing").  A 429, 503 or 401 is a refusal before any write."""
    return exc.code is None or exc.code in (500, 504)


def _carries(meta: PodMeta, labels: dict[str, str], annotations: dict) -> bool:
    """Whether the pod holds these labels and annotations (None: the annotation removed)."""
    return all(meta.labels.get(k) == v for k, v in labels.items()) and all(
        meta.annotations.get(k) == v for k, v in annotations.items()
    )


def _default_kube(settings: Settings) -> Kube:
    connection = connect(
        service_host=settings.kubernetes_service_host,
        service_port=settings.kubernetes_service_port,
        service_account_dir=settings.service_account_dir,
        kubeconfig=settings.kubeconfig,
        pool_size=settings.patch_concurrency,
    )
    return Kube(connection, timeout=settings.api_timeout)
