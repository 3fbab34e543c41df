"""Per-Ingress settings read from its annotations (and its IngressClassParams), and their
merge across an IngressGroup with LBC's rules: *exclusive* settings (scheme,
ip-address-type, load-balancer-name, subnets, security-groups, ssl-redirect) may be set on
one member or with the same value on all; *merged* ones (tags, load-balancer-attributes,
listen-ports, certificates) combine, and a key with two values is a conflict."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from albatross.contract.membership import OrderError, parse_group_order
from albatross.k8s.annotations import PREFIX, Annotations, JSONError, digits, load_json
from albatross.k8s.errors import AnnotationError, ObjectError, clip, integer, show
from albatross.k8s.ingress import Ingress
from albatross.k8s.params import IngressClassParams, group_name_error
from albatross.model import frontend_nlb as frontend_nlb_
from albatross.model import limits
from albatross.model.config import ControllerConfig

SCHEMES = ("internal", "internet-facing")
MAX_LOAD_BALANCER_NAME = limits.LOAD_BALANCER_NAME  # LBC: "load balancer name cannot be longer than 32 characters"
IP_ADDRESS_TYPES = ("ipv4", "dualstack", "dualstack-without-public-ipv4")
LISTEN_PROTOCOLS = ("HTTP", "HTTPS")

T = TypeVar("T")


class GroupConflict(ObjectError):
    """Members of one group disagree on an exclusive setting; reported on every member."""


@dataclass(frozen=True)
class MemberSettings:
    ingress: Ingress
    order: int
    scheme: str | None
    ip_address_type: str | None
    load_balancer_name: str | None
    subnets: tuple[str, ...] | None  # as written (the group compares them ignoring order)
    subnet_tags: Mapping[str, tuple[str, ...]] | None
    security_groups: tuple[str, ...] | None
    lb_attributes: tuple[tuple[str, str], ...] | None
    tags: Mapping[str, str]
    inbound_cidrs: tuple[str, ...] | None
    listen_ports: tuple[tuple[str, int], ...]  # (protocol, port), sorted by port
    certificates: tuple[str, ...]
    ssl_policy: str | None
    ssl_redirect: int | None
    web_acl_arn: str | None = None
    waf_acl_id: str | None = None
    shield: bool | None = None
    customer_owned_pool: str | None = None
    minimum_capacity: int | None = None
    prefix_lists: tuple[str, ...] | None = None
    listener_attributes: Mapping[tuple[str, int], tuple[tuple[str, str], ...]] = field(default_factory=dict)
    mutual_auth: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    manage_backend_rules: bool | None = None
    ipam_pool: str | None = None
    web_acl_name: str | None = None
    params_tags: Mapping[str, str] = field(default_factory=dict)  # IngressClassParams tags only
    params_target_type: str | None = None  # IngressClassParams targetType: wins over annotations
    frontend_nlb: frontend_nlb_.Member | None = None  # its frontend NLB annotations (ADR 0012)

    @property
    def key(self) -> str:
        return self.ingress.key


def _listen_ports(value: str | None, prefer_tls: bool) -> tuple[tuple[str, int], ...]:
    """LBC's listen-ports: a JSON list of ``{"HTTP": 80}`` objects; the default is HTTP:80,
    or HTTPS:443 when the Ingress has certificates."""
    name = PREFIX + "listen-ports"
    if value is None:
        return (("HTTPS", 443),) if prefer_tls else (("HTTP", 80),)
    try:
        raw = load_json(value)
    except JSONError as e:
        raise AnnotationError(
            name, value, f"failed to parse listen-ports configuration: `{clip(value)}`: {e}"
        ) from None
    if raw is None or raw == []:
        raise AnnotationError(name, value, f"empty listen-ports configuration: `{clip(value)}`")
    if (
        not isinstance(raw, list)
        or not all(isinstance(item, dict) for item in raw)
        or not all(integer(p) for item in raw for p in item.values())
    ):
        raise AnnotationError(name, value, f"failed to parse listen-ports configuration: `{clip(value)}`")
    ports: dict[int, str] = {}
    for item in raw:
        for protocol, port in item.items():
            if not 1 <= port <= 65535:
                raise AnnotationError(name, value, f"listen port must be within [1, 65535]: {port}")
            if protocol not in LISTEN_PROTOCOLS:
                raise AnnotationError(name, value, f"listen protocol must be within [HTTP, HTTPS]: {protocol}")
            ports[port] = protocol
    return tuple((ports[p], p) for p in sorted(ports))


def cidr_error(cidr: str) -> str | None:
    """Go's ``net.ParseCIDR`` message for a value that is not ``address/prefix``."""
    try:
        if "/" not in cidr:
            raise ValueError(cidr)
        ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return f"invalid CIDR address: {cidr}"
    return None


