"""A tiny scrape target that stands for the kubelet's cAdvisor and kube-state-metrics.

It serves what the shipped recording rule reads, in the shapes those exporters use:

- `/metrics/cadvisor`: `container_cpu_usage_seconds_total{namespace,pod,container,cpu,image}`,
  a counter of CPU seconds per container, plus the pause container (`container="POD"`,
  which the rule must leave out);
- `/metrics/resource`: the kubelet's resource endpoint, which exports the same counters
  under the same name without an `image` label; Prometheus scrapes it too, as
  kube-prometheus does, and the rule must not count it a second time;
- `/metrics`: `kube_pod_container_resource_limits{namespace,pod,container,node,resource,unit}`,
  the CPU limit in cores (and a memory limit in bytes, which the rule must ignore).

The test sets each pod's usage as a percentage of its CPU limit.  The counters are
not stored per scrape but computed from wall-clock time: each container's counter is
its value at the last change plus rate x seconds since, so whenever Prometheus
scrapes, rate() reads exactly the usage the test set.  A pod's usage is spread over
its containers in proportion to their limits, so every container runs at the pod's
percentage.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PAUSE_CORES = 0.001  # the pause container's usage: tiny, unlimited, never counted
PAUSE_IMAGE = "registry.k8s.io/pause:3.9"
MEMORY_LIMIT = 536_870_912  # bytes; any value: the rule must not read it as CPU


@dataclass
class _Counter:
    """A CPU-seconds counter rising at `cores` since monotonic time `since`."""

    value: float
    cores: float
    since: float

    def read(self, now: float) -> float:
        return self.value + self.cores * (now - self.since)

    def set_cores(self, cores: float, now: float) -> None:
        self.value, self.cores, self.since = self.read(now), cores, now


@dataclass
class _Pod:
    limits: dict[str, float]  # container -> CPU limit in cores
    counters: dict[str, _Counter]  # container (and "POD") -> counter
    percent: float


class MetricsTarget:
    """Serves the pods' CPU counters and limits on 127.0.0.1; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pods: dict[tuple[str, str], _Pod] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-target", daemon=True)
        self.address = f"127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> MetricsTarget:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # -- what the test controls --------------------------------------------------------
    def add_pod(self, namespace: str, pod: str, limits: dict[str, float], percent: float) -> None:
        """Export a pod whose containers have these CPU limits (cores), at `percent` of them."""
        now = time.monotonic()
        counters = {c: _Counter(1000.0, limit * percent / 100, now) for c, limit in limits.items()}
        counters["POD"] = _Counter(10.0, PAUSE_CORES, now)
        with self._lock:
            self._pods[(namespace, pod)] = _Pod(dict(limits), counters, percent)

    def set_percent(self, namespace: str, pod: str, percent: float) -> float:
        """From now on the pod uses `percent` of its CPU limit; returns the time (monotonic)."""
        now = time.monotonic()
        with self._lock:
            entry = self._pods[(namespace, pod)]
            for container, limit in entry.limits.items():
                entry.counters[container].set_cores(limit * percent / 100, now)
            entry.percent = percent
        return now

    def remove_pod(self, namespace: str, pod: str) -> float:
        """Stop exporting the pod (as when it is deleted); returns the time (monotonic)."""
        with self._lock:
            del self._pods[(namespace, pod)]
        return time.monotonic()

    def describe(self, namespace: str, pod: str) -> str:
        """What is exported for the pod, for a failure's diagnosis."""
        with self._lock:
            entry = self._pods.get((namespace, pod))
            if entry is None:
                return "not exported (removed)"
            return (
                f"{len(entry.limits)} limited container(s) {sorted(entry.limits)}, "
                f"limit {sum(entry.limits.values()):g} cores, usage set to {entry.percent:g}%"
            )

    # -- exposition --------------------------------------------------------------------
    def cadvisor(self) -> str:
        now = time.monotonic()
        lines = [
            "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.",
            "# TYPE container_cpu_usage_seconds_total counter",
        ]
        with self._lock:
            for (namespace, pod), entry in sorted(self._pods.items()):
                for container, counter in sorted(entry.counters.items()):
                    image = PAUSE_IMAGE if container == "POD" else f"registry.example/{container}:1"
                    lines.append(
                        f'container_cpu_usage_seconds_total{{container="{container}",cpu="total",'
                        f'image="{image}",namespace="{namespace}",pod="{pod}"}} {counter.read(now):.6f}'
                    )
        return "\n".join(lines) + "\n"

    def resource(self) -> str:
        """The kubelet's /metrics/resource: the containers' counters again, without `image`."""
        now = time.monotonic()
        lines = [
            "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds",
            "# TYPE container_cpu_usage_seconds_total counter",
        ]
        with self._lock:
            for (namespace, pod), entry in sorted(self._pods.items()):
                for container in sorted(entry.limits):
                    lines.append(
                        f'container_cpu_usage_seconds_total{{container="{container}",namespace="{namespace}",'
                        f'pod="{pod}"}} {entry.counters[container].read(now):.6f}'
                    )
        return "\n".join(lines) + "\n"

    def kube_state_metrics(self) -> str:
        lines = [
            "# HELP kube_pod_container_resource_limits The number of requested limit resource by a container.",
            "# TYPE kube_pod_container_resource_limits gauge",
        ]
        with self._lock:
            for (namespace, pod), entry in sorted(self._pods.items()):
                for container, limit in sorted(entry.limits.items()):
                    common = f'container="{container}",namespace="{namespace}",node="node-1",pod="{pod}"'
                    lines.append(
                        f'kube_pod_container_resource_limits{{{common},resource="cpu",unit="core"}} {limit}'
                    )
                    lines.append(
                        f'kube_pod_container_resource_limits{{{common},resource="memory",unit="byte"}} '
                        f"{MEMORY_LIMIT}"
                    )
        return "\n".join(lines) + "\n"

    def _handler(self):
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                pages = {
                    "/metrics/cadvisor": target.cadvisor,
                    "/metrics/resource": target.resource,
                    "/metrics": target.kube_state_metrics,
                }
                page = pages.get(self.path.split("?")[0])
                body = page().encode() if page else b"not found\n"
                self.send_response(200 if page else 404)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # one line per scrape would drown the test's output
                pass

        return Handler
