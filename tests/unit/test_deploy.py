"""The forwarder's deploy manifests, offline: ``kubectl kustomize forwarder/deploy``
renders, equals the committed ``deploy/forwarder.yaml``, and every document passes
kubernetes-validate ``--strict``. RBAC grants exactly the calls the forwarder makes, the
pod meets restricted Pod Security, and probes, port and NetworkPolicy agree on the
health port. The IRSA component annotates the ServiceAccount with an overlay's role, and
refuses to render without one. The readiness-webhook component (ADR 0014) adds the
webhook, its certificate and exactly the rights its calls need.

Needs ``kubectl`` (it carries kustomize) on PATH; nothing is contacted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # the package ships no type information
import pytest
import yaml

from albatross.contract.readiness import GATES_CONFIGMAP, INJECT_ENABLED, INJECT_LABEL
from albatross_forwarder import kube as forwarder_kube
from albatross_forwarder import main as forwarder_main
from albatross_forwarder import webhook

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "forwarder" / "deploy"
RENDERED = ROOT / "deploy" / "forwarder.yaml"
# The oldest Kubernetes the manifests must apply to, and the newest schema shipped with
# kubernetes-validate.
KUBERNETES_VERSIONS = ("1.31", kubernetes_validate.latest_version())
# IRSA's ServiceAccount annotation: EKS's pod identity webhook injects a web identity token
# for the role it names, and the SDK tries that before Pod Identity's credentials.
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"

# (apiGroup, resource) → verbs, each for the calls named beside it; nothing else.
CLUSTER_RULES: dict[tuple[str, str], set[str]] = {
    # Watcher list/watch; finalizer add (main) and removal (write-back) are JSON patches;
    # get: write-back reads the Ingress a message names, to judge the message
    ("networking.k8s.io", "ingresses"): {"get", "list", "watch", "patch"},
    # write-back: patch_namespaced_ingress_status
    ("networking.k8s.io", "ingresses/status"): {"patch"},
    # Watcher list/watch: which classes are ours
    ("networking.k8s.io", "ingressclasses"): {"list", "watch"},
    # Watcher list/watch (list_cluster_custom_object): group and params per class
    ("elbv2.k8s.aws", "ingressclassparams"): {"list", "watch"},
    # Watcher list/watch of TargetGroupBindings; write-back reads the one a message names
    # by a list selecting its name, and patches its status (observedGeneration)
    ("elbv2.k8s.aws", "targetgroupbindings"): {"list", "watch"},
    ("elbv2.k8s.aws", "targetgroupbindings/status"): {"patch"},
    # Watcher list/watch of backends, namespace labels and nodes
    ("", "services"): {"list", "watch"},
    ("", "namespaces"): {"list", "watch"},
    ("", "nodes"): {"list", "watch"},
    ("discovery.k8s.io", "endpointslices"): {"list", "watch"},
    # OIDC client secrets copied to Secrets Manager: each Secret a managed Ingress names,
    # read by name (SecretCopier.fetch); never listed or watched
    ("", "secrets"): {"get"},
    # write-back Events: create; on 409 read the existing one and patch its count
    ("", "events"): {"create", "get", "patch"},
}
# Leader election on a Lease in the forwarder's namespace: read, create once, renew.
LEASE_RULES: dict[tuple[str, str, str], set[str]] = {
    ("coordination.k8s.io", "leases", "*any*"): {"create"},  # create cannot name its object
    ("coordination.k8s.io", "leases", "LEASE_NAME"): {"get", "update"},
}


def _kubectl() -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail(
            "kubectl is not on PATH: it renders forwarder/deploy (kubectl kustomize). "
            "Install kubectl (1.27 or newer) to run these tests.",
            pytrace=False,
        )
    return kubectl


@pytest.fixture(scope="module")
def rendered_text() -> str:
    out = subprocess.run(  # noqa: S603  # kubectl from PATH, fixed arguments, a local base: nothing contacted
        [_kubectl(), "kustomize", str(BASE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, f"kubectl kustomize {BASE} failed:\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def docs(rendered_text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(rendered_text) if d]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_spec(docs: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(docs, "Deployment")["spec"]["template"]["spec"]
    return spec


def settings(docs: list[dict[str, Any]]) -> dict[str, str]:
    data: dict[str, str] = one(docs, "ConfigMap")["data"]
    return data


def test_the_rendered_manifest_is_the_base_rendered(rendered_text: str) -> None:
    committed = RENDERED.read_text()
    body = "".join(line for line in committed.splitlines(keepends=True) if not line.startswith("#"))
    assert body == rendered_text, f"{RENDERED.relative_to(ROOT)} is stale: run `make manifests`"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_document_validates_strictly(docs: list[dict[str, Any]], version: str) -> None:
    problems = []
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            problems.append(f"{name}: {'.'.join(map(str, e.path))}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            problems.append(f"{name}: {e.message}")
    assert not problems, f"against Kubernetes {version}:\n" + "\n".join(problems)


def _rules(rules: list[Mapping[str, Any]]) -> Iterator[tuple[str, str, str | None, str]]:
    for rule in rules:
        assert not rule.get("nonResourceURLs"), rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for name in rule.get("resourceNames") or [None]:
                    for verb in rule["verbs"]:
                        yield group, resource, name, verb


def test_no_wildcard_anywhere_in_rbac(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        if doc["kind"] in ("ClusterRole", "Role"):
            assert "aggregationRule" not in doc
            for group, resource, name, verb in _rules(doc["rules"]):
                assert "*" not in (group, resource, name, verb), f"{doc['kind']} grants a wildcard"


def test_the_cluster_role_grants_exactly_the_forwarders_calls(docs: list[dict[str, Any]]) -> None:
    granted: dict[tuple[str, str], set[str]] = {}
    for group, resource, name, verb in _rules(one(docs, "ClusterRole")["rules"]):
        assert name is None, "cluster-wide rules name no object"
        granted.setdefault((group, resource), set()).add(verb)
    assert granted == CLUSTER_RULES


def test_the_lease_role_grants_only_leader_election_on_its_lease(docs: list[dict[str, Any]]) -> None:
    lease = settings(docs)["LEASE_NAME"]
    granted: dict[tuple[str, str, str], set[str]] = {}
    for group, resource, name, verb in _rules(one(docs, "Role")["rules"]):
        granted.setdefault((group, resource, "*any*" if name is None else name), set()).add(verb)
    expected = {(g, r, lease if n == "LEASE_NAME" else n): v for (g, r, n), v in LEASE_RULES.items()}
    assert granted == expected


def test_the_roles_are_bound_to_the_forwarders_service_account(docs: list[dict[str, Any]]) -> None:
    account = one(docs, "ServiceAccount")["metadata"]
    assert pod_spec(docs)["serviceAccountName"] == account["name"]
    for binding, role in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        bound = one(docs, binding)
        assert bound["roleRef"]["kind"] == role
        assert bound["roleRef"]["name"] == one(docs, role)["metadata"]["name"]
        assert bound["subjects"] == [
            {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
        ]
    # the Lease Role lives where the pods are, and where LEASE_NAMESPACE points
    assert one(docs, "Role")["metadata"]["namespace"] == one(docs, "Deployment")["metadata"]["namespace"]
    # EKS Pod Identity is the default: an IRSA annotation would take precedence over it
    assert IRSA_ANNOTATION not in account.get("annotations", {})


def _render_overlay(tmp_path: Path, kustomization: str, files: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    # kustomize refuses absolute paths to a base: the overlay names it relative to itself
    base = os.path.relpath(BASE, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(kustomization.replace("BASE", base))
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return subprocess.run(  # noqa: S603  # kubectl from PATH, a local overlay: nothing contacted
        [_kubectl(), "kustomize", str(tmp_path)], capture_output=True, text=True, timeout=60, check=False
    )


IRSA_OVERLAY = """\
resources:
  - BASE
  - forwarder-role.yaml
