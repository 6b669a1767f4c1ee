"""We test these aspects: settings from the environment.

- defaults, and every variable read from the environment;
- a bad value stops start-up with a message naming the variable;
- the README's configuration table lists exactly the variables, with their defaults.
"""

import re

import pytest

from conftest import ROOT
from function.config import Settings, documented
from function.errors import ConfigError


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
           "MAX_BODY_BYTES": "100", "MAX_ALERTS": "5", "API_TIMEOUT_SECONDS": "1.5",
           "PATCH_CONCURRENCY": "3", "KUBECONFIG": "/etc/kube/config"}
    assert set(env) == {row[0] for row in documented()}
    s = Settings.from_env(env)
    assert (s.label_key, s.label_values) == ("example.com/cpu", ("ok", "warm", "hot"))
    assert s.alert_levels == (("A", "critical"), ("B", "normal"))
    assert (s.moderate_threshold, s.critical_threshold, s.cpu_annotation) == (10, 20.5, "cpu")
    assert (s.pod_label, s.namespace_label, s.default_namespace) == ("kpod", "kns", "apps")
    assert (s.annotation_prefix, s.max_body_bytes, s.max_alerts) == ("example.com", 100, 5)
    assert (s.api_timeout, s.patch_concurrency, s.kubeconfig) == (1.5, 3, "/etc/kube/config")


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
    ({"API_TIMEOUT_SECONDS": "0"}, "API_TIMEOUT_SECONDS"),
    ({"POD_LABEL": ""}, "POD_LABEL"),
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
