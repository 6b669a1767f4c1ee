"""Settings: every environment variable the function reads, parsed and checked once.

This is the only module that reads os.environ (and the secret files it names).
Each field names its variable, default and meaning in its metadata; the README's
table is checked against it by the tests.  A bad value raises ConfigError at
start-up, naming the variable, so a misconfigured function never starts rather
than writing wrong labels.  Secrets are held in Secret, whose repr hides them,
so printing the settings can never leak a credential into a log.
"""

import math
import os
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping

from .errors import ConfigError
from .k8snames import is_dns_label, is_dns_subdomain, is_label_value, is_qualified_name

LEVEL_NAMES = ("normal", "moderate", "critical")
# The body room MAX_BODY_BYTES must leave for each of MAX_ALERTS alerts.  An alert of the
# shipped rules under kube-prometheus-stack is about 570 bytes (labels, summary,
# generatorURL); 2 KiB leaves room for longer descriptions, and the start-up check keeps
# a notification of MAX_ALERTS alerts from being refused for its size (413: never re-sent).
ALERT_BYTES = 2048
# How long, after a request answered 503, the pods it wrote are trusted to need no read
# before writing nothing (podcache.py): Alertmanager's re-send comes within it.
# ORDER_WINDOW_SECONDS must outlast it (or a record could be trusted past its window).
KNOWN_FOR = 60.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class Secret:
    """A credential: compared by the auth module, never shown.

    `file` is the file it was read from (`<VARIABLE>_FILE`), None when it came from the
    variable itself: a file is read again as it rotates (read_secret_file), a variable
    cannot change under a running process.
    """

    __slots__ = ("value", "file")

    def __init__(self, value: str, file: str | None = None):
        self.value, self.file = value, file

    def __repr__(self) -> str:
        return "Secret('***')" if self.file is None else f"Secret('***', file={self.file!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Secret) and (other.value, other.file) == (self.value, self.file)

    def __hash__(self) -> int:
        return hash((self.value, self.file))


SECRET_FILE_MAX = 64 * 1024  # bytes; a token is tens of bytes, a file above this is not a secret


def tokens(secret: Secret) -> tuple[str, ...]:
    """The bearer tokens a WEBHOOK_TOKEN holds: one per line (two while a rotation is under
    way, see the README), blank lines ignored."""
    return tuple(line for line in (part.rstrip("\r") for part in secret.value.split("\n")) if line)


def _tokens_ok(secret: Secret | None) -> bool:
    # An HTTP header carries bytes that servers read as Latin-1: a token outside
    # visible ASCII could never compare equal to what Alertmanager sends.
    return secret is None or (bool(tokens(secret)) and all(_visible(t) for t in tokens(secret)))


def _visible(text: str) -> bool:
    return all("!" <= c <= "~" for c in text)


def _setting(env: str, default, doc: str, parse: Callable[[str], object] | None = None, secret: bool = False):
    return field(
        default=default, repr=not secret, metadata={"env": env, "doc": doc, "parse": parse, "secret": secret}
    )


