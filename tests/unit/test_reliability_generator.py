"""We test these aspects: the request generator of the fuzz campaigns
(testbed/campaigns/generator.py), without servers.

- the fuzz campaign's mix (`fuzzed`) is deterministic for a seed and its bodies are bytes
  with named mutations; so is the 100,000-request campaign's mix (`mixed`);
- every kind of case is produced: each structural and byte mutation and each request
  trick in `fuzzed`; valid, mutated and hostile requests and each attack in `mixed`;
- a valid request names its alert count, and its body holds that many alerts;
- the answer must be JSON but for /metrics and HEAD;
- big bodies straddle the limits they are made for.
"""

import collections
import json
import random

import pytest

from testbed.campaigns.generator import ATTACKS, Generator, Request


def test_fuzzer_is_deterministic_for_a_seed():
    """The same seed gives the same bodies and mutation names: a failing case can be replayed."""
    def cases(seed):
        generator = Generator(random.Random(seed), "ns", ["a", "b"])
        return [(r.body, r.ops) for r in (generator.fuzzed() for _ in range(20))]

    first = cases(7)
    assert first == cases(7)
    assert all(isinstance(body, bytes) and isinstance(ops, list) for body, ops in first)
    assert first != cases(8)


def test_mixed_requests_are_deterministic_for_a_seed():
    """The whole request (body, route, headers, environ, kind) repeats for a seed, and only then."""
    def requests(seed):
        generator = Generator(random.Random(seed), "ns", ["a", "b"], decoy="decoy", max_body=65_536, max_alerts=32)
        return [generator.mixed() for _ in range(200)]

    first = requests(7)
    assert first == requests(7)
    assert first != requests(8)


def _ops(requests):
    return collections.Counter(op.split()[0] for r in requests for op in r.ops)


def test_fuzzed_produces_every_mutation_and_trick():
    """400 requests (the small campaign's size) hold every mutation, another route and credentials."""
    generator = Generator(random.Random(20261124), "ns", ["a", "b", "c", "d"])
    requests = [generator.fuzzed() for _ in range(400)]
    ops = _ops(requests)
    assert set(Generator.STRUCT) | set(Generator.BYTES) | {"route", "auth"} <= set(ops), ops
    assert {r.kind for r in requests} == {"valid", "mutated", "hostile"}
    assert any(r.method != "POST" for r in requests) and any(r.path != "/" for r in requests if r.method == "POST")
    assert any(r.auth for r in requests) and len({r.content_type for r in requests}) > 3


def test_mixed_produces_every_kind_and_attack():
    """2,000 requests (the system test's size) hold each kind in about a third, each attack and
    each mutation, lying lengths and other content types."""
    generator = Generator(random.Random(7), "ns", ["a", "b"], decoy="decoy", max_body=65_536, max_alerts=32)
    requests = [generator.mixed() for _ in range(2000)]
    kinds = collections.Counter(r.kind for r in requests)
    assert set(kinds) == {"valid", "mutated", "hostile"} and min(kinds.values()) > 500, kinds
    ops = _ops(requests)
    assert set(ATTACKS) | set(Generator.STRUCT) | set(Generator.BYTES) <= set(ops), ops
    assert all(r.ops for r in requests if r.kind != "valid")
    assert any(r.environ.get("CONTENT_LENGTH") for r in requests)
    assert any(r.content_type != "application/json" for r in requests)


def test_valid_requests_name_their_alert_count():
    """A valid body parses as JSON and holds the number of alerts the answer check expects."""
    generator = Generator(random.Random(3), "ns", ["a", "b"])
    for _ in range(100):
        request = generator.valid()
        assert request.kind == "valid" and request.ops == []
        assert len(json.loads(request.body)["alerts"]) == request.alerts


@pytest.mark.parametrize("method,path,expected", [
    ("POST", "/", True), ("POST", "/metrics", True), ("GET", "/healthz", True),
    ("GET", "/metrics", False), ("HEAD", "/", False), ("OPTIONS", "/x", True),
])
def test_json_is_expected_but_for_metrics_and_head(method, path, expected):
    """Webhook answers and errors are JSON objects; /metrics is text and HEAD has no body."""
    assert Request("valid", [], b"", method=method, path=path).json_expected is expected


def test_big_bodies_straddle_the_limits():
    """Oversize bodies are at or just past max_body; too many alerts at or past max_alerts."""
    generator = Generator(random.Random(5), "ns", ["a"], max_body=65_536, max_alerts=32)
    sizes, counts = set(), set()
    for _ in range(600):
        request = generator.hostile()
        if request.ops == ["oversize"]:
            sizes.add(len(request.body) - len(b'{"alerts":[]}'))
        elif request.ops == ["many"]:
            counts.add(len(json.loads(request.body)["alerts"]))
    assert sizes == {65_536, 65_537, 70_536}
    assert counts == {32, 33, 5000}
