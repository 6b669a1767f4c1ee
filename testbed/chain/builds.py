"""Where the monitoring programs built from the Go module proxy live: kube-state-metrics, a
Prometheus (with promtool) that has Kubernetes service discovery, which Debian's lacks, and
the Prometheus Operator (with its config-reloader and its CRDs).

testbed/pins/build-go-tool.sh builds each into the cache outside the clone, in a folder named
by the version that testbed/pins/<name>/go.mod pins (the Makefile reads the same pins).
"""

from __future__ import annotations

from pathlib import Path

from testbed.paths import cache_root
from testbed.pins import pinned

KSM_VERSION = pinned("testbed/pins/kube-state-metrics", "k8s.io/kube-state-metrics/v2")
# Prometheus' Go module v0.X.Y is its release v2.X.Y.
PROMETHEUS_VERSION = "v2." + pinned(
    "testbed/pins/prometheus", "github.com/prometheus/prometheus"
).removeprefix("v0.")

OPERATOR_VERSION = pinned(
    "testbed/pins/prometheus-operator", "github.com/prometheus-operator/prometheus-operator"
)


def kube_state_metrics() -> Path:
    return cache_root() / f"kube-state-metrics-{KSM_VERSION}" / "bin" / "kube-state-metrics"


def prometheus() -> Path:
    return cache_root() / f"prometheus-{PROMETHEUS_VERSION}" / "bin" / "prometheus"


def promtool() -> Path:
    """promtool of the same build: Debian's cannot read kubernetes_sd_configs either."""
    return prometheus().with_name("promtool")


def operator(program: str = "operator") -> Path:
    """The Prometheus Operator's `operator` or `prometheus-config-reloader`."""
    return cache_root() / f"prometheus-operator-{OPERATOR_VERSION}" / "bin" / program


def operator_crds() -> list[Path]:
    """The operator's CRD files, as its module ships them (empty if not built)."""
    return sorted((operator().parent.parent / "crds").glob("*.yaml"))
