"""Per-Ingress settings read from its annotations, and their merge across an IngressGroup
with LBC's rules: *exclusive* settings (scheme, ip-address-type, load-balancer-name,
subnets, security-groups, load-balancer-attributes, ssl-redirect) may be set on one member
or with the same value on all; *merged* ones (tags, listen-ports, certificates) combine,
and a tag key with two values is a conflict."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from albatross.contract import GROUP_NAME
from albatross.k8s.annotations import PREFIX, Annotations
from albatross.k8s.errors import AnnotationError, ObjectError
from albatross.k8s.ingress import Ingress
from albatross.k8s.params import IngressClassParams
from albatross.model.config import ControllerConfig

SCHEMES = ("internal", "internet-facing")
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
    subnets: tuple[str, ...] | None
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

    @property
    def key(self) -> str:
        return self.ingress.key


def _listen_ports(raw: Any, value: str, prefer_tls: bool) -> tuple[tuple[str, int], ...]:
    name = PREFIX + "listen-ports"
    if raw is None:
        return (("HTTPS", 443),) if prefer_tls else (("HTTP", 80),)
    if not isinstance(raw, list) or not raw:
        raise AnnotationError(name, value, 'must be a non-empty JSON list such as [{"HTTP": 80}, {"HTTPS": 443}]')
    ports: dict[int, str] = {}
    for item in raw:
        if not isinstance(item, dict):
            raise AnnotationError(name, value, 'each item must be an object like {"HTTPS": 443}')
        for protocol, port in item.items():
            if protocol not in LISTEN_PROTOCOLS:
                raise AnnotationError(name, value, f"listen protocol must be within [HTTP, HTTPS]: {protocol}")
            if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
                raise AnnotationError(name, value, f"listen port must be within [1, 65535]: {port}")
            ports[port] = protocol
    return tuple((ports[p], p) for p in sorted(ports))


def _cidrs(values: list[str] | None, value: str | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    for cidr in values:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise AnnotationError(PREFIX + "inbound-cidrs", value or "", f"{cidr!r} is not a CIDR") from None
    return tuple(values)


def read_member(ing: Ingress, config: ControllerConfig) -> MemberSettings:
    """Every group-level setting of one Ingress; raises AnnotationError on a bad value."""
    a = ing.annotations
    group = a.raw("group.name")
    if group is not None and not GROUP_NAME.match(group):
        reason = (
            "invalid ingress group: groupName must be no more than 63 characters"
            if len(group) > 63
            else "invalid ingress group: groupName must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character"
        )
        raise AnnotationError(PREFIX + "group.name", group, reason)
    scheme = a.raw("scheme")
    if scheme is not None and scheme not in SCHEMES:
        raise AnnotationError(PREFIX + "scheme", scheme, "must be one of internal, internet-facing")
    ip_type = a.raw("ip-address-type")
    if ip_type is not None and ip_type not in IP_ADDRESS_TYPES:
        raise AnnotationError(PREFIX + "ip-address-type", ip_type, f"must be one of {', '.join(IP_ADDRESS_TYPES)}")
    name = a.string("load-balancer-name")
    if name is not None and len(name) > 32:
        raise AnnotationError(
            PREFIX + "load-balancer-name", name, "load balancer name cannot be longer than 32 characters"
        )
    certificates = tuple(a.string_list("certificate-arn") or ())
    redirect = a.raw("ssl-redirect")
    attributes = a.string_map("load-balancer-attributes")
    subnets, groups = a.string_list("subnets"), a.string_list("security-groups")
    return MemberSettings(
        ingress=ing,
        order=a.integer("group.order", default=0, low=-1000, high=1000),
        scheme=scheme,
        ip_address_type=ip_type,
        load_balancer_name=name,
        subnets=tuple(subnets) if subnets else None,
        subnet_tags=None,
        security_groups=tuple(groups) if groups else None,
        lb_attributes=tuple(sorted(attributes.items())) if attributes is not None else None,
        tags=a.string_map("tags") or {},
        inbound_cidrs=_cidrs(a.string_list("inbound-cidrs"), a.raw("inbound-cidrs")),
        listen_ports=_listen_ports(a.json("listen-ports"), a.raw("listen-ports") or "", bool(certificates)),
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
    )


def _capacity(a: Annotations) -> int | None:
    value = a.string_map("minimum-load-balancer-capacity")
    if value is None:
        return None
    units = value.get("CapacityUnits", "")
    if not units.isdigit():
        raise AnnotationError(
            PREFIX + "minimum-load-balancer-capacity",
            str(a.raw("minimum-load-balancer-capacity")),
            "needs CapacityUnits=<number>",
        )
    return int(units)


def _listener_attributes(a: Annotations) -> dict[tuple[str, int], tuple[tuple[str, str], ...]]:
    out: dict[tuple[str, int], tuple[tuple[str, str], ...]] = {}
    for suffix in a.prefixed("listener-attributes."):
        protocol, _, port = suffix.partition("-")
        if protocol not in LISTEN_PROTOCOLS or not port.isdigit():
            raise AnnotationError(
                PREFIX + "listener-attributes." + suffix, "", "the name must be listener-attributes.<HTTP|HTTPS>-<port>"
            )
        values = a.string_map("listener-attributes." + suffix) or {}
        out[(protocol, int(port))] = tuple(sorted(values.items()))
    return out


def _mutual_auth(a: Annotations) -> dict[int, Mapping[str, Any]]:
    raw = a.json("mutual-authentication")
    if raw is None:
        return {}
    name, value = PREFIX + "mutual-authentication", str(a.raw("mutual-authentication"))
    if not isinstance(raw, list):
        raise AnnotationError(
            name, value, "must be a JSON list of {port, mode, trustStore, ignoreClientCertificateExpiry}"
        )
    out: dict[int, Mapping[str, Any]] = {}
    for item in raw:
        port, mode = (
            item.get("port") if isinstance(item, dict) else None,
            item.get("mode") if isinstance(item, dict) else None,
        )
        if not isinstance(port, int) or mode not in ("off", "passthrough", "verify"):
            raise AnnotationError(name, value, "each entry needs a port and a mode of off, passthrough or verify")
        config: dict[str, Any] = {"Mode": mode}
        if mode == "verify":
            if not item.get("trustStore"):
                raise AnnotationError(name, value, f"port {port}: verify mode needs a trustStore")
            config["TrustStoreArn"] = str(item["trustStore"])
            config["IgnoreClientCertificateExpiry"] = bool(item.get("ignoreClientCertificateExpiry", False))
        out[port] = config
    return out


def apply_params(
    member: MemberSettings, params: IngressClassParams | None, namespace_labels: Mapping[str, str] | None
) -> MemberSettings:
    """LBC: each IngressClassParams field that is set replaces the annotation; its tags
    go over the annotation's. A namespaceSelector the namespace does not match is an
    error (when the namespace's labels are known)."""
    if params is None:
        return member
    selector = params.namespace_selector
    if selector is not None and namespace_labels is not None and not selector.matches(namespace_labels):
        raise ObjectError(f"invalid ingress class: namespaceSelector of IngressClassParams {params.name} mismatch")
    if params.scheme is not None and params.scheme not in SCHEMES:
        raise ObjectError(f"IngressClassParams {params.name}: unknown scheme: {params.scheme}")
    certificates = params.certificate_arns if params.certificate_arns is not None else member.certificates
    listen_ports = member.listen_ports
    if params.certificate_arns and not member.ingress.annotations.raw("listen-ports"):
        listen_ports = (("HTTPS", 443),)
    return replace(
        member,
        scheme=params.scheme if params.scheme is not None else member.scheme,
        ip_address_type=params.ip_address_type or member.ip_address_type,
        inbound_cidrs=params.inbound_cidrs if params.inbound_cidrs is not None else member.inbound_cidrs,
        certificates=tuple(certificates),
        listen_ports=listen_ports,
        ssl_policy=params.ssl_policy or member.ssl_policy,
        ssl_redirect=params.ssl_redirect_port if params.ssl_redirect_port is not None else member.ssl_redirect,
        subnets=params.subnet_ids or member.subnets,
        subnet_tags=params.subnet_tags or member.subnet_tags,
        tags={**member.tags, **params.tags},
        lb_attributes=params.lb_attributes if params.lb_attributes is not None else member.lb_attributes,
        minimum_capacity=params.minimum_capacity if params.minimum_capacity is not None else member.minimum_capacity,
        prefix_lists=params.prefix_lists if params.prefix_lists is not None else member.prefix_lists,
        ipam_pool=params.ipam_pool or member.ipam_pool,
        listener_attributes={**member.listener_attributes, **params.listener_attributes},
    )


def exclusive(members: Sequence[MemberSettings], field_name: str, label: str, show: Callable[[Any], str] = str) -> Any:
    """The one value members set for ``field_name`` (None if nobody did)."""
    chosen: dict[Any, str] = {}
    for m in members:
        value = getattr(m, field_name)
        if value is not None:
            chosen.setdefault(value, m.key)
    if len(chosen) > 1:
        raise GroupConflict(f"conflicting {label}: " + " | ".join(f"{k}: {show(v)}" for v, k in chosen.items()))
    return next(iter(chosen), None)


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
