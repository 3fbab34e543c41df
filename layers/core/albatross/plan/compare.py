"""Per resource type: how a desired resource pairs with an actual one, and which of its
properties can change in place. Both sides are reduced to a comparable form, so the
two shapes AWS returns for rule conditions and actions compare equal."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from albatross.model.names import TAG_OIDC_CREDENTIALS_VERSION, TAG_RESOURCE
from albatross.model.stack import LISTENER, LISTENER_RULE, LOAD_BALANCER, SECURITY_GROUP, TARGET_GROUP

Props = Mapping[str, Any]

_CONDITION_CONFIG = {
    "host-header": "HostHeaderConfig",
    "path-pattern": "PathPatternConfig",
    "http-request-method": "HttpRequestMethodConfig",
    "source-ip": "SourceIpConfig",
    "http-header": "HttpHeaderConfig",
    "query-string": "QueryStringConfig",
}
# What ALB fills in for a redirect field left out.
_REDIRECT_DEFAULTS = {
    "Host": "#{host}",
    "Path": "/#{path}",
    "Port": "#{port}",
    "Protocol": "#{protocol}",
    "Query": "#{query}",
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


def condition_key(cond: Props) -> tuple[Any, ...]:
    """A condition in comparable form, from either shape AWS returns (``Values`` or the
    field's ``...Config``), plain values and regular expressions (``RegexValues``) apart."""
    field = str(cond["Field"])
    config = cond.get(_CONDITION_CONFIG.get(field, ""))
    values = config.get("Values") if isinstance(config, Mapping) else cond.get("Values")
    if field == "query-string":
        pairs = tuple(sorted((str(v.get("Key") or ""), str(v.get("Value"))) for v in values or ()))
        return field, pairs
    header = str(config.get("HttpHeaderName", "")) if isinstance(config, Mapping) and field == "http-header" else ""
    regex = config.get("RegexValues") if isinstance(config, Mapping) else None
    return field, header, tuple(sorted(str(v) for v in values or ())), tuple(sorted(str(v) for v in regex or ()))


def action_key(action: Props) -> tuple[Any, ...]:
    kind = str(action["Type"])
    if kind == "forward":
        config = action.get("ForwardConfig") or {}
        groups = config.get("TargetGroups") or [{"TargetGroupArn": action.get("TargetGroupArn")}]
        sticky = config.get("TargetGroupStickinessConfig") or {}
        stickiness = (
            bool(sticky.get("Enabled", False)),
            sticky.get("DurationSeconds") if sticky.get("Enabled") else None,
        )
        return kind, tuple(sorted((str(g["TargetGroupArn"]), int(g.get("Weight", 1))) for g in groups)), stickiness
    if kind == "fixed-response":
        c = action.get("FixedResponseConfig") or {}
        return kind, str(c.get("StatusCode")), c.get("ContentType"), c.get("MessageBody")
    if kind == "redirect":
        return kind, tuple(sorted({**_REDIRECT_DEFAULTS, **(action.get("RedirectConfig") or {})}.items()))
    if kind == "authenticate-oidc":
        # AWS never shows the client secret; the credentials compare by the version tag
        # of the rule (see oidc_version), not here.
        config = action.get("AuthenticateOidcConfig") or {}
        kept = {k: v for k, v in config.items() if k not in _OIDC_CREDENTIALS}
        return kind, _canonical({**action, "AuthenticateOidcConfig": kept})
    return kind, _canonical(action)


def _canonical(value: Any) -> str:
    """A JSON value as text, object keys sorted at every depth: AWS returns an action's
    config (and its AuthenticationRequestExtraParams) in an order of its own."""
    return json.dumps(value, sort_keys=True, default=str)


_OIDC_CREDENTIALS = ("ClientId", "ClientSecret", "UseExistingClientSecret")


def oidc_version(props: Props) -> str | None:
    """For a rule with OIDC authentication: which version of the client credentials it
    holds, as its tag says (ADR 0005); None otherwise."""
    if not any(a.get("Type") == "authenticate-oidc" for a in props.get("Actions") or ()):
        return None
    tags = {str(t["Key"]): str(t.get("Value", "")) for t in props.get("Tags") or ()}
    return tags.get(TAG_OIDC_CREDENTIALS_VERSION, "")


def permissions(props: Props) -> frozenset[tuple[str, int, int, str]]:
    """Ingress rules as (protocol, from, to, source): IPv4 and IPv6 CIDRs, prefix list ids."""
    out = set()
    for p in props.get("IpPermissions") or ():
        low, high = int(p.get("FromPort", -1)), int(p.get("ToPort", -1))
        for r in p.get("IpRanges") or ():
            out.add((str(p.get("IpProtocol")), low, high, str(r.get("CidrIp"))))
        for r in p.get("Ipv6Ranges") or ():
            out.add((str(p.get("IpProtocol")), low, high, str(r.get("CidrIpv6"))))
        for r in p.get("PrefixListIds") or ():
            out.add((str(p.get("IpProtocol")), low, high, str(r.get("PrefixListId"))))
    return frozenset(out)


def _attributes(props: Props) -> dict[str, str]:
    return {str(a["Key"]): str(a["Value"]) for a in props.get("Attributes") or ()}


def attributes_differ(desired: Props, actual: Props) -> bool:
    """Only the attributes the model sets count; AWS reports every attribute."""
    have = _attributes(actual)
    return any(have.get(k) != v for k, v in _attributes(desired).items())


# Load balancer settings behind other APIs (see albatross.aws.protection); a key the
# model leaves out is left alone, so it is read and compared only when stated.
PROTECTION_KEYS = ("WebACLArn", "WafAclId", "ShieldProtection", "MinimumLoadBalancerCapacity")


def stated_protections(props: Props) -> list[str]:
    return [k for k in PROTECTION_KEYS if props.get(k) is not None]


def protection_view(props: Props) -> dict[str, Any]:
    """Those settings in comparable form (absent: None)."""
    capacity = props.get("MinimumLoadBalancerCapacity")
    return {
        "WebACLArn": props.get("WebACLArn"),
        "WafAclId": props.get("WafAclId"),
        "ShieldProtection": props.get("ShieldProtection"),
        "MinimumLoadBalancerCapacity": capacity.get("CapacityUnits") if isinstance(capacity, Mapping) else None,
    }


def tag_changes(desired: Props, actual: Props, previous: Props | None = None) -> tuple[dict[str, str], list[str]]:
    """Tags to set (missing or different) and keys to remove: those the previous model set
    and this one does not. A tag someone else added is never removed. No change when the
    actual tags were not read. The resource-id tag of a rule names the priority it was
    created at; rules keep no identity (a moved rule keeps its tag), so only a missing
    one is set."""
    if "Tags" not in actual:
        return {}, []
    want = {str(t["Key"]): str(t.get("Value", "")) for t in desired.get("Tags") or ()}
    have = {str(t["Key"]): str(t.get("Value", "")) for t in actual.get("Tags") or ()}
    before = {str(t["Key"]) for t in (previous or {}).get("Tags") or ()}
    put = {k: v for k, v in want.items() if have.get(k) != v and not (k == TAG_RESOURCE and k in have)}
    return put, sorted(k for k in before - set(want) if k in have)


def certificate_sets(props: Props) -> tuple[str | None, frozenset[str]]:
    """A listener's default certificate and the set of its other (SNI) certificates."""
    arns = [str(c.get("CertificateArn")) for c in props.get("Certificates") or ()]
    return (arns[0] if arns else None), frozenset(arns[1:]) - set(arns[:1])


def _mtls(config: Any) -> tuple[Any, ...] | None:
    """Mutual TLS in comparable form; absent and ``off`` are the same."""
    if not isinstance(config, Mapping) or config.get("Mode") in (None, "off"):
        return None
    return tuple(sorted((str(k), str(v)) for k, v in config.items() if k != "TrustStoreAssociationStatus"))


def mutable_view(type_: str, props: Props) -> dict[str, Any]:
    """The properties that an update call can change, in comparable form."""
    if type_ == SECURITY_GROUP:
        return {"IpPermissions": permissions(props)}
    if type_ == TARGET_GROUP:
        return {k: props.get(k) for k in HEALTH_FIELDS}
    if type_ == LOAD_BALANCER:
        return {
            "Subnets": frozenset(props.get("Subnets") or ()),
            "SecurityGroups": frozenset(props.get("SecurityGroups") or ()),
            "IpAddressType": props.get("IpAddressType"),
            **protection_view(props),
        }
    if type_ == LISTENER:
        # TLS settings mean something on HTTPS listeners only (some endpoints report a
        # policy on HTTP listeners too).
        tls = props.get("Protocol") == "HTTPS"
        default, sni = certificate_sets(props) if tls else (None, frozenset())
        return {
            "Protocol": props.get("Protocol"),
            "DefaultActions": tuple(action_key(a) for a in props.get("DefaultActions") or ()),
            "SslPolicy": props.get("SslPolicy") if tls else None,
            "Certificate": default,
            "SNI": sni,
            "MutualAuthentication": _mtls(props.get("MutualAuthentication")),
        }
    if type_ == LISTENER_RULE:
        return {
            "Conditions": tuple(sorted(condition_key(c) for c in props.get("Conditions") or ())),
            "Actions": tuple(action_key(a) for a in props.get("Actions") or ()),
            "OidcCredentials": oidc_version(props),
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
