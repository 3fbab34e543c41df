"""The Kubernetes API double as kubectl itself sees it: field and label selectors (on
lists and watches), server-side Tables with the real API server's columns, the
workloads' Pods and the IngressClass. The expected output is what the API server's
printers and selectors give (Kubernetes' ``pkg/printers/internalversion`` and field
label conversions), not the double's own."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from albatross.local.kube import ALB_CLASS, KINDS, KubeDouble, kube_double

KUBECTL = shutil.which("kubectl")
NS = "shop"
ROOT = Path(__file__).resolve().parents[2]
# What kubectl get asks for: a Table, else the plain object
TABLE_ACCEPT = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def make(kube: KubeDouble, obj: Mapping[str, Any]) -> dict[str, Any]:
    kind = next(k for k in KINDS if k.kind == obj["kind"])
    return kube.cluster.create(kind, str(obj["metadata"].get("namespace", "")), obj)


@pytest.fixture
def kubectl(kube: KubeDouble, tmp_path: Path) -> Kubectl:
    """kubectl against the double; fails the test on a non-zero exit unless ``check=False``."""
    assert KUBECTL is not None, "kubectl must be on PATH for these tests"
    config = tmp_path / "kubeconfig"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "double", "cluster": {"server": kube.url}}],
                "users": [{"name": "double", "user": {}}],
                "contexts": [{"name": "double", "context": {"cluster": "double", "user": "double"}}],
                "current-context": "double",
            }
        )
    )

    def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(  # noqa: S603  # kubectl from PATH, the test's arguments, the local double
            [KUBECTL, "--kubeconfig", str(config), "--cache-dir", str(tmp_path / "cache"), *argv],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done

    return run


def table(text: str) -> list[list[str]]:
    """kubectl's table output as rows of cells (cells are separated by two spaces or more)."""
    return [[cell.strip() for cell in line.split("  ") if cell.strip()] for line in text.strip().splitlines()]


def ingress(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"ingressClassName": "alb", **spec},
    }


def event(name: str, about: Mapping[str, Any], *, reason: str, kind: str = "Normal") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": NS},
        "involvedObject": {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "namespace": NS,
            "name": about["metadata"]["name"],
            "uid": about["metadata"]["uid"],
        },
        "reason": reason,
        "message": f"{reason} for {about['metadata']['name']}",
        "type": kind,
        "source": {"component": "albatross"},
        "firstTimestamp": about["metadata"]["creationTimestamp"],
        "lastTimestamp": about["metadata"]["creationTimestamp"],
        "count": 1,
    }


def test_describe_lists_only_the_ingress_own_events(kube: KubeDouble, kubectl: Kubectl) -> None:
    """kubectl describe asks for the Events whose involvedObject is that Ingress (name,
    namespace, kind, uid): another Ingress's, and those of an earlier Ingress of the same
    name (another uid), are not listed."""
    a, b = make(kube, ingress("a")), make(kube, ingress("b"))
    earlier = dict(a, metadata=dict(a["metadata"], uid="0f0f0f0f-0000-4000-8000-000000000000"))
    make(kube, event("a.1", a, reason="SuccessfullyReconciled"))
    make(kube, event("b.1", b, reason="FailedBuildModel", kind="Warning"))
    make(kube, event("a.0", earlier, reason="FailedDeployModel", kind="Warning"))

    described = kubectl("describe", "ingress", "-n", NS, "a").stdout
    assert "SuccessfullyReconciled for a" in described
    assert "FailedBuildModel" not in described
    assert "FailedDeployModel" not in described
    assert any(
        r.path == f"/api/v1/namespaces/{NS}/events" and "involvedObject.uid=" in r.query.get("fieldSelector", "")
        for r in kube.requests
    )

    warnings = kubectl("get", "events", "-n", NS, "--field-selector", "type=Warning,involvedObject.name=b").stdout
    [(seen, *row)] = table(warnings)[1:]
    assert row == ["Warning", "FailedBuildModel", "ingress/b", "FailedBuildModel for b"]
    assert seen.endswith("s")  # LAST SEEN: lastTimestamp's age (seconds), not <unknown>
    listed = table(kubectl("get", "events", "-n", NS, "--field-selector", "involvedObject.name=a", "-o", "wide").stdout)
    assert listed[0] == [
        "LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT", "NAME"
    ]  # fmt: skip
    assert sorted(row[-1] for row in listed[1:]) == ["a.0", "a.1"]


