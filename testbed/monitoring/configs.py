"""The shipped monitoring files, rewritten for a test that runs in seconds, not hours.

The end-to-end test must run the very rules and route that users apply, so each
builder starts from the file in monitoring/ and changes only durations and
addresses, with one explicit substitution per change.  Every substitution states
how often it must match: if the shipped file changes shape, the test fails here,
naming the substitution, rather than silently testing something else.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
RULES = ROOT / "monitoring" / "prometheus-rules.yml"
ALERTMANAGER = ROOT / "monitoring" / "alertmanager.yml"

# Prometheus scrapes and evaluates every second, so the test's durations follow.
INTERVAL = "1s"
# `for:` and `keep_firing_for:` (2m shipped) become 2 evaluations.  Both get the same
# value, as the shipped file requires (a level hands over to the next in one evaluation).
HOLD = "2s"
# The rate window (5m shipped, 5-10 scrapes at the usual 30s-1m scrape interval)
# becomes 10 scrapes at 1s: the same ratio, so a missed scrape still leaves a value.
RATE_WINDOW = "10s"
# Alertmanager's route (10s / 1m / 1h shipped): a new group goes out after 1s, a
# change within 1s, and an unchanged state is re-sent every 10s, so the test also
# sees re-sends, which the function must take as no-ops.
GROUP_WAIT, GROUP_INTERVAL, REPEAT_INTERVAL = "1s", "1s", "10s"


def substitute(text: str, pattern: str, replacement: str, count: int, source: Path) -> str:
    """re.subn over lines, failing unless `pattern` matched exactly `count` times."""
    result, found = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    if found != count:
        raise AssertionError(
            f"{source.name}: {pattern!r} matched {found} times, expected {count}: "
            f"the shipped file changed; update testbed/monitoring/configs.py"
        )
    return result


def rules() -> str:
    """monitoring/prometheus-rules.yml with `for:`, `keep_firing_for:` and the rate window shortened."""
    text = RULES.read_text()
    # The three alerts: `for: 2m` -> `for: 2s`.
    text = substitute(text, r"^(\s+for: )\S+$", rf"\g<1>{HOLD}", 3, RULES)
    # The three alerts: `keep_firing_for: 2m` -> `keep_firing_for: 2s`.
    text = substitute(text, r"^(\s+keep_firing_for: )\S+$", rf"\g<1>{HOLD}", 3, RULES)
    # The recording rule's `rate(...[5m])` -> `[10s]`.  Without it the percentage
    # would take minutes to follow a change.  The rule's name (…:rate5m) stays.
    return substitute(text, r"\[5m\]", f"[{RATE_WINDOW}]", 1, RULES)


def prometheus(*, rules_file: Path, target: str, alertmanager: str) -> str:
    """A Prometheus configuration: two scrape jobs on the metrics target, the rules, one Alertmanager."""
    config = {
        "global": {"scrape_interval": INTERVAL, "scrape_timeout": INTERVAL, "evaluation_interval": INTERVAL},
        "rule_files": [str(rules_file)],
        "alerting": {
            "alertmanagers": [{"api_version": "v2", "static_configs": [{"targets": [alertmanager]}]}]
        },
        # As in a cluster: cAdvisor through the kubelet's path, and kube-state-metrics,
        # as two jobs whose series differ in `job` and `instance`, which the rule's join ignores.
        "scrape_configs": [
            {
                "job_name": "kubelet",
                "metrics_path": "/metrics/cadvisor",
                "static_configs": [{"targets": [target]}],
            },
            {
                "job_name": "kube-state-metrics",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [target]}],
            },
        ],
    }
    return json.dumps(config, indent=1)  # JSON is YAML


def alertmanager(*, url: str, token_file: Path) -> str:
    """monitoring/alertmanager.yml pointed at the loopback function, with seconds-long timers."""
    text = ALERTMANAGER.read_text()
    # The function's address: the Knative cluster-local URL -> the function on loopback.
    text = substitute(text, r"^(\s+- url: )\S+$", rf"\g<1>{url}", 1, ALERTMANAGER)
    # The bearer token's file: the mounted Secret's path -> a temporary file.
    text = substitute(text, r"^(\s+credentials_file: )\S+$", rf"\g<1>{token_file}", 1, ALERTMANAGER)
    # The route's timers (see GROUP_WAIT above).
    text = substitute(text, r"^(\s+group_wait: )\S+$", rf"\g<1>{GROUP_WAIT}", 1, ALERTMANAGER)
    text = substitute(text, r"^(\s+group_interval: )\S+$", rf"\g<1>{GROUP_INTERVAL}", 1, ALERTMANAGER)
    return substitute(text, r"^(\s+repeat_interval: )\S+$", rf"\g<1>{REPEAT_INTERVAL}", 1, ALERTMANAGER)
