"""Build one IngressGroup's desired stack.

Members are taken in LBC's order (``group.order``, then namespace/name). A member whose
annotations or spec are invalid is reported in ``errors`` and left out; the caller decides
what that means for AWS (for now: touch nothing in that group, see ADR 0002).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from albatross.k8s.errors import ObjectError
from albatross.k8s.ingress import Backend, GroupID, Ingress, Path
from albatross.k8s.service import Service
from albatross.model import names
from albatross.model.config import ControllerConfig
from albatross.model.discovery import Discovery
from albatross.model.stack import (
    LISTENER,
    LISTENER_RULE,
    LOAD_BALANCER,
    SECURITY_GROUP,
    TARGET_GROUP,
    Resource,
    Stack,
    ref,
)

SCHEMES = ("internal", "internet-facing")
TARGET_TYPES = ("instance", "ip")
ROLE_TAG = {"internet-facing": "kubernetes.io/role/elb", "internal": "kubernetes.io/role/internal-elb"}
CLUSTER_TAG_PREFIX = "kubernetes.io/cluster/"

DEFAULT_ACTION_404 = {
    "Type": "fixed-response",
    "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"},
}
MISSING_BACKEND_503 = {
    "Type": "fixed-response",
    "FixedResponseConfig": {
        "StatusCode": "503",
        "ContentType": "text/plain",
        "MessageBody": "Backend service does not exist",
    },
}


@dataclass(frozen=True)
class MemberError:
    ingress: str
    reason: str


@dataclass(frozen=True)
class BuildResult:
    stack: Stack | None
    errors: tuple[MemberError, ...] = ()
    members: tuple[str, ...] = ()
    service_refs: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class _Member:
    ingress: Ingress
    order: int
    scheme: str
    target_type: str


def _read_member(ing: Ingress, config: ControllerConfig) -> _Member:
    a = ing.annotations
    return _Member(
        ingress=ing,
        order=a.integer("group.order", default=0, low=-1000, high=1000),
        scheme=a.choice("scheme", SCHEMES, config.default_scheme),
        target_type=a.choice("target-type", TARGET_TYPES, config.default_target_type),
    )


def _tags(config: ControllerConfig, group: GroupID, resource_id: str) -> list[dict[str, str]]:
    tags = names.stack_tags(cluster=config.cluster, group=group, resource_id=resource_id)
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _tag_map(subnet: Mapping[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in subnet.get("Tags") or ()}


def select_subnets(*, discovery: Discovery, scheme: str, config: ControllerConfig) -> list[str]:
    """LBC's subnet discovery: role tag for the scheme, not owned by another cluster, one
    per availability zone (the lowest subnet id wins), at least two zones."""
    by_zone: dict[str, str] = {}
    own_tag = CLUSTER_TAG_PREFIX + config.cluster
    for subnet in discovery.subnets:
        tags = _tag_map(subnet)
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


def path_values(path: Path) -> list[str]:
    """LBC's path-pattern values for a path and its pathType."""
    if path.path_type == "Exact":
        return [path.path]
    if path.path_type == "Prefix":
        if path.path == "/":
            return ["/*"]
        trimmed = path.path.rstrip("/")
        return [trimmed, trimmed + "/*"]
    return [path.path or "/*"]


