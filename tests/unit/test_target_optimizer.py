"""ALB's target optimizer as LBC exposes it, and IngressClassParams fields LBC never
released (issue 15). Expected values come from LBC's documentation ("ALB Target
Optimizer": ``alb.ingress.kubernetes.io/target-control-port.${serviceName}.${servicePort}``
on the Ingress, set only at creation, a changed port a new target group), LBC's model
builder tests (its name vectors with and without a control port; no control port on an
instance target group; a named Service port in the key),
the ELBv2 API reference (``TargetControlPort``, 1..65535, in CreateTargetGroup and not in
ModifyTargetGroup) and LBC's IngressClassParams CRD (no ``authenticationConfiguration``)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from albatross.k8s.ingress import GroupID
from albatross.model import names
from albatross.model.builder import BuildResult
from albatross.plan.planner import plan
from tests.unit.test_lbc_parity import annotated, error, only_path, with_params
from tests.unit.test_model_features import ing, resources, run, svc
from tests.unit.test_planner import as_built

TG = "game-2048/game-2048-game-2048:80"  # the resource id of the Ingress's one target group
UID = "0b6a3c1d-7e2f-4c8a-9d0e-112233445566"  # the Service's uid in the sample events


def target_group(result: BuildResult) -> dict[str, Any]:
    props: dict[str, Any] = resources(result)[TG]["properties"]
    return props


def lbc_name(*extra: str) -> str:
    """LBC's name for the sample Ingress's target group (ip mode, named targetPort: port 1)."""
    parts = ("c", "game-2048/game-2048", "game-2048", "game-2048", UID, "80", "1", "ip", "HTTP", "HTTP1", *extra)
    return "k8s-game2048-game2048-" + hashlib.sha256("".join(parts).encode()).hexdigest()[:10]


def test_the_annotation_sets_the_target_control_port_and_joins_the_name_hash() -> None:
    plain = target_group(run(ing()))
    assert "TargetControlPort" not in plain
    assert plain["Name"] == lbc_name()  # unchanged without the annotation
    tg = target_group(run(ing(annotations={"target-control-port.game-2048.80": "3000"})))
    assert tg["TargetControlPort"] == 3000
    assert tg["Name"] == lbc_name("3000")


def test_the_name_formula_hashes_the_port_only_when_set() -> None:
    common: dict[str, Any] = {
        "cluster": "c",
        "group": GroupID(namespace="ns", name="web"),
        "ingress_namespace": "ns",
        "ingress_name": "web",
        "service_namespace": "ns",
        "service_name": "frontend",
        "service_uid": "uid-1",
        "service_port": "80",
        "target_port": 8080,
        "target_type": "ip",
        "protocol": "HTTP",
        "protocol_version": "HTTP1",
    }
    h = hashlib.sha256("".join(("c", "ns/web", "ns", "web", "uid-1", "80", "8080", "ip", "HTTP", "HTTP1")).encode())
    assert names.target_group_name(**common) == "k8s-ns-frontend-" + h.hexdigest()[:10]
    h.update(b"4000")
    assert names.target_group_name(**common, target_control_port=4000) == "k8s-ns-frontend-" + h.hexdigest()[:10]


def test_lbcs_own_name_vectors() -> None:
    """LBC's table for its target group name (``Test_defaultModelBuildTask_buildTargetGroupName``:
    no cluster name, the zero group, Ingress and Service ns-1/name-1 with uid my-uuid, port
    ``http``, target port 8080, ip, HTTP, HTTP1), without and with control port 80."""
    common: dict[str, Any] = {
        "cluster": "",
        "group": GroupID(namespace="", name=""),
        "ingress_namespace": "ns-1",
        "ingress_name": "name-1",
        "service_namespace": "ns-1",
        "service_name": "name-1",
        "service_uid": "my-uuid",
        "service_port": "http",
        "target_port": 8080,
        "target_type": "ip",
        "protocol": "HTTP",
        "protocol_version": "HTTP1",
    }
    assert names.target_group_name(**common) == "k8s-ns1-name1-2c37289a00"
    assert names.target_group_name(**common, target_control_port=80) == "k8s-ns1-name1-7ed91338c9"


def test_an_instance_target_group_takes_no_control_port() -> None:
    service = svc()
    service["spec"]["type"] = "NodePort"
    service["spec"]["ports"][0]["nodePort"] = 30080
    obj = annotated("game-2048", **{"target-type": "instance", "target-control-port.game-2048.80": "3000"})
    reason = error(run(obj, service=service))
    assert reason.startswith("target control port is not supported for instance target target group")


def test_a_backend_named_by_port_name_takes_the_annotation_with_that_name() -> None:
    backend = {"service": {"name": "game-2048", "port": {"name": "http"}}}
    path = {"path": "/", "pathType": "Prefix", "backend": backend}
    obj = only_path(ing(annotations={"target-control-port.game-2048.http": "3000"}), path)
    props: dict[str, Any] = resources(run(obj))["game-2048/game-2048-game-2048:http"]["properties"]
    assert props["TargetControlPort"] == 3000


def test_another_backends_annotation_does_not_apply() -> None:
    others = {"target-control-port.other.80": "3000", "target-control-port.game-2048.8080": "3000"}
    assert "TargetControlPort" not in target_group(run(ing(annotations=others)))


def test_the_services_annotation_wins_over_the_ingresss() -> None:
    service = svc(annotations={"target-control-port.game-2048.80": "4000"})
    obj = ing(annotations={"target-control-port.game-2048.80": "3000"})
    assert target_group(run(obj, service=service))["TargetControlPort"] == 4000


@pytest.mark.parametrize("value", ["0", "65536", "abc", "3000.5", "-1"])
def test_a_port_outside_1_to_65535_is_an_error_naming_the_annotation(value: str) -> None:
    reason = error(run(annotated("game-2048", **{"target-control-port.game-2048.80": value})))
    assert "alb.ingress.kubernetes.io/target-control-port.game-2048.80" in reason
    assert value in reason


def test_the_backend_rules_open_the_control_port_from_the_load_balancer() -> None:
    result = run(ing(annotations={"target-control-port.game-2048.80": "3000"}))
    assert result.stack is not None
    binding = result.stack.resources[TG].binding
    assert binding is not None
    [rule] = binding["networking"]["ingress"]
    assert {"Protocol": "TCP", "Port": 3000} in rule["ports"]


def test_a_changed_control_port_replaces_the_target_group() -> None:
    """AWS cannot modify a target group's control port; LBC creates a new target group
    and points the listener at it."""
    before = run(ing(annotations={"target-control-port.game-2048.80": "3000"}))
    after = run(ing(annotations={"target-control-port.game-2048.80": "4000"}))
    assert before.stack is not None
    assert after.stack is not None
    old_name = target_group(before)["Name"]
    new_name = target_group(after)["Name"]
    assert old_name != new_name
    assert [s.describe() for s in plan(after.stack, as_built(before.stack))] == [
        f"create TargetGroup {TG}",
        "update ListenerRule 80:1",
        f"delete TargetGroup {TG}",
    ]


def test_ingress_class_params_authentication_configuration_is_refused() -> None:
    """Not a field of LBC's IngressClassParams (its pull request #4129 closed unmerged): LBC's
    CRD prunes it. One that arrives anyway asks for authentication Albatross cannot give, so
    the class's Ingresses are refused rather than published without it."""
    spec = {"authenticationConfiguration": {"type": "cognito"}}
    reason = error(with_params(spec, ing(group="shop")))
    assert "spec.authenticationConfiguration is not supported" in reason
    assert "IngressClassParams p" in reason
