"""Settings: every environment variable the function reads, parsed and checked once.

This is the only module that reads os.environ.  Each field names its variable,
default and meaning in its metadata; the README's table is checked against it
by the tests.  A bad value raises ConfigError at start-up, naming the variable,
so a misconfigured function never starts rather than writing wrong labels.
"""

import math
import os
from dataclasses import dataclass, field, fields
from typing import Callable, Mapping

from .errors import ConfigError
from .k8snames import is_dns_label, is_dns_subdomain, is_label_value, is_qualified_name

LEVEL_NAMES = ("normal", "moderate", "critical")


def _setting(env: str, default, doc: str, parse: Callable[[str], object] | None = None):
    return field(default=default, metadata={"env": env, "doc": doc, "parse": parse})


def _parse_levels(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, eq, level = (s.strip() for s in item.partition("="))
        if not eq or not name or level not in LEVEL_NAMES:
            raise ValueError(f"{item!r} is not NAME=normal|moderate|critical")
        pairs.append((name, level))
    return tuple(pairs)


@dataclass(frozen=True)
class Settings:
    """What the function needs to know; built by from_env() or directly in tests."""

    label_key: str = _setting("LABEL_KEY", "status", "Pod label the level is written to; the only label ever written.")
    label_normal: str = _setting("LABEL_NORMAL", "normal", "Label value for the normal level.")
    label_moderate: str = _setting("LABEL_MODERATE", "moderate", "Label value for the moderate level.")
    label_critical: str = _setting("LABEL_CRITICAL", "panne", "Label value for the critical level.")
    alert_levels: tuple[tuple[str, str], ...] = _setting(
        "ALERT_LEVELS",
        (("PodCpuNormal", "normal"), ("PodHighCpuUsage", "moderate"), ("PodCpuFailure", "critical")),
        "Alert names classified by name, as `Name=level,...`; other alerts go by CPU.",
        _parse_levels,
    )
    moderate_threshold: float = _setting("MODERATE_THRESHOLD", 33.0, "CPU percent from which an alert is moderate.")
    critical_threshold: float = _setting("CRITICAL_THRESHOLD", 66.0, "CPU percent from which an alert is critical.")
    cpu_annotation: str = _setting("CPU_ANNOTATION", "cpu_usage", "Alert annotation holding CPU in percent (`92`, `92.5%`).")
    pod_label: str = _setting("POD_LABEL", "pod", "Alert label naming the pod.")
    namespace_label: str = _setting("NAMESPACE_LABEL", "namespace", "Alert label naming the pod's namespace.")
    default_namespace: str = _setting("DEFAULT_NAMESPACE", "default", "Namespace used when an alert has no namespace label.")
    annotation_prefix: str = _setting(
        "ANNOTATION_PREFIX", "cpu-alert-labeler", "Prefix of the pod annotations that record the state behind the label."
    )
    max_body_bytes: int = _setting("MAX_BODY_BYTES", 1_048_576, "Largest request body accepted (413 above).")
    max_alerts: int = _setting("MAX_ALERTS", 2000, "Most alerts accepted in one request (413 above).")
    api_timeout: float = _setting("API_TIMEOUT_SECONDS", 5.0, "Timeout of each Kubernetes API call, in seconds.")
    patch_concurrency: int = _setting("PATCH_CONCURRENCY", 16, "Pods patched at once per process.")
    kubeconfig: str = _setting(
        "KUBECONFIG", "~/.kube/config", "Kubeconfig used when not running in a pod (in-cluster config comes first)."
    )

    def __post_init__(self):
        for name, ok, what in self._checks():
            if not ok:
                meta = next(f.metadata for f in fields(self) if f.name == name)
                raise ConfigError(f"{meta['env']}={getattr(self, name)!r}: {what}")

    def _checks(self):
        yield "label_key", is_qualified_name(self.label_key), "not a valid Kubernetes label key"
        for name in ("label_normal", "label_moderate", "label_critical"):
            value = getattr(self, name)
            yield name, value != "" and is_label_value(value), "not a valid non-empty Kubernetes label value"
        yield "alert_levels", all(0 < len(n.encode()) <= 256 for n, _ in self.alert_levels), "names must be 1-256 bytes"
        yield "moderate_threshold", math.isfinite(self.moderate_threshold) and self.moderate_threshold >= 0, (
            "must be a finite number >= 0"
        )
        yield "critical_threshold", math.isfinite(self.critical_threshold) and (
            self.critical_threshold > self.moderate_threshold
        ), "must be a finite number above MODERATE_THRESHOLD"
        yield "default_namespace", is_dns_label(self.default_namespace), "not a valid namespace name"
        yield "annotation_prefix", is_dns_subdomain(self.annotation_prefix), "not a DNS subdomain"
        for name in ("cpu_annotation", "pod_label", "namespace_label"):
            yield name, getattr(self, name) != "", "must not be empty"
        for name in ("max_body_bytes", "max_alerts", "patch_concurrency"):
            yield name, getattr(self, name) > 0, "must be a positive whole number"
        yield "api_timeout", math.isfinite(self.api_timeout) and self.api_timeout > 0, "must be a positive number"

    @property
    def label_values(self) -> tuple[str, str, str]:
        """Label values indexed by level (normal, moderate, critical)."""
        return (self.label_normal, self.label_moderate, self.label_critical)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Read every setting from `environ` (default os.environ); unset means the default."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            text = environ.get(f.metadata["env"])
            if text is None:
                continue
            parse = f.metadata["parse"] or type(f.default)
            try:
                values[f.name] = parse(text.strip())
            except ValueError as exc:
                raise ConfigError(f"{f.metadata['env']}={text!r}: {exc}") from None
        return cls(**values)


def documented() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting, in declaration order, for the README."""
    rows = []
    for f in fields(Settings):
        default = f.default
        if f.name == "alert_levels":
            default = ",".join(f"{n}={lvl}" for n, lvl in default)
        rows.append((f.metadata["env"], str(default), f.metadata["doc"]))
    return rows
