"""AWS facts the model builder needs, gathered by ``albatross.aws.discovery``.

Shapes follow the boto3 responses (DescribeSubnets ``Subnets`` items) so a user can
write them by hand for ``albatross plan --offline``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class DiscoveryError(ValueError):
    """A discovery file cannot be used; the message names the key."""


@dataclass(frozen=True)
class Discovery:
    subnets: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    certificates: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    security_groups: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    backend_security_group_id: str | None = None
    existing_load_balancers: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    web_acls: Sequence[Mapping[str, Any]] = field(default_factory=tuple)  # WAFv2 ListWebACLs items
    # target group name → ARN, for ``actions.*`` naming a target group by targetGroupName
    # (a name it lacks: no such target group)
    target_group_arns: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Discovery:
        """The facts of a hand-written discovery file, each item checked for the fields
        the builder reads (in their types), so that a slip there is one clear line."""
        if not isinstance(data, Mapping):
            raise DiscoveryError("the discovery file must hold a JSON object")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in _LISTS:
                attr, check = _LISTS[key]
                if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
                    raise DiscoveryError(f"{key} must be a list of objects")
                for i, item in enumerate(value):
                    problem = check(item)
                    if problem:
                        raise DiscoveryError(f"{key}[{i}]: {problem}")
                values[attr] = tuple(value)
            elif key == "targetGroups":
                values["target_group_arns"] = _target_groups(value)
            elif key == "backendSecurityGroupId":
                if value is not None and not isinstance(value, str):
                    raise DiscoveryError("backendSecurityGroupId must be a string")
                values["backend_security_group_id"] = value or None
            else:
                raise DiscoveryError(f"unknown discovery key {key!r}")
        return cls(**values)


def _fields(item: Mapping[str, Any], required: tuple[str, ...], optional: Mapping[str, type | tuple[type, ...]]) -> str:
    """What is wrong with an item ("" when nothing): the required string fields, and the
    JSON type of the optional ones."""
    for name in required:
        if not isinstance(item.get(name), str) or not item[name]:
            return f"needs {name} (a string)"
    for name, kind in optional.items():
        value = item.get(name)
        if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is int)):
            return f"{name} has the wrong type"
    tags = item.get("Tags")
    if tags is not None and not (
        isinstance(tags, list)
        and all(
            isinstance(t, Mapping) and isinstance(t.get("Key"), str) and isinstance(t.get("Value", ""), str)
            for t in tags
        )
    ):
        return "Tags must be a list of {Key, Value} strings"
    return ""


def _target_groups(value: Any) -> dict[str, str]:
    """``targetGroups``: DescribeTargetGroups ``TargetGroups`` items, by name."""
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise DiscoveryError("targetGroups must be a list of objects")
    for i, item in enumerate(value):
        problem = _fields(item, ("TargetGroupName", "TargetGroupArn"), {})
        if problem:
            raise DiscoveryError(f"targetGroups[{i}]: {problem}")
    return {str(item["TargetGroupName"]): str(item["TargetGroupArn"]) for item in value}


def _subnet(item: Mapping[str, Any]) -> str:
    return _fields(item, ("SubnetId",), {"AvailabilityZone": str, "VpcId": str, "AvailableIpAddressCount": int})


def _certificate(item: Mapping[str, Any]) -> str:
    problem = _fields(item, ("CertificateArn",), {"DomainName": str, "Status": str, "SubjectAlternativeNames": list})
    names = item.get("SubjectAlternativeNames") or []
    return problem or ("" if all(isinstance(n, str) for n in names) else "SubjectAlternativeNames must be strings")


def _security_group(item: Mapping[str, Any]) -> str:
    return _fields(item, ("GroupId",), {})


def _web_acl(item: Mapping[str, Any]) -> str:
    return _fields(item, ("ARN",), {"Name": str})


def _existing(item: Mapping[str, Any]) -> str:
    found = item.get("LoadBalancer")
    if not isinstance(item.get("stack"), str) or not isinstance(found, Mapping):
        return "needs stack (a string) and LoadBalancer (an object)"
    zones = found.get("AvailabilityZones") or []
    if not isinstance(zones, list) or not all(
        isinstance(z, Mapping) and isinstance(z.get("SubnetId", ""), str) for z in zones
    ):
        return "LoadBalancer.AvailabilityZones must be a list of {SubnetId}"
    return ""


_LISTS: dict[str, tuple[str, Callable[[Mapping[str, Any]], str]]] = {
    "subnets": ("subnets", _subnet),
    "certificates": ("certificates", _certificate),
    "securityGroups": ("security_groups", _security_group),
    "existingLoadBalancers": ("existing_load_balancers", _existing),
    "webACLs": ("web_acls", _web_acl),
}
