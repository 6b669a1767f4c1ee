"""We test these aspects: the image's two steps, outside Docker.  scripts/install.sh,
run on exactly the files .dockerignore lets into the build context, makes a venv holding
exactly requirements.txt (no installer, no build-only package) and compiles the classifier
itself; the Dockerfile copies only files that context holds; scripts/start.sh, given that
prefix read-only, serves the function with our production server (function/server.py:
waitress with limits; not the debug server) on $PORT, in-cluster as a pod does (the
image holds no kubeconfig path: no `kubernetes` package), requires the token from a secret
file as OpenFaaS mounts it, labels a real pod, serves /metrics from its multiprocess
directory, writes nothing but its scratch directory, and stops cleanly on SIGTERM.
"""

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from importlib.metadata import distributions
from pathlib import Path

import pytest

from testbed.clusters.loopback import ADMIN
from testbed.net import free_port
from testbed.paths import ROOT
from testbed.process import Process
from testbed.requirements import normal, pins
from testbed.tools import require_tool

PREFIX_MODE_MASK = ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
TOKEN = "image-test-token"


def build_context(dest: Path) -> Path:
    """Copy what .dockerignore (`*` then `!pattern` lines) lets into a Docker build context."""
    lines = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()]
    rules = [ln for ln in lines if ln and not ln.startswith("#")]
    assert rules[0] == "*", "the context is an allow-list"
    for pattern in rules[1:]:
        assert pattern.startswith("!"), pattern
        matches = sorted(ROOT.glob(pattern[1:]))
        assert matches, f".dockerignore allows {pattern[1:]!r}, which matches nothing"
        for path in matches:
            (dest / path.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / path.relative_to(ROOT))
    return dest


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under root with its size and modification time."""
    return {str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def set_writable(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IWUSR if writable else mode & PREFIX_MODE_MASK)


@dataclass
class Installed:
    context: Path
    prefix: Path
    before: dict


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """scripts/install.sh run once on a copy of the build context; the prefix then made read-only."""
    require_tool("g++")
    base = tmp_path_factory.mktemp("image")
    context = build_context(base / "context")
    prefix = base / "prefix"
    result = subprocess.run(["bash", str(context / "scripts" / "install.sh"), str(prefix)],
                            env={**os.environ, "PYTHON": sys.executable},
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    set_writable(prefix, False)
    yield Installed(context, prefix, snapshot(prefix))
    set_writable(prefix, True)  # so that pytest can remove it


@dataclass
class Server:
    process: Process
    url: str
    scratch: Path

    def get(self, path: str):
        return urllib.request.urlopen(self.url + path, timeout=10)

    def post(self, path: str, body: dict, token: str | None = TOKEN):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    def stop(self) -> int:
        return self.process.stop(40)


def mount_service_account(apiserver, base: Path) -> dict[str, str]:
    """What a pod gets: the service variables and a mounted account (here the admin's token)."""
    directory = base / "serviceaccount"
    directory.mkdir()
    (directory / "token").write_text(apiserver.users[ADMIN][0])
    (directory / "ca.crt").write_bytes((apiserver.dir / "ca.crt").read_bytes())
    return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(apiserver.port),
            "SERVICE_ACCOUNT_DIR": str(directory)}


def start(installed: Installed, apiserver, base: Path) -> Server:
    """scripts/start.sh as the image runs it: a bare environment, a read-only cwd and HOME,
    in-cluster, and the webhook token in a file, as OpenFaaS mounts a secret."""
    port = free_port()
    scratch = base / "tmp"
    scratch.mkdir()
    (base / "secrets").mkdir()
    (base / "secrets" / "cpu-alert-labeler-token").write_text(TOKEN + "\n")
    env = {"PATH": os.environ["PATH"], "PORT": str(port), "APP_PREFIX": str(installed.prefix),
           **mount_service_account(apiserver, base), "TMPDIR": str(scratch), "HOME": str(installed.prefix),
           "WEBHOOK_TOKEN_FILE": str(base / "secrets" / "cpu-alert-labeler-token"),
           "DEBUG": "1"}  # start.sh must ignore it: functions-framework would run Flask's server
    process = Process("server", [str(installed.context / "scripts" / "start.sh")], base, env=env,
                      cwd=installed.prefix)
    server = Server(process, f"http://127.0.0.1:{port}", scratch)
    process.wait_ready(server.url + "/_/health", 60)
    return server


