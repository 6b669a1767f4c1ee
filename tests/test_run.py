"""We test these aspects: `make run`'s script with no cluster configured starts a development
cluster holding the pods alert.json names, serves the function (gunicorn) on $PORT on
loopback, labels those pods when alert.json is posted, and cleans everything up on SIGTERM."""

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

from apiserver import APISERVER, CACHE, free_port
from conftest import ROOT, require, require_tool


def wait_for(url: str, proc: subprocess.Popen, log, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log.seek(0)
        assert proc.poll() is None, f"scripts/run.sh exited early:\n{log.read()[-3000:]}"
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    log.seek(0)
    raise AssertionError(f"{url} did not answer within {timeout}s:\n{log.read()[-3000:]}")


def test_run_without_a_cluster_serves_against_a_dev_cluster(tmp_path):
    """POSTing alert.json to `make run`'s server labels the dev cluster's pods; SIGTERM stops all."""
    require(APISERVER.exists(), str(APISERVER))
    require_tool("etcd")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    # HOME moves to scratch, so name the build cache: `make apiserver` must find the built binary.
    env.update(HOME=str(tmp_path), PORT=str(port), PYTHON=str(ROOT / ".venv" / "bin" / "python"),
               CPU_ALERT_LABELER_CACHE=str(CACHE))
    log = open(tmp_path / "run.log", "w+")
    proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "run.sh")], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", proc, log)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/", method="POST",
                                         data=(ROOT / "alert.json").read_bytes())
        answer = json.loads(urllib.request.urlopen(request, timeout=30).read())
        assert answer["counts"] == {"labeled": 2, "skipped": 1}, answer
        log.seek(0)
        printed = log.read()
        assert "send the sample" in printed and "kubectl get pods" in printed
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    log.seek(0)
    printed = log.read()
    kubeconfig = next(w for w in printed.split() if w.endswith("/kubeconfig"))
    assert not os.path.exists(kubeconfig)  # run.sh's scratch directory is gone
    api_port = int(re.search(r"dev cluster ready at https://127\.0\.0\.1:(\d+)", printed).group(1))
    with socket.socket() as probe:  # the dev apiserver no longer listens
        assert probe.connect_ex(("127.0.0.1", api_port)) != 0
    leftovers = subprocess.run(["pgrep", "-f", kubeconfig], capture_output=True, text=True).stdout
    assert leftovers == ""
