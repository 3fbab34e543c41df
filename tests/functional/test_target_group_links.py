"""The local AWS's target groups name the load balancers that route traffic to them, as
ELBv2 does (API reference, TargetGroup ``LoadBalancerArns``: "the load balancers that
route traffic to this target group"): a load balancer drops out once no listener or rule
of it forwards to the group (deleted, or changed to forward elsewhere, or the load
balancer deleted), and is listed once however many rules forward. moto adds it on every
forwarding CreateListener and CreateRule and never removes it
(:mod:`albatross.local.mends` corrects that; the drift sweep reads it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from albatross.aws import clients
from albatross.local.mends import mend_moto


@pytest.fixture(autouse=True)
def mended(moto_endpoint: str) -> Iterator[None]:
    with mend_moto():
        yield


def forward(group: str) -> list[Any]:
    return [{"Type": "forward", "TargetGroupArn": group}]


def path(value: str) -> list[Any]:
    return [{"Field": "path-pattern", "Values": [value]}]


class Balancer:
    """A VPC, a load balancer, two target groups and an HTTP listener whose default
    action answers 404 (forwards nowhere)."""

    def __init__(self) -> None:
        ec2, elbv2 = clients.ec2(), clients.elbv2()
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"][
                "SubnetId"
            ]
            for i, z in enumerate("ab")
        ]
        self.arn = elbv2.create_load_balancer(Name="lb", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
        self.groups = [
            elbv2.create_target_group(Name=f"tg{i}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")[
                "TargetGroups"
            ][0]["TargetGroupArn"]
            for i in range(2)
        ]
        fixed: list[Any] = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}]
        self.listener = elbv2.create_listener(LoadBalancerArn=self.arn, Protocol="HTTP", Port=80, DefaultActions=fixed)[
            "Listeners"
        ][0]["ListenerArn"]

    def rule(self, priority: int, group: str) -> str:
        return str(
            clients.elbv2().create_rule(
                ListenerArn=self.listener, Priority=priority, Conditions=path(f"/{priority}"), Actions=forward(group)
            )["Rules"][0]["RuleArn"]
        )

    def links(self) -> list[list[str]]:
        """Each target group's LoadBalancerArns, in the order made."""
        found = clients.elbv2().describe_target_groups(TargetGroupArns=self.groups)["TargetGroups"]
        by_arn = {g["TargetGroupArn"]: list(g.get("LoadBalancerArns") or []) for g in found}
        return [by_arn[g] for g in self.groups]


def test_a_load_balancer_is_listed_once_until_its_last_rule_forwarding_to_the_group_goes() -> None:
    lb = Balancer()
    first, second = lb.rule(1, lb.groups[0]), lb.rule(2, lb.groups[0])
    assert lb.links() == [[lb.arn], []]  # two rules, one load balancer
    clients.elbv2().delete_rule(RuleArn=first)
    assert lb.links() == [[lb.arn], []]  # the other rule still forwards to it
    clients.elbv2().delete_rule(RuleArn=second)
    assert lb.links() == [[], []]


def test_a_rule_changed_to_forward_elsewhere_moves_the_link() -> None:
    lb = Balancer()
    rule = lb.rule(1, lb.groups[0])
    clients.elbv2().modify_rule(RuleArn=rule, Actions=forward(lb.groups[1]))
    assert lb.links() == [[], [lb.arn]]


def test_a_listener_changed_or_deleted_and_a_load_balancer_deleted_drop_the_link() -> None:
    elbv2 = clients.elbv2()
    lb = Balancer()
    elbv2.modify_listener(ListenerArn=lb.listener, DefaultActions=forward(lb.groups[0]))
    assert lb.links() == [[lb.arn], []]
    elbv2.modify_listener(ListenerArn=lb.listener, DefaultActions=forward(lb.groups[1]))
    assert lb.links() == [[], [lb.arn]]
    elbv2.delete_listener(ListenerArn=lb.listener)
    assert lb.links() == [[], []]
    other = elbv2.create_listener(
        LoadBalancerArn=lb.arn, Protocol="HTTP", Port=81, DefaultActions=forward(lb.groups[0])
    )
    assert other["Listeners"]
    assert lb.links() == [[lb.arn], []]
    elbv2.delete_load_balancer(LoadBalancerArn=lb.arn)
    assert lb.links() == [[], []]