components:
  - BASE/components/irsa
"""
ROLE_ARN = "arn:aws:iam::111122223333:role/team-forwarder"
FORWARDER_ROLE = f"""\
apiVersion: v1
kind: ConfigMap
metadata:
  name: albatross-forwarder-role
  annotations:
    config.kubernetes.io/local-config: "true"
data:
  roleArn: {ROLE_ARN}
"""


def test_the_irsa_component_annotates_the_service_account_with_the_overlays_role(tmp_path: Path) -> None:
    out = _render_overlay(tmp_path, IRSA_OVERLAY, {"forwarder-role.yaml": FORWARDER_ROLE})
    assert out.returncode == 0, out.stderr
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert one(rendered, "ServiceAccount")["metadata"]["annotations"] == {IRSA_ANNOTATION: ROLE_ARN}
    # the role's ConfigMap only feeds kustomize: it never reaches the cluster
    assert one(rendered, "ConfigMap")["metadata"]["name"].startswith("albatross-forwarder-config")
    assert "albatross-forwarder-role" not in out.stdout


def test_the_irsa_component_refuses_to_render_without_a_role(tmp_path: Path) -> None:
    out = _render_overlay(tmp_path, IRSA_OVERLAY.replace("  - forwarder-role.yaml\n", ""), {})
    assert out.returncode != 0
    assert "albatross-forwarder-role" in out.stderr


CRD_OVERLAY = """\
resources:
  - BASE
