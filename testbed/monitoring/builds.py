"""Where the monitoring programs built from the Go module proxy live: kube-state-metrics and a
Prometheus (with promtool) that has Kubernetes service discovery, which Debian's lacks.

scripts/build-go-tool.sh builds each into the cache outside the clone, in a folder named
by the version that testbed/monitoring/<name>/go.mod pins (the Makefile reads the same pins).
"""

from __future__ import annotations

from pathlib import Path

from testbed.gomod import pinned
from testbed.paths import cache_root

KSM_VERSION = pinned("testbed/monitoring/kube-state-metrics", "k8s.io/kube-state-metrics/v2")
# Prometheus' Go module v0.X.Y is its release v2.X.Y.
PROMETHEUS_VERSION = "v2." + pinned(
    "testbed/monitoring/prometheus", "github.com/prometheus/prometheus"
).removeprefix("v0.")


def kube_state_metrics() -> Path:
    return cache_root() / f"kube-state-metrics-{KSM_VERSION}" / "bin" / "kube-state-metrics"


def prometheus() -> Path:
    return cache_root() / f"prometheus-{PROMETHEUS_VERSION}" / "bin" / "prometheus"


def promtool() -> Path:
    """promtool of the same build: Debian's cannot read kubernetes_sd_configs either."""
    return prometheus().with_name("promtool")
