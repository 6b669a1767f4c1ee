"""We test these aspects: every deployment manifest parses, and the Knative overlay, as
`kubectl kustomize knative/` renders it, gives a Service that scales to zero, stays
cluster-local, serves 8080 with a /healthz readiness probe, runs locked down as the
ServiceAccount that the base's RBAC binds; stack.yml is a Community Edition deployable
OpenFaaS stack (no scale-to-zero label) with the same image and settings and the webhook
token read from its OpenFaaS secret; both RBAC definitions grant exactly `get`, `list` and `patch`
on pods and `create` on events to the identity each platform runs as; every environment
variable set is one the function reads, with a value it accepts.
"""


from pathlib import Path

import pytest
import yaml

from function.config import Settings, documented
from testbed.clusters.node.layout import pinned_kubectl
from testbed.paths import ROOT
from testbed.platforms import manifests
from testbed.tools import require

# functions-framework's own server variables, documented in the README beside the table.
SERVER_VARIABLES = {"PORT", "WORKERS", "THREADS"}

MANIFESTS = sorted([*ROOT.glob("knative/**/*.yaml"), *ROOT.glob("deploy/**/*.yaml"),
                    *ROOT.glob("openfaas/*.yaml"), ROOT / "stack.yml"])
POD_RULES = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "patch"]},
             {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}]
# The files `kubectl apply -k knative/` reads, and what each holds.
KUSTOMIZE_FILES = {"deploy/base/kustomization.yaml", "deploy/base/namespace.yaml", "deploy/base/rbac.yaml",
                   "deploy/pod/kustomization.yaml", "deploy/pod/pod.yaml",
                   "deploy/plain/kustomization.yaml", "deploy/plain/deployment.yaml",
                   "deploy/plain/service.yaml", "knative/kustomization.yaml", "knative/service.yaml"}


def load(relative: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((ROOT / relative).read_text()) if doc is not None]


