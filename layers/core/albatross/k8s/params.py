"""The IngressClassParams view (``elbv2.k8s.aws/v1beta1``, cluster-scoped): settings an
IngressClass imposes on every Ingress of the class, over their annotations."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from albatross.k8s.errors import ObjectError

MAX_GROUP_NAME = 63
_GROUP_NAME_CHARACTERS = re.compile(r"([a-z0-9][-a-z0-9.]*)?[a-z0-9]")


def group_name_error(name: str) -> str | None:
    """LBC's check of an IngressGroup name (``group.name`` annotation or IngressClassParams
    ``spec.group.name``): its message, or None when the name is valid."""
    if not _GROUP_NAME_CHARACTERS.fullmatch(name):
        return (
            "invalid ingress group: groupName must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character"
        )
    if len(name) > MAX_GROUP_NAME:
        return f"invalid ingress group: groupName must be no more than {MAX_GROUP_NAME} characters"
    return None


@dataclass(frozen=True)
class LabelSelector:
    match_labels: Mapping[str, str] = field(default_factory=dict)
    expressions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        for key, op, values in self.expressions:
            present = key in labels
            if (
                (op == "In" and labels.get(key) not in values)
                or (op == "NotIn" and present and labels[key] in values)
                or (op == "Exists" and not present)
                or (op == "DoesNotExist" and present)
            ):
                return False
        return True


@dataclass(frozen=True)
class IngressClassParams:
    name: str
    namespace_selector: LabelSelector | None = None
    scheme: str | None = None
    ip_address_type: str | None = None
    inbound_cidrs: tuple[str, ...] | None = None
    certificate_arns: tuple[str, ...] | None = None
    ssl_policy: str | None = None
    ssl_redirect_port: int | None = None
    subnet_ids: tuple[str, ...] | None = None
    subnet_tags: Mapping[str, tuple[str, ...]] | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    lb_attributes: tuple[tuple[str, str], ...] | None = None
    minimum_capacity: int | None = None
    prefix_lists: tuple[str, ...] | None = None
    ipam_pool: str | None = None
    listener_attributes: Mapping[tuple[str, int], tuple[tuple[str, str], ...]] = field(default_factory=dict)
    target_type: str | None = None
    web_acl_arn: str | None = None
    web_acl_name: str | None = None
    # spec.group.name when valid; group_error says why it is not (reported on each Ingress
    # of the class, as LBC reports an invalid group). Group membership itself is derived
    # in the contract (ADR 0004), not here.
    group: str | None = None
    group_error: str | None = None


def _strings(spec: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ObjectError(f"IngressClassParams {where}: spec.{key} must be a list of strings")
    return tuple(value)


def _pairs(spec: Mapping[str, Any], key: str, where: str) -> dict[str, str] | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, Mapping) and "key" in v for v in value):
        raise ObjectError(f"IngressClassParams {where}: spec.{key} must be a list of {{key, value}}")
    return {str(v["key"]): str(v.get("value", "")) for v in value}


def _selector(raw: Any, where: str) -> LabelSelector | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ObjectError(f"IngressClassParams {where}: spec.namespaceSelector must be an object")
    expressions = []
    for expr in raw.get("matchExpressions") or []:
        op = expr.get("operator")
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ObjectError(f"IngressClassParams {where}: unknown selector operator {op}")
        expressions.append((str(expr.get("key")), str(op), tuple(str(v) for v in expr.get("values") or ())))
    return LabelSelector(match_labels=dict(raw.get("matchLabels") or {}), expressions=tuple(expressions))


def parse_params(obj: Mapping[str, Any]) -> IngressClassParams:
    name = str((obj.get("metadata") or {}).get("name", ""))
    spec = obj.get("spec") or {}
    redirect = spec.get("sslRedirectPort")
    subnets = spec.get("subnets") or {}
    attributes = _pairs(spec, "loadBalancerAttributes", name)
    certificates = _strings(spec, "certificateArn", name)
    return IngressClassParams(
        name=name,
        namespace_selector=_selector(spec.get("namespaceSelector"), name),
        scheme=spec.get("scheme"),
        ip_address_type=spec.get("ipAddressType"),
        inbound_cidrs=_strings(spec, "inboundCIDRs", name),
        certificate_arns=certificates or None,
        ssl_policy=spec.get("sslPolicy"),
        # LBC: an sslRedirectPort that does not parse disables the redirect.
        ssl_redirect_port=int(redirect) if isinstance(redirect, (int, str)) and str(redirect).isdigit() else None,
        subnet_ids=_strings(subnets, "ids", name),
        subnet_tags={str(k): tuple(str(x) for x in v) for k, v in (subnets.get("tags") or {}).items()} or None,
        tags=_pairs(spec, "tags", name) or {},
        lb_attributes=tuple(sorted(attributes.items())) if attributes is not None else None,
        minimum_capacity=_capacity(spec.get("minimumLoadBalancerCapacity"), name),
        # LBC's CRD spells it PrefixListsIDs; prefixListsIDs is accepted too.
        prefix_lists=_strings(spec, "PrefixListsIDs" if "PrefixListsIDs" in spec else "prefixListsIDs", name),
        ipam_pool=_ipam_pool(spec.get("ipamConfiguration"), name),
        listener_attributes=_listeners(spec.get("listeners"), name),
        target_type=_text(spec, "targetType", name),
        web_acl_arn=_text(spec, "wafv2AclArn", name),
        web_acl_name=_text(spec, "wafv2AclName", name),
        **_group(spec.get("group"), name),
    )


def _text(spec: Mapping[str, Any], key: str, where: str) -> str | None:
    value = spec.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ObjectError(f"IngressClassParams {where}: {key} must be a string")
    return value


def _ipam_pool(raw: Any, where: str) -> str | None:
    """``spec.ipamConfiguration.ipv4IPAMPoolId``."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ObjectError(f"IngressClassParams {where}: spec.ipamConfiguration must be an object")
    pool = raw.get("ipv4IPAMPoolId")
    return str(pool) if pool else None


def _group(raw: Any, where: str) -> dict[str, str | None]:
    """``spec.group.name``: the name when valid, else why not."""
    if raw is None:
        return {}
    name = raw.get("name") if isinstance(raw, Mapping) else None
    if not isinstance(name, str):
        return {"group_error": f"IngressClassParams {where}: spec.group needs a name"}
    error = group_name_error(name)
    return {"group_error": error} if error else {"group": name}


def _capacity(raw: Any, where: str) -> int | None:
    if raw is None:
        return None
    units = raw.get("capacityUnits") if isinstance(raw, Mapping) else None
    if not isinstance(units, int) or isinstance(units, bool):
        raise ObjectError(
            f"IngressClassParams {where}: spec.minimumLoadBalancerCapacity.capacityUnits must be a number"
        )
    return units


def _listeners(raw: Any, where: str) -> dict[tuple[str, int], tuple[tuple[str, str], ...]]:
    out: dict[tuple[str, int], tuple[tuple[str, str], ...]] = {}
    for item in raw or []:
        if (
            not isinstance(item, Mapping)
            or item.get("protocol") not in ("HTTP", "HTTPS")
            or not isinstance(item.get("port"), int)
        ):
            raise ObjectError(
                f"IngressClassParams {where}: each spec.listeners item needs protocol HTTP|HTTPS and a port"
            )
        pairs = _pairs(item, "listenerAttributes", where) or {}
        out[(str(item["protocol"]), int(item["port"]))] = tuple(sorted(pairs.items()))
    return out
