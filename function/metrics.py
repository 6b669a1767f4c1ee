"""Prometheus metrics, correct across the server's worker processes.

With PROMETHEUS_MULTIPROC_DIR set (scripts/start.sh sets it before the server
starts, as prometheus-client requires), each worker writes its samples to that
directory and /metrics aggregates them all; without it (tests, one process)
the default registry serves.
"""

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

ALERTS = Counter(
    "cpu_alert_labeler_alerts_received_total",
    "Alerts received, by alert status and classified level.",
    ["status", "level"],
)
CHANGES = Counter(
    "cpu_alert_labeler_changes_total",
    "Pod changes by outcome (labeled, unchanged, skipped, failed).",
    ["outcome"],
)
FOREIGN_LABELS = Counter(
    "cpu_alert_labeler_foreign_labels_total", "Pods left alone because their label was set by someone else."
)
TRUNCATED = Counter(
    "cpu_alert_labeler_truncated_alerts_total",
    "Alerts Alertmanager left out of notifications (its max_alerts).",
)
EVENTS = Counter(
    "cpu_alert_labeler_events_total",
    "CpuLevelChanged Events by result: sent (at once), deferred (the API refused it for now),"
    " sent_again (later, from the queue), dropped (never recorded; logged as event_dropped),"
    " unneeded (a PATCH whose answer was lost turned out not to have landed: no change to record).",
    ["result"],
)
REFUSED = Counter(
    "cpu_alert_labeler_refused_total",
    "Notifications refused for their size (413, which Alertmanager never re-sends), by limit:"
    " body (MAX_BODY_BYTES) or alerts (MAX_ALERTS).",
    ["limit"],
)
# One series per namespace whose pods' CPU alerts reach the function (the cluster's namespaces
# with CPU-limited pods, since PodCpuNormal fires for every such pod): the shipped alert
# CpuAlertLabelerNotNotified compares it with the alerts Prometheus fires, namespace by
# namespace, which is how a route that takes only some namespaces' alerts shows.  Not
# `namespace`: the scrape sets that label to the function pod's own.  `max` across worker
# processes (and exited ones): the latest.
NOTIFIED = Gauge(
    "cpu_alert_labeler_last_notification_timestamp_seconds",
    "When a notification last brought CPU alerts of pods of this namespace (Unix time), by"
    " the alerts' namespace.",
    ["alert_namespace"],
    multiprocess_mode="max",
)
API_LATENCY = Histogram(
    "cpu_alert_labeler_api_call_duration_seconds",
    "Kubernetes API call latency, by call and result.",
    ["call", "result"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
REQUESTS = Histogram(
    "cpu_alert_labeler_request_duration_seconds",
    "Webhook request latency, by HTTP status.",
    ["code"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def exposition(multiproc_dir: str) -> tuple[bytes, str]:
    """The metrics text of every worker (or of this process) and its content type."""
    if multiproc_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=multiproc_dir)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