def _parse_levels(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, eq, level = (s.strip() for s in item.partition("="))
        if not eq or not name or level not in LEVEL_NAMES:
            raise ValueError(f"{item!r} is not NAME=normal|moderate|critical")
        pairs.append((name, level))
    return tuple(pairs)


def _parse_list(text: str) -> tuple[str, ...]:
    return tuple(filter(None, (part.strip() for part in text.split(","))))


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("not true or false")


def _parse_secret(text: str) -> Secret | None:
    if text != text.strip():
        # Headers are compared stripped: a secret with blanks around it could never match.
        raise ValueError("must not start or end with blanks")
    return Secret(text) if text else None


def _parse_token(text: str) -> Secret | None:
    secret = _parse_secret(text)
    if not _tokens_ok(secret):
        raise ValueError("must be visible ASCII characters, one token per line")
    return secret


@dataclass(frozen=True)
class Settings:
    """What the function needs to know; built by from_env() or directly in tests."""

    label_key: str = _setting(
        "LABEL_KEY", "status", "Pod label the level is written to; the only label ever written."
    )
    label_normal: str = _setting("LABEL_NORMAL", "normal", "Label value for the normal level.")
    label_moderate: str = _setting("LABEL_MODERATE", "moderate", "Label value for the moderate level.")
    label_critical: str = _setting("LABEL_CRITICAL", "panne", "Label value for the critical level.")
    alert_levels: tuple[tuple[str, str], ...] = _setting(
        "ALERT_LEVELS",
        (("PodCpuNormal", "normal"), ("PodHighCpuUsage", "moderate"), ("PodCpuFailure", "critical")),
        "Alert names classified by name, as `Name=level,...`; other alerts go by CPU.",
        _parse_levels,
    )
    moderate_threshold: float = _setting(
        "MODERATE_THRESHOLD", 33.0, "CPU percent from which an alert is moderate."
    )
    critical_threshold: float = _setting(
        "CRITICAL_THRESHOLD", 66.0, "CPU percent from which an alert is critical."
    )
    cpu_annotation: str = _setting(
        "CPU_ANNOTATION", "cpu_usage", "Alert annotation holding CPU in percent (`92`, `92.5%`)."
    )
    pod_label: str = _setting("POD_LABEL", "pod", "Alert label naming the pod.")
    namespace_label: str = _setting("NAMESPACE_LABEL", "namespace", "Alert label naming the pod's namespace.")
    default_namespace: str = _setting(
        "DEFAULT_NAMESPACE", "default", "Namespace used when an alert has no namespace label."
    )
    namespace_allow: tuple[str, ...] = _setting(
        "NAMESPACE_ALLOW",
        (),
        "Comma-separated namespaces the function may label; empty means all.",
        _parse_list,
    )
    namespace_deny: tuple[str, ...] = _setting(
        "NAMESPACE_DENY",
        (),
        "Comma-separated namespaces never labeled (wins over the allow list).",
        _parse_list,
    )
    annotation_prefix: str = _setting(
        "ANNOTATION_PREFIX",
        "cpu-alert-labeler",
        "Prefix of the pod annotations that record the state behind the label.",
    )
    webhook_token: Secret | None = _setting(
        "WEBHOOK_TOKEN",
        None,
        "Bearer token the webhook must present; unset with no basic auth means open.",
        _parse_token,
        secret=True,
    )
    webhook_username: str = _setting(
        "WEBHOOK_USERNAME", "", "Basic-auth user name the webhook may present instead."
    )
    webhook_password: Secret | None = _setting(
        "WEBHOOK_PASSWORD", None, "Basic-auth password for `WEBHOOK_USERNAME`.", _parse_secret, secret=True
    )
    max_body_bytes: int = _setting(
        "MAX_BODY_BYTES",
        4_194_304,
        "Largest request body accepted (413 above); at least `MAX_ALERTS` x 2048.",
    )
    max_alerts: int = _setting("MAX_ALERTS", 2000, "Most alerts accepted in one request (413 above).")
    api_timeout: float = _setting(
        "API_TIMEOUT_SECONDS", 5.0, "Timeout of each Kubernetes API call, in seconds."
    )
    api_attempts: int = _setting(
        "API_ATTEMPTS", 4, "Tries of a pod's change on retryable API failures, with backoff."
    )
    request_deadline: float = _setting(
        "REQUEST_DEADLINE_SECONDS",
        8.0,
        "Time a webhook may take, kept below Alertmanager's notify timeout; past it, 503.",
    )
    patch_concurrency: int = _setting("PATCH_CONCURRENCY", 32, "Pods patched at once per process.")
    patch_concurrency_per_request: int = _setting(
        "PATCH_CONCURRENCY_PER_REQUEST",
        24,
        "Pods one request may have patched at once, so a big notification leaves room for others.",
    )
    future_allowance: float = _setting(
        "FUTURE_TIME_ALLOWANCE_SECONDS",
        300.0,
        "Clock skew allowed to alert times; later times neither order nor are recorded"
        " (and no time after a notification's arrival is recorded).",
    )
    order_window: float = _setting(
        "ORDER_WINDOW_SECONDS",
        600.0,
        "How long a written state outranks notifications with older alert times (late re-sends);"
        " past it, clocks that disagree cannot hold a label. Keep above Alertmanager's group_interval.",
    )
    dry_run: bool = _setting(
        "DRY_RUN",
        False,
        "Server-side dry run: the API validates every change and persists nothing.",
        _parse_bool,
    )
    emit_events: bool = _setting(
        "EMIT_EVENTS", True, "Record each change as a Kubernetes Event on the pod.", _parse_bool
    )
    log_level: str = _setting(
        "LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR; logs are JSON lines on stderr.", str.upper
    )
    port: int = _setting("PORT", 8080, "TCP port the server listens on.")
    workers: int = _setting("WORKERS", 1, "Server processes sharing the port.")
    threads: int = _setting(
        "THREADS", 8, "Requests handled at once per process (slow clients do not take one)."
    )
    max_connections: int = _setting(
        "MAX_CONNECTIONS", 1000, "Open connections per process; past it new ones wait in the listen queue."
    )
    max_header_bytes: int = _setting(
        "MAX_HEADER_BYTES", 65536, "Largest request line plus headers accepted (431 or 400 above)."
    )
    read_timeout: float = _setting(
        "READ_TIMEOUT_SECONDS", 10.0, "Time a client has to send a whole request (line, headers, body)."
    )
    keepalive_timeout: float = _setting(
        "KEEPALIVE_TIMEOUT_SECONDS",
        15.0,
        "An idle connection, or one that stops sending, is closed after this.",
    )
    metrics_dir: str = _setting(
        "PROMETHEUS_MULTIPROC_DIR",
        "",
        "Shared directory for /metrics across worker processes (set by scripts/start.sh).",
    )
    kubeconfig: str = _setting(
        "KUBECONFIG",
        "~/.kube/config",
        "Kubeconfig used when not running in a pod (in-cluster config comes first).",
    )
    # Set by Kubernetes in every pod; read here because this module is the only reader of
    # the environment.  Both set (and a service account mounted) means in-cluster config.
    kubernetes_service_host: str = _setting(
        "KUBERNETES_SERVICE_HOST",
        "",
        "Set by Kubernetes in a pod: the API server's address, for in-cluster config.",
    )
    kubernetes_service_port: str = _setting(
        "KUBERNETES_SERVICE_PORT",
        "",
        "Set by Kubernetes in a pod: the API server's port, for in-cluster config.",
    )
    service_account_dir: str = _setting(
        "SERVICE_ACCOUNT_DIR",
        "/var/run/secrets/kubernetes.io/serviceaccount",
        "Where the pod's service account `token` (re-read as it rotates) and `ca.crt` are mounted.",
    )

    def __post_init__(self):
        for name, ok, what in self._checks():
            if not ok:
                meta = next(f.metadata for f in fields(self) if f.name == name)
                shown = "***" if meta["secret"] else repr(getattr(self, name))
                raise ConfigError(f"{meta['env']}={shown}: {what}")

    def _checks(self):
        yield "label_key", is_qualified_name(self.label_key), "not a valid Kubernetes label key"
        for name in ("label_normal", "label_moderate", "label_critical"):
            value = getattr(self, name)
            yield name, value != "" and is_label_value(value), "not a valid non-empty Kubernetes label value"
        yield (
            "alert_levels",
            all(0 < len(n.encode()) <= 256 for n, _ in self.alert_levels),
            "names must be 1-256 bytes",
        )
        yield (
            "moderate_threshold",
            math.isfinite(self.moderate_threshold) and self.moderate_threshold >= 0,
            "must be a finite number >= 0",
        )
        yield (
            "critical_threshold",
            math.isfinite(self.critical_threshold) and (self.critical_threshold > self.moderate_threshold),
            "must be a finite number above MODERATE_THRESHOLD",
        )
        yield "default_namespace", is_dns_label(self.default_namespace), "not a valid namespace name"
        for name in ("namespace_allow", "namespace_deny"):
            yield name, all(is_dns_label(ns) for ns in getattr(self, name)), "not a list of namespace names"
        yield "annotation_prefix", is_dns_subdomain(self.annotation_prefix), "not a DNS subdomain"
        yield (
            "webhook_password",
            (self.webhook_password is None) == (self.webhook_username == ""),
            "WEBHOOK_USERNAME and WEBHOOK_PASSWORD go together",
        )
        for name in ("cpu_annotation", "pod_label", "namespace_label"):
            yield name, getattr(self, name) != "", "must not be empty"
        for name in (
            "max_body_bytes",
            "max_alerts",
            "patch_concurrency",
            "api_attempts",
            "patch_concurrency_per_request",
            "port",
            "workers",
            "threads",
            "max_connections",
            "max_header_bytes",
        ):
            yield name, getattr(self, name) > 0, "must be a positive whole number"
        for name in ("api_timeout", "request_deadline", "read_timeout", "keepalive_timeout", "order_window"):
            yield (
                name,
                math.isfinite(getattr(self, name)) and getattr(self, name) > 0,
                "must be a positive number",
            )
        yield (
            "max_body_bytes",
            self.max_body_bytes >= self.max_alerts * ALERT_BYTES,
            f"below MAX_ALERTS={self.max_alerts} x {ALERT_BYTES} bytes: a notification of MAX_ALERTS"
            " alerts would be refused for its size, and Alertmanager never re-sends a 413",
        )
        yield (
            "order_window",
            self.order_window > KNOWN_FOR,
            f"must be above {KNOWN_FOR:g} s, how long the function trusts its own writes without a read",
        )
        yield (
            "future_allowance",
            math.isfinite(self.future_allowance) and self.future_allowance >= 0,
            "must be a finite number >= 0",
        )
        yield "webhook_token", _tokens_ok(self.webhook_token), "must be visible ASCII characters"
        yield "log_level", self.log_level in LOG_LEVELS, f"must be one of {', '.join(LOG_LEVELS)}"
        port = self.kubernetes_service_port
        yield (
            "kubernetes_service_port",
            port == "" or (port.isdigit() and 0 < int(port) < 65536),
            "must be a port number",
        )

    @property
    def label_values(self) -> tuple[str, str, str]:
        """Label values indexed by level (normal, moderate, critical)."""
        return (self.label_normal, self.label_moderate, self.label_critical)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Read every setting from `environ` (default os.environ); unset means the default.

        A secret may instead be given as a file named by `<VARIABLE>_FILE`
        (OpenFaaS mounts secrets under /var/openfaas/secrets/).
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            env = f.metadata["env"]
            if f.metadata["secret"] and environ.get(f"{env}_FILE"):
                if environ.get(env):
                    raise ConfigError(f"set {env} or {env}_FILE, not both")
                values[f.name] = read_secret_file(env, environ[f"{env}_FILE"])
                continue
            text = environ.get(env)
            if text is None:
                continue
            parse = f.metadata["parse"] or type(f.default)
            try:
                values[f.name] = parse(text if f.metadata["secret"] else text.strip())
            except ValueError as exc:
                shown = "***" if f.metadata["secret"] else repr(text)
                raise ConfigError(f"{env}={shown}: {exc}") from None
        return cls(**values)


def read_secret_file(env: str, path: str) -> Secret:
    """The secret `<env>_FILE` names, read and checked as at start-up; ConfigError otherwise.

    At start-up (from_env) the error stops the function; later (a rotated file read
    again) the caller keeps the secret it has.  No message ever holds the file's content.
    """
    where = f"{env}_FILE={path!r}"
    try:
        with open(path, "rb") as file:
            data = file.read(SECRET_FILE_MAX + 1)  # bounded before anything is decoded
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read: {exc.strerror}") from None
    if len(data) > SECRET_FILE_MAX:
        raise ConfigError(f"{where}: larger than {SECRET_FILE_MAX} bytes")
    try:
        # Secret files usually end with a newline that is not part of the secret.
        text = data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None
    if not text:
        # An empty secret would otherwise mean "no secret": the webhook silently open.
        raise ConfigError(f"{where} is empty")
    parse = next(f.metadata["parse"] for f in fields(Settings) if f.metadata["env"] == env)
    try:
        value = parse(text)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return Secret(value.value, file=path)


def documented() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting, in declaration order, for the README."""
    rows = []
    for f in fields(Settings):
        env, default = f.metadata["env"], f.default
        if f.name == "alert_levels":
            default = ",".join(f"{n}={lvl}" for n, lvl in default)
        elif isinstance(default, tuple) or default is None:
            default = ",".join(default or ())
        elif isinstance(default, bool):
            default = str(default).lower()
        rows.append((env, str(default), f.metadata["doc"]))
        if f.metadata["secret"]:
            rows.append((f"{env}_FILE", "", f"File holding `{env}` (e.g. an OpenFaaS secret)."))
    return rows
