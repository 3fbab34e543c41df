"""Per resource type: how a desired resource pairs with an actual one, and which of its
properties can change in place. Both sides are reduced to a comparable form, so the
two shapes AWS returns for rule conditions and actions compare equal."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from albatross.model.stack import LISTENER, LISTENER_RULE, LOAD_BALANCER, SECURITY_GROUP, TARGET_GROUP

Props = Mapping[str, Any]

_CONDITION_CONFIG = {
    "host-header": "HostHeaderConfig",
    "path-pattern": "PathPatternConfig",
    "http-request-method": "HttpRequestMethodConfig",
    "source-ip": "SourceIpConfig",
}
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


def condition_key(cond: Props) -> tuple[str, tuple[str, ...]]:
    field = str(cond["Field"])
    config = cond.get(_CONDITION_CONFIG.get(field, ""))
    values = config.get("Values") if isinstance(config, Mapping) else cond.get("Values")
    return field, tuple(sorted(str(v) for v in values or ()))


def action_key(action: Props) -> tuple[Any, ...]:
    kind = str(action["Type"])
    if kind == "forward":
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups")
        if not groups:
            groups = [{"TargetGroupArn": action.get("TargetGroupArn")}]
        return kind, tuple(sorted((str(g["TargetGroupArn"]), int(g.get("Weight", 1))) for g in groups))
    if kind == "fixed-response":
        c = action.get("FixedResponseConfig") or {}
        return kind, str(c.get("StatusCode")), c.get("ContentType"), c.get("MessageBody")
    if kind == "redirect":
        return kind, tuple(sorted((action.get("RedirectConfig") or {}).items()))
    return kind, repr(sorted(action.items()))


def _permissions(props: Props) -> frozenset[tuple[Any, ...]]:
    out = set()
    for p in props.get("IpPermissions") or ():
        for r in p.get("IpRanges") or ():
            out.add((p.get("IpProtocol"), p.get("FromPort"), p.get("ToPort"), r.get("CidrIp")))
    return frozenset(out)


def mutable_view(type_: str, props: Props) -> dict[str, Any]:
    """The properties that an update call can change, in comparable form."""
    if type_ == SECURITY_GROUP:
        return {"IpPermissions": _permissions(props)}
    if type_ == TARGET_GROUP:
        return {k: props.get(k) for k in HEALTH_FIELDS}
    if type_ == LOAD_BALANCER:
        return {
            "Subnets": frozenset(props.get("Subnets") or ()),
            "SecurityGroups": frozenset(props.get("SecurityGroups") or ()),
            "IpAddressType": props.get("IpAddressType"),
        }
    if type_ == LISTENER:
        return {
            "Protocol": props.get("Protocol"),
            "DefaultActions": tuple(action_key(a) for a in props.get("DefaultActions") or ()),
        }
    if type_ == LISTENER_RULE:
        return {
            "Conditions": tuple(sorted(condition_key(c) for c in props.get("Conditions") or ())),
            "Actions": tuple(action_key(a) for a in props.get("Actions") or ()),
        }
    raise ValueError(f"unknown resource type {type_}")


# The property whose change cannot be made in place: a different value means replace.
IDENTITY: Mapping[str, Callable[[Props], Any]] = {
    SECURITY_GROUP: lambda p: p.get("GroupName"),
    TARGET_GROUP: lambda p: p.get("Name"),
    LOAD_BALANCER: lambda p: p.get("Name"),
    LISTENER: lambda p: p.get("Port"),
    LISTENER_RULE: lambda p: p.get("Priority"),
}
