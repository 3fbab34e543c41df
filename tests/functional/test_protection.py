"""Web ACLs, Shield Advanced and capacity reservations: applied when the model states
them, removed on ``none`` / ``false``, left alone when the model does not mention them
(an association someone else made survives, as with LBC since 2.8.2). WAFv2 and Shield
are moto's; WAF Classic and capacity reservations come from ``albatross.local.gaps``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from albatross.aws import applier, clients, discovery
from albatross.local import gaps
from albatross.local.system import make_vpc
from albatross.model.names import LOAD_BALANCER_ID
from albatross.model.stack import Stack
from albatross.plan.planner import plan
from tests.functional.test_ownership import CLUSTER, STACK, desired


@pytest.fixture
def filled(moto_endpoint: str) -> Iterator[gaps.Gaps]:
    with gaps.fill() as found:
        yield found


def with_lb(stack: Stack, **settings: Any) -> Stack:
    data = json.loads(json.dumps(stack.to_json()))
    props = data["resources"][LOAD_BALANCER_ID]["properties"]
    for key, value in settings.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    return Stack.from_json(data)


def converge(stack: Stack) -> list[str]:
    actual = discovery.read_stack(cluster=CLUSTER, stack_id=STACK, desired=stack)
    steps = plan(stack, actual)
    physical = {r.id: r.physical_id for r in actual.resources}
    for step in steps:
        applier.apply(step, physical)
    return [s.describe() for s in steps]


def web_acl(name: str) -> str:
    return str(
        clients.wafv2().create_web_acl(
            Name=name,
            Scope="REGIONAL",
            DefaultAction={"Allow": {}},
            VisibilityConfig={"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False, "MetricName": name},
        )["Summary"]["ARN"]
    )


def lb_arn() -> str:
    [lb] = clients.elbv2().describe_load_balancers()["LoadBalancers"]
    return str(lb["LoadBalancerArn"])


def associated() -> str | None:
    acl = clients.wafv2().get_web_acl_for_resource(ResourceArn=lb_arn()).get("WebACL")
    return str(acl["ARN"]) if acl else None


def test_wafv2_association_follows_the_model_and_absent_means_leave_alone(filled: gaps.Gaps) -> None:
    base = desired(make_vpc(CLUSTER))
    first, second = web_acl("first"), web_acl("second")
    converge(with_lb(base, WebACLArn=first))
    assert associated() == first
    assert converge(with_lb(base, WebACLArn=first)) == []
    assert converge(with_lb(base, WebACLArn=second)) == ["update LoadBalancer LoadBalancer"]
    assert associated() == second
    # the annotation removed: whatever is associated stays (Firewall Manager may own it)
    assert converge(base) == []
    assert associated() == second
    assert converge(with_lb(base, WebACLArn="none")) == ["update LoadBalancer LoadBalancer"]
    assert associated() is None


def test_shield_waf_classic_and_capacity(filled: gaps.Gaps) -> None:
    base = desired(make_vpc(CLUSTER))
    wanted = with_lb(
        base, ShieldProtection=True, WafAclId="classic-acl", MinimumLoadBalancerCapacity={"CapacityUnits": 100}
    )
    converge(wanted)
    arn = lb_arn()
    assert clients.shield().describe_protection(ResourceArn=arn)["Protection"]["ResourceArn"] == arn
    assert filled.web_acls == {arn: "classic-acl"}
    assert filled.capacity == {arn: 100}
    assert converge(wanted) == []
    converge(
        with_lb(wanted, ShieldProtection=False, WafAclId="none", MinimumLoadBalancerCapacity={"CapacityUnits": 200})
    )
    assert clients.shield().list_protections().get("Protections", []) == []
    assert filled.web_acls == {}
    assert filled.capacity == {arn: 200}


def test_the_local_aws_refuses_to_delete_a_protected_load_balancer(filled: gaps.Gaps) -> None:
    # ELBv2 API reference, DeleteLoadBalancer: "You can't delete a load balancer if
    # deletion protection is enabled" (OperationNotPermitted, HTTP 400)
    converge(desired(make_vpc(CLUSTER)))
    elbv2, arn = clients.elbv2(), lb_arn()
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=arn, Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}]
    )
    with pytest.raises(elbv2.exceptions.OperationNotPermittedException) as refused:
        elbv2.delete_load_balancer(LoadBalancerArn=arn)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert lb_arn() == arn
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=arn, Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}]
    )
    elbv2.delete_load_balancer(LoadBalancerArn=arn)
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
