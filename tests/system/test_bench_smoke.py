"""We test these aspects: the benchmark tooling runs end to end at its smoke size.

- `python -m bench.run --smoke` starts its own API server, runs every section (classification,
  cold start, throughput, floor, old design, memory) and exits 0;
- it prints the machine and one table holding every row.
No figure and no verdict is checked: timings on a shared machine prove nothing here,
`make bench` is where they are read.
"""

import re
import subprocess
import sys

from testbed.clusters.loopback import APISERVER
from testbed.paths import ROOT
from testbed.tools import require, require_tool

ROWS = (
    r"classification: native lib\.cal_classify",
    r"classification: Classifier\.classify \(wrapper\)",
    r"classification: Python side, parse \+ classify \+ plan",
    r"cold start: hello-world functions-framework",
    r"cold start: ours in-cluster, process start -> webhook answered, pod labeled",
    r"cold start: ours from a kubeconfig, process start -> webhook answered, pod labeled",
    r"cold start: ours in-cluster / hello-world",
    r"cold start: ours from a kubeconfig / hello-world",
    r"cold start: peak RSS at the first answer, hello-world",
    r"cold start: peak RSS at the first answer, ours in-cluster",
    r"cold start: import of function.main beyond hello-world's",
    r"throughput: ours, N=\d+",
    r"floor: same requests \(conditional PATCH \+ Event POST; GET first for a pod not written before\), sequential",
    r"floor: same requests, 16 in flight",
    r"floor: PATCH only \(reference\), sequential",
    r"floor: PATCH only \(reference\), 16 in flight",
    r"ours / floor \(same requests, 16 in flight\)",
    r"old design: Flask \+ process per alert \+ kubectl, N=\d+",
    r"ours vs old design, N=\d+, alerts/s ratio",
    r"memory: VmHWM after [\d,]+ alerts",
    r"memory: growth",
)


def test_smoke_run_prints_every_row():
    """The smoke run exits 0 and prints the machine line and every row of the table."""
    require(APISERVER.exists(), str(APISERVER))
    for tool in ("etcd", "openssl", "kubectl", "g++"):
        require_tool(tool)
    require(any((ROOT / "function").glob("_classifier*.so")), "the native classifier (make native)")
    result = subprocess.run([sys.executable, "-m", "bench.run", "--smoke"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert re.search(r"^machine: nproc \d+", out, re.MULTILINE), out
    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert table[0].split("|")[1].strip() == "measure", out
    for row in ROWS:
        assert any(re.match(r"\| " + row, line) for line in table), f"no row {row!r} in\n{out}"
