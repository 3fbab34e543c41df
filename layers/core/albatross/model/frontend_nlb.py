"""The frontend NLB (LBC's ``enable-frontend-nlb``, ADR 0012): a network load balancer in
front of the group's ALB, with LBC's resource ids, names, defaults, merge rules and
messages (read from LBC's ``pkg/ingress/model_build_frontend_nlb.go``).

Per member (:func:`read`, the member's error when a value is bad): the switch, the NLB's
scheme, subnets and security groups, the listener port mapping and the target group's
health check. Per group (:func:`enabled` and the functions after it, which the builder
calls with the ALB it made): members that set the switch agree; the scheme,
subnets and security groups are exclusive; without a port mapping a member gets one NLB
listener per ALB listen port of its own, on the same port; with one, the mapped NLB ports
whose ALB port the member listens on; one NLB port maps to one ALB port. Each NLB port
has a TCP listener forwarding to a TCP target group of type ``alb`` in which the ALB is
registered on its mapped port (an :data:`~albatross.model.stack.ALB_TARGET`). Per
Ingress, :func:`status_hostnames`: the addresses its status lists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from albatross.k8s.annotations import PREFIX, Annotations
from albatross.k8s.errors import AnnotationError, ObjectError
from albatross.k8s.ingress import GroupID
from albatross.model import names
from albatross.model.config import ControllerConfig
from albatross.model.stack import ALB_TARGET, LISTENER, LOAD_BALANCER, TARGET_GROUP, Resource, ref

ENABLE = "enable-frontend-nlb"
SCHEME = "frontend-nlb-scheme"
SUBNETS = "frontend-nlb-subnets"
SECURITY_GROUPS = "frontend-nlb-security-groups"
PORT_MAPPING = "frontend-nlb-listener-port-mapping"
# LBC's health check fields: (annotation suffix, LBC's field name in its conflict message)
HEALTH = (
    ("frontend-nlb-healthcheck-interval-seconds", "IntervalSeconds"),
    ("frontend-nlb-healthcheck-timeout-seconds", "TimeoutSeconds"),
    ("frontend-nlb-healthcheck-healthy-threshold-count", "HealthyThresholdCount"),
    ("frontend-nlb-healthcheck-unhealthy-threshold-count", "UnhealthyThresholdCount"),
    ("frontend-nlb-healthcheck-protocol", "Protocol"),
    ("frontend-nlb-healthcheck-path", "Path"),
    ("frontend-nlb-healthcheck-success-codes", "Matcher"),
    ("frontend-nlb-healthcheck-port", "Port"),
)
# LBC's defaults for an Ingress target group's health check (HTTP on the traffic port).
DEFAULTS: Mapping[str, Any] = {
    "IntervalSeconds": 15,
    "TimeoutSeconds": 5,
    "HealthyThresholdCount": 2,
    "UnhealthyThresholdCount": 2,
    "Protocol": "HTTP",
    "Path": "/",
    "Matcher": "200",
    "Port": "traffic-port",
}
SCHEMES = ("internal", "internet-facing")  # settings.SCHEMES; settings imports this module
_INT32 = re.compile(r"[+-]?[0-9]+")
# LBC's later additions Albatross does not build yet: an error, never ignored (an NLB
# without the Elastic IPs, addresses, attributes or tags asked for would look built).
NOT_YET = (
    "frontend-nlb-eip-allocations",
    "frontend-nlb-private-ipv4-addresses",
    "frontend-nlb-attributes",
    "frontend-nlb-tags",
)
STATUS_ONLY = "frontend-nlb-status-only"
_KEYS = (
    ENABLE,
    SCHEME,
    SUBNETS,
    SECURITY_GROUPS,
    PORT_MAPPING,
    STATUS_ONLY,
    *(suffix for suffix, _ in HEALTH),
    *NOT_YET,
)


def _int32(text: str) -> int | None:
    """Go's ``strconv.ParseInt(text, 10, 32)``; None where it fails."""
    if not _INT32.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**31) <= value < 2**31 else None


