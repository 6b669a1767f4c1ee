"""The pipeline: body -> alerts -> one native classification -> plan -> patches -> report.

Owns the per-process resources (the Kubernetes client and a bounded thread
pool for patching pods concurrently), built lazily on first use so that they
are created in the gunicorn worker, after the fork, never in the master.

Each pod is decided and patched on its own (read first, unless this process
wrote it last: see podcache.py), under one deadline for the whole request
(kept below Alertmanager's notify timeout): retryable API failures are
retried with jittered exponential backoff while time and attempts remain; a
409 means the pod moved on, so it is read and decided again.  A failure on
one pod never undoes or hides another's success.
"""

import logging
import random
from collections import Counter
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from . import alerts as alerts_mod
from . import logs
from .classifier import Classifier, Level
from .config import Settings
from .errors import ApiError, Conflict, NotFound, Unavailable
from .kube import Kube, PodMeta, connect
from .metrics import ALERTS, CHANGES
from .podcache import PodCache
from .plan import Item, Keys, PodKey, Scope, Target, cpu_text, decide, decides, plan

_CONFLICT_ATTEMPTS = 8  # re-read and re-decide after 409 at most this often
_FIRST_BACKOFF = 0.05  # seconds; doubles after each retryable failure, with jitter
_CACHE_SIZE = 4096  # pods whose last written metadata this process remembers

log = logging.getLogger(logs.LOGGER_NAME)


