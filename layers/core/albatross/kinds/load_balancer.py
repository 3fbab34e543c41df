"""The load balancer kind.

Found by tags, read with DescribeLoadBalancers (its listeners are listed under it); its
name is unique per account and region, and it keeps scheme and type for life (the name
encodes them). Subnets, security groups, IP address type, the attributes the model sets
and the settings behind other APIs (web ACLs, Shield, capacity: ``albatross.aws.protection``)
are what an update changes. A delete never lifts deletion protection: it fails instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from albatross.kinds.base import ActualResource, Aws, Kind, Props, Step, attributes_differ, elbv2_named
from albatross.model.stack import LOAD_BALANCER, Resource

# Load balancer settings behind other APIs (see albatross.aws.protection); a key the
# model leaves out is left alone, so it is read and compared only when stated.
PROTECTION_KEYS = ("WebACLArn", "WafAclId", "ShieldProtection", "MinimumLoadBalancerCapacity")
DELETION_PROTECTION = "deletion_protection.enabled"


def stated_protections(props: Props) -> list[str]:
    return [k for k in PROTECTION_KEYS if props.get(k) is not None]


def protection_view(props: Props) -> dict[str, Any]:
    """Those settings in comparable form (absent: None)."""
    capacity = props.get("MinimumLoadBalancerCapacity")
    return {
        "WebACLArn": props.get("WebACLArn"),
        "WafAclId": props.get("WafAclId"),
        "ShieldProtection": props.get("ShieldProtection"),
        "MinimumLoadBalancerCapacity": capacity.get("CapacityUnits") if isinstance(capacity, Mapping) else None,
    }


class LoadBalancer(Kind):
    type = LOAD_BALANCER
    marker = ":loadbalancer/"
    tag_filter = "elasticloadbalancing:loadbalancer"
    adopts_by_name = True
    indexed = True

    def identity(self, props: Props) -> Any:
        return props.get("Name")

    def mutable_view(self, props: Props) -> dict[str, Any]:
        return {
            "Subnets": frozenset(props.get("Subnets") or ()),
            "SecurityGroups": frozenset(props.get("SecurityGroups") or ()),
            "IpAddressType": props.get("IpAddressType"),
            **protection_view(props),
        }

    def describe(self, aws: Aws, ids: Mapping[str, str]) -> list[ActualResource]:
        found = aws.elbv2().describe_load_balancers(LoadBalancerArns=list(ids))["LoadBalancers"]
        return [
            ActualResource(
                id=ids[lb["LoadBalancerArn"]],
                type=LOAD_BALANCER,
                physical_id=lb["LoadBalancerArn"],
                properties={
                    "Name": lb["LoadBalancerName"],
                    "Scheme": lb.get("Scheme"),
                    "Type": lb.get("Type"),
                    "IpAddressType": lb.get("IpAddressType"),
                    "Subnets": sorted(z["SubnetId"] for z in lb.get("AvailabilityZones", []) if "SubnetId" in z),
                    "SecurityGroups": sorted(lb.get("SecurityGroups", [])),
                    "DNSName": lb.get("DNSName"),
                    "State": (lb.get("State") or {}).get("Code"),
                },
            )
            for lb in found
        ]

    def read_attributes(self, aws: Aws, physical_id: str) -> list[Any]:
        with aws.classified():
            return list(aws.elbv2().describe_load_balancer_attributes(LoadBalancerArn=physical_id)["Attributes"])

    def complete(
        self, aws: Aws, res: ActualResource, props: dict[str, Any], mine: Resource | None, trusted: bool
    ) -> dict[str, Any] | None:
        """The attributes, then the settings behind other APIs the model states."""
        out = super().complete(aws, res, props, mine, trusted)
        if out is not None and mine is not None and stated_protections(mine.properties):
            keys = stated_protections(mine.properties)
            out.update({k: mine.properties[k] for k in keys} if trusted else aws.read_protection(res.physical_id, keys))
        return out

    def named(self, aws: Aws, props: Props) -> tuple[str, dict[str, str]] | None:
        return elbv2_named(
            aws,
            lambda: aws.elbv2().describe_load_balancers(Names=[props["Name"]])["LoadBalancers"][0]["LoadBalancerArn"],
        )

    def _set_attributes(self, aws: Aws, arn: str, attributes: list[dict[str, str]]) -> None:
        if attributes:
            aws.elbv2().modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=attributes)  # type: ignore[arg-type]  # Key/Value dicts

    def create(self, aws: Aws, props: dict[str, Any]) -> str:
        # Not parameters of the create call: applied by their own calls once it exists.
        extras = {key: props.pop(key) for key in PROTECTION_KEYS if key in props}
        attributes = props.pop("Attributes", [])
        arn = aws.elbv2().create_load_balancer(**props)["LoadBalancers"][0]["LoadBalancerArn"]
        self._set_attributes(aws, arn, attributes)
        if extras:
            aws.apply_protection(arn, extras, None)
        return arn

    def update(self, aws: Aws, physical_id: str, props: dict[str, Any], current: Props) -> None:
        elbv2 = aws.elbv2()
        if attributes_differ(props, current):
            self._set_attributes(aws, physical_id, props.get("Attributes") or [])
        if props.get("IpAddressType") != current.get("IpAddressType"):
            elbv2.set_ip_address_type(LoadBalancerArn=physical_id, IpAddressType=props["IpAddressType"])
        if sorted(props["Subnets"]) != sorted(current.get("Subnets") or ()):
            elbv2.set_subnets(LoadBalancerArn=physical_id, Subnets=props["Subnets"])
        if sorted(props["SecurityGroups"]) != sorted(current.get("SecurityGroups") or ()):
            elbv2.set_security_groups(LoadBalancerArn=physical_id, SecurityGroups=props["SecurityGroups"])
        aws.apply_protection(physical_id, props, current)

    def deletion_protected(self, aws: Aws, arn: str) -> bool:
        """Whether the load balancer has deletion protection on in AWS (one read)."""
        with aws.classified():
            attributes = aws.elbv2().describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
        return any(a.get("Key") == DELETION_PROTECTION and a.get("Value") == "true" for a in attributes)

    def lift_deletion_protection(self, aws: Aws, arn: str) -> None:
        with aws.classified():
            aws.elbv2().modify_load_balancer_attributes(
                LoadBalancerArn=arn, Attributes=[{"Key": DELETION_PROTECTION, "Value": "false"}]
            )

    def delete(self, aws: Aws, step: Step) -> None:
        """The last guard: the reconcile refuses a plan that would delete a protected load
        balancer before anything runs, but protection may have been turned on since (by
        hand, between two phases of an execution). Never lifted here: the step fails."""
        assert step.actual is not None
        arn = step.actual.physical_id
        if self.deletion_protected(aws, arn):
            what = "the group is deleted" if step.group_deleted else "a new load balancer replaces it"
            raise aws.UserError(
                f"load balancer {arn.rsplit('/', 2)[-2]} has deletion protection enabled ({what}); Albatross never "
                f"turns it off by itself: set {DELETION_PROTECTION}=false in the load-balancer-attributes annotation, "
                "or turn it off in AWS"
            )
        aws.elbv2().delete_load_balancer(LoadBalancerArn=arn)


KIND = LoadBalancer()