@dataclass(frozen=True)
class Member:
    """One Ingress's frontend NLB annotations, read. ``health``: each field's value, and
    whether the Ingress set it (an unset one takes LBC's default and never conflicts)."""

    key: str
    enable: bool | None
    scheme: str | None
    subnets: tuple[str, ...] | None
    security_groups: tuple[str, ...] | None
    port_mapping: tuple[tuple[int, int], ...] | None  # (NLB port, ALB port)
    health: tuple[tuple[str, Any, bool], ...]
    not_yet: tuple[str, ...] = ()  # the annotations of NOT_YET it sets


def _health(a: Annotations, key: str) -> tuple[tuple[str, Any, bool], ...]:
    """LBC reads these while building the member's NLB listeners: its errors say so."""

    def refuse(suffix: str, raw: str, why: str) -> AnnotationError:
        return AnnotationError(PREFIX + suffix, raw, f"failed to compute listenPort config for ingress: {key}: {why}")

    out: list[tuple[str, Any, bool]] = []
    for suffix, field in HEALTH:
        raw = a.raw(suffix)
        if raw is None:
            out.append((field, DEFAULTS[field], False))
            continue
        value: Any = raw
        if field in ("IntervalSeconds", "TimeoutSeconds", "HealthyThresholdCount", "UnhealthyThresholdCount"):
            value = _int32(raw)
            if value is None:
                raise refuse(
                    suffix,
                    raw,
                    f"failed to parse int32 annotation, {PREFIX}{suffix}: {raw}: "
                    f'strconv.ParseInt: parsing "{raw}": invalid syntax',
                )
        elif field == "Protocol" and raw not in ("HTTP", "HTTPS"):
            raise refuse(suffix, raw, "healthCheckProtocol must be within [HTTP, HTTPS]")
        elif field == "Port" and raw != "traffic-port":
            number = _int32(raw)
            if number is None:
                raise refuse(suffix, raw, "failed to resolve healthCheckPort")
            value = str(number)
        out.append((field, value, True))
    return tuple(out)


def _port_mapping(a: Annotations, key: str) -> tuple[tuple[int, int], ...] | None:
    raw = a.raw(PORT_MAPPING)
    mapping = a.string_map(PORT_MAPPING)
    if raw is None or not mapping:
        return None
    out: list[tuple[int, int]] = []
    for nlb, alb in mapping.items():
        nlb_port, alb_port = _int32(nlb), _int32(alb)
        why = (
            f"invalid NLB listener port: {nlb}"
            if nlb_port is None
            else f"invalid ALB listener port: {alb}"
            if alb_port is None
            else None
        )
        if why is not None or nlb_port is None or alb_port is None:
            raise AnnotationError(
                PREFIX + PORT_MAPPING, raw, f"failed to compute listenPort config for ingress: {key}: {why}"
            )
        out.append((nlb_port, alb_port))
    return tuple(sorted(out))


def read(a: Annotations, key: str) -> Member | None:
    """The member's frontend NLB annotations (None: it sets none of them); raises
    AnnotationError with LBC's message on a value LBC refuses."""
    if all(a.raw(k) is None for k in _KEYS):
        return None
    enable = a.boolean(ENABLE, False) if a.raw(ENABLE) is not None else None
    a.boolean(STATUS_ONLY, False)  # read when the status is written: a bad value is refused here
    scheme = a.raw(SCHEME)
    if scheme is not None and scheme not in SCHEMES:
        raise AnnotationError(PREFIX + SCHEME, scheme, f"unknown scheme: {scheme}")
    subnets, groups = a.string_list(SUBNETS), a.string_list(SECURITY_GROUPS)
    return Member(
        key=key,
        enable=enable,
        scheme=scheme,
        subnets=tuple(subnets) if subnets is not None else None,
        security_groups=tuple(groups) if groups is not None else None,
        port_mapping=_port_mapping(a, key),
        health=_health(a, key),
        not_yet=tuple(suffix for suffix in NOT_YET if a.raw(suffix) is not None),
    )


def _go_slice(values: Sequence[str]) -> str:
    return "[" + " ".join(values) + "]"


