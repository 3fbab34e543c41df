"""Matching needed backend rules against a security group's inbound rules
(:mod:`albatross.plan.networking`): EC2's rules are port ranges (FromPort..ToPort, both
included) per protocol and source, as LBC makes them (one range per source, from the
lowest to the highest port it needs)."""

from __future__ import annotations

from albatross.plan.networking import ActualRule, match

SHARED, OTHER = "sg-shared", "sg-other"


def test_a_range_covers_the_ports_within_it_for_its_protocol_and_source() -> None:
    lbc = ActualRule(rule=("tcp", 80, SHARED), rule_id="sgr-lbc", owned=True, to_port=8080)
    needed = {("tcp", 80, SHARED), ("tcp", 8080, SHARED), ("tcp", 3000, SHARED)}
    assert match(needed, [lbc]) == ([], [])
    # outside the range, another protocol, another source: each still missing
    outside = {("tcp", 8081, SHARED), ("udp", 3000, SHARED), ("tcp", 3000, OTHER)}
    assert match(outside, [lbc]) == (sorted(outside), ["sgr-lbc"])


def test_an_owned_rule_goes_only_when_it_covers_nothing_needed() -> None:
    ours = ActualRule(rule=("tcp", 8080, OTHER), rule_id="sgr-old", owned=True)
    theirs = ActualRule(rule=("tcp", 9000, OTHER), rule_id="sgr-hand", owned=False)
    # moving to the shared source: the new rule is made and the old revoked in one settle
    # (the settle authorizes before it revokes)
    assert match({("tcp", 8080, SHARED)}, [ours, theirs]) == ([("tcp", 8080, SHARED)], ["sgr-old"])
    assert match({("tcp", 8080, OTHER)}, [ours, theirs]) == ([], [])
