"""Clusters the kit runs the function against, behind one interface.

Two providers: the loopback kube-apiserver (`loopback.ApiServer`: etcd and kube-apiserver
only, seconds to start, pods stay Pending) and the real v1.34 node (`node.cluster.Node`:
kubelet, containerd, CoreDNS, minutes to start, pods run). Both are a `Cluster`: a provider
says where its API is (`url`, `ca`), how an identity authenticates (`token`) and where its
files go (`home`); the calls the kit makes (kubeconfigs, raw requests, namespaces,
ServiceAccounts with a Role, pods) are built on those once, here. Another provider (a
remote cluster, kind) stands in the same seam by giving the same four.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from testbed.clusters.credentials import write_kubeconfig

ADMIN = "admin"
"""The identity every provider has, bound to cluster-admin (system:masters)."""


class Cluster:
    """A Kubernetes API the kit drives, whoever runs it."""

    url: str
    name = "test"
    """The kubeconfig's cluster name."""

    def token(self, user: str = ADMIN) -> str:
        """The bearer token `user` authenticates with."""
        raise NotImplementedError

    @property
    def ca(self) -> Path:
        """The CA that signed the API's serving certificate."""
        raise NotImplementedError

    @property
    def home(self) -> Path:
        """Where kubeconfigs written for this cluster go."""
        raise NotImplementedError

    def kubeconfig(self, user: str = ADMIN, path: Path | None = None) -> Path:
        """Write a kubeconfig for `user` (JSON is valid YAML) and return its path."""
        return self.kubeconfig_for_token(user, self.token(user), path)

    def kubeconfig_for_token(self, name: str, token: str, path: Path | None = None) -> Path:
        """Write a kubeconfig for any bearer token (a ServiceAccount's, say) and return its path."""
        path = path or self.home / f"kubeconfig-{name.replace(':', '-')}"
        return write_kubeconfig(path, server=self.url, ca=self.ca, user=name, token=token, cluster=self.name)

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
        ctx = ssl.create_default_context(cafile=str(self.ca))
        headers = {"Authorization": f"Bearer {self.token(user)}", "Content-Type": content_type}
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