def _cidrs(values: list[str] | None, value: str | None, ingress: str) -> tuple[str, ...] | None:
    if values is None:
        return None
    for cidr in values:
        error = cidr_error(cidr)
        if error:
            raise AnnotationError(
                PREFIX + "inbound-cidrs", value or "", f"invalid inbound-cidrs settings on Ingress: {ingress}: {error}"
            )
    return tuple(values)


def _order(a: Annotations, ingress: str) -> int:
    """``group.order``, read by the membership rules (LBC's parse, range and messages)."""
    raw = a.raw("group.order")
    try:
        return parse_group_order(raw, ingress)
    except OrderError as e:
        raise AnnotationError(PREFIX + "group.order", raw or "", str(e)) from None


def read_member(
    ing: Ingress, config: ControllerConfig, *, check_group: bool = True, check_name: bool = True
) -> MemberSettings:
    """Every group-level setting of one Ingress; raises AnnotationError on a bad value.
    ``check_group=False`` when an IngressClassParams group replaces the annotation's,
    ``check_name=False`` when its loadBalancerName replaces ``load-balancer-name`` (LBC
    does not read the annotation then)."""
    a = ing.annotations
    group = a.raw("group.name")
    error = group_name_error(group) if group is not None and check_group else None
    if group is not None and error:
        raise AnnotationError(PREFIX + "group.name", group, error)
    scheme = a.raw("scheme")
    if scheme is not None and scheme not in SCHEMES:
        raise AnnotationError(PREFIX + "scheme", scheme, f"unknown scheme: {scheme}")
    ip_type = a.raw("ip-address-type")
    if ip_type is not None and ip_type not in IP_ADDRESS_TYPES:
        raise AnnotationError(PREFIX + "ip-address-type", ip_type, f"unknown IPAddressType: {ip_type}")
    name = a.string("load-balancer-name") if check_name else None
    if name is not None and len(name) > MAX_LOAD_BALANCER_NAME:
        raise AnnotationError(
            PREFIX + "load-balancer-name", name, "load balancer name cannot be longer than 32 characters"
        )
    certificates = tuple(a.string_list("certificate-arn") or ())
    redirect = a.raw("ssl-redirect")
    attributes = a.string_map("load-balancer-attributes")
    subnets, groups = a.string_list("subnets"), a.string_list("security-groups")
    return MemberSettings(
        ingress=ing,
        order=_order(a, ing.key),
        scheme=scheme,
        ip_address_type=ip_type,
        load_balancer_name=name,
        subnets=tuple(subnets) if subnets else None,
        subnet_tags=None,
        security_groups=tuple(groups) if groups else None,
        lb_attributes=tuple(sorted(attributes.items())) if attributes is not None else None,
        tags=a.string_map("tags") or {},
        inbound_cidrs=_cidrs(a.string_list("inbound-cidrs"), a.raw("inbound-cidrs"), ing.key),
        listen_ports=_listen_ports(a.raw("listen-ports"), bool(certificates)),
        certificates=certificates,
        ssl_policy=a.string("ssl-policy"),
        ssl_redirect=None if redirect is None else a.integer("ssl-redirect", default=0, low=1, high=65535),
        web_acl_arn=a.string("wafv2-acl-arn"),
        web_acl_name=a.string("wafv2-acl-name"),
        waf_acl_id=a.string("waf-acl-id"),
        shield=a.boolean("shield-advanced-protection", False)
        if a.raw("shield-advanced-protection") is not None
        else None,
        customer_owned_pool=a.string("customer-owned-ipv4-pool"),
        ipam_pool=a.string("ipam-ipv4-pool-id"),
        minimum_capacity=_capacity(a),
        prefix_lists=tuple(a.string_list("security-group-prefix-lists") or ()) or None,
        listener_attributes=_listener_attributes(a),
        mutual_auth=_mutual_auth(a),
        manage_backend_rules=(
            a.boolean("manage-backend-security-group-rules", False)
            if a.raw("manage-backend-security-group-rules") is not None
            else None
        ),
        frontend_nlb=frontend_nlb_.read(a, ing.key),
    )


def _capacity(a: Annotations) -> int | None:
    value = a.string_map("minimum-load-balancer-capacity")
    if value is None:
        return None
    units = digits(value.get("CapacityUnits", ""))
    if units is None:
        raise AnnotationError(
            PREFIX + "minimum-load-balancer-capacity",
            str(a.raw("minimum-load-balancer-capacity")),
            "needs CapacityUnits=<number>",
        )
    return units


