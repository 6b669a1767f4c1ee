"""One notification through the function's pure decision path, applied to a pod's metadata.

The ordering tests replay many notifications against one pod without an apiserver: each
goes through plan() and decide() as the function runs them, and the merge patch decided
is applied to the pod's labels and annotations as the API would apply it (a None value
removes a key).  The label key and values are the function's defaults.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from function.alerts import Alert
from function.model import Level, PodMeta
from function.plan import Keys, Scope, decide, plan

KEYS = Keys(label="status", prefix="cpu-alert-labeler")
OURS = ("normal", "moderate", "panne")


def apply(
    meta: PodMeta,
    alerts: tuple[Alert, ...],
    levels: list[Level | None],
    trust_until: datetime,
    received: datetime | None = None,
    order_window: timedelta | None = None,
) -> PodMeta:
    """The pod's metadata after one notification of `alerts` (classified as `levels`) that
    arrived at `received` (None: its times are not compared with an arrival)."""
    _, targets = plan(alerts, levels, Scope("default", (), ()), trust_until=trust_until, received=received)
    if not targets:
        return meta
    (target,) = targets.values()
    d = decide(target, meta, keys=KEYS, value=OURS[target.level], ours=OURS, order_window=order_window)
    if d.patch is None:
        return meta
    change = d.patch["metadata"]
    annotations = {k: v for k, v in {**meta.annotations, **change["annotations"]}.items() if v is not None}
    return PodMeta(meta.uid, meta.resource_version + "1", {**meta.labels, **change["labels"]}, annotations)
