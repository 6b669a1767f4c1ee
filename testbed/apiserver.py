"""A real kube-apiserver (1.20 or 1.34, cached by version outside the clone) on loopback.

Used by the test suite, the benchmarks, the reliability campaigns and `make run`'s
development cluster (testbed.devcluster).  The version is a parameter: 1.20.2 is
Debian's source built with Debian's Go; 1.34.4 comes from the Go module proxy
(testbed/node/build/build.sh), and KUBE_VERSION=1.34 makes it the default.  It starts
the etcd that version needs (Debian's 3.4 for 1.20, 3.6 built with 1.34) and the apiserver with a self-made CA, token authentication and
RBAC, writes a kubeconfig per identity, and stops the apiserver before etcd
(the other order hangs).  Pods stay Pending (no scheduler, no kubelet), but
labels and annotations behave as on any cluster.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from testbed.certs import make_certificates
from testbed.kubeconfig import write_kubeconfig
from testbed.net import free_port
from testbed.node.layout import ETCD_VERSION, K8S_VERSION
from testbed.paths import cache_root
from testbed.process import Process

# The API tier runs against the oldest supported API (1.20, the default) and a current one
# (1.34): `make test` runs it once per version, KUBE_VERSION choosing.
RELEASES = {"1.20": "1.20.2", "1.34": K8S_VERSION.removeprefix("v")}
KUBE_VERSION = os.environ.get("KUBE_VERSION", "1.20")
if KUBE_VERSION not in RELEASES:
    raise SystemExit(f"KUBE_VERSION={KUBE_VERSION!r}: expected one of {', '.join(RELEASES)}")
DEFAULT_VERSION = RELEASES[KUBE_VERSION]
ADMIN = "admin"


def binary(version: str = DEFAULT_VERSION) -> Path:
    """Where the Makefile caches kube-apiserver `version` (1.20.2 now; 1.34.4 once built)."""
    return cache_root() / f"kubernetes-v{version}" / "bin" / "kube-apiserver"


def etcd_binary(version: str = DEFAULT_VERSION) -> str:
    """The etcd that serves kube-apiserver `version`: Debian's (3.4, on PATH) for 1.20; newer
    apiservers need etcd 3.5+, which the node helper builds into the cache."""
    if version.startswith("1.20."):
        return "etcd"
    return str(cache_root() / f"etcd-{ETCD_VERSION}" / "bin" / "etcd")


APISERVER, ETCD = binary(), etcd_binary()


def missing(version: str = DEFAULT_VERSION) -> str | None:
    """What is missing to start apiserver `version` (with its etcd), or None."""
    if not binary(version).exists():
        return f"{binary(version)}: run `make apiserver node-binaries`"
    if shutil.which(etcd_binary(version)) is None:
        return f"{etcd_binary(version)}: run `make deps-run node-binaries`"
    return None


def flags(options: dict[str, str]) -> list[str]:
    """["--name", "value", ...] from {"--name": "value"}; an empty value is a bare switch."""
    return [part for name, value in options.items() for part in ((name, value) if value else (name,))]


class ApiServer:
    """etcd + kube-apiserver in a temporary directory; `users` maps name -> token."""

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        version: str = DEFAULT_VERSION,
        extra_options: dict[str, str] | None = None,
    ):
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="kube-"))
        self.version = version
        self.binary = binary(version)
        self.etcd = etcd_binary(version)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.users: dict[str, tuple[str, list[str]]] = {}
        # Flags added to (or overriding) the defaults, e.g. tight in-flight limits.
        self.extra_options = dict(extra_options or {})
        self._procs: list[Process] = []

    # -- set-up ------------------------------------------------------------------------
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

    def start(self) -> ApiServer:
        if problem := missing(self.version):
            raise RuntimeError(f"missing {problem}")
        if shutil.which("openssl") is None:
            raise RuntimeError("openssl is missing: run `make deps-run`")
        self.add_user(ADMIN, ["system:masters"])
        make_certificates(self.dir)
        etcd_url = self._start_etcd()
        self._spawn("kube-apiserver", [str(self.binary), *flags(self._apiserver_options(etcd_url))])
        self._wait_ready()
        self._wait_for_default_namespace()
        return self

    def _start_etcd(self) -> str:
        """etcd on two free ports, without fsync (a test cluster's data is disposable)."""
        client, peer = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
        options = {
            "--data-dir": str(self.dir / "etcd"),
            "--listen-client-urls": client,
            "--advertise-client-urls": client,
            "--listen-peer-urls": peer,
            "--initial-advertise-peer-urls": peer,
            "--initial-cluster": f"default={peer}",
            "--unsafe-no-fsync": "",
            "--logger": "zap",
            "--log-level": "error",
        }
        self._spawn("etcd", [self.etcd, *flags(options)])
        return client

    def _apiserver_options(self, etcd_url: str) -> dict[str, str]:
        """Loopback only, token authentication, RBAC; ServiceAccount admission off (no controller
        manager creates the default ServiceAccounts it would ask for); then `extra_options`."""
        d = self.dir
        return {
            "--etcd-servers": etcd_url,
            "--bind-address": "127.0.0.1",
            "--advertise-address": "127.0.0.1",
            "--secure-port": str(self.port),
            "--cert-dir": str(d / "certs"),
            "--tls-cert-file": str(d / "server.crt"),
            "--tls-private-key-file": str(d / "server.key"),
            "--client-ca-file": str(d / "ca.crt"),
            "--token-auth-file": str(self._token_file()),
            "--authorization-mode": "RBAC",
            "--disable-admission-plugins": "ServiceAccount",
            "--service-account-issuer": "https://kubernetes.default.svc",
            "--service-account-key-file": str(d / "sa.key"),
            "--service-account-signing-key-file": str(d / "sa.key"),
            "--service-cluster-ip-range": "10.0.0.0/24",
            # Logs go to stderr by default; --logtostderr itself is gone from 1.26 on.
            "--v": "0",
            **self.extra_options,
        }

    def _spawn(self, name: str, argv: list[str]) -> None:
        self._procs.append(Process(name, argv, self.dir))

    def _ready(self) -> bool:
        for proc in self._procs:
            proc.check_alive()  # etcd dying is as fatal as the apiserver dying
        try:
            return self._send("GET", "/readyz", None, "application/json", ADMIN)[0] == 200  # "ok", not JSON
        except OSError:
            return False  # not listening yet

    def _wait_ready(self, timeout: float = 60.0) -> None:
        try:
            self._procs[-1].wait_ready(self._ready, timeout)
        except BaseException:
            self.stop()
            raise

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
            proc.stop(15)
        self._procs.clear()

    # -- access ----------------------------------------------------------------------
    def kubeconfig(self, user: str = ADMIN, path: Path | None = None) -> Path:
        """Write a kubeconfig for `user` (JSON is valid YAML) and return its path."""
        return self.kubeconfig_for_token(user, self.users[user][0], path)

    def kubeconfig_for_token(self, name: str, token: str, path: Path | None = None) -> Path:
        """Write a kubeconfig for any bearer token (a ServiceAccount's, say) and return its path."""
        path = path or self.dir / f"kubeconfig-{name.replace(':', '-')}"
        return write_kubeconfig(
            path, server=self.url, ca=self.dir / "ca.crt", user=name, token=token, cluster="test"
        )

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        content_type: str = "application/json",
        user: str = ADMIN,
    ) -> tuple[int, dict]:
        """A raw API call (for set-up and inspection, independent of the code under test)."""
        data = None if body is None else json.dumps(body).encode()
        status, answer = self._send(method, path, data, content_type, user)
        return status, json.loads(answer or b"{}")

    def _send(
        self, method: str, path: str, data: bytes | None, content_type: str, user: str
    ) -> tuple[int, bytes]:
        ctx = ssl.create_default_context(cafile=str(self.dir / "ca.crt"))
        headers = {"Authorization": f"Bearer {self.users[user][0]}", "Content-Type": content_type}
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def create_namespace(self, name: str) -> None:
        self.expect(
            201,
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        )

    def account_token(self, namespace: str, name: str, rules: list[dict]) -> str:
        """A ServiceAccount `name` in `namespace` allowed `rules` there (a Role and its
        RoleBinding), and a token for it from the TokenRequest API."""
        rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
        meta = {"name": name, "namespace": namespace}
        account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
        role = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": rules,
        }
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        }
        for path, obj in (
            (f"/api/v1/namespaces/{namespace}/serviceaccounts", account),
            (f"{rbac}/roles", role),
            (f"{rbac}/rolebindings", binding),
        ):
            self.expect(201, "POST", path, obj)
        issued = self.expect(
            201,
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
        )
        return issued["status"]["token"]

    def create_pod(self, namespace: str, name: str, labels: dict | None = None) -> dict:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": "demo"}},
            "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]},
        }
        return self.expect(201, "POST", f"/api/v1/namespaces/{namespace}/pods", pod)

    def get_pod(self, namespace: str, name: str) -> dict:
        return self.expect(200, "GET", f"/api/v1/namespaces/{namespace}/pods/{name}")

    def expect(self, status: int, method: str, path: str, body: object = None) -> dict:
        """A raw API call as admin that must answer `status`; its JSON body."""
        code, doc = self.request(method, path, body)
        if code != status:
            raise RuntimeError(f"{method} {path}: {code} {doc.get('message', doc)}")
        return doc