def one(docs: list[dict], kind: str) -> dict:
    found = [doc for doc in docs if doc.get("kind") == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def knative() -> list[dict]:
    """The Knative overlay as `kubectl apply -k knative/` sends it."""
    require(pinned_kubectl().exists(), str(pinned_kubectl()))
    return manifests.render("knative")


@pytest.fixture(scope="module")
def service(knative) -> dict:
    return one(knative, "Service")


@pytest.fixture(scope="module")
def container(service) -> dict:
    containers = service["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


@pytest.fixture(scope="module")
def function() -> dict:
    functions = load("stack.yml")[0]["functions"]
    assert list(functions) == ["cpu-alert-labeler"]
    return functions["cpu-alert-labeler"]


def test_manifest_set_is_complete():
    """The kustomize tree, the spec guard, the OpenFaaS RBAC and stack.yml: nothing else, nothing missing."""
    assert {p.relative_to(ROOT).as_posix() for p in MANIFESTS} == KUSTOMIZE_FILES | {
        "knative/hardening/pod-spec-guard.yaml", "openfaas/rbac.yaml", "stack.yml"}


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_manifest_parses_into_objects(path):
    """Each YAML file parses, and each of its documents is a mapping."""
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    assert docs
    assert all(isinstance(doc, dict) for doc in docs)


def test_knative_service_identity_and_image(service, container):
    """The Service is a serving.knative.dev/v1 Service in its namespace, running the image."""
    assert (service["apiVersion"], service["kind"]) == ("serving.knative.dev/v1", "Service")
    assert service["metadata"]["name"] == "cpu-alert-labeler"
    assert service["metadata"]["namespace"] == "cpu-alert-labeler"
    assert container["image"] == "ghcr.io/example/cpu-alert-labeler:0.1.0"
    assert [p["containerPort"] for p in container["ports"]] == [8080]
    # Knative accepts only these port names (they select the protocol).
    assert all(p.get("name", "http1") in ("http1", "h2c") for p in container["ports"])


def test_knative_scales_to_zero_and_stays_cluster_local(service):
    """min-scale is the string "0", max-scale and target are set, the URL is cluster-local."""
    annotations = service["spec"]["template"]["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/min-scale"] == "0"
    assert int(annotations["autoscaling.knative.dev/max-scale"]) > 0
    assert int(annotations["autoscaling.knative.dev/target"]) > 0
    # Kubernetes rejects annotation values that are not strings (an unquoted 5, say).
    assert all(isinstance(v, str) for v in annotations.values())
    assert service["metadata"]["labels"]["networking.knative.dev/visibility"] == "cluster-local"


def test_knative_runs_as_the_bound_service_account(knative, service):
    """serviceAccountName is the ServiceAccount that the rendered RBAC binds to the ClusterRole."""
    docs = knative
    account = one(docs, "ServiceAccount")["metadata"]
    assert service["spec"]["template"]["spec"]["serviceAccountName"] == account["name"]
    assert account["namespace"] == service["metadata"]["namespace"]
    subjects = one(docs, "ClusterRoleBinding")["subjects"]
    assert {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]} in subjects


def test_knative_container_is_probed_and_locked_down(service, container):
    """Readiness is GET /healthz; non-root 10001, read-only root, no escalation, no capabilities,
    the runtime's seccomp profile, /tmp writable."""
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    ctx = container["securityContext"]
    assert ctx["runAsNonRoot"] is True
    assert ctx["runAsUser"] == 10001  # the Dockerfile's USER
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    # Knative refuses a pod-level securityContext unless an operator turned its flag on.
    assert "securityContext" not in service["spec"]["template"]["spec"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]
    for key in ("requests", "limits"):
        assert set(container["resources"][key]) == {"cpu", "memory"}
    volumes = {v["name"]: v for v in service["spec"]["template"]["spec"]["volumes"]}
    tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert len(tmp) == 1 and "emptyDir" in volumes[tmp[0]["name"]]


def knative_env(container: dict) -> dict:
    return {item["name"]: item["value"] for item in container["env"]}


def test_knative_env_is_read_by_the_function(container, tmp_path):
    """Every variable set is one function.config documents, with a string value it accepts."""
    env = knative_env(container)
    assert env, "the Service sets no settings"
    assert set(env) <= {name for name, _, _ in documented()} | SERVER_VARIABLES
    assert all(isinstance(v, str) for v in env.values())
    secret = tmp_path / "token"
    secret.write_text("s3cret\n")
    # raises ConfigError on a value the function would refuse
    Settings.from_env({**env, "WEBHOOK_TOKEN_FILE": str(secret)})


def test_knative_reads_the_token_from_the_mounted_secret(service, container):
    """WEBHOOK_TOKEN_FILE names key `token` of Secret cpu-alert-labeler-token, mounted read-only."""
    path = Path(knative_env(container)["WEBHOOK_TOKEN_FILE"])
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    mount = mounts[str(path.parent)]
    assert mount["readOnly"] is True
    volumes = {v["name"]: v for v in service["spec"]["template"]["spec"]["volumes"]}
    secret = volumes[mount["name"]]["secret"]
    assert secret["secretName"] == "cpu-alert-labeler-token"
    assert {"key": "token", "path": path.name} in secret["items"]


def test_stack_is_a_community_edition_dockerfile_stack(function):
    """version 1.0, the openfaas provider, lang dockerfile on the repo root, read-only root."""
    stack = load("stack.yml")[0]
    assert str(stack["version"]) == "1.0"
    assert stack["provider"]["name"] == "openfaas"
    assert stack["provider"]["gateway"].startswith("http")
    assert function["lang"] == "dockerfile"
    assert function["handler"] == "."
    assert function["readonly_root_filesystem"] is True
    for key in ("requests", "limits"):
        assert set(function[key]) == {"cpu", "memory"}


def test_stack_has_no_scale_to_zero_label(function):
    """The Community Edition rejects com.openfaas.scale.zero, so neither labels nor annotations carry it."""
    for key in ("labels", "annotations"):
        assert not any(k.startswith("com.openfaas.scale.zero") for k in (function.get(key) or {}))


def test_stack_matches_the_knative_service(function, container):
    """Same image and settings as the Knative Service, the webhook token from OpenFaaS' secret."""
    assert function["image"] == container["image"]
    env = dict(function["environment"])
    token_file = env.pop("WEBHOOK_TOKEN_FILE")
    knative = knative_env(container)
    knative.pop("WEBHOOK_TOKEN_FILE")
    assert env == knative
    assert function["secrets"] == ["cpu-alert-labeler-token"]
    # OpenFaaS mounts each secret as /var/openfaas/secrets/<name>.
    assert token_file == "/var/openfaas/secrets/cpu-alert-labeler-token"


def test_stack_env_is_read_by_the_function(function, tmp_path):
    """Every stack variable is documented, a string, and accepted with the secret file in place."""
    env = dict(function["environment"])
    assert set(env) <= {name for name, _, _ in documented()} | SERVER_VARIABLES
    assert all(isinstance(v, str) for v in env.values())
    secret = tmp_path / "cpu-alert-labeler-token"
    secret.write_text("s3cret\n")
    settings = Settings.from_env({**env, "WEBHOOK_TOKEN_FILE": str(secret)})
    assert settings.webhook_token.value == "s3cret"


@pytest.mark.parametrize("platform", ["knative", "openfaas"])
def test_cluster_role_grants_only_what_the_function_calls(request, platform):
    """The ClusterRole's rules are exactly get, list and patch on pods and create on events, and the binding uses it."""
    docs = request.getfixturevalue("knative") if platform == "knative" else load("openfaas/rbac.yaml")
    role = one(docs, "ClusterRole")
    rules = [{**rule, "verbs": sorted(rule["verbs"])} for rule in role["rules"]]
    assert rules == POD_RULES
    ref = one(docs, "ClusterRoleBinding")["roleRef"]
    assert ref == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                   "name": role["metadata"]["name"]}


def test_openfaas_binds_the_default_account_of_openfaas_fn(knative):
    """Community Edition functions run as default in openfaas-fn, so that is the only subject."""
    binding = one(load("openfaas/rbac.yaml"), "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "default", "namespace": "openfaas-fn"}]
    knative_binding = one(knative, "ClusterRoleBinding")
    # Distinct names, so applying both files on one cluster keeps both bindings.
    assert binding["metadata"]["name"] != knative_binding["metadata"]["name"]


def test_spec_guard_names_the_identities_the_rbac_binds(knative):
    """The optional admission policy guards exactly the identities both RBAC definitions bind."""
    docs = load("knative/hardening/pod-spec-guard.yaml")
    policy = one(docs, "ValidatingAdmissionPolicy")
    binding = one(docs, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert policy["spec"]["validations"][0]["expression"] == "object.spec == oldObject.spec"
    condition = policy["spec"]["matchConditions"][0]["expression"]
    for docs in (knative, load("openfaas/rbac.yaml")):
        for subject in one(docs, "ClusterRoleBinding")["subjects"]:
            assert f"'system:serviceaccount:{subject['namespace']}:{subject['name']}'" in condition
