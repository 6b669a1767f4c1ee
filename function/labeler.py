"""The pipeline: body -> alerts -> one native classification -> plan -> patches -> report.

Owns the per-process resources (the Kubernetes client and a bounded thread
pool for patching pods concurrently), built lazily on first use so that they
are created in the gunicorn worker, after the fork, never in the master.
Each pod is read, decided and patched on its own; a failure on one pod never
undoes or hides another's success.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from . import alerts as alerts_mod
from .classifier import Classifier
from .config import Settings
from .errors import ApiError, Conflict, NotFound
from .kube import Kube, load_api_client
from .plan import Item, Keys, PodKey, Target, decide, decides, plan

_CONFLICT_ATTEMPTS = 5  # re-read and re-decide after 409 at most this often


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

    def to_json(self) -> dict:
        counts: dict[str, int] = {}
        for entry in self.entries:
            counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
        return {"status": "retry" if self.retry else "ok", "groupKey": self.group_key,
                "counts": counts, "alerts": self.entries}


class Labeler:
    """One per process: settings and classifier at once, client and pool on first use."""

    def __init__(self, settings: Settings, kube_factory: Callable[[Settings], Kube] | None = None):
        self.settings = settings
        self.keys = Keys(label=settings.label_key, prefix=settings.annotation_prefix)
        self.classifier = Classifier(moderate=settings.moderate_threshold,
                                     critical=settings.critical_threshold,
                                     by_name=settings.alert_levels)
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

    def handle(self, body: bytes) -> Report:
        s = self.settings
        payload = alerts_mod.parse_body(body, max_alerts=s.max_alerts, pod_label=s.pod_label,
                                        namespace_label=s.namespace_label,
                                        cpu_annotation=s.cpu_annotation)
        levels = self.classifier.classify([(a.name, a.cpu) for a in payload.alerts])
        items, targets = plan(payload.alerts, levels, default_namespace=s.default_namespace)
        outcomes = self._apply(targets) if targets else {}
        entries = [self._entry(item, targets, outcomes) for item in items]
        return Report(payload.group_key, entries, any(o.retryable for o in outcomes.values()))

    def _apply(self, targets: dict[PodKey, Target]) -> dict[PodKey, Outcome]:
        kube, pool = self._resources()
        if len(targets) == 1:  # no hand-off to the pool for the common single-pod group
            key, target = next(iter(targets.items()))
            return {key: self._apply_one(kube, target)}
        futures = {key: pool.submit(self._apply_one, kube, t) for key, t in targets.items()}
        return {key: future.result() for key, future in futures.items()}

    def _apply_one(self, kube: Kube, target: Target) -> Outcome:
        value = self.settings.label_values[target.level]
        for _ in range(_CONFLICT_ATTEMPTS):
            try:
                meta = kube.read_pod(namespace=target.namespace, name=target.pod)
                patch, why = decide(target, meta.labels, meta.annotations, meta.resource_version,
                                    keys=self.keys, value=value)
                if patch is None:
                    return Outcome("unchanged", why)
                kube.patch_pod(namespace=target.namespace, name=target.pod, patch=patch)
                return Outcome("labeled", previous=meta.labels.get(self.keys.label))
            except Conflict:
                continue
            except NotFound:
                return Outcome("skipped", "pod not found")
            except ApiError as exc:
                return Outcome("failed", str(exc), retryable=exc.retryable)
        return Outcome("failed", "the pod kept changing under us (409)", retryable=True)

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
        else:
            entry.update(outcome=outcome.kind, label=self.settings.label_values[target.level])
            if outcome.reason:
                entry["reason"] = outcome.reason
            if outcome.kind == "labeled":
                entry["previous"] = outcome.previous
        return entry


def _default_kube(settings: Settings) -> Kube:
    api_client = load_api_client(kubeconfig=settings.kubeconfig, pool_size=settings.patch_concurrency)
    return Kube(api_client, timeout=settings.api_timeout)
