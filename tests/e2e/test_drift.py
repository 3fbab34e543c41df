"""The drift sweep: a rule deleted and a security group rule revoked out of band, then
the whole load balancer deleted, are all restored by the next scheduled run (fired on
demand locally). The security group rule is one the stack index vouches for, so only the
sweep's fresh read sees it gone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import utils

from albatross.aws import clients
from albatross.local.demo import ingress_hostname
from albatross.local.system import LocalSystem
from tests.e2e.test_slice import executions, work_queue_idle

ROOT = Path(__file__).resolve().parents[2]
NS = NAME = "game-2048"


def rules(lb_arn: str) -> int:
    elbv2 = clients.elbv2()
    [listener] = elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
    return sum(1 for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"] if not r["IsDefault"])


def inbound(group_id: str) -> list[object]:
    return list(clients.ec2().describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["IpPermissions"])


def test_the_drift_sweep_restores_what_was_changed_by_hand(system: LocalSystem) -> None:
    # no trail logs the hand-made changes (tests/e2e/test_aws_events.py: with one): only the sweep repairs them
    system.cloud.aws_events.trail.logging = False
    utils.create_from_yaml(system.api(), str(ROOT / "examples/2048/2048.yaml"))  # type: ignore[no-untyped-call]  # untyped in the client
    system.wait_for("the address", lambda: ingress_hostname(system, NS, NAME))
    system.wait_for("the queue to drain", lambda: work_queue_idle(system))
    elbv2, ec2 = clients.elbv2(), clients.ec2()
    [lb] = elbv2.describe_load_balancers()["LoadBalancers"]
    [listener] = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    [rule] = [r for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"] if not r["IsDefault"]]
    [sg] = [  # the managed group, not the cluster's shared backend group (issue 15)
        g["GroupId"]
        for g in ec2.describe_security_groups(GroupIds=lb["SecurityGroups"])["SecurityGroups"]
        if g["Description"] != "[k8s] Shared Backend SecurityGroup for LoadBalancer"
    ]
    permissions = inbound(sg)
    elbv2.delete_rule(RuleArn=rule["RuleArn"])
    ec2.revoke_security_group_ingress(GroupId=sg, IpPermissions=permissions)  # type: ignore[arg-type]  # as described

    result = system.dispatcher.fire("DriftFunctionDrift")
    assert result["groups"] == 1
    system.wait_for("the rule back", lambda: rules(lb["LoadBalancerArn"]) == 1)
    system.wait_for("the inbound rule back", lambda: inbound(sg) != [])

    elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    system.dispatcher.fire("DriftFunctionDrift")
    system.wait_for("provision again", lambda: executions(system, "ProvisionStateMachineArn") == ["SUCCEEDED"] * 2)
    [again] = elbv2.describe_load_balancers()["LoadBalancers"]
    assert again["LoadBalancerArn"] != lb["LoadBalancerArn"]
    assert rules(again["LoadBalancerArn"]) == 1


def test_a_stack_albatross_never_managed_is_left_alone(system: LocalSystem) -> None:
    vpc = str(system.cloud.deployment.environment["VPC_ID"])
    tags: list[Any] = [
        {"Key": "elbv2.k8s.aws/cluster", "Value": system.cluster},
        {"Key": "ingress.k8s.aws/stack", "Value": "shop/left-by-lbc"},
        {"Key": "ingress.k8s.aws/resource", "Value": "shop/left-by-lbc-web:80"},
    ]
    arn = clients.elbv2().create_target_group(
        Name="k8s-shop-leftbylb-0123456789", Port=80, Protocol="HTTP", VpcId=vpc, Tags=tags
    )["TargetGroups"][0]["TargetGroupArn"]
    result = system.dispatcher.fire("DriftFunctionDrift")
    assert result["unknown"] == ["shop/left-by-lbc"]
    assert result["orphans"] == []
    system.wait_for("the queue to drain", lambda: work_queue_idle(system))
    assert clients.elbv2().describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]
