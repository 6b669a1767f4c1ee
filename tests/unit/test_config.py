"""We test these aspects: settings from the environment.

- defaults, and every variable read from the environment;
- a bad value stops start-up with a message naming the variable;
- the README's configuration table lists exactly the variables, with their defaults.
"""

import re

import pytest

from function.config import Settings, documented, read_secret_file, tokens
from function.errors import ConfigError
from testbed.paths import ROOT


def test_defaults():
    """With nothing set the function labels status=normal|moderate|panne."""
    s = Settings.from_env({})
    assert (s.label_key, s.label_values) == ("status", ("normal", "moderate", "panne"))
    assert dict(s.alert_levels) == {"PodCpuNormal": "normal", "PodHighCpuUsage": "moderate",
                                    "PodCpuFailure": "critical"}
    assert (s.moderate_threshold, s.critical_threshold) == (33.0, 66.0)


def test_every_variable_is_read():
    """Each documented variable changes its setting."""
    env = {"LABEL_KEY": "example.com/cpu", "LABEL_NORMAL": "ok", "LABEL_MODERATE": "warm",
           "LABEL_CRITICAL": "hot", "ALERT_LEVELS": "A=critical, B=normal", "MODERATE_THRESHOLD": "10",
           "CRITICAL_THRESHOLD": "20.5", "CPU_ANNOTATION": "cpu", "POD_LABEL": "kpod",
           "NAMESPACE_LABEL": "kns", "DEFAULT_NAMESPACE": "apps", "ANNOTATION_PREFIX": "example.com",
           "MAX_BODY_BYTES": "10240", "MAX_ALERTS": "5", "API_TIMEOUT_SECONDS": "1.5",
           "PATCH_CONCURRENCY": "3", "KUBECONFIG": "/etc/kube/config", "NAMESPACE_ALLOW": "a, b",
           "NAMESPACE_DENY": "kube-system", "WEBHOOK_TOKEN": "t0k", "WEBHOOK_USERNAME": "am",
           "WEBHOOK_PASSWORD": "pw", "API_ATTEMPTS": "2", "REQUEST_DEADLINE_SECONDS": "3",
           "DRY_RUN": "true", "EMIT_EVENTS": "no", "LOG_LEVEL": "debug", "PROMETHEUS_MULTIPROC_DIR": "/tmp/m",
           "PATCH_CONCURRENCY_PER_REQUEST": "2", "FUTURE_TIME_ALLOWANCE_SECONDS": "30", "PORT": "9000",
           "ORDER_WINDOW_SECONDS": "120",
           "WORKERS": "2", "THREADS": "5", "MAX_CONNECTIONS": "50", "MAX_HEADER_BYTES": "4096",
           "READ_TIMEOUT_SECONDS": "3", "KEEPALIVE_TIMEOUT_SECONDS": "4",
           "KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443",
           "SERVICE_ACCOUNT_DIR": "/run/sa"}
    assert set(env) == {row[0] for row in documented() if not row[0].endswith("_FILE")}
    s = Settings.from_env(env)
    assert (s.label_key, s.label_values) == ("example.com/cpu", ("ok", "warm", "hot"))
    assert s.alert_levels == (("A", "critical"), ("B", "normal"))
    assert (s.moderate_threshold, s.critical_threshold, s.cpu_annotation) == (10, 20.5, "cpu")
    assert (s.pod_label, s.namespace_label, s.default_namespace) == ("kpod", "kns", "apps")
    assert (s.annotation_prefix, s.max_body_bytes, s.max_alerts) == ("example.com", 10240, 5)
    assert (s.api_timeout, s.patch_concurrency, s.kubeconfig) == (1.5, 3, "/etc/kube/config")
    assert (s.namespace_allow, s.namespace_deny) == (("a", "b"), ("kube-system",))
    assert (s.webhook_token.value, s.webhook_username, s.webhook_password.value) == ("t0k", "am", "pw")
    assert (s.api_attempts, s.request_deadline, s.dry_run, s.emit_events) == (2, 3.0, True, False)
    assert (s.log_level, s.metrics_dir) == ("DEBUG", "/tmp/m")
    assert (s.patch_concurrency_per_request, s.future_allowance, s.order_window) == (2, 30.0, 120.0)
    assert (s.port, s.workers, s.threads, s.max_connections) == (9000, 2, 5, 50)
    assert (s.max_header_bytes, s.read_timeout, s.keepalive_timeout) == (4096, 3.0, 4.0)
    assert (s.kubernetes_service_host, s.kubernetes_service_port) == ("10.0.0.1", "443")
    assert s.service_account_dir == "/run/sa"


