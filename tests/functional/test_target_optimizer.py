"""ALB's target optimizer against the local AWS: CreateTargetGroup takes
``TargetControlPort`` and DescribeTargetGroups returns it (ELBv2 API reference; moto drops
it, ``albatross.local.mends`` keeps it). ModifyTargetGroup has no such parameter, so a
changed port is a new target group, as LBC does it ("Controller will create a new target
group with modified target control port and reassociate it with the listener")."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from albatross.aws import clients, discovery
from albatross.k8s.ingress import GroupID, parse_ingress
from albatross.k8s.service import parse_service
from albatross.local import gaps
from albatross.local.system import make_vpc
from albatross.model.builder import build
from albatross.model.config import ControllerConfig
from albatross.model.stack import Stack
from tests.functional.test_ownership import CLUSTER, STACK
from tests.functional.test_protection import converge
from tests.helpers import load_event

TG = "game-2048/game-2048-game-2048:80"


@pytest.fixture
def filled(moto_endpoint: str) -> Iterator[gaps.Gaps]:
    with gaps.fill() as found:
        yield found


def desired(vpc: str, control_port: str | None) -> Stack:
    ingress = copy.deepcopy(load_event("ingress-upsert")["detail"]["object"])
    if control_port is not None:
        annotations = ingress["metadata"].setdefault("annotations", {})
        annotations["alb.ingress.kubernetes.io/target-control-port.game-2048.80"] = control_port
    result = build(
        config=ControllerConfig(cluster=CLUSTER, vpc_id=vpc),
        group=GroupID.parse(STACK),
        ingresses=[parse_ingress(ingress)],
        services={STACK: parse_service(load_event("service-upsert")["detail"]["object"])},
        discovery=discovery.discover(vpc_id=vpc),
    )
    assert result.stack is not None, result.errors
    return result.stack


def control_ports() -> list[int | None]:
    return [tg.get("TargetControlPort") for tg in clients.elbv2().describe_target_groups()["TargetGroups"]]


def test_the_control_port_is_created_kept_and_a_change_replaces_the_target_group(filled: gaps.Gaps) -> None:
    vpc = make_vpc(CLUSTER)
    converge(desired(vpc, "3000"))
    assert control_ports() == [3000]
    assert converge(desired(vpc, "3000")) == []
    assert converge(desired(vpc, "4000")) == [
        f"create TargetGroup {TG}",
        "update ListenerRule 80:1",
        f"delete TargetGroup {TG}",
    ]
    assert control_ports() == [4000]
    [rule] = [r for r in clients.elbv2().describe_rules(ListenerArn=listener())["Rules"] if not r["IsDefault"]]
    [tg] = clients.elbv2().describe_target_groups()["TargetGroups"]
    forward = rule["Actions"][-1]
    assert [g["TargetGroupArn"] for g in forward["ForwardConfig"]["TargetGroups"]] == [tg["TargetGroupArn"]]
    # the annotation removed: a target group without one (LBC's name of old)
    assert converge(desired(vpc, None))[0] == f"create TargetGroup {TG}"
    assert control_ports() == [None]


def listener() -> str:
    [lb] = clients.elbv2().describe_load_balancers()["LoadBalancers"]
    [found] = clients.elbv2().describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    return str(found["ListenerArn"])
