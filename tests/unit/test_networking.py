"""Backend security group rules, the pure parts: what a target group's targets need of
their security groups, how a group's inbound rules are matched against that, and how
EC2's refusals of a race are classified."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from albatross.aws.errors import Duplicate, NotFound, UserError, classify
from albatross.model.networking import needs, spec_digest
from albatross.plan.networking import ActualRule, match

BINDING: dict[str, Any] = {
    "networking": {
        "ingress": [
            {
                "from": [{"securityGroup": {"$ref": "ManagedLBSecurityGroup"}}],
                "ports": [{"Protocol": "TCP", "Port": "http"}, {"Protocol": "TCP", "Port": 9000}],
            }
        ]
    }
}
CREATED = {"ManagedLBSecurityGroup": "sg-lb"}


def test_each_target_group_needs_its_ports_from_the_source() -> None:
    placed = {"10.0.0.1": "sg-a", "10.0.0.2": "sg-b", "10.0.0.3": ""}
    targets = {("10.0.0.1", 8080), ("10.0.0.2", 8081), ("10.0.0.3", 8080)}
    # a named port is each target's own; the health check port comes along; an unplaced target needs nothing
    assert needs(binding=BINDING, physical=CREATED, placed=placed, targets=targets) == {
        "sg-a": {("tcp", 8080, "sg-lb"), ("tcp", 9000, "sg-lb")},
        "sg-b": {("tcp", 8081, "sg-lb"), ("tcp", 9000, "sg-lb")},
    }
    # the source not created yet, or no networking (the user's own groups): nothing
    assert needs(binding=BINDING, physical={}, placed=placed, targets=targets) == {}
    assert needs(binding={}, physical=CREATED, placed=placed, targets=targets) == {}
    # a shared backend group is named as it is
    shared = {
        "networking": {"ingress": [{**BINDING["networking"]["ingress"][0], "from": [{"securityGroup": "sg-b1"}]}]}
    }
    assert needs(binding=shared, physical={}, placed={"10.0.0.1": "sg-a"}, targets={("10.0.0.1", 80)}) == {
        "sg-a": {("tcp", 80, "sg-b1"), ("tcp", 9000, "sg-b1")}
    }
    # a new source is a new digest, so the rules are synced again
    assert spec_digest(BINDING, CREATED) != spec_digest(BINDING, {"ManagedLBSecurityGroup": "sg-new"})
    assert spec_digest({}, CREATED) == ""


def test_only_owned_rules_are_revoked_and_none_is_made_twice() -> None:
    actual = [
        ActualRule(rule=("tcp", 80, "sg-lb"), rule_id="sgr-hand", owned=False),  # the same rule, made by hand
        ActualRule(rule=("tcp", 81, "sg-lb"), rule_id="sgr-old", owned=True),
        ActualRule(rule=("tcp", 22, "sg-bastion"), rule_id="sgr-ssh", owned=False),
    ]
    assert match({("tcp", 80, "sg-lb"), ("tcp", 8080, "sg-lb")}, actual) == ([("tcp", 8080, "sg-lb")], ["sgr-old"])
    assert match(set(), actual) == ([], ["sgr-old"])


def test_a_race_with_another_settle_is_told_from_a_user_error() -> None:
    def error(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": "x"}}, "AuthorizeSecurityGroupIngress")

    assert isinstance(classify(error("InvalidPermission.Duplicate")), Duplicate)  # made meanwhile
    assert isinstance(classify(error("InvalidSecurityGroupRuleId.NotFound")), NotFound)  # revoked meanwhile
    assert type(classify(error("InvalidPermission.Malformed"))) is UserError
