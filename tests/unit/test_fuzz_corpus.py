"""We test these aspects: every input kept by the fuzzers for the body parser (the seed
corpus in tests/fuzz/corpus/ and each crash saved in tests/fuzz/regressions/) is either
refused with PayloadError or read into alerts the native classifier accepts, in process,
on every test run: a crash found once stays fixed.
"""

from pathlib import Path

import pytest

from function.alerts import FIRING, RESOLVED, parse_body
from function.classifier import Classifier
from function.errors import PayloadError

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
INPUTS = sorted(p for d in ("corpus", "regressions") for p in (FUZZ / d).iterdir()
                if not p.name.startswith("."))


def test_the_corpus_is_there():
    """The seeds exist (an empty list would make the replay below vacuous)."""
    assert len([p for p in INPUTS if p.parent.name == "corpus"]) >= 5


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: f"{p.parent.name}/{p.name[:24]}")
def test_kept_input_is_refused_or_read(path):
    """PayloadError, or alerts of a known status that classify."""
    try:
        payload = parse_body(path.read_bytes(), max_alerts=50, pod_label="pod",
                             namespace_label="namespace", cpu_annotation="cpu_usage")
    except PayloadError:
        return
    assert all(a.status in (FIRING, RESOLVED) for a in payload.alerts)
    levels = Classifier(moderate=33, critical=66, by_name=()).classify(
        [(a.name, a.cpu) for a in payload.alerts])
    assert len(levels) == len(payload.alerts)