components:
  - BASE/components/targetgroupbinding-crd
"""


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_crd_component_ships_the_binding_kind_the_forwarder_watches(tmp_path: Path, version: str) -> None:
    out = _render_overlay(tmp_path, CRD_OVERLAY, {})
    assert out.returncode == 0, out.stderr
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d]
    crd = one(rendered, "CustomResourceDefinition")
    kubernetes_validate.validate(crd, version, strict=True)
    resource = forwarder_kube.TARGET_GROUP_BINDINGS
    # LBC's names: a cluster that had LBC's CRD keeps the same kind at the same path
    assert crd["metadata"]["name"] == "targetgroupbindings.elbv2.k8s.aws"
    assert (crd["spec"]["group"], crd["spec"]["names"]["plural"]) == (resource.group, resource.plural)
    assert crd["spec"]["names"]["kind"] == "TargetGroupBinding"
    assert crd["spec"]["scope"] == "Namespaced"
    (served,) = crd["spec"]["versions"]
    assert served["name"] == resource.version
    assert served["subresources"] == {"status": {}}, "the write-back patches status through its subresource"
    spec = served["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert {
        "targetGroupARN",
        "targetGroupName",
        "targetType",
        "serviceRef",
        "networking",
        "nodeSelector",
        "ipAddressType",
        "vpcID",
        "multiClusterTargetGroup",
    } <= set(spec)
    # the rest of the base is unchanged by the component, and the base alone has no CRD
    assert len(rendered) == len([d for d in yaml.safe_load_all(RENDERED.read_text()) if d]) + 1


def test_the_pod_meets_restricted_pod_security(docs: list[dict[str, Any]]) -> None:
    namespace = one(docs, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert one(docs, "Deployment")["metadata"]["namespace"] == namespace["metadata"]["name"]
    spec = pod_spec(docs)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(key), key
    assert all("hostPath" not in v for v in spec.get("volumes", []))
    for container in spec["containers"] + spec.get("initContainers", []):
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert not context.get("privileged")
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), "requests for scheduling"
        assert "memory" in resources["limits"], "a memory limit"


def test_probes_and_network_policy_use_the_health_port(docs: list[dict[str, Any]]) -> None:
    (container,) = pod_spec(docs)["containers"]
    (port,) = container["ports"]
    assert port == {"name": "http", "containerPort": int(settings(docs)["HEALTH_PORT"]), "protocol": "TCP"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    policy = one(docs, "NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels(docs).items()
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    assert policy["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    egress_ports = {(p["port"], p["protocol"]) for rule in policy["egress"] for p in rule["ports"]}
    assert {(53, "UDP"), (53, "TCP"), (443, "TCP")} <= egress_ports


def pod_labels(docs: list[dict[str, Any]]) -> dict[str, str]:
    labels: dict[str, str] = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    return labels


def test_two_replicas_spread_out_and_never_both_disrupted(docs: list[dict[str, Any]]) -> None:
    deployment = one(docs, "Deployment")["spec"]
    assert deployment["replicas"] == 2
    assert deployment["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    spread = pod_spec(docs)["topologySpreadConstraints"]
    assert "kubernetes.io/hostname" in {c["topologyKey"] for c in spread}
    assert all(c["labelSelector"]["matchLabels"].items() <= pod_labels(docs).items() for c in spread)
    budget = one(docs, "PodDisruptionBudget")["spec"]
    assert budget["minAvailable"] == 1
    assert budget["selector"]["matchLabels"].items() <= pod_labels(docs).items()
    # time to flush queued events and release the Lease after SIGTERM
    assert pod_spec(docs)["terminationGracePeriodSeconds"] >= 30


def test_the_pod_environment_configures_the_forwarder(
    docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    (container,) = pod_spec(docs)["containers"]
    env = dict(settings(docs))
    from_api = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"] if "valueFrom" in e}
    assert from_api["POD_NAME"] == "metadata.name"
    assert from_api["POD_NAMESPACE"] == from_api["LEASE_NAMESPACE"] == "metadata.namespace"
    env.update({e["name"]: e["value"] for e in container["env"] if "value" in e})
    env.update({name: f"downward-{path}" for name, path in from_api.items()})
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    forwarder_main._parse([])  # exits (SystemExit) when a required setting is missing


READINESS_OVERLAY = """\
resources:
  - BASE
