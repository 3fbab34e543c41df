"""IngressClassParams end to end: the forwarder sends the class and its parameters, and
the Ingress of that class is built with them (they win over its annotations)."""

from __future__ import annotations

import functools
from typing import Any

from kubernetes import client as k8s
from kubernetes import utils

from albatross.aws import clients
from albatross.local.demo import ingress_hostname
from albatross.local.system import LocalSystem
from tests.e2e.test_slice import ROOT
from tests.k8s_typing import body, must


def class_with_params(system: LocalSystem, *, params: str, ingress_class: str, spec: dict[str, Any]) -> None:
    """An IngressClassParams, an IngressClass of ours that points at it, and the 2048
    example under that class."""
    api = system.api()
    k8s.CustomObjectsApi(api).create_cluster_custom_object(
        "elbv2.k8s.aws",
        "v1beta1",
        "ingressclassparams",
        body(
            {
                "apiVersion": "elbv2.k8s.aws/v1beta1",
                "kind": "IngressClassParams",
                "metadata": {"name": params},
                "spec": spec,
            }
        ),
    )
    k8s.NetworkingV1Api(api).create_ingress_class(
        body(
            {
                "metadata": {"name": ingress_class},
                "spec": {
                    "controller": "ingress.k8s.aws/alb",
                    "parameters": {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": params},
                },
            }
        )
    )
    manifests = (
        (ROOT / "examples/2048/2048.yaml")
        .read_text()
        .replace("ingressClassName: alb", f"ingressClassName: {ingress_class}")
    )
    path = system.log_path.parent / f"2048-{ingress_class}.yaml"
    path.write_text(manifests)
    utils.create_from_yaml(api, str(path))  # type: ignore[no-untyped-call]  # untyped in the client


def test_the_class_parameters_shape_the_load_balancer(system: LocalSystem) -> None:
    class_with_params(
        system,
        params="internal-only",
        ingress_class="alb-internal",
        spec={"scheme": "internal", "tags": [{"key": "tier", "value": "private"}]},
    )
    system.wait_for("the address", lambda: ingress_hostname(system, "game-2048", "game-2048"))
    [lb] = clients.elbv2().describe_load_balancers()["LoadBalancers"]
    assert lb["Scheme"] == "internal"  # the annotation says internet-facing
    tags = clients.elbv2().describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"][0]["Tags"]
    assert {"Key": "tier", "Value": "private"} in tags


def _finalizers(api: k8s.ApiClient, name: str) -> list[str]:
    found = k8s.NetworkingV1Api(api).read_namespaced_ingress(name, "game-2048")
    return list(must(found.metadata).finalizers or [])


def _has_only(api: k8s.ApiClient, name: str, group: str, only: bool) -> bool:
    found = _finalizers(api, name)
    wanted = f"group.ingress.k8s.aws/{group}"
    return found == [wanted] if only else wanted in found


def _stacks() -> set[str]:
    elbv2 = clients.elbv2()
    out = set()
    for lb in elbv2.describe_load_balancers()["LoadBalancers"]:
        tags = elbv2.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"][0]["Tags"]
        out |= {t["Value"] for t in tags if t["Key"] == "ingress.k8s.aws/stack"}
    return out


def test_the_group_the_class_parameters_name_gathers_its_ingresses_and_can_move(system: LocalSystem) -> None:
    """ADR 0004: the params' group wins over the annotations; changing it moves the
    Ingresses (and their finalizers) to the new group's load balancer."""
    class_with_params(system, params="shared", ingress_class="alb-shared", spec={"group": {"name": "shared"}})
    api = system.api()
    backend = {"service": {"name": "game-2048", "port": {"number": 80}}}
    k8s.NetworkingV1Api(api).create_namespaced_ingress(
        "game-2048",
        body(
            {
                "metadata": {
                    "name": "second",
                    "annotations": {
                        "alb.ingress.kubernetes.io/group.name": "ignored-by-params",
                        # the Service is a ClusterIP one: instance targets (the default) would
                        # make this member fail to build, and a member that never built gets no address
                        "alb.ingress.kubernetes.io/target-type": "ip",
                    },
                },
                "spec": {
                    "ingressClassName": "alb-shared",
                    "rules": [
                        {
                            "http": {
                                "paths": [
                                    {
                                        "path": "/second",
                                        "pathType": "Prefix",
                                        "backend": backend,
                                    }
                                ]
                            }
                        }
                    ],
                },
            }
        ),
    )
    system.wait_for("both addresses", lambda: ingress_hostname(system, "game-2048", "second"))
    system.wait_for("the first address", lambda: ingress_hostname(system, "game-2048", "game-2048"))
    assert _stacks() == {"shared"}
    for name in ("game-2048", "second"):
        system.wait_for(f"the group finalizer on {name}", functools.partial(_has_only, api, name, "shared", False))

    k8s.CustomObjectsApi(api).patch_cluster_custom_object(
        "elbv2.k8s.aws", "v1beta1", "ingressclassparams", "shared", {"spec": {"group": {"name": "moved"}}}
    )
    system.wait_for("the stack to move", lambda: _stacks() == {"moved"}, timeout=90)
    for name in ("game-2048", "second"):
        system.wait_for(f"the finalizers of {name} to follow", functools.partial(_has_only, api, name, "moved", True))


def test_a_namespace_selector_admits_ingresses_once_their_namespace_is_labelled(system: LocalSystem) -> None:
    class_with_params(
        system,
        params="games-only",
        ingress_class="alb-games",
        spec={"namespaceSelector": {"matchLabels": {"team": "games"}}},
    )
    api = system.api()

    def warnings() -> list[str]:
        items = k8s.CoreV1Api(api).list_namespaced_event("game-2048").items
        return [str(e.message) for e in items if e.type == "Warning"]

    [message] = system.wait_for("the Warning", warnings)
    assert "namespaceSelector of IngressClassParams games-only mismatch" in message
    assert clients.elbv2().describe_load_balancers()["LoadBalancers"] == []
    k8s.CoreV1Api(api).patch_namespace("game-2048", {"metadata": {"labels": {"team": "games"}}})
    system.wait_for("the address", lambda: ingress_hostname(system, "game-2048", "game-2048"))