def test_an_unsupported_field_is_the_api_server_bad_request(kube: KubeDouble, kubectl: Kubectl) -> None:
    refused = kubectl("get", "pods", "-A", "--field-selector", "spec.replicas=1", check=False)
    assert refused.returncode == 1
    assert "field label not supported: spec.replicas" in refused.stderr
    # Ingresses take only metadata.name and metadata.namespace
    refused = kubectl("get", "ingress", "-A", "--field-selector", "spec.ingressClassName=alb", check=False)
    assert "field label not supported: spec.ingressClassName" in refused.stderr
    make(kube, ingress("a"))
    make(kube, ingress("b"))
    named = kubectl("get", "ingress", "-A", "--field-selector", "metadata.name!=a", "-o", "name").stdout
    assert named.split() == ["ingress.networking.k8s.io/b"]


def watch(kube: KubeDouble, path: str, query: Mapping[str, str], rv: str) -> list[tuple[str, str, str]]:
    """(type, name, resourceVersion) of each event of a one-second watch from ``rv``."""
    params = "&".join(f"{k}={urllib.parse.quote(v)}" for k, v in query.items())
    url = f"{kube.url}{path}?watch=true&timeoutSeconds=1&resourceVersion={rv}&{params}"
    with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310  # the local double
        events = [json.loads(line) for line in resp.read().splitlines() if line.strip()]
    return [
        (e["type"], e["object"]["metadata"].get("name", ""), e["object"]["metadata"]["resourceVersion"]) for e in events
    ]


def test_a_watch_sends_what_enters_and_leaves_its_selection(kube: KubeDouble) -> None:
    """As the API server's watch cache does: a change into the selection is ADDED, one
    out of it DELETED (at that change's resourceVersion), one outside it nothing."""
    rv = str(kube.cluster.resource_version())
    ingresses = next(k for k in KINDS if k.kind == "Ingress")
    make(kube, ingress("a"))
    make(kube, ingress("b"))
    labelled = kube.cluster.patch(
        ingresses, NS, "b", "application/merge-patch+json", {"metadata": {"labels": {"tier": "web"}}}, status=False
    )
    unlabelled = kube.cluster.patch(
        ingresses, NS, "b", "application/merge-patch+json", {"metadata": {"labels": None}}, status=False
    )
    path = f"/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses"
    assert watch(kube, path, {"labelSelector": "tier=web"}, rv) == [
        ("ADDED", "b", labelled["metadata"]["resourceVersion"]),
        ("DELETED", "b", unlabelled["metadata"]["resourceVersion"]),
    ]
    assert [e[:2] for e in watch(kube, path, {"fieldSelector": "metadata.name=a"}, rv)] == [("ADDED", "a")]
    assert [e[:2] for e in watch(kube, path, {"labelSelector": "tier notin (web)"}, rv)] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("DELETED", "b"),
        ("ADDED", "b"),
    ]


