"""The drift sweep's pure parts (ADR 0015): what the bulk pages show as a difference, and
the schedule's period."""

from __future__ import annotations

import pytest

from albatross.aws.discovery import Account
from albatross.controller import drift
from albatross.store.table import FailedRuns, GroupState

LB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/k8s-shop-web/50dc6c495c0c9188"
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/k8s-shop-web/73e2d6bc24d8a067"
SG = "sg-0123456789abcdef0"
INDEX = {"ids": {"LoadBalancer": LB, "web:80": TG, "ManagedLBSecurityGroup": SG}, "applied": {}}


def seen(
    *, state: str = "active", groups: frozenset[str] = frozenset({SG}), tg_lbs: frozenset[str] = frozenset({LB})
) -> Account:
    return Account(load_balancers={LB: (state, groups)}, target_groups={TG: tg_lbs}, calls=2)


def test_a_stack_as_indexed_shows_no_difference() -> None:
    assert drift.difference(GroupState(index=INDEX), seen()) == ""
    assert drift.difference(GroupState(index=INDEX), seen(state="provisioning")) == ""


@pytest.mark.parametrize(
    ("state", "account", "why"),
    [
        # DescribeTargetGroups' LoadBalancerArns: "the load balancers that route traffic to
        # this target group" (ELBv2 API reference): empty once its listener or rule is deleted
        (GroupState(index=INDEX), seen(tg_lbs=frozenset()), "target group without a load balancer"),
        (
            GroupState(index=INDEX),
            Account(load_balancers={}, target_groups={TG: frozenset({LB})}, calls=1),
            "load balancer gone",
        ),
        (
            GroupState(index=INDEX),
            Account(load_balancers={LB: ("active", frozenset({SG}))}, target_groups={}, calls=1),
            "target group gone",
        ),
        # LoadBalancerState Code: active | provisioning | active_impaired | failed
        (GroupState(index=INDEX), seen(state="failed"), "load balancer failed"),
        (GroupState(index=INDEX), seen(groups=frozenset()), "security group not in use"),
        (GroupState(), seen(), "no stack index"),
        (GroupState(index=INDEX, failed=FailedRuns(runs=2, last=1.0)), seen(), "its last runs failed"),
    ],
)
def test_what_the_bulk_pages_show_as_a_difference(state: GroupState, account: Account, why: str) -> None:
    assert drift.difference(state, account).startswith(why)


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(10 minutes)", 600.0), ("rate(1 minute)", 60.0), ("rate(2 hours)", 7200.0), ("rate(1 day)", 86400.0)],
)
def test_the_period_of_a_rate_expression(expression: str, seconds: float) -> None:
    assert drift.period_of(expression) == seconds


def test_a_cron_expression_has_the_default_period() -> None:
    assert drift.period_of("cron(0/15 * * * ? *)") == drift.PERIOD_SECONDS


def test_every_group_has_exactly_one_turn_per_rotation() -> None:
    groups = [f"ns/g{i}" for i in range(500)]
    turns: list[str] = []
    slots = 0
    for run in range(100):
        due, slots = drift.rotation(groups, now=run * 600.0, period=600.0, full_read_hours=24, capacity=25)
        turns += due
        if run + 1 == slots:
            break
    assert slots == 25  # 500 groups, slices of 20 (four fifths of 25)
    assert sorted(turns) == sorted(groups)