def _listener_attributes(a: Annotations) -> dict[tuple[str, int], tuple[tuple[str, str], ...]]:
    out: dict[tuple[str, int], tuple[tuple[str, str], ...]] = {}
    for suffix in a.prefixed("listener-attributes."):
        protocol, _, text = suffix.partition("-")
        port = digits(text)
        if protocol not in LISTEN_PROTOCOLS or port is None or not 1 <= port <= 65535:
            raise AnnotationError(
                PREFIX + "listener-attributes." + suffix,
                "",
                "the name must be listener-attributes.<HTTP|HTTPS>-<port in 1..65535>",
            )
        values = a.string_map("listener-attributes." + suffix) or {}
        out[(protocol, port)] = tuple(sorted(values.items()))
    return out


MTLS_MODES = ("off", "passthrough", "verify")


def _mutual_auth(a: Annotations) -> dict[int, Mapping[str, Any]]:
    """LBC's mutual-authentication: a JSON list of ``{port, mode, trustStore,
    ignoreClientCertificateExpiry}``, validated as LBC does."""
    value = a.raw("mutual-authentication")
    if value is None:
        return {}
    name = PREFIX + "mutual-authentication"
    try:
        raw = load_json(value)
    except JSONError:
        raw = False
    if raw is None or raw == []:
        raise AnnotationError(
            name, value, f"empty mutualAuthentication configuration from ingress annotation: `{clip(value)}`"
        )
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise AnnotationError(
            name, value, f"failed to parse mutualAuthentication configuration from ingress annotation: `{clip(value)}`"
        )
    out: dict[int, Mapping[str, Any]] = {}
    for item in raw:
        port, mode = item.get("port"), item.get("mode") or ""
        trust_store, ignore = item.get("trustStore") or "", item.get("ignoreClientCertificateExpiry")
        if not integer(port) or not 1 <= port <= 65535:
            raise AnnotationError(name, value, f"listen port must be within [1, 65535]: {show(port):.80}")
        if not isinstance(mode, str) or not isinstance(trust_store, str):
            raise AnnotationError(
                name, value, f"mutualAuthentication mode and trustStore must be strings for port {port}"
            )
        if ignore is not None and not isinstance(ignore, bool):
            raise AnnotationError(name, value, f"ignoreClientCertificateExpiry must be true or false for port {port}")
        if not mode:
            raise AnnotationError(name, value, f"mutualAuthentication mode cannot be empty for port {port}")
        if mode not in MTLS_MODES:
            raise AnnotationError(
                name,
                value,
                f"mutualAuthentication mode value must be among [off, passthrough, verify] for port {port} : {mode}",
            )
        if mode == "verify" and not trust_store:
            raise AnnotationError(
                name, value, f"trustStore is required when mutualAuthentication mode is verify for port {port}"
            )
        if mode != "verify" and trust_store:
            raise AnnotationError(
                name, value, f"Mutual Authentication mode {mode} does not support trustStore for port {port}"
            )
        if mode != "verify" and ignore is not None:
            raise AnnotationError(
                name,
                value,
                f"Mutual Authentication mode {mode} does not support ignoring client certificate expiry "
                f"for port {port}",
            )
        config: dict[str, Any] = {"Mode": mode}
        if mode == "verify":
            config["TrustStoreArn"] = str(trust_store)
            config["IgnoreClientCertificateExpiry"] = bool(ignore)
        out[port] = config
    return out


