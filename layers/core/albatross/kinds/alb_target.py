"""The ALB target kind: the ALB registered in a target group of type ``alb`` (a frontend
NLB's, ADR 0012), on the ALB listener port the NLB port maps to.

It hangs under its target group and is read with DescribeTargetHealth, only under target
groups of type ``alb`` (no call for the others). Made with RegisterTargets once the ALB
and its listener on that port exist (the registry's order: after listeners); deleted
with DeregisterTargets before the listeners and load balancers go, also when its target
group goes too (an ALB registered as a target is not left to the target group's delete).
ELBv2 allows one ALB per target group, on a port where it has a listener; a target group
that holds another is brought back to the model's one. No tags: it is not an ELBv2
resource of its own. Its physical id is made up here, shaped as an ARN under its target
group's (``…:alb-target/<target group>/<alb>@<port>``) so the target group is read from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from albatross.kinds.base import ActualResource, Aws, Kind, Props, Step
from albatross.model.names import alb_target_id
from albatross.model.stack import ALB_TARGET, TARGET_GROUP, Resource

MARKER = ":alb-target/"
_TARGET_GROUP_MARKER = ":targetgroup/"


def physical_id(target_group_arn: str, alb_arn: str, port: int) -> str:
    alb = alb_arn.rsplit("/", 2)
    return f"{target_group_arn.replace(_TARGET_GROUP_MARKER, MARKER, 1)}/{alb[-2]}-{alb[-1]}@{port}"


class AlbTarget(Kind):
    type = ALB_TARGET
    marker = MARKER
    parent_type = TARGET_GROUP
    parent_property = "TargetGroupArn"
    referable = False
    elbv2_tags = False
    goes_with_parent = False

    def identity(self, props: Props) -> Any:
        # one per target group: another port or ALB is an update (deregister, register),
        # never a second registration next to the first
        return ALB_TARGET

    def parent_id(self, rid: str) -> str | None:
        return rid.rsplit("/", 1)[0]

    def mutable_view(self, props: Props) -> dict[str, Any]:
        return {"TargetId": props.get("TargetId"), "Port": int(props.get("Port") or 0)}

    def list_under(self, aws: Aws, parent: ActualResource) -> list[ActualResource]:
        if parent.properties.get("TargetType") != "alb":
            return []
        found = aws.elbv2().describe_target_health(TargetGroupArn=parent.physical_id)["TargetHealthDescriptions"]
        out: list[ActualResource] = []
        for item in found:
            target = item["Target"]
            port = int(target.get("Port") or 0)
            out.append(
                ActualResource(
                    id=alb_target_id(parent.id),
                    type=ALB_TARGET,
                    physical_id=physical_id(parent.physical_id, target["Id"], port),
                    properties={"TargetGroupArn": parent.physical_id, "TargetId": target["Id"], "Port": port},
                )
            )
        return out

    def read_under(self, aws: Aws, physical_id: str, parent: ActualResource) -> list[ActualResource]:
        return [r for r in self.list_under(aws, parent) if r.physical_id == physical_id]

    def complete(
        self, aws: Aws, res: ActualResource, props: dict[str, Any], mine: Resource | None, trusted: bool
    ) -> dict[str, Any] | None:
        return props  # nothing beyond the first read: no attributes, no tags

    def _register(self, aws: Aws, props: Mapping[str, Any]) -> None:
        aws.elbv2().register_targets(
            TargetGroupArn=props["TargetGroupArn"], Targets=[{"Id": props["TargetId"], "Port": int(props["Port"])}]
        )

    def _deregister(self, aws: Aws, props: Mapping[str, Any]) -> None:
        aws.elbv2().deregister_targets(
            TargetGroupArn=props["TargetGroupArn"], Targets=[{"Id": props["TargetId"], "Port": int(props["Port"])}]
        )

    def create(self, aws: Aws, props: dict[str, Any]) -> str:
        self._register(aws, props)
        return physical_id(props["TargetGroupArn"], props["TargetId"], int(props["Port"]))

    def update(self, aws: Aws, physical_id: str, props: dict[str, Any], current: Props) -> None:
        """Another ALB (the ALB replaced) or port: one ALB per target group, so the old
        registration leaves first."""
        self._deregister(aws, current)
        self._register(aws, props)

    def delete(self, aws: Aws, step: Step) -> None:
        assert step.actual is not None
        self._deregister(aws, step.actual.properties)

    def set_tags(self, aws: Aws, physical_id: str, put: Mapping[str, str], remove: list[str]) -> None:
        return None  # a registration has no tags


KIND = AlbTarget()
