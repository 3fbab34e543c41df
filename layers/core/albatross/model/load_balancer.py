"""The load balancer and its managed security group: name, scheme, IP address type,
subnets (annotation by id or Name tag, else LBC's discovery by role tags), security
groups (annotation by id or Name tag, else the managed one), attributes and tags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from albatross.k8s.errors import ObjectError
from albatross.k8s.ingress import GroupID
from albatross.model import names
from albatross.model.config import ControllerConfig
from albatross.model.discovery import Discovery
from albatross.model.listener import DEFAULT_CIDRS, ListenerSpec
from albatross.model.stack import LOAD_BALANCER, SECURITY_GROUP, Resource, ref

ROLE_TAG = {"internet-facing": "kubernetes.io/role/elb", "internal": "kubernetes.io/role/internal-elb"}
CLUSTER_TAG_PREFIX = "kubernetes.io/cluster/"


def tag_map(item: Mapping[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in item.get("Tags") or ()}


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def discover_subnets(*, discovery: Discovery, scheme: str, config: ControllerConfig) -> list[str]:
    """LBC's subnet discovery: role tag for the scheme, not owned by another cluster, one
    per availability zone (the lowest subnet id wins), at least two zones."""
    by_zone: dict[str, str] = {}
    own_tag = CLUSTER_TAG_PREFIX + config.cluster
    for subnet in discovery.subnets:
        tags = tag_map(subnet)
        if tags.get(ROLE_TAG[scheme]) not in ("", "1"):
            continue
        if subnet.get("VpcId") not in (None, config.vpc_id):
            continue
        other = [k for k in tags if k.startswith(CLUSTER_TAG_PREFIX) and k != own_tag]
        if other and own_tag not in tags:
            continue
        zone, sid = str(subnet.get("AvailabilityZone", "")), str(subnet["SubnetId"])
        if zone not in by_zone or sid < by_zone[zone]:
            by_zone[zone] = sid
    if len(by_zone) < 2:
        raise ObjectError(
            f"unable to discover at least two subnets in different zones tagged {ROLE_TAG[scheme]} "
            f"for a {scheme} load balancer (found {len(by_zone)})"
        )
    return sorted(by_zone.values())


def _resolve(
    wanted: Sequence[str], items: Sequence[Mapping[str, Any]], id_key: str, prefix: str, what: str
) -> list[str]:
    """Ids as given; other entries matched against the Name tag of the discovered items."""
    out: list[str] = []
    for entry in wanted:
        if entry.startswith(prefix):
            out.append(entry)
            continue
        found = [str(i[id_key]) for i in items if tag_map(i).get("Name") == entry]
        if len(found) != 1:
            raise ObjectError(f"couldn't find {what} named {entry!r} ({len(found)} matches)")
        out.append(found[0])
    return out


def existing_subnets(discovery: Discovery, *, stack: str, scheme: str) -> list[str]:
    """The subnets of the stack's load balancer, when it exists with the same scheme: LBC
    keeps them, so tagging a new subnet does not move a live load balancer."""
    for entry in discovery.existing_load_balancers:
        found = entry.get("LoadBalancer") or {}
        if entry.get("stack") == stack and found.get("Scheme") == scheme:
            return sorted(str(z["SubnetId"]) for z in found.get("AvailabilityZones") or () if z.get("SubnetId"))
    return []


def subnets(
    *,
    wanted: Sequence[str] | None,
    tags: Mapping[str, Sequence[str]] | None,
    discovery: Discovery,
    scheme: str,
    config: ControllerConfig,
    stack: str = "",
) -> list[str]:
    """By id or Name tag (annotation, IngressClassParams ids), by tag values
    (IngressClassParams tags: one per zone among the matches), else LBC's discovery."""
    if wanted:
        return sorted(_resolve(wanted, discovery.subnets, "SubnetId", "subnet-", "subnet"))
    kept = existing_subnets(discovery, stack=stack, scheme=scheme)
    if kept and not tags:
        return kept
    if tags:
        matching = [s for s in discovery.subnets if all(tag_map(s).get(k) in values for k, values in tags.items())]
        by_zone: dict[str, str] = {}
        for subnet in matching:
            zone, sid = str(subnet.get("AvailabilityZone", "")), str(subnet["SubnetId"])
            if zone not in by_zone or sid < by_zone[zone]:
                by_zone[zone] = sid
        if len(by_zone) < 2:
            raise ObjectError(f"unable to find at least two subnets in different zones with tags {dict(tags)}")
        return sorted(by_zone.values())
    return discover_subnets(discovery=discovery, scheme=scheme, config=config)


