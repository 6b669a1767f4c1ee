"""We test these aspects: `make run`'s script with no cluster configured starts a development
cluster holding the pods alert.json names, serves the function (function/server.py) on $PORT on
loopback, labels those pods when alert.json is posted, and cleans everything up on SIGTERM."""

import json
import os
import re
import socket
import subprocess
import urllib.request

from testbed.clusters.loopback import APISERVER
from testbed.net import free_port
from testbed.paths import ROOT, cache_root
from testbed.process import Process
from testbed.tools import require, require_tool


def test_run_without_a_cluster_serves_against_a_dev_cluster(tmp_path):
    """POSTing alert.json to `make run`'s server labels the dev cluster's pods; SIGTERM stops all."""
    require(APISERVER.exists(), str(APISERVER))
    require_tool("etcd")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    # HOME is scratch, so the cache of slow builds is named outright (make would look under HOME).
    env.update(HOME=str(tmp_path), PORT=str(port), PYTHON=str(ROOT / ".venv" / "bin" / "python"),
               CPU_ALERT_LABELER_CACHE=str(cache_root()))
    run = Process("run", ["bash", str(ROOT / "scripts" / "run.sh")], tmp_path, env=env, cwd=ROOT)
    try:
        run.wait_ready(f"http://127.0.0.1:{port}/healthz", 180)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/", method="POST",
                                         data=(ROOT / "alert.json").read_bytes())
        answer = json.loads(urllib.request.urlopen(request, timeout=30).read())
        assert answer["counts"] == {"labeled": 2, "skipped": 1}, answer
        printed = run.log_path.read_text()
        assert "send the sample" in printed and "kubectl get pods" in printed
    finally:
        # SIGTERM to the script alone: its own trap must stop the cluster and the server.
        run.stop(30)
    printed = run.log_path.read_text()
    kubeconfig = next(w for w in printed.split() if w.endswith("/kubeconfig"))
    assert not os.path.exists(kubeconfig)  # run.sh's scratch directory is gone
    api_port = int(re.search(r"dev cluster ready at https://127\.0\.0\.1:(\d+)", printed).group(1))
    with socket.socket() as probe:  # the dev apiserver no longer listens
        assert probe.connect_ex(("127.0.0.1", api_port)) != 0
    leftovers = subprocess.run(["pgrep", "-f", kubeconfig], capture_output=True, text=True).stdout
    assert leftovers == ""
