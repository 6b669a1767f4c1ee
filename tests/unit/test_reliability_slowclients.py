"""We test these aspects: the pure helpers of the hostile campaign
(testbed/campaigns/slowclients.py): what each hostile connection sends, chunk framing,
percentiles, and the /proc parsing behind the CPU and memory figures."""

import pytest

from testbed.campaigns.slowclients import (
    chunk_frame,
    cpu_seconds,
    hostile_opening,
    peak_rss_mib,
    percentile,
)


def test_hostile_openings_cycle_through_three_kinds():
    """Idle, half a header block, full headers with a body that never comes."""
    openings = [hostile_opening(i) for i in range(6)]
    assert openings[0] == openings[3] == b""
    assert b"\r\n\r\n" not in openings[1] and openings[1].startswith(b"GET ")
    head, _, body = openings[2].partition(b"\r\n\r\n")
    assert b"Content-Length: 100000" in head and len(body) < 100000


def test_chunk_frame_is_http_chunked_framing():
    assert chunk_frame(26) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    with pytest.raises(ValueError):
        chunk_frame(0)


@pytest.mark.parametrize("values,q,expected", [
    ([5.0], 50, 5.0), ([1, 2, 3, 4], 50, 2), ([1, 2, 3, 4], 100, 4), ([3, 1, 2], 0, 1)])
def test_percentile_nearest_rank(values, q, expected):
    assert percentile(values, q) == expected


def test_proc_parsing():
    """utime + stime from a stat line whose command has blanks and parentheses."""
    stat = "42 (python (x) y) S 1 42 42 0 -1 4194304 100 0 0 0 250 150 0 0 20 0 9 0 1 2 3"
    assert cpu_seconds(stat, 100) == 4.0
    assert peak_rss_mib("Name:\tpython\nVmHWM:\t   2048 kB\n") == 2.0
    with pytest.raises(ValueError):
        peak_rss_mib("Name: x\n")
