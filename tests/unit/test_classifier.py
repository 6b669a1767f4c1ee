"""We test these aspects: the real compiled classifier through its Python wrapper.

- every classification rule (names, thresholds, unreadable CPU) in one batch call;
- configured names and thresholds change the result;
- errors from the C library arrive as NativeError with the library's message.
"""

import pytest

from function.classifier import Classifier
from function.config import Settings
from function.errors import NativeError
from function.model import Level


def default_classifier() -> Classifier:
    s = Settings()
    return Classifier(moderate=s.moderate_threshold, critical=s.critical_threshold, by_name=s.alert_levels)


RULES = [
    ("PodCpuNormal", None, Level.NORMAL),
    ("PodCpuNormal", "99", Level.NORMAL),  # the name wins over the CPU reading
    ("PodHighCpuUsage", None, Level.MODERATE),
    ("PodCpuFailure", "5", Level.CRITICAL),
    ("Other", "0", Level.NORMAL),
    ("Other", "32.9", Level.NORMAL),
    ("Other", "33", Level.MODERATE),
    ("Other", "92", Level.CRITICAL),
    ("Other", "92.5", Level.CRITICAL),
    ("Other", "50%", Level.MODERATE),
    ("Other", " 66 % ", Level.CRITICAL),
    ("Other", "250", Level.CRITICAL),
    ("Other", "NaN", None),
    ("Other", "inf", None),
    ("Other", "-5", None),
    ("Other", "1e2", None),
    ("Other", "high", None),
    ("Other", "", None),
    ("Other", None, None),
    ("", None, None),
    (None, "40", Level.MODERATE),
    ("PodCpuFailure\0x", None, None),  # an embedded NUL is not cut short into a known name
    ("Other", "4" * 40, None),  # longer than the C side reads
]


@pytest.mark.parametrize("name,cpu,level", RULES)
def test_each_rule(name, cpu, level):
    """Each (alert name, cpu_usage) pair gets the level the rules promise."""
    assert default_classifier().classify([(name, cpu)]) == [level]


def test_one_batch_call_classifies_every_alert_in_order():
    """A whole payload is classified at once, in order, with the same answers as one by one."""
    pairs = [(name, cpu) for name, cpu, _ in RULES] * 50
    assert default_classifier().classify(pairs) == [level for _, _, level in RULES] * 50


def test_empty_batch():
    """No alerts, no levels (and no native error)."""
    assert default_classifier().classify([]) == []


def test_configured_names_and_thresholds():
    """Names and thresholds come from settings, not from the library."""
    c = Classifier(moderate=10, critical=20, by_name=[("Hot", "critical"), ("PodCpuFailure", "normal")])
    assert c.classify([("Hot", None), ("PodCpuFailure", None), ("x", "15"), ("x", "9.9")]) == [
        Level.CRITICAL, Level.NORMAL, Level.MODERATE, Level.NORMAL]


@pytest.mark.parametrize("moderate,critical", [(66, 33), (10, 10), (-1, 5), (float("nan"), 5)])
def test_bad_thresholds_raise_the_library_message(moderate, critical):
    """The C library's own message reaches Python."""
    with pytest.raises(NativeError, match="thresholds"):
        Classifier(moderate=moderate, critical=critical, by_name=[])