class Deadline:
    """A point in monotonic time that a request's API calls must finish by."""

    def __init__(self, seconds: float):
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._end - time.monotonic()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one pod."""

    kind: str  # labeled | unchanged | skipped | failed
    reason: str = ""
    retryable: bool = False
    previous: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """The answer to one webhook: an entry per alert, and whether to ask for a re-send."""

    group_key: str
    entries: list[dict]
    retry: bool
    dry_run: bool

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry in self.entries:
            counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
        return counts

    def to_json(self) -> dict:
        return {"status": "retry" if self.retry else "ok", "groupKey": self.group_key,
                "dryRun": self.dry_run, "counts": self.counts(), "alerts": self.entries}


class Labeler:
    """One per process: settings and classifier at once, client and pool on first use."""

    def __init__(self, settings: Settings, kube_factory: Callable[[Settings], Kube] | None = None):
        self.settings = settings
        self.keys = Keys(label=settings.label_key, prefix=settings.annotation_prefix)
        self.scope = Scope(settings.default_namespace, settings.namespace_allow, settings.namespace_deny)
        self.classifier = Classifier(moderate=settings.moderate_threshold,
                                     critical=settings.critical_threshold,
                                     by_name=settings.alert_levels)
        self._cache = PodCache(size=_CACHE_SIZE, label=settings.label_key,
                               prefix=settings.annotation_prefix)
        self._kube_factory = kube_factory or _default_kube
        self._kube: Kube | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _resources(self) -> tuple[Kube, ThreadPoolExecutor]:
        with self._lock:
            if self._kube is None:
                self._kube = self._kube_factory(self.settings)
                self._pool = ThreadPoolExecutor(self.settings.patch_concurrency,
                                                thread_name_prefix="patch")
            return self._kube, self._pool

    def handle(self, body: bytes, deadline: Deadline) -> Report:
        s = self.settings
        payload = alerts_mod.parse_body(body, max_alerts=s.max_alerts, pod_label=s.pod_label,
                                        namespace_label=s.namespace_label,
                                        cpu_annotation=s.cpu_annotation)
        levels = self.classifier.classify([(a.name, a.cpu) for a in payload.alerts])
        received = Counter((a.status, lv.name.lower() if lv is not None else "unclassified")
                           for a, lv in zip(payload.alerts, levels))
        for labels, count in received.items():  # one metric update per kind, not per alert
            ALERTS.labels(*labels).inc(count)
        items, targets = plan(payload.alerts, levels, self.scope)
        outcomes = self._apply(targets, deadline) if targets else {}
        entries = [self._entry(item, targets, outcomes) for item in items]
        return Report(payload.group_key, entries, any(o.retryable for o in outcomes.values()),
                      s.dry_run)

    def _apply(self, targets: dict[PodKey, Target], deadline: Deadline) -> dict[PodKey, Outcome]:
        # Every pod goes through the pool, so PATCH_CONCURRENCY bounds the API calls in
        # flight per process whatever the number of requests served at once.
        kube, pool = self._resources()
        futures = {key: pool.submit(self._apply_one, kube, t, deadline) for key, t in targets.items()}
        return {key: future.result() for key, future in futures.items()}

    def _apply_one(self, kube: Kube, target: Target, deadline: Deadline) -> Outcome:
        try:
            outcome = self._change(kube, target, deadline)
        except Exception:  # a bug must not hide the other pods' outcomes
            log.exception("unexpected error changing %s/%s", target.namespace, target.pod)
            outcome = Outcome("failed", "internal error", retryable=True)
        CHANGES.labels(outcome.kind).inc()
        logs.event(log, "pod_change", logging.WARNING if outcome.kind == "failed" else logging.INFO,
                   namespace=target.namespace, pod=target.pod, outcome=outcome.kind,
                   previous=outcome.previous, label=self.settings.label_values[target.level],
                   cpu_level=target.level.name.lower(), alertname=target.cause.name[:256],
                   reason=outcome.reason or None, dry_run=self.settings.dry_run)
        return outcome

    def _change(self, kube: Kube, target: Target, deadline: Deadline) -> Outcome:
        """Attempts until one settles the pod: re-read at once after 409, back off after a
        retryable failure, give up (retryable) when attempts or the deadline run out."""
        failures = conflicts = 0
        backoff = _FIRST_BACKOFF
        while True:
            try:
                return self._attempt(kube, target, deadline)
            except Conflict:
                conflicts += 1
                if conflicts >= _CONFLICT_ATTEMPTS:
                    return Outcome("failed", "the pod kept changing under us (409)", retryable=True)
            except NotFound:
                return Outcome("skipped", "pod not found")
            except Unavailable as exc:
                failures += 1
                pause = backoff * random.uniform(0.5, 1.5)
                if failures >= self.settings.api_attempts or deadline.remaining() <= pause:
                    return Outcome("failed", str(exc), retryable=True)
                time.sleep(pause)
                backoff *= 2
            except ApiError as exc:
                return Outcome("failed", str(exc), retryable=exc.retryable)

    def _attempt(self, kube: Kube, target: Target, deadline: Deadline) -> Outcome:
        """One decision and conditional patch; API errors propagate to _change.

        The decision is first made on what this process last wrote on the pod, if
        anything; only when that calls for no write (or is absent) is the pod read.
        """
        key = (target.namespace, target.pod)
        value = self.settings.label_values[target.level]

        def decide_on(meta: PodMeta) -> tuple[dict | None, str]:
            return decide(target, meta.labels, meta.annotations, meta.resource_version,
                          keys=self.keys, value=value)

        meta = self._cache.take(key)
        patch = decide_on(meta)[0] if meta is not None else None
        if patch is None:
            meta = kube.read_pod(namespace=target.namespace, name=target.pod,
                                 timeout=self._timeout(deadline))
            patch, why = decide_on(meta)
            if patch is None:
                return Outcome("unchanged", why)
        written = kube.patch_pod(namespace=target.namespace, name=target.pod, patch=patch,
                                 dry_run=self.settings.dry_run, timeout=self._timeout(deadline))
        if not self.settings.dry_run:
            self._cache.put(key, written)
        previous = meta.labels.get(self.keys.label)
        self._announce(kube, target, meta, previous, value, deadline)
        return Outcome("labeled", previous=previous)

    def _timeout(self, deadline: Deadline) -> float:
        """The next call's timeout: the configured one, cut to the time left."""
        remaining = deadline.remaining()
        if remaining <= 0:
            # No call at all rather than one too short to answer (a write that lands unseen).
            raise Unavailable("request deadline passed")
        return min(self.settings.api_timeout, remaining)

    def _announce(self, kube: Kube, target: Target, meta: PodMeta, previous: str | None,
                  value: str, deadline: Deadline) -> None:
        """An Event on the pod, shown when the pod is described; its failure never fails the change."""
        if self.settings.dry_run or not self.settings.emit_events:
            return
        detail = target.cause.name[:256] or "alert"
        cpu = cpu_text(target)
        if cpu:
            detail += f", cpu {cpu}{'' if cpu.endswith('%') else '%'}"
        message = f"{self.keys.label}: {previous or '<none>'} -> {value} ({detail})"
        try:
            kube.pod_event(pod=meta, namespace=target.namespace, name=target.pod,
                           reason="CpuLevelChanged", message=message,
                           warning=target.level == Level.CRITICAL, timeout=self._timeout(deadline))
        except ApiError as exc:
            logs.event(log, "event_failed", logging.WARNING, namespace=target.namespace,
                       pod=target.pod, reason=str(exc))

    def _entry(self, item: Item, targets: dict[PodKey, Target],
               outcomes: dict[PodKey, Outcome]) -> dict:
        alert = item.alert
        entry = {"namespace": item.namespace, "pod": item.pod, "alertname": alert.name,
                 "status": alert.status,
                 "level": item.level.name.lower() if item.level is not None else None}
        if item.skip:
            entry.update(outcome="skipped", reason=item.skip)
            return entry
        target, outcome = targets[item.key], outcomes[item.key]
        if not decides(item, target):
            entry.update(outcome="skipped", reason=f"outranked by {target.cause.name or 'another alert'}")
            return entry
        entry.update(outcome=outcome.kind, label=self.settings.label_values[target.level])
        if outcome.reason:
            entry["reason"] = outcome.reason
        if outcome.kind == "labeled":
            entry["previous"] = outcome.previous
            if self.settings.dry_run:
                entry["dryRun"] = True
        return entry


def _default_kube(settings: Settings) -> Kube:
    connection = connect(service_host=settings.kubernetes_service_host,
                         service_port=settings.kubernetes_service_port,
                         service_account_dir=settings.service_account_dir,
                         kubeconfig=settings.kubeconfig, pool_size=settings.patch_concurrency)
    return Kube(connection, timeout=settings.api_timeout)
