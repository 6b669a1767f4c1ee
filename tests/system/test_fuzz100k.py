"""We test these aspects: the 100,000-request fuzz campaign (testbed/campaigns/fuzz100k.py,
run at full size by `make reliability`) works at a small size: it starts its own
apiserver, sends valid, mutated and hostile requests of every kind, labels real pods
(its positive control), finds no 5xx, no foreign write and no change in the decoy
namespace, prints its table and exits 0.
"""

import re
import subprocess
import sys

from testbed.clusters.loopback import APISERVER
from testbed.paths import ROOT
from testbed.tools import require, require_tool


def test_small_campaign_passes_and_reports():
    """2,000 requests: exit 0, every kind sent, every must-be-zero figure ok."""
    require(APISERVER.exists(), str(APISERVER))
    require_tool("etcd")
    result = subprocess.run([sys.executable, "-m", "testbed.campaigns.fuzz100k", "--requests", "2000", "--seed", "7"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    out = result.stdout
    assert result.returncode == 0, out[-4000:] + result.stderr[-4000:]
    assert re.search(r"^requests sent\s+2,000$", out, re.MULTILINE), out
    kinds = re.search(r"^by kind\s+(.*)$", out, re.MULTILINE).group(1)
    assert all(kind in kinds for kind in ("hostile", "mutated", "valid")), kinds
    checked = [line for line in out.splitlines() if line.endswith((" ok", " FAIL"))]
    assert len(checked) == 5 and all(line.endswith(" ok") for line in checked), out
    assert re.search(r"labeled \d", out), out  # real pods were labeled: the campaign did its work
