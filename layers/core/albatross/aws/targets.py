"""Register and deregister targets of one target group to match a desired set."""

from __future__ import annotations

from collections.abc import Set

from albatross.aws import clients
from albatross.aws.errors import aws_errors
from albatross.model.targets import Target

_CHUNK = 500
_GOING = {"draining"}


def current(target_group_arn: str) -> set[Target]:
    with aws_errors():
        found = clients.elbv2().describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
    return {
        (t["Target"]["Id"], int(t["Target"]["Port"]))
        for t in found
        if (t.get("TargetHealth") or {}).get("State") not in _GOING
    }


def sync(target_group_arn: str, desired: Set[Target]) -> tuple[int, int]:
    """Make the registrations equal ``desired``; returns (registered, deregistered)."""
    have = current(target_group_arn)
    add = sorted(desired - have)
    remove = sorted(have - desired)
    elbv2 = clients.elbv2()
    with aws_errors():
        for i in range(0, len(add), _CHUNK):
            chunk = add[i : i + _CHUNK]
            elbv2.register_targets(TargetGroupArn=target_group_arn, Targets=[{"Id": a, "Port": p} for a, p in chunk])
        for i in range(0, len(remove), _CHUNK):
            chunk = remove[i : i + _CHUNK]
            elbv2.deregister_targets(TargetGroupArn=target_group_arn, Targets=[{"Id": a, "Port": p} for a, p in chunk])
    return len(add), len(remove)
