"""A real kube-apiserver on loopback: 1.20 (Debian's source, scripts/build-apiserver.sh) or
1.34 (the Go module proxy, testbed/node/build/build.sh), chosen by KUBE_VERSION.

Used by the test suite and by `make run`'s development cluster.  It starts
Debian's etcd and the apiserver with a self-made CA, token authentication and
RBAC, writes a kubeconfig per identity, and stops the apiserver before etcd
(the other order hangs).  Pods stay Pending (no scheduler, no kubelet), but
labels and annotations behave as on any cluster.

Run as a program it serves a development cluster until interrupted.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("CPU_ALERT_LABELER_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cpu-alert-labeler")
# The API tier runs against the oldest supported API (1.20, the default) and a current
# one (1.34): `make test` runs it once per version, KUBE_VERSION choosing. Each version
# has the etcd it supports (Debian's 3.4 for 1.20; 1.34 wants 3.5+: etcd 3.6 built with it).
RELEASES = {"1.20": "1.20.2", "1.34": "1.34.4"}
KUBE_VERSION = os.environ.get("KUBE_VERSION", "1.20")
if KUBE_VERSION not in RELEASES:
    raise SystemExit(f"KUBE_VERSION={KUBE_VERSION!r}: expected one of {', '.join(RELEASES)}")
DEFAULT_VERSION = RELEASES[KUBE_VERSION]


def binary(version: str = DEFAULT_VERSION) -> Path:
    """Where the Makefile caches kube-apiserver `version` (1.20.2 or 1.34.4)."""
    return CACHE / f"kubernetes-v{version}" / "bin" / "kube-apiserver"


def etcd_for(version: str = DEFAULT_VERSION) -> str:
    """Debian's etcd 3.4 for 1.20; for 1.34 the etcd 3.6 testbed/node/build/build.sh makes."""
    return "etcd" if version.startswith("1.20.") else str(CACHE / "etcd-v3.6.4" / "bin" / "etcd")


APISERVER, ETCD = binary(), etcd_for()
ADMIN = "admin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(*cmd: str, cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)


