"""A real kube-apiserver (1.20 or 1.34, cached by version outside the clone) on loopback.

Used by the test suite, the benchmarks, the reliability campaigns and `make run`'s
development cluster (testbed.clusters.dev).  The version is a parameter: 1.20.2 is
Debian's source built with Debian's Go; 1.34.4 comes from the Go module proxy
(testbed/pins/build-node.sh), and KUBE_VERSION=1.34 makes it the default.  It starts
the etcd that version needs (Debian's 3.4 for 1.20, 3.6 built with 1.34) and the apiserver with a self-made CA, token authentication and
RBAC, writes a kubeconfig per identity, and stops the apiserver before etcd
(the other order hangs).  Pods stay Pending (no scheduler, no kubelet), but
labels and annotations behave as on any cluster.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from testbed.clusters import ADMIN, Cluster
from testbed.clusters.certs import make_certificates
from testbed.clusters.node.layout import ETCD_VERSION, K8S_VERSION
from testbed.net import free_port
from testbed.paths import cache_root
from testbed.process import Process

# The API tier runs against the oldest supported API (1.20, the default) and a current one
# (1.34): `make test` runs it once per version, KUBE_VERSION choosing.
RELEASES = {"1.20": "1.20.2", "1.34": K8S_VERSION.removeprefix("v")}
KUBE_VERSION = os.environ.get("KUBE_VERSION", "1.20")
if KUBE_VERSION not in RELEASES:
    raise SystemExit(f"KUBE_VERSION={KUBE_VERSION!r}: expected one of {', '.join(RELEASES)}")
DEFAULT_VERSION = RELEASES[KUBE_VERSION]


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


class ApiServer(Cluster):
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

    # -- what the Cluster calls are built on ------------------------------------------
    def token(self, user: str = ADMIN) -> str:
        return self.users[user][0]

    @property
    def ca(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def home(self) -> Path:
        return self.dir
