"""We test these aspects: an alert storm over a thousand pods, on real parts (testbed/campaigns/storm.py):
a 1.34 kube-apiserver holding 1,000 KWOK pods Running on fake nodes over two namespaces,
Debian's Alertmanager on the shipped route and receiver (timers divided by SCALE), the function
under its production server.

- every pod's PodCpuNormal posted at once (a steady cluster): every pod ends `normal`;
- every pod's PodHighCpuUsage and PodCpuFailure posted at once (PodCpuNormal resolved) through Alertmanager's API:
  every pod ends `panne`;
- then both resolved with PodCpuNormal firing: every pod ends `normal`;
- Alertmanager gives up on no notification (0 failed), in any phase;
- the API requests per changed pod, counted by the apiserver itself, stay within the
  design's bound (BOUND: the PATCH and its Event, reads batched);
- every pod has exactly one CpuLevelChanged Event per change (none -> normal -> panne ->
  normal), counted after the function's exit flush.

Counts only: how long each phase took is printed (-s), never asserted; `make bench` has the
figures, side by side with the floor.
"""

import pytest

from testbed.campaigns import storm
from testbed.clusters.loopback import RELEASES
from testbed.clusters.loopback import missing as apiserver_missing
from testbed.tools import require, require_tool

PODS = 1000
BOUND = 2.2  # the PATCH and its Event per pod, the reads batched (one LIST per namespace)
TIMEOUT = 240.0  # a bound for a hung run, no speed claim


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    amtool, alertmanager = require_tool("amtool"), require_tool("prometheus-alertmanager")
    problem = storm.missing() or apiserver_missing(RELEASES["1.34"])
    require(problem is None, str(problem))
    workdir = tmp_path_factory.mktemp("storm")
    print(f"\nstorm: logs in {workdir}")
    cluster = storm.KwokCluster(workdir, PODS).start()
    try:
        harness = storm.Storm(cluster, amtool=amtool, alertmanager=alertmanager)
        try:
            phases = [harness.steady(TIMEOUT), harness.storm(TIMEOUT), harness.calm(TIMEOUT)]
        finally:
            harness.stop()  # the function sends the Events still in its outbox before it exits
        yield harness, phases
    finally:
        cluster.stop()


def test_every_pod_ends_right_in_both_phases(run):
    """Every one of the 1,000 pods carries `normal` when steady, `panne` after the storm and
    `normal` after the calm."""
    _, phases = run
    for phase in phases:
        print(
            f"\n{phase.name}: {phase.from_post} s from the post, {phase.from_first} s from the first "
            f"notification; {dict(phase.requests)}; {phase.notifications} notifications"
        )
        assert phase.wrong == [], (
            f"{phase.name}: {len(phase.wrong)} pods not {phase.value}: {phase.wrong[:5]}"
        )


def test_alertmanager_gives_up_on_no_notification(run):
    """Alertmanager's alertmanager_notifications_failed_total does not move in any phase."""
    _, phases = run
    assert [p.failed_notifications for p in phases] == [0, 0, 0]


def test_api_requests_per_changed_pod_stay_within_the_bound(run):
    """The apiserver's own count of the function's requests, per pod changed, is at most BOUND."""
    _, phases = run
    for phase in phases:
        assert phase.per_pod <= BOUND, f"{phase.name}: {phase.per_pod:.2f} per pod: {dict(phase.requests)}"


def test_every_change_has_exactly_one_event(run):
    """Three label changes per pod, three CpuLevelChanged Events on each: none missing (a
    PATCH whose answer was lost included), none twice."""
    harness, _ = run
    events = harness.events()
    wrong = {pod: events[pod] for pod in harness.cluster.pods if events[pod] != 3}
    assert wrong == {}, f"{len(wrong)} pods without exactly 3 Events: {sorted(wrong.items())[:5]}"
