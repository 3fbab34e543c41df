"""The scale benchmark's arithmetic (``bench.scale``): the layout issue 16 asks for, and
the figures of a window: calls per kind, throttled calls and the share of ELBv2's
``Describe*`` refill (10 per second, ELB's "Request throttling for the ELB API" page)."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.scale import Mark, describe_budget_share, figures, kind, layout, stacks

ELB = "elasticloadbalancing"


def test_nine_hundred_ingresses_are_six_hundred_alone_and_thirty_groups_of_ten() -> None:
    members = layout(900)
    groups = Counter(m.stack for m in members)
    assert len(members) == 900
    assert sum(1 for n in groups.values() if n == 1) == 600
    assert sorted(n for n in groups.values() if n > 1) == [10] * 30
    assert len(stacks(members)) == 630
    assert {m.order for m in members if m.group} == set(range(10))  # group.order 0-9 in each group


def test_three_hundred_keeps_the_shape() -> None:
    groups = Counter(m.stack for m in layout(300))
    assert (sum(1 for n in groups.values() if n == 1), sum(1 for n in groups.values() if n == 10)) == (200, 10)


def test_a_sweep_of_900_groups_at_six_reads_each_is_ninety_percent_of_ten_minutes_refill() -> None:
    # issue 16's arithmetic: ~6 Describe* per group, every 10 minutes, against 10 per second
    assert describe_budget_share(6 * 900, 600) == pytest.approx(0.9)
    assert describe_budget_share(30, 600) == pytest.approx(0.005)
    assert describe_budget_share(10, 0) == 0.0  # no time passed: no rate


@pytest.mark.parametrize(
    ("service", "action", "expected"),
    [
        (ELB, "DescribeLoadBalancers", "elbv2 describe"),
        (ELB, "DescribeTags", "elbv2 describe"),  # ELBv2's own DescribeTags shares the Describe* bucket
        (ELB, "DescribeTargetHealth", "elbv2 describe"),
        (ELB, "CreateRule", "elbv2 mutating"),
        (ELB, "RegisterTargets", "elbv2 mutating"),
        ("ec2", "DescribeSecurityGroups", "ec2 read"),
        ("ec2", "AuthorizeSecurityGroupIngress", "ec2 mutating"),
        ("tagging", "GetResources", "tagging"),
    ],
)
def test_each_call_has_its_buckets_kind(service: str, action: str, expected: str) -> None:
    assert kind(service, action) == expected


def test_a_windows_figures_count_the_accounts_apis_only_and_take_out_the_harness() -> None:
    start = Mark(
        aws=1000.0,
        wall=50.0,
        calls=Counter({(ELB, "DescribeRules"): 7, ("dynamodb", "GetItem"): 3}),
        throttled=Counter({(ELB, "DescribeRules"): 1}),
    )
    end = Mark(
        aws=1020.0,
        wall=60.0,
        calls=Counter(
            {
                (ELB, "DescribeRules"): 27,  # 20 in the window
                (ELB, "DescribeListeners"): 10,
                (ELB, "CreateRule"): 2,
                (ELB, "DeleteRule"): 1,  # the harness's hand edit
                ("ec2", "DescribeSecurityGroups"): 4,
                ("tagging", "GetResources"): 5,
                ("dynamodb", "GetItem"): 90,  # the state table: not the account's throttled APIs
            }
        ),
        throttled=Counter({(ELB, "DescribeRules"): 4, ("ec2", "DescribeSecurityGroups"): 2}),
    )
    found = figures(start, end, exclude=Counter({(ELB, "DeleteRule"): 1}))
    assert (found["aws_s"], found["wall_s"]) == (20.0, 10.0)
    assert found["mutating_calls"] == 2
    assert found["read_calls"] == 20 + 10 + 4 + 5
    assert found["throttled_calls"] == 3 + 2
    assert found["describe_calls"] == 30
    assert found["describe_budget_share"] == pytest.approx(30 / 20 / 10)
    assert found["calls_by_kind"] == {"ec2 read": 4, "elbv2 describe": 30, "elbv2 mutating": 2, "tagging": 5}
    assert "elasticloadbalancing:DeleteRule" not in found["calls"]