def test_kubectl_get_ingress_shows_the_api_server_columns(kube: KubeDouble, kubectl: Kubectl) -> None:
    hostname = "k8s-shop-web-0123456789-1234567890.us-east-1.elb.amazonaws.com"  # longer than a clipped column
    rules = [{"host": f"h{i}.example.com"} for i in range(4)]
    make(kube, ingress("plain"))
    web = make(kube, ingress("web", rules=rules, tls=[{"hosts": ["h0.example.com"]}]))
    ingresses = next(k for k in KINDS if k.kind == "Ingress")
    kube.cluster.update(
        ingresses, NS, "web", web | {"status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}}, status=True
    )
    make(kube, {**ingress("other"), "spec": {}})

    rows = table(kubectl("get", "ingress", "-n", NS).stdout)
    assert rows[0] == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    by_name = {row[0]: row[1:-1] for row in rows[1:]}
    assert by_name == {
        "other": ["<none>", "*", "80"],
        "plain": ["alb", "*", "80"],
        "web": ["alb", "h0.example.com,h1.example.com,h2.example.com + 1 more...", hostname, "80, 443"],
    }
    assert all(row[-1].endswith("s") for row in rows[1:])  # ages, in seconds
    one = table(kubectl("get", "ingress", "-n", NS, "web").stdout)
    assert [row[0] for row in one] == ["NAME", "web"]


def test_include_object_semantics(kube: KubeDouble) -> None:
    make(kube, ingress("web"))
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    path = f"{kube.url}/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses"

    def get(query: str) -> dict[str, Any]:
        request = urllib.request.Request(f"{path}{query}", headers={"Accept": accept})  # noqa: S310  # local
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310  # the local double
            return dict(json.load(resp))

    default = get("")
    assert (default["kind"], default["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert default["metadata"]["resourceVersion"]
    row = default["rows"][0]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["name"] == "web"
    assert "spec" not in row["object"]
    assert get("?includeObject=Object")["rows"][0]["object"]["spec"] == {"ingressClassName": "alb"}
    assert "object" not in get("?includeObject=None")["rows"][0]
    plain = urllib.request.Request(path, headers={"Accept": "application/json"})  # noqa: S310  # local
    with urllib.request.urlopen(plain, timeout=30) as resp:  # noqa: S310  # the local double
        assert json.load(resp)["kind"] == "IngressList"


def deployment(name: str, replicas: int, *, gates: bool = False) -> dict[str, Any]:
    labels = {"app": name}
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "i"}]}
    if gates:
        spec["readinessGates"] = [{"conditionType": "target-health.albatross.io/web"}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def test_kubectl_get_pods_of_the_simulated_deployments(kube: KubeDouble, kubectl: Kubectl) -> None:
    kube.cluster.stop()  # pods move only when the test steps them
    for n in range(2):
        make(kube, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node-{n}"}})
    make(kube, deployment("web", 2, gates=True))
    make(kube, deployment("api", 1))

    rows = table(kubectl("get", "pods", "-n", NS, "-o", "wide").stdout)
    assert rows[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    pods = {row[0]: row for row in rows[1:]}
    assert sorted(pods) == ["api-0", "web-0", "web-1"]
    assert [pods["web-0"][i] for i in (1, 2, 3, 6, 7, 8)] == ["1/1", "Running", "0", "node-0", "<none>", "0/1"]
    assert pods["api-0"][8] == "<none>"
    assert pods["web-1"][5].startswith("10.0.")

    selected = table(kubectl("get", "pods", "-n", NS, "-l", "app=web").stdout)
    assert [row[0] for row in selected[1:]] == ["web-0", "web-1"]
    assert [row[0] for row in table(kubectl("get", "pods", "-n", NS, "-l", "app notin (web)").stdout)[1:]] == ["api-0"]
    on_node = kubectl(
        "get", "pods", "-A", "--field-selector", "spec.nodeName=node-1,status.phase=Running", "-o", "name"
    )
    assert sorted(on_node.stdout.split()) == ["pod/web-1"]

    # the gate passed, as Albatross writes it: the column counts it
    pods_kind = next(k for k in KINDS if k.kind == "Pod")
    gate = {"type": "target-health.albatross.io/web", "status": "True"}
    kube.cluster.patch(
        pods_kind,
        NS,
        "web-0",
        "application/strategic-merge-patch+json",
        {"status": {"conditions": [gate]}},
        status=True,
    )
    assert table(kubectl("get", "pod", "-n", NS, "web-0", "-o", "wide").stdout)[1][8] == "1/1"

    # a scale-down: the pod being deleted shows Terminating while it drains
    kube.cluster.drain("node-1")
    draining = {row[0]: row[2] for row in table(kubectl("get", "pods", "-n", NS).stdout)[1:]}
    assert draining["web-1"] == "Terminating"


def test_kubectl_get_ingressclass_shows_alb(tmp_path: Path) -> None:
    """The offline system's cluster starts with LBC's ``alb`` class (``ALB_CLASS``)."""
    params = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": "internal"},
        "spec": {
            "controller": "ingress.k8s.aws/alb",
            "parameters": {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": "internal-only"},
        },
    }
    assert KUBECTL is not None, "kubectl must be on PATH for these tests"
    with kube_double(objects=[ALB_CLASS, params]) as kube:
        done = subprocess.run(  # noqa: S603  # kubectl from PATH, fixed arguments, the local double
            [KUBECTL, "--server", kube.url, "--cache-dir", str(tmp_path), "get", "ingressclass"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
    rows = table(done.stdout)
    assert rows[0] == ["NAME", "CONTROLLER", "PARAMETERS", "AGE"]
    assert [row[:3] for row in rows[1:]] == [
        ["alb", "ingress.k8s.aws/alb", "<none>"],
        ["internal", "ingress.k8s.aws/alb", "IngressClassParams.elbv2.k8s.aws/internal-only"],
    ]


def aligned(text: str) -> list[dict[str, str]]:
    """kubectl's table output as a header → cell mapping a row, each cell cut where its
    header starts: a blank cell (a value the object lacks) keeps its place."""
    header, *lines = text.rstrip("\n").splitlines()
    found = list(re.finditer(r"\S+(?: \S+)*", header))
    ends = [m.start() for m in found[1:]] + [None]
    return [{m.group(): line[m.start() : end].strip() for m, end in zip(found, ends, strict=True)} for line in lines]


def served_table(kube: KubeDouble, path: str) -> dict[str, Any]:
    """The list at ``path`` as the double answers kubectl's Accept header."""
    request = urllib.request.Request(f"{kube.url}{path}", headers={"Accept": TABLE_ACCEPT})  # noqa: S310  # local
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310  # the local double
        return dict(json.load(resp))


def test_kubectl_get_deployments_shows_the_api_server_columns(kube: KubeDouble, kubectl: Kubectl) -> None:
    """READY is status.readyReplicas of spec.replicas (1 when unset: the API server's
    default), UP-TO-DATE status.updatedReplicas and AVAILABLE status.availableReplicas, as
    the deployment controller counts its pods (a pod waiting on a readiness gate is not
    ready); -o wide adds the template's containers and their images, comma-separated, and
    the selector as a label selector string (its requirements sorted by key, ``in`` values
    sorted, ``!key`` for DoesNotExist)."""
    kube.cluster.stop()  # pods move only when the test steps them
    make(kube, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-0"}})
    web = deployment("web", 3)
    web["spec"]["selector"] = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "track", "operator": "In", "values": ["stable", "canary"]},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    web["spec"]["template"]["metadata"]["labels"] = {"app": "web", "track": "stable"}
    web["spec"]["template"]["spec"]["containers"] = [
        {"name": "app", "image": "nginx:1.27"},
        {"name": "proxy", "image": "envoyproxy/envoy:v1.31"},
    ]
    make(kube, web)
    api = deployment("api", 1)
    del api["spec"]["replicas"]
    make(kube, api)
    make(kube, deployment("gated", 2, gates=True))  # its pods run, and wait on their gate

    rows = table(kubectl("get", "deploy", "-n", NS).stdout)
    assert rows[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert {row[0]: row[1:-1] for row in rows[1:]} == {
        "api": ["1/1", "1", "1"],
        "gated": ["0/2", "2", "0"],
        "web": ["3/3", "3", "3"],
    }
    assert all(row[-1].endswith("s") for row in rows[1:])  # ages, in seconds

    # scaled down: the status follows the pods
    deployments = next(k for k in KINDS if k.kind == "Deployment")
    scaled = kube.cluster.get(deployments, NS, "web")
    scaled["spec"]["replicas"] = 1
    kube.cluster.update(deployments, NS, "web", scaled, status=False)
    kube.cluster.settle()
    assert table(kubectl("get", "deploy", "-n", NS, "web").stdout)[1][1:4] == ["1/1", "1", "1"]

    wide = table(kubectl("get", "deployment", "-n", NS, "web", "-o", "wide").stdout)
    assert wide[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    name, *counts, age, containers, images, selector = wide[1]
    assert [name, *counts] == ["web", "1/1", "1", "1"]
    assert age.endswith("s")
    assert [containers, images] == ["app,proxy", "nginx:1.27,envoyproxy/envoy:v1.31"]
    assert selector == "app=web,!legacy,track in (canary,stable)"


def endpoint_slice(name: str, family: str, ports: list[dict[str, Any]], addresses: list[list[str]]) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": NS, "labels": {"kubernetes.io/service-name": name.split("-")[0]}},
        "addressType": family,
        "ports": ports,
        "endpoints": [{"addresses": a, "conditions": {"ready": True}} for a in addresses],
    }


def test_kubectl_get_endpointslices_shows_the_api_server_columns(kube: KubeDouble, kubectl: Kubectl) -> None:
    """PORTS lists each port's number (its name when it has none, ``*`` for neither) and
    ENDPOINTS every endpoint's addresses: the first three of each, then ``+ N more...``
    for the rest, ``<unset>`` for none."""
    ports: list[dict[str, Any]] = [
        {"name": "http", "port": 8080, "protocol": "TCP"},
        {"name": "metrics", "port": 9090},
        {"name": "admin"},
    ]
    five = [["10.0.1.1"], ["10.0.1.2", "10.0.1.3"], ["10.0.1.4"], ["10.0.1.5"]]
    make(kube, endpoint_slice("web-x1", "IPv4", [*ports, {"port": 7000}], five))
    make(kube, endpoint_slice("api-x2", "IPv6", [{"protocol": "TCP"}], [["fd00::1"]]))
    make(kube, endpoint_slice("idle-x3", "IPv4", [], []))

    rows = table(kubectl("get", "endpointslices", "-n", NS).stdout)
    assert rows[0] == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert {row[0]: row[1:-1] for row in rows[1:]} == {
        "api-x2": ["IPv6", "*", "fd00::1"],
        "idle-x3": ["IPv4", "<unset>", "<unset>"],
        "web-x1": ["IPv4", "8080,9090,admin + 1 more...", "10.0.1.1,10.0.1.2,10.0.1.3 + 2 more..."],
    }
    assert all(row[-1].endswith("s") for row in rows[1:])


TGB_CRD = ROOT / "forwarder" / "deploy" / "components" / "targetgroupbinding-crd" / "targetgroupbindings.yaml"


def binding(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def test_kubectl_get_targetgroupbindings_shows_the_crd_columns(kube: KubeDouble, kubectl: Kubectl) -> None:
    """A custom resource is printed with NAME, then the additionalPrinterColumns of its
    CRD (here the one Albatross ships), those of priority 1 only with -o wide; a value the
    object lacks is a blank cell."""
    [version] = yaml.safe_load(TGB_CRD.read_text())["spec"]["versions"]
    columns = version["additionalPrinterColumns"]
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/k8s-shop-web-0123456789/0123456789abcdef"
    make(kube, binding("web", serviceRef={"name": "web", "port": 80}, targetType="ip", targetGroupARN=arn))
    make(kube, binding("api", serviceRef={"name": "api", "port": "http"}, targetGroupName="api"))

    plain = aligned(kubectl("get", "targetgroupbindings", "-n", NS).stdout)
    assert list(plain[0]) == ["NAME", "SERVICE-NAME", "SERVICE-PORT", "TARGET-TYPE", "AGE"]
    assert list(plain[0])[1:] == [c["name"] for c in columns if not c.get("priority")]
    rows = {row.pop("NAME"): row for row in plain}
    assert {name: row.pop("AGE")[-1] for name, row in rows.items()} == {"api": "s", "web": "s"}
    assert rows == {
        "api": {"SERVICE-NAME": "api", "SERVICE-PORT": "http", "TARGET-TYPE": ""},
        "web": {"SERVICE-NAME": "web", "SERVICE-PORT": "80", "TARGET-TYPE": "ip"},
    }

    wide = aligned(kubectl("get", "targetgroupbindings", "-n", NS, "-o", "wide").stdout)
    assert list(wide[0]) == ["NAME", *(c["name"] for c in columns)]
    assert {row["NAME"]: row["ARN"] for row in wide} == {"api": "", "web": arn}


def test_kubectl_get_ingressclassparams_shows_name_and_age(kube: KubeDouble, kubectl: Kubectl) -> None:
    """No CRD of IngressClassParams ships here: the API server prints a custom resource
    whose CRD declares no columns with its name and its age (a date column)."""
    params = {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "IngressClassParams",
        "metadata": {"name": "internal-only"},
        "spec": {"scheme": "internal", "group": {"name": "shared"}},
    }
    make(kube, params)
    [header, row] = table(kubectl("get", "ingressclassparams").stdout)
    assert header == ["NAME", "AGE"]
    assert row[0] == "internal-only"
    assert row[1].endswith("s")
    # kubectl prints NAME and AGE of its own when the server sends no Table: the columns
    # it got are checked as the server sends them for kubectl's Accept header
    served = served_table(kube, "/apis/elbv2.k8s.aws/v1beta1/ingressclassparams")
    assert [(c["name"], c["type"], c["format"], c["priority"]) for c in served["columnDefinitions"]] == [
        ("Name", "string", "name", 0),
        ("Age", "date", "", 0),
    ]
    assert served["rows"][0]["cells"][0] == "internal-only"


def shipped_crds() -> dict[str, dict[str, Any]]:
    """The CRDs this repository ships, by kind."""
    found = {}
    for path in sorted([*(ROOT / "forwarder" / "deploy").rglob("*.yaml"), *(ROOT / "deploy").glob("*.yaml")]):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                found[doc["spec"]["names"]["kind"]] = doc
    return found


def test_every_custom_resource_table_has_its_crd_columns(kube: KubeDouble) -> None:
    """Each custom resource the double serves gets the Table the API server builds from
    its CRD: Name, then the CRD version's additionalPrinterColumns (their name, type,
    priority and description, "Custom resource definition column (in JSONPath format):
    PATH" for none), or Age (a date) for a CRD without any."""
    crds = shipped_crds()
    custom = [k for k in KINDS if k.group.endswith(".k8s.aws")]
    assert {k.kind for k in custom} == {"IngressClassParams", "TargetGroupBinding"}
    for kind in custom:
        columns: list[dict[str, Any]] = []
        if kind.kind in crds:
            [version] = [v for v in crds[kind.kind]["spec"]["versions"] if v["name"] == kind.version]
            columns = version.get("additionalPrinterColumns") or []
        expected = [("Name", "string", "name", 0)] + [
            (c["name"], c["type"], c.get("format", ""), c.get("priority", 0)) for c in columns
        ]
        if not columns:
            expected.append(("Age", "date", "", 0))
        served = served_table(kube, f"/apis/{kind.group}/{kind.version}/{kind.plural}")
        got = served["columnDefinitions"]
        assert [(c["name"], c["type"], c["format"], c["priority"]) for c in got] == expected, kind.kind
        descriptions = [
            c.get("description") or f"Custom resource definition column (in JSONPath format): {c['jsonPath']}"
            for c in columns
        ]
        assert [c["description"] for c in got[1 : 1 + len(columns)]] == descriptions, kind.kind