def security_groups(*, wanted: Sequence[str] | None, discovery: Discovery, config: ControllerConfig) -> list[Any]:
    if wanted:
        return _resolve(wanted, discovery.security_groups, "GroupId", "sg-", "security group")
    groups: list[Any] = [ref(names.MANAGED_SG_ID)]
    backend = config.backend_sg_id or discovery.backend_security_group_id
    if config.backend_sg_enabled and backend:
        groups.append(backend)
    return groups


def web_acl_by_name(name: str | None, discovery: Discovery) -> str | None:
    """The ARN of the regional WAFv2 web ACL named ``name`` (``none`` stays ``none``:
    remove the association)."""
    if name is None or name == "none":
        return name
    found = [str(acl["ARN"]) for acl in discovery.web_acls if acl.get("Name") == name]
    if len(found) != 1:
        raise ObjectError(f"couldn't find WAFv2 web ACL named {name!r} ({len(found)} matches)")
    return found[0]


def backend_traffic_source(
    *, config: ControllerConfig, discovery: Discovery, custom_groups: bool, manage: bool | None
) -> Any:
    """Which security group the targets must admit (LBC's TargetGroupBinding networking):
    the shared backend group when enabled, else the managed group; None when the user
    brought their own groups and did not ask Albatross to manage the backend rules."""
    backend = config.backend_sg_id or discovery.backend_security_group_id
    if custom_groups and not manage:
        return None
    if config.backend_sg_enabled and backend:
        return backend
    if custom_groups:
        raise ObjectError(
            "backendSG feature is required to manage worker node SG rules when frontendSG manually specified"
        )
    return ref(names.MANAGED_SG_ID)


def managed_security_group(
    *,
    config: ControllerConfig,
    group: GroupID,
    listeners: Mapping[int, ListenerSpec],
    dualstack: bool,
    tags: Mapping[str, str],
    prefix_lists: Sequence[str] | None = None,
) -> Resource:
    """Ingress on each listener port from its CIDRs (IPv6 ones only when dualstack) and
    from the prefix lists; prefix lists alone replace the default 0.0.0.0/0."""
    permissions = []
    for port, spec in sorted(listeners.items()):
        cidrs = () if prefix_lists and spec.cidrs == DEFAULT_CIDRS else spec.cidrs
        v4 = [{"CidrIp": c} for c in cidrs if ":" not in c]
        v6 = [{"CidrIpv6": c} for c in cidrs if ":" in c] if dualstack else []
        rule: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
        if v4:
            rule["IpRanges"] = v4
        if v6:
            rule["Ipv6Ranges"] = v6
        if prefix_lists:
            rule["PrefixListIds"] = [{"PrefixListId": p} for p in prefix_lists]
        if len(rule) > 3:
            permissions.append(rule)
    tracking = names.stack_tags(cluster=config.cluster, group=group, resource_id=names.MANAGED_SG_ID)
    return Resource(
        type=SECURITY_GROUP,
        properties={
            "GroupName": names.security_group_name(cluster=config.cluster, group=group),
            "Description": "[k8s] Managed SecurityGroup for LoadBalancer",
            "VpcId": config.vpc_id,
            "IpPermissions": permissions,
            "Tags": tag_list({**tags, **tracking}),
        },
    )


def load_balancer(
    *,
    config: ControllerConfig,
    group: GroupID,
    name: str | None,
    scheme: str,
    ip_address_type: str,
    subnet_ids: list[str],
    groups: list[Any],
    attributes: Sequence[tuple[str, str]] | None,
    tags: Mapping[str, str],
    extras: Mapping[str, Any] | None = None,
) -> Resource:
    """``extras``: WebACLArn, WafAclId, ShieldProtection, CustomerOwnedIpv4Pool,
    MinimumLoadBalancerCapacity, IpamPools (set ones only)."""
    tracking = names.stack_tags(cluster=config.cluster, group=group, resource_id=names.LOAD_BALANCER_ID)
    properties: dict[str, Any] = {
        "Name": name or names.load_balancer_name(cluster=config.cluster, group=group, scheme=scheme),
        "Type": "application",
        "Scheme": scheme,
        "IpAddressType": ip_address_type,
        "Subnets": subnet_ids,
        "SecurityGroups": groups,
        "Tags": tag_list({**tags, **tracking}),
    }
    if attributes:
        properties["Attributes"] = [{"Key": k, "Value": v} for k, v in attributes]
    for key, value in (extras or {}).items():
        if value is not None:
            if key == "MinimumLoadBalancerCapacity":
                value = {"CapacityUnits": value}
            elif key == "IpamPools":
                value = {"Ipv4IpamPoolId": value}
            properties[key] = value
    return Resource(type=LOAD_BALANCER, properties=properties)