def test_secrets_from_files_and_hidden(tmp_path):
    """`*_FILE` reads a secret file (trailing newline dropped); repr never shows a secret."""
    (tmp_path / "token").write_text("s3cret-token\n")
    (tmp_path / "password").write_text("pa:ss\n")
    s = Settings.from_env({"WEBHOOK_TOKEN_FILE": str(tmp_path / "token"), "WEBHOOK_USERNAME": "am",
                           "WEBHOOK_PASSWORD_FILE": str(tmp_path / "password")})
    assert (s.webhook_token.value, s.webhook_password.value) == ("s3cret-token", "pa:ss")
    assert "s3cret" not in repr(s) and "pa:ss" not in repr(s) and "s3cret" not in str(s)


@pytest.mark.parametrize("content", ["", "\n", "\r\n"])
def test_empty_secret_file_refuses_to_start(tmp_path, content):
    """An empty token file is an error, never a webhook left open."""
    (tmp_path / "token").write_text(content)
    with pytest.raises(ConfigError, match="is empty"):
        Settings.from_env({"WEBHOOK_TOKEN_FILE": str(tmp_path / "token")})


@pytest.mark.parametrize("env,message", [
    ({"WEBHOOK_TOKEN": "a", "WEBHOOK_TOKEN_FILE": "/x"}, "not both"),
    ({"WEBHOOK_TOKEN_FILE": "/nonexistent/token"}, "WEBHOOK_TOKEN_FILE='/nonexistent/token': cannot read"),
    ({"WEBHOOK_PASSWORD": "hunter2"}, "go together"),
    ({"WEBHOOK_TOKEN": " hunter2"}, "blanks"),
    ({"WEBHOOK_USERNAME": "am"}, "go together"),
    # Alertmanager sends UTF-8; servers read header bytes as Latin-1: it could never match.
    ({"WEBHOOK_TOKEN": "hunter2\u00e9"}, "visible ASCII"),
    ({"WEBHOOK_TOKEN": "hunter2 x"}, "visible ASCII"),
])
def test_bad_secrets(env, message):
    """Secret misconfiguration stops start-up, and the message never holds the secret."""
    with pytest.raises(ConfigError, match=message) as info:
        Settings.from_env(env)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("env,message", [
    ({"LABEL_KEY": "bad key"}, "LABEL_KEY='bad key': not a valid Kubernetes label key"),
    ({"LABEL_KEY": "-status"}, "LABEL_KEY"),
    ({"LABEL_KEY": "Bad_Prefix/status"}, "LABEL_KEY"),
    ({"LABEL_CRITICAL": "en panne"}, "LABEL_CRITICAL='en panne': not a valid"),
    ({"LABEL_NORMAL": ""}, "LABEL_NORMAL"),
    ({"LABEL_MODERATE": "x" * 64}, "LABEL_MODERATE"),
    ({"ALERT_LEVELS": "A=hot"}, "ALERT_LEVELS"),
    ({"ALERT_LEVELS": "A"}, "ALERT_LEVELS"),
    ({"MODERATE_THRESHOLD": "70"}, "CRITICAL_THRESHOLD"),
    ({"MODERATE_THRESHOLD": "nan"}, "MODERATE_THRESHOLD"),
    ({"MODERATE_THRESHOLD": "-1"}, "MODERATE_THRESHOLD"),
    ({"CRITICAL_THRESHOLD": "many"}, "CRITICAL_THRESHOLD='many'"),
    ({"DEFAULT_NAMESPACE": "Default"}, "DEFAULT_NAMESPACE"),
    ({"ANNOTATION_PREFIX": "a/b"}, "ANNOTATION_PREFIX"),
    ({"MAX_ALERTS": "0"}, "MAX_ALERTS"),
    ({"MAX_BODY_BYTES": "1.5"}, "MAX_BODY_BYTES"),
    ({"MAX_BODY_BYTES": "1048576"}, "MAX_BODY_BYTES=1048576: below MAX_ALERTS=2000 x 2048 bytes"),
    ({"MAX_ALERTS": "5000"}, "MAX_BODY_BYTES=4194304: below MAX_ALERTS=5000"),
    ({"ORDER_WINDOW_SECONDS": "30"}, "ORDER_WINDOW_SECONDS=30.0: must be above 60 s"),
    ({"API_TIMEOUT_SECONDS": "0"}, "API_TIMEOUT_SECONDS"),
    ({"POD_LABEL": ""}, "POD_LABEL"),
    ({"NAMESPACE_ALLOW": "ok, Not_OK"}, "NAMESPACE_ALLOW"),
    ({"DRY_RUN": "maybe"}, "DRY_RUN='maybe': not true or false"),
    ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ({"REQUEST_DEADLINE_SECONDS": "-1"}, "REQUEST_DEADLINE_SECONDS"),
    ({"API_ATTEMPTS": "0"}, "API_ATTEMPTS"),
    ({"FUTURE_TIME_ALLOWANCE_SECONDS": "-5"}, "FUTURE_TIME_ALLOWANCE_SECONDS"),
    ({"FUTURE_TIME_ALLOWANCE_SECONDS": "inf"}, "FUTURE_TIME_ALLOWANCE_SECONDS"),
    ({"PATCH_CONCURRENCY_PER_REQUEST": "0"}, "PATCH_CONCURRENCY_PER_REQUEST"),
    ({"READ_TIMEOUT_SECONDS": "0"}, "READ_TIMEOUT_SECONDS"),
    ({"MAX_HEADER_BYTES": "0"}, "MAX_HEADER_BYTES"),
    ({"WORKERS": "0"}, "WORKERS"),
    ({"KUBERNETES_SERVICE_PORT": "https"}, "KUBERNETES_SERVICE_PORT='https': must be a port number"),
    ({"KUBERNETES_SERVICE_PORT": "70000"}, "KUBERNETES_SERVICE_PORT"),
])
def test_bad_values_name_the_variable(env, message):
    """A value the function cannot run with is a ConfigError naming the variable."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_env(env)


def test_readme_table_matches_settings():
    """The README documents every variable with its real default, and nothing else."""
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `([A-Z_]+)` \| `([^`]*)` \|", readme, re.MULTILINE)
    assert rows == [(env, default) for env, default, _ in documented()]


def test_a_secret_from_a_file_knows_its_file(tmp_path):
    """The path is kept (auth.py reads the file again as it rotates); repr shows the path only."""
    (tmp_path / "token").write_text("s3cret-token\n")
    s = Settings.from_env({"WEBHOOK_TOKEN_FILE": str(tmp_path / "token")})
    assert s.webhook_token.file == str(tmp_path / "token")
    assert "s3cret" not in repr(s.webhook_token) and str(tmp_path) in repr(s.webhook_token)
    assert Settings.from_env({"WEBHOOK_TOKEN": "t0k"}).webhook_token.file is None


def test_a_token_file_may_hold_one_token_per_line(tmp_path):
    """Two tokens (a rotation under way), CRLF or LF, blank lines ignored."""
    (tmp_path / "token").write_bytes(b"old-t0k\r\n\nnew-t0k\n")
    assert tokens(Settings.from_env({"WEBHOOK_TOKEN_FILE": str(tmp_path / "token")}).webhook_token) == (
        "old-t0k", "new-t0k")


@pytest.mark.parametrize("content,message", [
    (b"hunter2" * 10_000, "larger than 65536 bytes"),
    (b"hunter2\xff", "not UTF-8"),
    (b"hunter2\nhunter2 x\n", "visible ASCII"),
    (b" hunter2", "blanks"),
    ("hunter2\u00e9".encode(), "visible ASCII"),
])
def test_read_secret_file_checks_as_at_start_up(tmp_path, content, message):
    """The function that re-reads a rotated file refuses what start-up refuses, without the content."""
    (tmp_path / "token").write_bytes(content)
    for read in (lambda: Settings.from_env({"WEBHOOK_TOKEN_FILE": str(tmp_path / "token")}),
                 lambda: read_secret_file("WEBHOOK_TOKEN", str(tmp_path / "token"))):
        with pytest.raises(ConfigError, match=message) as info:
            read()
        assert "hunter2" not in str(info.value) and "WEBHOOK_TOKEN_FILE" in str(info.value)


def test_the_size_bound_is_checked_before_reading_everything(tmp_path):
    """A huge (or endless) file is not read whole: /dev/zero is refused at once."""
    with pytest.raises(ConfigError, match="larger than"):
        read_secret_file("WEBHOOK_TOKEN", "/dev/zero")


def test_the_body_limit_holds_max_alerts_alerts_of_the_shipped_shape():
    """Issue 20's first break: 2000 alerts shaped like the shipped rules' under
    kube-prometheus-stack (about 570 bytes each) were over the 1 MiB body limit, so the
    notification was refused (413) and never re-sent.  The defaults now agree, and the
    start-up check keeps any configuration from disagreeing."""
    import json

    alert = {
        "status": "firing",
        "labels": {"alertname": "PodCpuFailure", "namespace": "shop", "pod": "checkout-7d9f8b6c5-x2k4p",
                   "severity": "critical", "prometheus": "monitoring/kube-prometheus-stack-prometheus"},
        "annotations": {"summary": "Pod CPU above 66 %", "cpu_usage": "92.5"},
        "startsAt": "2026-11-24T09:12:41.503123456Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.monitoring.svc:9090/graph?g0.expr=sum+by+%28namespace%2C+pod"
                        "%29+%28rate%28container_cpu_usage_seconds_total%5B2m%5D%29%29&g0.tab=1",
        "fingerprint": "0123456789abcdef",
    }
    s = Settings()
    body = json.dumps({"version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "cpu-alert-labeler",
                       "alerts": [alert] * s.max_alerts}).encode()
    assert len(body) > 1_048_576  # what the old limit refused
    assert len(body) <= s.max_body_bytes
