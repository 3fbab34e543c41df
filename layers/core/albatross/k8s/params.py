"""The IngressClassParams view (``elbv2.k8s.aws/v1beta1``, cluster-scoped): settings an
IngressClass imposes on every Ingress of the class, over their annotations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# LBC's check of an IngressGroup name: the one membership applies (re-exported for the model)
from albatross.contract.membership import MAX_GROUP_NAME as MAX_GROUP_NAME
from albatross.contract.membership import group_name_error as group_name_error
from albatross.k8s.annotations import digits
from albatross.k8s.errors import ObjectError, as_list, as_mapping, integer, text


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
    load_balancer_name: str | None = None
    # spec.group.name when valid; group_error says why it is not (reported on each Ingress
    # of the class, as LBC reports an invalid group). Group membership itself is derived
    # in the contract (ADR 0004), not here.
    group: str | None = None
    group_error: str | None = None
    # spec fields that LBC's IngressClassParams do not have but a hand-made CRD may let
    # through, each one the class's Ingresses are refused for (see UNSUPPORTED)
    unsupported: tuple[str, ...] = ()


# Fields proposed for LBC's IngressClassParams and never released: LBC's CRD has none of
# them, so the API server prunes them and LBC never sees them. One that reaches us anyway
# (a CRD that keeps unknown fields) states an intent Albatross cannot honour; ignoring it
# would publish routes without the authentication the class asks for, so it is an error.
# authenticationConfiguration: LBC pull request #4129, closed unmerged.
UNSUPPORTED = ("authenticationConfiguration",)


def _strings(spec: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ObjectError(f"IngressClassParams {where}: spec.{key} must be a list of strings")
    return tuple(value)


def _scalar(value: Any) -> str | None:
    """A {key, value} value as text: strings as they are, numbers and booleans as a
    hand-written YAML file may hold them (Go's spelling); None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return None


def _pairs(spec: Mapping[str, Any], key: str, where: str) -> dict[str, str] | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(v, Mapping) and isinstance(v.get("key"), str) and _scalar(v.get("value", "")) is not None
        for v in value
    ):
        raise ObjectError(f"IngressClassParams {where}: spec.{key} must be a list of {{key, value}}")
    return {str(v["key"]): str(_scalar(v.get("value", ""))) for v in value}


def _selector(raw: Any, where: str) -> LabelSelector | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ObjectError(f"IngressClassParams {where}: spec.namespaceSelector must be an object")
    expressions = []
    for expr in as_list(raw.get("matchExpressions"), f"IngressClassParams {where}: matchExpressions"):
        op = expr.get("operator") if isinstance(expr, Mapping) else None
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ObjectError(f"IngressClassParams {where}: unknown selector operator {op!s:.80}")
        values = as_list(expr.get("values"), f"IngressClassParams {where}: matchExpressions[].values")
        key = expr.get("key")
        if not isinstance(key, str) or not all(isinstance(v, str) for v in values):
            raise ObjectError(f"IngressClassParams {where}: a selector expression needs a key and string values")
        expressions.append((key, str(op), tuple(values)))
    labels = as_mapping(raw.get("matchLabels"), f"IngressClassParams {where}: matchLabels")
    if not all(isinstance(v, str) for v in labels.values()):
        raise ObjectError(f"IngressClassParams {where}: matchLabels must map labels to strings")
    return LabelSelector(match_labels=dict(labels), expressions=tuple(expressions))


def _subnet_tags(subnets: Mapping[str, Any], where: str) -> dict[str, tuple[str, ...]] | None:
    tags = as_mapping(subnets.get("tags"), f"IngressClassParams {where}: spec.subnets.tags")
    if not all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in tags.values()):
        raise ObjectError(f"IngressClassParams {where}: spec.subnets.tags must map tag keys to lists of values")
    return {str(k): tuple(v) for k, v in tags.items()} or None


def _redirect_port(raw: Any) -> int | None:
    """LBC reads ``sslRedirectPort`` (a string) with ``strconv``: one that does not
    parse disables the redirect."""
    if integer(raw):
        return int(raw)
    return digits(raw) if isinstance(raw, str) else None


def parse_params(obj: Mapping[str, Any]) -> IngressClassParams:
    """Build the view; raise ObjectError on a malformed object."""
    if not isinstance(obj, Mapping):
        raise ObjectError("an IngressClassParams must be an object")
    name = text(as_mapping(obj.get("metadata"), "IngressClassParams metadata").get("name"), "metadata.name")
    if not name:
        raise ObjectError("IngressClassParams needs metadata.name")
    spec = as_mapping(obj.get("spec"), f"IngressClassParams {name}: spec")
    subnets = as_mapping(spec.get("subnets"), f"IngressClassParams {name}: spec.subnets")
    attributes = _pairs(spec, "loadBalancerAttributes", name)
    certificates = _strings(spec, "certificateArn", name)
    return IngressClassParams(
        name=name,
        namespace_selector=_selector(spec.get("namespaceSelector"), name),
        scheme=_text(spec, "scheme", name, keep_empty=True),
        ip_address_type=_text(spec, "ipAddressType", name),
        inbound_cidrs=_strings(spec, "inboundCIDRs", name),
        certificate_arns=certificates or None,
        ssl_policy=_text(spec, "sslPolicy", name),
        ssl_redirect_port=_redirect_port(spec.get("sslRedirectPort")),
        subnet_ids=_strings(subnets, "ids", name),
        subnet_tags=_subnet_tags(subnets, name),
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
        load_balancer_name=_text(spec, "loadBalancerName", name),
        unsupported=tuple(key for key in UNSUPPORTED if spec.get(key) is not None),
        **_group(spec.get("group"), name),
    )


def _text(spec: Mapping[str, Any], key: str, where: str, *, keep_empty: bool = False) -> str | None:
    value = spec.get(key)
    if value is None or (value == "" and not keep_empty):
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
    return _text(raw, "ipv4IPAMPoolId", where)


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
    if not integer(units):
        raise ObjectError(
            f"IngressClassParams {where}: spec.minimumLoadBalancerCapacity.capacityUnits must be a number"
        )
    return int(units)


def _listeners(raw: Any, where: str) -> dict[tuple[str, int], tuple[tuple[str, str], ...]]:
    out: dict[tuple[str, int], tuple[tuple[str, str], ...]] = {}
    for item in as_list(raw, f"IngressClassParams {where}: spec.listeners"):
        port = item.get("port") if isinstance(item, Mapping) else None
        if (
            not isinstance(item, Mapping)
            or item.get("protocol") not in ("HTTP", "HTTPS")
            or not integer(port)
            or not 1 <= port <= 65535
        ):
            raise ObjectError(
                f"IngressClassParams {where}: each spec.listeners item needs protocol HTTP|HTTPS and a port"
            )
        pairs = _pairs(item, "listenerAttributes", where) or {}
        out[(str(item["protocol"]), int(port))] = tuple(sorted(pairs.items()))
    return out