class _Builder:
    def __init__(self, *, config: ControllerConfig, group: GroupID, services: Mapping[str, Service]) -> None:
        self.config = config
        self.group = group
        self.services = services
        self.resources: dict[str, Resource] = {}
        self.service_refs: set[str] = set()

    def tags(self, resource_id: str) -> list[dict[str, str]]:
        return _tags(self.config, self.group, resource_id)

    def target_group(self, member: _Member, backend: Backend) -> dict[str, Any]:
        ing = member.ingress
        svc_key = f"{ing.namespace}/{backend.service}"
        self.service_refs.add(svc_key)
        service = self.services.get(svc_key)
        if service is None:
            return MISSING_BACKEND_503
        port = service.port(number=backend.port_number, name=backend.port_name)
        if port is None:
            raise ObjectError(f"service {svc_key} has no port {backend.port_text}")
        if member.target_type == "ip":
            tg_port = port.target_port if isinstance(port.target_port, int) else 1
        else:
            if port.node_port is None:
                raise ObjectError(
                    f"service {svc_key} must be of type NodePort or LoadBalancer for target-type instance"
                )
            tg_port = port.node_port
        rid = names.target_group_id(
            ingress_namespace=ing.namespace, ingress_name=ing.name, service=backend.service, port=backend.port_text
        )
        name = names.target_group_name(
            cluster=self.config.cluster,
            group=self.group,
            ingress_namespace=ing.namespace,
            ingress_name=ing.name,
            service_namespace=service.namespace,
            service_name=service.name,
            service_uid=service.uid,
            service_port=backend.port_text,
            target_port=tg_port,
            target_type=member.target_type,
            protocol="HTTP",
            protocol_version="HTTP1",
        )
        self.resources[rid] = Resource(
            type=TARGET_GROUP,
            properties={
                "Name": name,
                "Protocol": "HTTP",
                "ProtocolVersion": "HTTP1",
                "Port": tg_port,
                "TargetType": member.target_type,
                "VpcId": self.config.vpc_id,
                "IpAddressType": "ipv4",
                "HealthCheckEnabled": True,
                "HealthCheckPath": "/",
                "HealthCheckPort": "traffic-port",
                "HealthCheckProtocol": "HTTP",
                "HealthCheckIntervalSeconds": 15,
                "HealthCheckTimeoutSeconds": 5,
                "HealthyThresholdCount": 2,
                "UnhealthyThresholdCount": 2,
                "Matcher": {"HttpCode": "200"},
                "Tags": self.tags(rid),
            },
            binding={
                "service": svc_key,
                "servicePortNumber": backend.port_number,
                "servicePortName": backend.port_name,
                "targetType": member.target_type,
            },
        )
        return {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": ref(rid)}]}}

    def rules(self, member: _Member) -> list[tuple[list[dict[str, Any]], dict[str, Any]]]:
        out = []
        for path in member.ingress.paths:
            conditions: list[dict[str, Any]] = []
            if path.host:
                conditions.append({"Field": "host-header", "HostHeaderConfig": {"Values": [path.host]}})
            conditions.append({"Field": "path-pattern", "PathPatternConfig": {"Values": path_values(path)}})
            out.append((conditions, self.target_group(member, path.backend)))
        return out


def _check_agreement(members: Sequence[_Member], field_name: str) -> str | None:
    values = sorted({getattr(m, field_name) for m in members})
    if len(values) > 1:
        return f"conflicting {field_name.replace('_', '-')} across the IngressGroup: {', '.join(values)}"
    return None


def build(
    *,
    config: ControllerConfig,
    group: GroupID,
    ingresses: Sequence[Ingress],
    services: Mapping[str, Service],
    discovery: Discovery,
) -> BuildResult:
    """The desired stack for the live members of one group, plus per-member errors."""
    errors: list[MemberError] = []
    members: list[_Member] = []
    for ing in ingresses:
        try:
            members.append(_read_member(ing, config))
        except ObjectError as e:
            errors.append(MemberError(ing.key, str(e)))
    members.sort(key=lambda m: (m.order, m.ingress.namespace, m.ingress.name))
    if not members:
        return BuildResult(stack=None, errors=tuple(errors))
    conflict = _check_agreement(members, "scheme")
    if conflict:
        return BuildResult(
            stack=None, errors=tuple(errors) + tuple(MemberError(m.ingress.key, conflict) for m in members)
        )
    scheme = members[0].scheme
    builder = _Builder(config=config, group=group, services=services)
    rule_specs: list[tuple[list[dict[str, Any]], dict[str, Any]]] = []
    built: list[str] = []
    for member in members:
        try:
            rule_specs.extend(builder.rules(member))
            built.append(member.ingress.key)
        except ObjectError as e:
            errors.append(MemberError(member.ingress.key, str(e)))
    try:
        subnets = select_subnets(discovery=discovery, scheme=scheme, config=config)
    except ObjectError as e:
        return BuildResult(stack=None, errors=tuple(errors) + tuple(MemberError(k, str(e)) for k in built))
    if not built:
        return BuildResult(stack=None, errors=tuple(errors))
    port = 80
    res = builder.resources
    res[names.MANAGED_SG_ID] = Resource(
        type=SECURITY_GROUP,
        properties={
            "GroupName": names.security_group_name(cluster=config.cluster, group=group),
            "Description": "[k8s] Managed SecurityGroup for LoadBalancer",
            "VpcId": config.vpc_id,
            "IpPermissions": [
                {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            ],
            "Tags": builder.tags(names.MANAGED_SG_ID),
        },
    )
    res[names.LOAD_BALANCER_ID] = Resource(
        type=LOAD_BALANCER,
        properties={
            "Name": names.load_balancer_name(cluster=config.cluster, group=group, scheme=scheme),
            "Type": "application",
            "Scheme": scheme,
            "IpAddressType": "ipv4",
            "Subnets": subnets,
            "SecurityGroups": [ref(names.MANAGED_SG_ID)],
            "Tags": builder.tags(names.LOAD_BALANCER_ID),
        },
    )
    listener = names.listener_id(port)
    res[listener] = Resource(
        type=LISTENER,
        properties={
            "LoadBalancerArn": ref(names.LOAD_BALANCER_ID),
            "Port": port,
            "Protocol": "HTTP",
            "DefaultActions": [DEFAULT_ACTION_404],
            "Tags": builder.tags(listener),
        },
    )
    for priority, (conditions, action) in enumerate(rule_specs, start=1):
        rid = names.rule_id(port, priority)
        res[rid] = Resource(
            type=LISTENER_RULE,
            properties={
                "ListenerArn": ref(listener),
                "Priority": priority,
                "Conditions": conditions,
                "Actions": [action],
                "Tags": builder.tags(rid),
            },
        )
    return BuildResult(
        stack=Stack(stack_id=str(group), resources=res),
        errors=tuple(errors),
        members=tuple(built),
        service_refs=tuple(sorted(builder.service_refs)),
    )
