"""The load balancer and its managed security group: name, scheme, IP address type,
subnets (annotation or IngressClassParams by id or Name tag, IngressClassParams tags, the
live load balancer's, else LBC's discovery by role tags), security groups (annotation by
id or Name tag, else the managed one), attributes and tags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from albatross.k8s.errors import ObjectError, show
from albatross.k8s.ingress import GroupID
from albatross.k8s.params import IngressClassParams
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


MIN_FREE_IPS = 8  # LBC: a load balancer subnet needs at least 8 free addresses
MIN_SUBNETS = 2  # an ALB spans at least two availability zones


def _choose_per_zone(candidates: Sequence[Mapping[str, Any]], config: ControllerConfig) -> list[str]:
    """LBC's choice among candidate subnets: drop those tagged only for another cluster and
    those with fewer than 8 free addresses (when the count is known); per zone, prefer the
    subnet tagged for this cluster, then the lowest id; at least two zones."""
    own_tag = CLUSTER_TAG_PREFIX + config.cluster
    eligible, other_cluster, full = [], 0, 0
    for subnet in candidates:
        tags = tag_map(subnet)
        if own_tag not in tags and any(k.startswith(CLUSTER_TAG_PREFIX) for k in tags):
            other_cluster += 1
            continue
        free = subnet.get("AvailableIpAddressCount")
        if isinstance(free, int) and free < MIN_FREE_IPS:
            full += 1
            continue
        eligible.append(subnet)
    by_zone: dict[str, tuple[bool, str]] = {}
    for subnet in eligible:
        zone, sid = str(subnet.get("AvailabilityZone", "")), str(subnet["SubnetId"])
        rank = (own_tag not in tag_map(subnet), sid)
        if zone not in by_zone or rank < by_zone[zone]:
            by_zone[zone] = rank
    if not by_zone:
        raise ObjectError(
            f"unable to resolve at least one subnet. Evaluated {len(candidates)} subnets: {other_cluster} are "
            f"tagged for other clusters, and {full} have insufficient available IP addresses"
        )
    if len(by_zone) < MIN_SUBNETS:
        raise ObjectError(f"subnets count less than minimal required count: {len(by_zone)} < {MIN_SUBNETS}")
    return sorted(sid for _, sid in by_zone.values())


def _in_vpc(subnet: Mapping[str, Any], config: ControllerConfig) -> bool:
    return subnet.get("VpcId") in (None, config.vpc_id)


def discover_subnets(*, discovery: Discovery, scheme: str, config: ControllerConfig) -> list[str]:
    """LBC's subnet discovery: the VPC's subnets with the role tag for the scheme (value
    empty or ``1``), chosen per zone (:func:`_choose_per_zone`)."""
    candidates = [
        s for s in discovery.subnets if _in_vpc(s, config) and tag_map(s).get(ROLE_TAG[scheme], "absent") in ("", "1")
    ]
    try:
        return _choose_per_zone(candidates, config)
    except ObjectError as e:
        raise ObjectError(
            f"couldn't auto-discover subnets: {e} (subnets are discovered by the tag {ROLE_TAG[scheme]} "
            f"for {scheme} load balancers)"
        ) from None


def _resolve_subnets(wanted: Sequence[str], discovery: Discovery, config: ControllerConfig) -> list[str]:
    """LBC's explicit subnets: ids as given, names by their ``Name`` tag (each use of a
    name takes the next subnet of that name); at most one per zone (zones known from the
    discovered subnets; an id not among them has no zone to check) and at least two."""
    known = [s for s in discovery.subnets if _in_vpc(s, config)]
    by_name: dict[str, list[Mapping[str, Any]]] = {}
    for subnet in known:
        name = tag_map(subnet).get("Name")
        if name:
            by_name.setdefault(name, []).append(subnet)
    missing = sorted({e for e in wanted if not e.startswith("subnet-") and e not in by_name})
    if missing:
        raise ObjectError(f"couldn't find all subnets, missing names: {show(missing)}")
    used: dict[str, int] = {}
    ids: list[str] = []
    for entry in wanted:
        if entry.startswith("subnet-"):
            ids.append(entry)
            continue
        index = used.get(entry, 0)
        if index >= len(by_name[entry]):
            raise ObjectError(
                f'subnet with Name tag "{entry}" requested {index + 1} times but only {len(by_name[entry])} '
                "subnet(s) found with that name"
            )
        used[entry] = index + 1
        ids.append(str(by_name[entry][index]["SubnetId"]))
    ids = sorted(set(ids))
    zones = {str(s["SubnetId"]): s.get("AvailabilityZone") for s in discovery.subnets}
    by_zone: dict[str, list[str]] = {}
    for sid in ids:
        zone = zones.get(sid)
        if zone:
            by_zone.setdefault(str(zone), []).append(sid)
    for zone, sids in sorted(by_zone.items()):
        if len(sids) > 1:
            raise ObjectError(f"multiple subnets in same Availability Zone {zone}: {show(sids)}")
    if len(ids) < MIN_SUBNETS:
        raise ObjectError(f"subnets count less than minimal required count: {len(ids)} < {MIN_SUBNETS}")
    return ids


def check_params_subnets(params: IngressClassParams, discovery: Discovery, config: ControllerConfig) -> None:
    """Each subnet id an IngressClassParams lists must be a subnet of the cluster's VPC
    (LBC asks EC2 for them, which refuses an id it does not know): raises ObjectError
    naming the params and the first id that is not. Only when discovery lists the VPC's
    subnets (an offline plan without them takes the ids as given)."""
    known = {str(s["SubnetId"]) for s in discovery.subnets if _in_vpc(s, config)}
    if not known:
        return
    for sid in params.subnet_ids or ():
        if sid.startswith("subnet-") and sid not in known:
            raise ObjectError(
                f"invalid ingress class: IngressClassParams {params.name} names subnet {sid}, "
                f"which is not a subnet of VPC {config.vpc_id}"
            )


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
    (IngressClassParams tags: each key with one of its values, then LBC's choice per
    zone), else the live load balancer's, else LBC's discovery."""
    if wanted:
        return _resolve_subnets(wanted, discovery, config)
    if tags:
        candidates = [
            s
            for s in discovery.subnets
            if _in_vpc(s, config) and all(tag_map(s).get(k) in values for k, values in tags.items())
        ]
        return _choose_per_zone(candidates, config)
    kept = existing_subnets(discovery, stack=stack, scheme=scheme)
    if kept:
        return kept
    return discover_subnets(discovery=discovery, scheme=scheme, config=config)


def _resolve_groups(wanted: Sequence[str], discovery: Discovery) -> list[str]:
    """Security groups by id as given, others by their ``Name`` tag."""
    out: list[str] = []
    missing: list[str] = []
    for entry in wanted:
        if entry.startswith("sg-"):
            out.append(entry)
            continue
        found = [str(g["GroupId"]) for g in discovery.security_groups if tag_map(g).get("Name") == entry]
        if not found:
            missing.append(entry)
        out += [f for f in found if f not in out]
    if missing:
        raise ObjectError(f"couldn't find all securityGroups, nameOrIDs: {show(list(wanted))}, found: {show(out)}")
    return out


def security_groups(
    *, wanted: Sequence[str] | None, discovery: Discovery, config: ControllerConfig, backend: str | None = None
) -> list[Any]:
    """The user's groups (plus ``backend``, the shared backend group, when Albatross
    manages the backend rules for them, as LBC does), else the managed group and the
    backend group."""
    if wanted:
        return _resolve_groups(wanted, discovery) + ([backend] if backend else [])
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
    if not found:
        raise ObjectError(f"couldn't find WAFv2 WebACL with name: {name}")
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