class ApiServer:
    """etcd + kube-apiserver in a temporary directory; `users` maps name -> token."""

    def __init__(self, workdir: Path | None = None, *, version: str = DEFAULT_VERSION):
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="kube-"))
        self.binary = binary(version)
        self.etcd = etcd_for(version)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.users: dict[str, tuple[str, list[str]]] = {}
        self._procs: list[subprocess.Popen] = []
        self._logs: list = []

    # -- set-up ------------------------------------------------------------------------
    def _certs(self) -> None:
        d = self.dir
        _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
        (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        _run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kube-apiserver",
             "-keyout", "server.key", "-out", "server.csr", cwd=d)
        _run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "server.crt", cwd=d)
        _run("openssl", "genrsa", "-out", "sa.key", "2048", cwd=d)

    def add_user(self, name: str, groups: list[str] | None = None) -> str:
        """Register a token identity (before start); returns its token."""
        token = secrets.token_hex(16)
        self.users[name] = (token, groups or [])
        return token

    def _token_file(self) -> Path:
        lines = []
        for name, (token, groups) in self.users.items():
            lines.append(f'{token},{name},{name},"{",".join(groups)}"')
        path = self.dir / "tokens.csv"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self) -> "ApiServer":
        if not self.binary.exists():
            raise RuntimeError(f"{self.binary} is missing: run `make apiserver node-binaries`")
        for tool in (self.etcd, "openssl"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is not installed (make deps)")
        self.add_user(ADMIN, ["system:masters"])
        self._certs()
        etcd_port, peer_port = free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        self._spawn("etcd", [
            self.etcd, "--data-dir", str(self.dir / "etcd"), "--listen-client-urls", etcd_url,
            "--advertise-client-urls", etcd_url, "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-cluster", f"default=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync", "--logger", "zap", "--log-level", "error",
        ])
        d = self.dir
        self._spawn("kube-apiserver", [
            str(self.binary), "--etcd-servers", etcd_url, "--bind-address", "127.0.0.1",
            "--advertise-address", "127.0.0.1", "--secure-port", str(self.port),
            "--cert-dir", str(d / "certs"), "--tls-cert-file", str(d / "server.crt"),
            "--tls-private-key-file", str(d / "server.key"), "--client-ca-file", str(d / "ca.crt"),
            "--token-auth-file", str(self._token_file()), "--authorization-mode", "RBAC",
            "--disable-admission-plugins", "ServiceAccount",
            "--service-account-issuer", "https://kubernetes.default.svc",
            "--service-account-key-file", str(d / "sa.key"),
            "--service-account-signing-key-file", str(d / "sa.key"),
            "--service-cluster-ip-range", "10.0.0.0/24", "--v", "0",
        ])
        self._wait_ready()
        self._wait_for_default_namespace()
        return self

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.dir / f"{name}.log", "wb")
        self._logs.append(log)
        self._procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True))

    def _wait_ready(self, timeout: float = 60.0) -> None:
        ctx = ssl.create_default_context(cafile=str(self.dir / "ca.crt"))
        req = urllib.request.Request(self.url + "/readyz",
                                     headers={"Authorization": f"Bearer {self.users[ADMIN][0]}"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self._procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args[0]} exited early; see {self.dir}")
            try:
                with urllib.request.urlopen(req, context=ctx, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"kube-apiserver not ready after {timeout}s; see {self.dir}")

    def _wait_for_default_namespace(self, timeout: float = 30.0) -> None:
        # The bootstrap controller creates it shortly after /readyz turns 200.
        deadline = time.monotonic() + timeout
        while self.request("GET", "/api/v1/namespaces/default")[0] != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the default namespace never appeared")
            time.sleep(0.1)

    def stop(self) -> None:
        # The apiserver first: stopped after etcd it waits on etcd and hangs.
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._procs.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()

    # -- access ----------------------------------------------------------------------
    def kubeconfig(self, user: str = ADMIN, path: Path | None = None) -> Path:
        """Write a kubeconfig for `user` (JSON is valid YAML) and return its path."""
        return self.kubeconfig_for_token(user, self.users[user][0], path)

    def kubeconfig_for_token(self, name: str, token: str, path: Path | None = None) -> Path:
        """Write a kubeconfig for any bearer token (a ServiceAccount's, say) and return its path."""
        path = path or self.dir / f"kubeconfig-{name.replace(':', '-')}"
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {
                "server": self.url, "certificate-authority": str(self.dir / "ca.crt")}}],
            "users": [{"name": name, "user": {"token": token}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": name}}],
        }
        path.write_text(json.dumps(config, indent=1))
        return path

    def request(self, method: str, path: str, body: object = None, *,
                content_type: str = "application/json", user: str = ADMIN) -> tuple[int, dict]:
        """A raw API call (for set-up and inspection, independent of the code under test)."""
        ctx = ssl.create_default_context(cafile=str(self.dir / "ca.crt"))
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.users[user][0]}", "Content-Type": content_type})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    def create_namespace(self, name: str) -> None:
        self._expect(201, "POST", "/api/v1/namespaces",
                     {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def create_pod(self, namespace: str, name: str, labels: dict | None = None) -> dict:
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "labels": labels or {"app": "demo"}},
               "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]}}
        return self._expect(201, "POST", f"/api/v1/namespaces/{namespace}/pods", pod)

    def get_pod(self, namespace: str, name: str) -> dict:
        return self._expect(200, "GET", f"/api/v1/namespaces/{namespace}/pods/{name}")

    def _expect(self, status: int, method: str, path: str, body: object = None) -> dict:
        code, doc = self.request(method, path, body)
        if code != status:
            raise RuntimeError(f"{method} {path}: {code} {doc.get('message', doc)}")
        return doc


def _serve_dev_cluster(kubeconfig: Path, pods: list[tuple[str, str]]) -> None:
    server = ApiServer(Path(tempfile.mkdtemp(prefix="kube-dev-")))
    server.start()
    try:
        for namespace in sorted({ns for ns, _ in pods} - {"default"}):
            server.create_namespace(namespace)
        for namespace, pod in pods:
            server.create_pod(namespace, pod)
        server.kubeconfig(path=kubeconfig)
        print(f"dev cluster ready at {server.url}; kubeconfig {kubeconfig}; "
              f"pods: {', '.join(f'{ns}/{p}' for ns, p in pods)}", flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


if __name__ == "__main__":
    # usage: python tests/apiserver.py KUBECONFIG alert.json
    kubeconfig_path, alert_file = Path(sys.argv[1]), Path(sys.argv[2])
    alerts = json.loads(alert_file.read_text())["alerts"]
    wanted = sorted({(a["labels"].get("namespace", "default"), a["labels"]["pod"]) for a in alerts})
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    _serve_dev_cluster(kubeconfig_path, wanted)