def apply_params(
    member: MemberSettings, params: IngressClassParams | None, namespace_labels: Mapping[str, str] | None
) -> MemberSettings:
    """LBC: each IngressClassParams field that is set replaces the annotation (scheme,
    loadBalancerName, ...); tags,
    load balancer attributes and listener attributes go over the annotation's key by key.
    A namespaceSelector the namespace does not match is an error (when the namespace's
    labels are known), and so is an invalid ``spec.group.name``."""
    if params is None:
        return member
    selector = params.namespace_selector
    if selector is not None and namespace_labels is not None and not selector.matches(namespace_labels):
        raise ObjectError(f"invalid ingress class: namespaceSelector of IngressClassParams {params.name} mismatch")
    if params.group_error is not None:
        raise ObjectError(params.group_error)
    if params.unsupported:
        raise ObjectError(
            f"IngressClassParams {params.name}: spec.{params.unsupported[0]} is not supported "
            "(LBC's IngressClassParams have no such field); authenticate with the auth-type and "
            "auth-idp-cognito / auth-idp-oidc annotations"
        )
    if params.scheme is not None and params.scheme not in SCHEMES:
        raise ObjectError(f"unknown scheme: {params.scheme} (IngressClassParams {params.name})")
    if params.ip_address_type is not None and params.ip_address_type not in IP_ADDRESS_TYPES:
        raise ObjectError(f"unknown IPAddressType: {params.ip_address_type} (IngressClassParams {params.name})")
    if params.load_balancer_name is not None and len(params.load_balancer_name) > MAX_LOAD_BALANCER_NAME:
        raise ObjectError(
            f"load balancer name cannot be longer than {MAX_LOAD_BALANCER_NAME} characters "
            f"(IngressClassParams {params.name}: {params.load_balancer_name})"
        )
    for cidr in params.inbound_cidrs or ():
        error = cidr_error(cidr)
        if error:
            raise ObjectError(f"invalid CIDR in IngressClassParams InboundCIDR {cidr}: {error}")
    certificates = params.certificate_arns if params.certificate_arns is not None else member.certificates
    listen_ports = member.listen_ports
    if params.certificate_arns and not member.ingress.annotations.raw("listen-ports"):
        listen_ports = (("HTTPS", 443),)
    attributes = member.lb_attributes
    if params.lb_attributes is not None:
        attributes = tuple(sorted({**dict(member.lb_attributes or ()), **dict(params.lb_attributes)}.items()))
    listener_attributes = dict(member.listener_attributes)
    for listener, pairs in params.listener_attributes.items():
        merged = {**dict(listener_attributes.get(listener, ())), **dict(pairs)}
        listener_attributes[listener] = tuple(sorted(merged.items()))
    by_params = params.subnet_ids is not None or params.subnet_tags is not None
    return replace(
        member,
        scheme=params.scheme if params.scheme is not None else member.scheme,
        load_balancer_name=params.load_balancer_name or member.load_balancer_name,
        ip_address_type=params.ip_address_type or member.ip_address_type,
        inbound_cidrs=params.inbound_cidrs if params.inbound_cidrs is not None else member.inbound_cidrs,
        certificates=tuple(certificates),
        listen_ports=listen_ports,
        ssl_policy=params.ssl_policy or member.ssl_policy,
        ssl_redirect=params.ssl_redirect_port if params.ssl_redirect_port is not None else member.ssl_redirect,
        subnets=params.subnet_ids if by_params else member.subnets,
        subnet_tags=params.subnet_tags if by_params else member.subnet_tags,
        tags={**member.tags, **params.tags},
        params_tags=dict(params.tags),
        lb_attributes=attributes,
        minimum_capacity=params.minimum_capacity if params.minimum_capacity is not None else member.minimum_capacity,
        prefix_lists=params.prefix_lists if params.prefix_lists is not None else member.prefix_lists,
        ipam_pool=params.ipam_pool or member.ipam_pool,
        listener_attributes=listener_attributes,
        params_target_type=params.target_type,
        # a web ACL the params name (by ARN or by name) replaces the annotations' choice
        web_acl_arn=params.web_acl_arn if params.web_acl_arn or params.web_acl_name else member.web_acl_arn,
        web_acl_name=params.web_acl_name if params.web_acl_arn or params.web_acl_name else member.web_acl_name,
    )


def exclusive(
    members: Sequence[MemberSettings],
    field_name: str,
    label: str,
    show_value: Callable[[Any], str] = show,
    same: Callable[[Any], Any] = lambda v: v,
) -> Any:
    """The one value members set for ``field_name`` (None if nobody did); values are
    compared by equality of ``same(value)`` (so lists may ignore order)."""
    chosen: list[tuple[Any, Any, str]] = []  # (compared form, value, member key)
    for m in members:
        value = getattr(m, field_name)
        if value is not None and not any(c == same(value) for c, _, _ in chosen):
            chosen.append((same(value), value, m.key))
    if len(chosen) > 1:
        raise GroupConflict(f"conflicting {label}: " + " | ".join(f"{k}: {show_value(v)}" for _, v, k in chosen))
    return chosen[0][1] if chosen else None


def merged_attributes(members: Sequence[MemberSettings]) -> tuple[tuple[str, str], ...] | None:
    """LBC: load balancer attributes merge key by key across members; a key with two
    values is a conflict. None when no member sets any."""
    out: dict[str, str] = {}
    if all(m.lb_attributes is None for m in members):
        return None
    for m in members:
        for key, value in m.lb_attributes or ():
            if key in out and out[key] != value:
                raise GroupConflict(f"conflicting load balancer attributes {key}: {out[key]} | {value}")
            out[key] = value
    return tuple(sorted(out.items()))


def merged_tags(config: ControllerConfig, members: Sequence[MemberSettings]) -> dict[str, str]:
    """Annotation tags of every member (a key with two values conflicts), under the
    controller's default tags, which win as in LBC."""
    tags: dict[str, tuple[str, str]] = {}
    for m in members:
        for key, value in m.tags.items():
            if key in config.external_managed_tags:
                raise GroupConflict(f"external managed tag key {key} cannot be specified")
            if key in tags and tags[key][0] != value:
                raise GroupConflict(f"conflicting tag {key}: {tags[key][0]} | {value}")
            tags.setdefault(key, (value, m.key))
    return {**{k: v for k, (v, _) in tags.items()}, **config.default_tags}