@pytest.fixture(scope="module")
def server(installed, apiserver, tmp_path_factory):
    """One served function for the module's read-only checks, as admin on the test apiserver."""
    served = start(installed, apiserver, tmp_path_factory.mktemp("serve"))
    yield served
    served.stop()


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def test_install_compiles_the_classifier_itself(installed):
    """The build context holds no compiled module; the installed app has one, built from source."""
    assert not list(installed.context.rglob("*.so"))
    built = list((installed.prefix / "app" / "function").glob("_classifier*.so"))
    assert len(built) == 1
    assert (installed.prefix / "venv" / "bin" / "python").exists()
    assert not (installed.prefix / "app" / "function" / "main.py").stat().st_mode & stat.S_IWUSR


def test_install_ships_exactly_the_runtime_requirements(installed):
    """The venv holds requirements.txt's distributions and no others: no pip or setuptools,
    not the build-only pycparser, not kubernetes nor functions-framework's unused servers."""
    (site,) = (installed.prefix / "venv" / "lib").glob("python3*/site-packages")
    assert {normal(d.metadata["Name"]) for d in distributions(path=[str(site)])} == set(pins())
    assert not list((installed.prefix / "venv" / "bin").glob("pip*"))


def test_dockerfile_copies_only_what_the_context_holds(installed):
    """Every COPY source in the Dockerfile (other than from a stage) is in the build context."""
    sources = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            sources += words[1:-1]
    assert sources
    for source in sources:
        assert (installed.context / source).exists(), f"COPY {source}: not in the build context"


def test_start_serves_with_the_production_server(server):
    """start.sh execs function.server (waitress with our limits) in place of its shell."""
    with server.get("/_/health") as resp:
        assert resp.status == 200
        assert resp.headers["Server"] == "cpu-alert-labeler"  # Werkzeug's debug server names itself
    argv = cmdline(server.process.pid)
    assert Path(argv[0]).name.startswith("python"), argv  # exec: no shell left in between
    assert argv[1:3] == ["-m", "function.server"] and "--debug" not in argv
    assert server.process.children() == []  # WORKERS=1: one process serves


def test_start_labels_a_pod(server, apiserver, namespace):
    """The installed function, served by start.sh, writes the level label on a real pod."""
    pod = f"web-{uuid.uuid4().hex[:6]}"
    apiserver.create_pod(namespace, pod)
    payload = json.loads((ROOT / "alert.json").read_text())
    payload["alerts"] = [dict(payload["alerts"][0], labels={
        **payload["alerts"][0]["labels"], "namespace": namespace, "pod": pod})]
    status, report = server.post("/", payload)
    assert status == 200, report
    assert report["alerts"][0]["outcome"] == "labeled"
    assert apiserver.get_pod(namespace, pod)["metadata"]["labels"]["status"] == "panne"


def test_start_requires_the_token_from_the_secret_file(server):
    """A webhook without the bearer token from WEBHOOK_TOKEN_FILE is refused with 401."""
    status, _ = server.post("/", {"version": "4", "status": "firing", "alerts": []}, token=None)
    assert status == 401
    status, _ = server.post("/", {"version": "4", "status": "firing", "alerts": []}, token="wrong")
    assert status == 401


def test_start_serves_metrics_from_the_scratch_directory(server):
    """/metrics aggregates the workers' samples, which start.sh keeps in a directory under TMPDIR."""
    server.post("/", {"version": "4", "status": "firing", "alerts": []})
    with server.get("/metrics") as resp:
        text = resp.read().decode()
    assert "cpu_alert_labeler_request_duration_seconds_count" in text
    assert list((server.scratch / "cpu-alert-labeler-metrics").glob("*.db"))


def test_start_writes_only_to_its_scratch_directory(server, installed):
    """After start-up and a request, nothing under the prefix changed."""
    status, _ = server.post("/", {"version": "4", "status": "firing", "alerts": []})
    assert status < 500
    assert snapshot(installed.prefix) == installed.before


def test_sigterm_stops_the_server(installed, apiserver, tmp_path):
    """SIGTERM to the started process stops the server cleanly (exit 0) and frees the port."""
    served = start(installed, apiserver, tmp_path)
    port = int(served.url.rsplit(":", 1)[1])
    assert served.stop() == 0
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