def enabled(members: Sequence[Member | None]) -> bool:
    """LBC: the members that set the switch agree; none set means no NLB. An NLB asked
    for with an annotation of :data:`NOT_YET` is the group's error."""
    chosen: bool | None = None
    for m in members:
        if m is None or m.enable is None:
            continue
        if chosen is not None and chosen != m.enable:
            raise ObjectError("conflicting enable frontend NLB values")
        chosen = m.enable
    asked = [(m.key, suffix) for m in members if m is not None for suffix in m.not_yet]
    if chosen and asked:
        key, suffix = asked[0]
        raise ObjectError(
            f"{PREFIX}{suffix} is not supported yet: Albatross does not build the frontend NLB without it "
            f"(on Ingress {key}; docs/annotations.md)"
        )
    return bool(chosen)


def scheme(members: Sequence[Member | None], default: str) -> str:
    """The one scheme members set, else the controller's default scheme (not the ALB's)."""
    chosen = sorted({m.scheme for m in members if m is not None and m.scheme is not None})
    if len(chosen) > 1:
        raise ObjectError("conflicting scheme: map[" + " ".join(f"{s}:{{}}" for s in chosen) + "]")
    return chosen[0] if chosen else default


def subnets(members: Sequence[Member | None]) -> tuple[str, ...] | None:
    """The one subnet list members set (compared ignoring order), as the first wrote it."""
    listed = [m.subnets for m in members if m is not None and m.subnets is not None]
    for other in listed[1:]:
        if sorted(other) != sorted(listed[0]):
            raise ObjectError(f"conflicting subnets: {_go_slice(listed[0])} | {_go_slice(other)}")
    return listed[0] if listed else None


def security_groups(members: Sequence[Member | None]) -> tuple[str, ...] | None:
    """The one security group list members set (compared in order)."""
    listed = [m.security_groups for m in members if m is not None and m.security_groups is not None]
    for other in listed[1:]:
        if other != listed[0]:
            raise ObjectError(f"conflicting securityGroups: {_go_slice(listed[0])} | {_go_slice(other)}")
    return listed[0] if listed else None


@dataclass(frozen=True)
class Port:
    """One NLB listener: its port, the ALB listener port it forwards to, and the health
    check of its target group (field → value)."""

    port: int
    target_port: int
    health: Mapping[str, Any]


def _defaults() -> tuple[tuple[str, Any, bool], ...]:
    return tuple((field, DEFAULTS[field], False) for _, field in HEALTH)


def ports(members: Sequence[tuple[Member | None, Sequence[int]]]) -> list[Port]:
    """The NLB's listeners from each member's annotations and its own ALB listen ports,
    merged per NLB port in member order (LBC's ``mergeFrontendNlbListenPortConfigs``)."""
    configs: dict[int, list[tuple[int, tuple[tuple[str, Any, bool], ...]]]] = {}
    for m, alb_ports in members:
        health = m.health if m is not None else _defaults()
        mapping = m.port_mapping if m is not None else None
        # a mapped ALB port the member does not listen on is skipped (LBC logs it)
        pairs = [(nlb, alb) for nlb, alb in mapping if alb in alb_ports] if mapping else [(p, p) for p in alb_ports]
        for nlb, alb in pairs:
            configs.setdefault(nlb, []).append((alb, health))
    out: list[Port] = []
    for port, found in sorted(configs.items()):
        try:
            out.append(_merge(port, found))
        except ObjectError as e:
            raise ObjectError(f"failed to merge NLB listenPort config for port: {port}: {e}") from None
    return out


def _merge(port: int, configs: Sequence[tuple[int, tuple[tuple[str, Any, bool], ...]]]) -> Port:
    target = configs[0][0]
    final: dict[str, Any] = {}
    explicit: set[str] = set()
    for i, (alb, health) in enumerate(configs):
        for field, value, is_explicit in health:
            if is_explicit:
                if field in explicit:
                    if final[field] != value:
                        raise ObjectError(f"conflicting {field}, config {i + 1}: {value}, previous: {final[field]}")
                else:
                    final[field] = value
                    explicit.add(field)
            elif field not in explicit:
                final[field] = value
        if alb != target:
            raise ObjectError(f"conflicting Target Port, config {i + 1}: {alb}, previous: {target}")
    return Port(port=port, target_port=target, health=final)


