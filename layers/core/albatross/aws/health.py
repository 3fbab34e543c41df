"""Target health, read for pod readiness gates (docs/adr/0014-pod-readiness-gates.md): one
DescribeTargetHealth per target group for the targets asked about, whatever their number.

DescribeTargetHealth is an ELBv2 ``Describe*`` call, which shares the account's
per-Region token bucket (40, refilled at 10 a second) with every other ``Describe*``; the
caller reads a target group at most once per health-check interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from albatross.aws import clients
from albatross.aws.errors import aws_errors

if TYPE_CHECKING:
    from mypy_boto3_elbv2.type_defs import TargetDescriptionTypeDef

Target = tuple[str, int]  # (Id, Port)


def describe(target_group_arn: str, targets: Sequence[Target]) -> dict[Target, dict[str, Any]]:
    """Each target's ``TargetHealth`` (State, Reason, Description), by (Id, Port)."""
    if not targets:
        return {}
    asked: list[TargetDescriptionTypeDef] = [{"Id": i, "Port": p} for i, p in targets]
    with aws_errors():
        found = clients.elbv2().describe_target_health(TargetGroupArn=target_group_arn, Targets=asked)
    return {
        (str(t["Target"]["Id"]), int(t["Target"]["Port"])): dict(t.get("TargetHealth") or {})
        for t in found["TargetHealthDescriptions"]
    }
