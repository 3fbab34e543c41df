"""The security group kind: the managed frontend security group of a load balancer.

Found by tags, read with DescribeSecurityGroups (its inbound rules and tags come with
it); its name is unique per VPC; the inbound rules are what an update changes, one
authorize and one revoke for the differences; tags through EC2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from albatross.kinds.base import ActualResource, Aws, Kind, Props, Step, tag_dict
from albatross.model.stack import SECURITY_GROUP, Resource

Permission = tuple[str, int, int, str]


def permissions(props: Props) -> frozenset[Permission]:
    """Ingress rules as (protocol, from, to, source): IPv4 and IPv6 CIDRs, prefix list ids."""
    out = set()
    for p in props.get("IpPermissions") or ():
        low, high = int(p.get("FromPort", -1)), int(p.get("ToPort", -1))
        for r in p.get("IpRanges") or ():
            out.add((str(p.get("IpProtocol")), low, high, str(r.get("CidrIp"))))
        for r in p.get("Ipv6Ranges") or ():
            out.add((str(p.get("IpProtocol")), low, high, str(r.get("CidrIpv6"))))
        for r in p.get("PrefixListIds") or ():
            out.add((str(p.get("IpProtocol")), low, high, str(r.get("PrefixListId"))))
    return frozenset(out)


def _as_permissions(items: set[Permission]) -> list[Any]:
    out: list[Any] = []
    for proto, low, high, cidr in sorted(items):
        if cidr.startswith("pl-"):
            ranges: dict[str, Any] = {"PrefixListIds": [{"PrefixListId": cidr}]}
        elif ":" in cidr:
            ranges = {"Ipv6Ranges": [{"CidrIpv6": cidr}]}
        else:
            ranges = {"IpRanges": [{"CidrIp": cidr}]}
        out.append({"IpProtocol": proto, "FromPort": low, "ToPort": high, **ranges})
    return out


class SecurityGroup(Kind):
    type = SECURITY_GROUP
    marker = "sg-"
    tag_filter = "ec2:security-group"
    adopts_by_name = True
    indexed = True
    known_while_used = True
    elbv2_tags = False

    def owns(self, physical_id: str) -> bool:
        return physical_id.startswith(self.marker)

    def physical_id_of(self, arn: str) -> str:
        return arn.rsplit("/", 1)[-1]

    def identity(self, props: Props) -> Any:
        return props.get("GroupName")

    def mutable_view(self, props: Props) -> dict[str, Any]:
        return {"IpPermissions": permissions(props)}

    def describe(self, aws: Aws, ids: Mapping[str, str]) -> list[ActualResource]:
        """Security groups by group id (id → resource id)."""
        found = aws.ec2().describe_security_groups(GroupIds=list(ids))["SecurityGroups"]
        return [
            ActualResource(
                id=ids[sg["GroupId"]],
                type=SECURITY_GROUP,
                physical_id=sg["GroupId"],
                properties={
                    "GroupName": sg["GroupName"],
                    "VpcId": sg.get("VpcId"),
                    "IpPermissions": sg.get("IpPermissions", []),
                    "Tags": sg.get("Tags", []),
                },
            )
            for sg in found
        ]

    def complete(
        self, aws: Aws, res: ActualResource, props: dict[str, Any], mine: Resource | None, trusted: bool
    ) -> dict[str, Any] | None:
        """The inbound rules, when not read yet (a group the stack index names)."""
        if "IpPermissions" not in props:
            if trusted and mine is not None:
                props.update({k: mine.properties.get(k) for k in ("GroupName", "VpcId", "IpPermissions")})
            else:
                with aws.classified():
                    found = self.describe(aws, {res.physical_id: res.id})
                if not found:
                    return None
                props.update(found[0].properties)
        return super().complete(aws, res, props, mine, trusted)

    def named(self, aws: Aws, props: Props) -> tuple[str, dict[str, str]] | None:
        filters = [
            {"Name": "group-name", "Values": [props["GroupName"]]},
            {"Name": "vpc-id", "Values": [props["VpcId"]]},
        ]
        with aws.classified():
            found = aws.ec2().describe_security_groups(Filters=filters)["SecurityGroups"]  # type: ignore[arg-type]  # filter dicts
        return (found[0]["GroupId"], tag_dict(found[0].get("Tags"))) if found else None

    def create(self, aws: Aws, props: dict[str, Any]) -> str:
        ec2 = aws.ec2()
        perms = props.pop("IpPermissions")
        tags = props.pop("Tags")
        group_id = ec2.create_security_group(
            **props, TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}]
        )["GroupId"]
        if perms:
            ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=perms)
        return group_id

    def update(self, aws: Aws, physical_id: str, props: dict[str, Any], current: Props) -> None:
        ec2 = aws.ec2()
        want, have = set(permissions(props)), set(permissions(current))
        if want - have:
            ec2.authorize_security_group_ingress(GroupId=physical_id, IpPermissions=_as_permissions(want - have))
        if have - want:
            ec2.revoke_security_group_ingress(GroupId=physical_id, IpPermissions=_as_permissions(have - want))

    def delete(self, aws: Aws, step: Step) -> None:
        assert step.actual is not None
        aws.ec2().delete_security_group(GroupId=step.actual.physical_id)

    def set_tags(self, aws: Aws, physical_id: str, put: Mapping[str, str], remove: list[str]) -> None:
        if put:
            aws.ec2().create_tags(
                Resources=[physical_id], Tags=[{"Key": k, "Value": v} for k, v in sorted(put.items())]
            )
        if remove:
            aws.ec2().delete_tags(Resources=[physical_id], Tags=[{"Key": k} for k in remove])


KIND = SecurityGroup()