def _tags(config: ControllerConfig, group: GroupID, rid: str) -> list[dict[str, str]]:
    # LBC's NLB spec carries no tags of its own: the controller's default tags and the
    # stack's tracking tags
    tags = {**config.default_tags, **names.stack_tags(cluster=config.cluster, group=group, resource_id=rid)}
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def resources(
    *,
    config: ControllerConfig,
    group: GroupID,
    alb: Resource,
    scheme: str,
    subnet_ids: Sequence[str],
    groups: Sequence[Any],
    listeners: Sequence[Port],
) -> dict[str, Resource]:
    """The NLB, and per port its listener, target group and the ALB's registration."""
    if not listeners:
        raise ObjectError("frontend NLB has no listener: no ALB listen port is mapped")
    out: dict[str, Resource] = {
        names.FRONTEND_NLB_ID: Resource(
            type=LOAD_BALANCER,
            properties={
                "Name": names.frontend_nlb_name(str(alb.properties["Name"])),
                "Type": "network",
                "Scheme": scheme,
                "IpAddressType": alb.properties["IpAddressType"],
                "Subnets": list(subnet_ids),
                "SecurityGroups": list(groups),
                "Tags": _tags(config, group, names.FRONTEND_NLB_ID),
            },
        )
    }
    for spec in listeners:
        tg_id = names.frontend_nlb_target_group_id(spec.port)
        lid = names.frontend_nlb_listener_id(spec.port)
        h = spec.health
        out[tg_id] = Resource(
            type=TARGET_GROUP,
            properties={
                "Name": names.frontend_nlb_target_group_name(cluster=config.cluster, group=group, port=spec.port),
                "Protocol": "TCP",
                "Port": spec.port,
                "TargetType": "alb",
                "VpcId": config.vpc_id,
                "IpAddressType": "ipv4",  # an ALB registers by its IPv4 addresses
                "HealthCheckEnabled": True,
                "HealthCheckPath": h["Path"],
                "HealthCheckPort": str(h["Port"]),
                "HealthCheckProtocol": h["Protocol"],
                "HealthCheckIntervalSeconds": h["IntervalSeconds"],
                "HealthCheckTimeoutSeconds": h["TimeoutSeconds"],
                "HealthyThresholdCount": h["HealthyThresholdCount"],
                "UnhealthyThresholdCount": h["UnhealthyThresholdCount"],
                "Matcher": {"HttpCode": h["Matcher"]},
                "Tags": _tags(config, group, tg_id),
            },
        )
        out[lid] = Resource(
            type=LISTENER,
            properties={
                "LoadBalancerArn": ref(names.FRONTEND_NLB_ID),
                "Port": spec.port,
                "Protocol": "TCP",
                "DefaultActions": [
                    {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": ref(tg_id)}]}}
                ],
                "Tags": _tags(config, group, lid),
            },
        )
        out[names.alb_target_id(tg_id)] = Resource(
            type=ALB_TARGET,
            properties={
                "TargetGroupArn": ref(tg_id),
                "TargetId": ref(names.LOAD_BALANCER_ID),
                "Port": spec.target_port,
            },
        )
    return out


def status_hostnames(alb: str | None, nlb: str | None, annotations: Annotations) -> tuple[str, ...]:
    """An Ingress's status addresses (LBC's ``updateIngressStatus``): the ALB's DNS name,
    then the frontend NLB's; with ``frontend-nlb-status-only: "true"`` the NLB's alone,
    the ALB's while the NLB has none."""
    try:
        only = annotations.boolean(STATUS_ONLY, False)
    except AnnotationError:  # refused when the model was built; the status is no place to fail
        only = False
    if only and nlb:
        return (nlb,)
    return tuple(name for name in (alb, nlb) if name)
