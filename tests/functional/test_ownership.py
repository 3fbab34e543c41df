"""Ownership: a stack LBC created is adopted with zero creates; a resource that only
shares a name with ours (untagged, or another cluster's) is never modified."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from albatross.aws import applier, clients, discovery
from albatross.aws.errors import UserError
from albatross.k8s.ingress import GroupID, parse_ingress
from albatross.k8s.service import parse_service
from albatross.local.system import make_vpc
from albatross.model.builder import build
from albatross.model.config import ControllerConfig
from albatross.model.stack import Stack
from albatross.plan.actual import Actual
from albatross.plan.planner import plan
from tests.helpers import load_event

CLUSTER = "prod"
STACK = "game-2048/game-2048"


def desired(vpc: str) -> Stack:
    result = build(
        config=ControllerConfig(cluster=CLUSTER, vpc_id=vpc),
        group=GroupID.parse(STACK),
        ingresses=[parse_ingress(copy.deepcopy(load_event("ingress-upsert")["detail"]["object"]))],
        services={STACK: parse_service(load_event("service-upsert")["detail"]["object"])},
        discovery=discovery.discover(vpc_id=vpc),
    )
    assert result.stack is not None, result.errors
    return result.stack


def tags(rid: str, cluster: str = CLUSTER) -> list[Any]:
    return [
        {"Key": "elbv2.k8s.aws/cluster", "Value": cluster},
        {"Key": "ingress.k8s.aws/stack", "Value": STACK},
        {"Key": "ingress.k8s.aws/resource", "Value": rid},
    ]


def test_a_stack_lbc_created_is_adopted_with_zero_creates(moto_endpoint: str) -> None:
    vpc = make_vpc(CLUSTER)
    stack = desired(vpc)
    props = {rid: r.properties for rid, r in stack.resources.items()}
    ec2, elbv2 = clients.ec2(), clients.elbv2()
    # what LBC would have made, call by call, with its names and tags
    sg = ec2.create_security_group(
        GroupName=props["ManagedLBSecurityGroup"]["GroupName"],
        Description="[k8s] Managed SecurityGroup for LoadBalancer",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": tags("ManagedLBSecurityGroup")}],
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    tg_id = "game-2048/game-2048-game-2048:80"
    tg = elbv2.create_target_group(
        Name=props[tg_id]["Name"],
        Protocol="HTTP",
        Port=1,
        VpcId=vpc,
        TargetType="ip",
        HealthCheckPath="/",
        HealthCheckIntervalSeconds=15,
        HealthCheckTimeoutSeconds=5,
        HealthyThresholdCount=2,
        UnhealthyThresholdCount=2,
        Matcher={"HttpCode": "200"},
        Tags=tags(tg_id),
    )["TargetGroups"][0]["TargetGroupArn"]
    lb = elbv2.create_load_balancer(
        Name=props["LoadBalancer"]["Name"],
        Subnets=props["LoadBalancer"]["Subnets"],
        SecurityGroups=[sg],
        Scheme="internet-facing",
        Tags=tags("LoadBalancer"),
    )["LoadBalancers"][0]["LoadBalancerArn"]
    listener = elbv2.create_listener(
        LoadBalancerArn=lb,
        Port=80,
        Protocol="HTTP",
        DefaultActions=[
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"}}
        ],
    )["Listeners"][0]["ListenerArn"]
    elbv2.create_rule(
        ListenerArn=listener,
        Priority=1,
        Conditions=[{"Field": "path-pattern", "Values": ["/*"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": tg}],
    )
    steps = plan(stack, discovery.find_stack(cluster=CLUSTER, stack_id=STACK))
    assert [s.describe() for s in steps if s.op == "create"] == []
    assert [s.describe() for s in steps] == []


@pytest.mark.parametrize("owner", [None, "another-cluster"])
def test_a_resource_that_only_shares_our_name_is_left_alone(moto_endpoint: str, owner: str | None) -> None:
    vpc = make_vpc(CLUSTER)
    stack = desired(vpc)
    tg_id = "game-2048/game-2048-game-2048:80"
    extra: dict[str, Any] = {"Tags": tags(tg_id, cluster=owner)} if owner else {}
    foreign: dict[str, Any] = dict(
        clients.elbv2().create_target_group(
            Name=stack.resources[tg_id].properties["Name"], Protocol="HTTP", Port=1, VpcId=vpc, TargetType="ip", **extra
        )["TargetGroups"][0]
    )
    physical: dict[str, str] = {}
    steps = plan(stack, Actual())
    for step in steps[:1]:  # the security group
        applier.apply(step, physical)
    with pytest.raises(UserError, match="already exists and does not belong to this stack"):
        applier.apply(steps[1], physical)
    after: dict[str, Any] = dict(
        clients.elbv2().describe_target_groups(TargetGroupArns=[foreign["TargetGroupArn"]])["TargetGroups"][0]
    )
    assert {k: after[k] for k in foreign} == foreign  # unchanged
    found = clients.elbv2().describe_tags(ResourceArns=[foreign["TargetGroupArn"]])["TagDescriptions"][0]["Tags"]
    assert found == (tags(tg_id, cluster=owner) if owner else [])


def test_a_stack_tagged_with_the_legacy_cluster_key_is_found(moto_endpoint: str) -> None:
    vpc = make_vpc(CLUSTER)
    stack = desired(vpc)
    tg_id = "game-2048/game-2048-game-2048:80"
    legacy = [{"Key": "ingress.k8s.aws/cluster", "Value": CLUSTER}, *tags(tg_id)[1:]]
    arn = clients.elbv2().create_target_group(
        Name=stack.resources[tg_id].properties["Name"], Protocol="HTTP", Port=1, VpcId=vpc, TargetType="ip", Tags=legacy
    )["TargetGroups"][0]["TargetGroupArn"]
    assert discovery.stack_arns(cluster=CLUSTER, stack_id=STACK) == {arn: tg_id}
    assert discovery.stack_arns(cluster="other", stack_id=STACK) == {}
    # and creating it finds it by name and adopts it rather than refusing it
    physical: dict[str, str] = {}
    applier.apply(plan(stack, Actual())[1], physical)
    assert physical == {tg_id: arn}
    assert len(clients.elbv2().describe_target_groups()["TargetGroups"]) == 1
