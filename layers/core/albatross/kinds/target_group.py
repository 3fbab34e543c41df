"""The target group kind.

Found by tags, read with DescribeTargetGroups; its name is unique per account and
region, and it keeps protocol, port, target type and VPC for life (the name encodes
them: a different name means replace). The health check and the attributes the model
sets are what an update changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from albatross.kinds.base import ActualResource, Aws, Kind, Props, Step, attributes_differ, elbv2_named
from albatross.model.stack import TARGET_GROUP

HEALTH_FIELDS = (
    "HealthCheckEnabled",
    "HealthCheckPath",
    "HealthCheckPort",
    "HealthCheckProtocol",
    "HealthCheckIntervalSeconds",
    "HealthCheckTimeoutSeconds",
    "HealthyThresholdCount",
    "UnhealthyThresholdCount",
    "Matcher",
)
_READ = ("Protocol", "ProtocolVersion", "Port", "TargetType", "VpcId", "IpAddressType", *HEALTH_FIELDS)


class TargetGroup(Kind):
    type = TARGET_GROUP
    marker = ":targetgroup/"
    tag_filter = "elasticloadbalancing:targetgroup"
    adopts_by_name = True
    indexed = True

    def identity(self, props: Props) -> Any:
        return props.get("Name")

    def mutable_view(self, props: Props) -> dict[str, Any]:
        return {k: props.get(k) for k in HEALTH_FIELDS}

    def describe(self, aws: Aws, ids: Mapping[str, str]) -> list[ActualResource]:
        found = aws.elbv2().describe_target_groups(TargetGroupArns=list(ids))["TargetGroups"]
        return [
            ActualResource(
                id=ids[tg["TargetGroupArn"]],
                type=TARGET_GROUP,
                physical_id=tg["TargetGroupArn"],
                properties={"Name": tg["TargetGroupName"], **{k: tg.get(k) for k in _READ if k in tg}},
            )
            for tg in found
        ]

    def read_attributes(self, aws: Aws, physical_id: str) -> list[Any]:
        with aws.classified():
            return list(aws.elbv2().describe_target_group_attributes(TargetGroupArn=physical_id)["Attributes"])

    def named(self, aws: Aws, props: Props) -> tuple[str, dict[str, str]] | None:
        return elbv2_named(
            aws, lambda: aws.elbv2().describe_target_groups(Names=[props["Name"]])["TargetGroups"][0]["TargetGroupArn"]
        )

    def _set_attributes(self, aws: Aws, arn: str, attributes: list[dict[str, str]]) -> None:
        if attributes:
            aws.elbv2().modify_target_group_attributes(TargetGroupArn=arn, Attributes=attributes)  # type: ignore[arg-type]  # Key/Value dicts

    def create(self, aws: Aws, props: dict[str, Any]) -> str:
        attributes = props.pop("Attributes", [])
        arn = aws.elbv2().create_target_group(**props)["TargetGroups"][0]["TargetGroupArn"]
        self._set_attributes(aws, arn, attributes)
        return arn

    def update(self, aws: Aws, physical_id: str, props: dict[str, Any], current: Props) -> None:
        if any(props.get(k) != current.get(k) for k in HEALTH_FIELDS):
            aws.elbv2().modify_target_group(
                TargetGroupArn=physical_id, **{k: props[k] for k in HEALTH_FIELDS if k in props}
            )
        if attributes_differ(props, current):
            self._set_attributes(aws, physical_id, props.get("Attributes") or [])

    def delete(self, aws: Aws, step: Step) -> None:
        assert step.actual is not None
        aws.elbv2().delete_target_group(TargetGroupArn=step.actual.physical_id)


KIND = TargetGroup()