components:
  - BASE/components/readiness-webhook
"""
# What the readiness-webhook component adds (ADR 0014), each for the calls named beside it.
READINESS_CLUSTER_RULES: dict[tuple[str, str], set[str]] = {
    # Watcher list/watch of Pods (gated ones sent); write-back reads the pod a
    # podCondition names (Kube.get) to judge it
    ("", "pods"): {"get", "list", "watch"},
    # write-back: the condition, a strategic merge patch through the status subresource
    ("", "pods/status"): {"patch"},
}
# The gates ConfigMap in the forwarder's namespace: watched by name (a field selector) by
# every replica; the leader's write-back patches it, and creates it when missing.
READINESS_ROLE_RULES: dict[tuple[str, str, str], set[str]] = {
    ("", "configmaps", "*any*"): {"create"},
    ("", "configmaps", "GATES"): {"list", "watch", "patch"},
}


@pytest.fixture(scope="module")
def readiness_docs(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = _render_overlay(tmp_path_factory.mktemp("readiness"), READINESS_OVERLAY, {})
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_readiness_component_validates_and_adds_only_its_own(
    readiness_docs: list[dict[str, Any]], docs: list[dict[str, Any]], version: str
) -> None:
    problems = []
    for doc in readiness_docs:
        if doc["apiVersion"].startswith("cert-manager.io/"):
            continue  # cert-manager's kinds: no schema in kubernetes-validate, checked below
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: {'.'.join(map(str, e.path))}: {e.message}")
    assert not problems, "\n".join(problems)
    added = {(d["kind"], d["metadata"]["name"]) for d in readiness_docs} - {
        (d["kind"], d["metadata"]["name"]) for d in docs
    }
    assert {kind for kind, _ in added} == {
        "Service",
        "Issuer",
        "Certificate",
        "MutatingWebhookConfiguration",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
    }


def test_the_readiness_component_grants_exactly_its_calls(readiness_docs: list[dict[str, Any]]) -> None:
    name = "albatross-forwarder-readiness-gates"
    granted: dict[tuple[str, str], set[str]] = {}
    for group, resource, object_name, verb in _rules(one(readiness_docs, "ClusterRole", name)["rules"]):
        assert object_name is None
        granted.setdefault((group, resource), set()).add(verb)
    assert granted == READINESS_CLUSTER_RULES
    role = one(readiness_docs, "Role", name)
    in_role: dict[tuple[str, str, str], set[str]] = {}
    for group, resource, object_name, verb in _rules(role["rules"]):
        in_role.setdefault((group, resource, "*any*" if object_name is None else object_name), set()).add(verb)
    expected = {(g, r, GATES_CONFIGMAP if n == "GATES" else n): v for (g, r, n), v in READINESS_ROLE_RULES.items()}
    assert in_role == expected
    # where the forwarder looks for it: its own namespace (LEASE_NAMESPACE)
    assert role["metadata"]["namespace"] == one(readiness_docs, "Deployment")["metadata"]["namespace"]
    account = one(readiness_docs, "ServiceAccount")["metadata"]
    for binding, kind in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        bound = one(readiness_docs, binding, name)
        assert bound["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name}
        assert bound["subjects"] == [
            {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
        ]


def test_the_readiness_webhook_reaches_the_forwarder_as_lbcs_does(
    readiness_docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = one(readiness_docs, "Deployment")["metadata"]["namespace"]
    (hook,) = one(readiness_docs, "MutatingWebhookConfiguration")["webhooks"]
    # the ADR's choices: LBC's default failurePolicy, no side effects, the API server's timeout
    assert (hook["failurePolicy"], hook["sideEffects"], hook["timeoutSeconds"]) == ("Ignore", "None", 10)
    assert hook["rules"] == [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE"],
            "resources": ["pods"],
            "scope": "Namespaced",
        }
    ]
    # LBC's namespace label; never the forwarder's own namespace, so it can always start
    assert hook["namespaceSelector"]["matchExpressions"] == [
        {"key": INJECT_LABEL, "operator": "In", "values": [INJECT_ENABLED]},
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [namespace]},
    ]
    # the Service the API server calls reaches the container's webhook port, on the path served
    target = hook["clientConfig"]["service"]
    assert target["path"] == webhook.PATH
    service = one(readiness_docs, "Service", target["name"])
    assert service["metadata"]["namespace"] == target["namespace"] == namespace
    assert service["spec"]["selector"].items() <= pod_labels(readiness_docs).items()
    (port,) = [p for p in service["spec"]["ports"] if p["port"] == target["port"]]
    (container,) = pod_spec(readiness_docs)["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports[port["targetPort"]] == webhook.PORT
    policy = one(readiness_docs, "NetworkPolicy")["spec"]
    assert {"port": port["targetPort"], "protocol": "TCP"} in [p for rule in policy["ingress"] for p in rule["ports"]]
    # cert-manager: the certificate names the Service, its CA is injected, its Secret mounted
    certificate = one(readiness_docs, "Certificate")
    annotation = one(readiness_docs, "MutatingWebhookConfiguration")["metadata"]["annotations"]
    assert annotation["cert-manager.io/inject-ca-from"] == f"{namespace}/{certificate['metadata']['name']}"
    assert f"{target['name']}.{namespace}.svc" in certificate["spec"]["dnsNames"]
    issuer = one(readiness_docs, "Issuer")
    assert certificate["spec"]["issuerRef"] == {"kind": "Issuer", "name": issuer["metadata"]["name"]}
    volumes = {v["name"]: v for v in pod_spec(readiness_docs)["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert mounts[env["WEBHOOK_CERT_DIR"]]["secret"]["secretName"] == certificate["spec"]["secretName"]
    # the forwarder reads the component's settings
    for name, value in {**settings(readiness_docs), **{k: v for k, v in env.items() if v is not None}}.items():
        monkeypatch.setenv(name, value)
    config = forwarder_main._parse([])
    assert config.readiness_gates
    assert config.webhook_cert_dir == env["WEBHOOK_CERT_DIR"]
    assert config.webhook_port == webhook.PORT
