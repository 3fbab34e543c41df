"""Listeners: the union of the members' listen ports, merged per port as LBC does
(protocol, inbound CIDRs, SSL policy and mTLS must agree; certificates combine with the
first member's first certificate as the default; listener attributes merge key by key),
with their default actions (an SSL redirect, the one member ``defaultBackend``, or a 404).
``mutual-authentication`` applies to HTTPS listeners only."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from albatross.k8s.errors import show
from albatross.model.settings import GroupConflict, MemberSettings

DEFAULT_ACTION_404 = {
    "Type": "fixed-response",
    "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"},
}
DEFAULT_CIDRS = ("0.0.0.0/0", "::/0")


@dataclass
class ListenerSpec:
    port: int
    protocol: str
    members: list[MemberSettings] = field(default_factory=list)
    certificates: list[str] = field(default_factory=list)
    ssl_policy: str | None = None
    cidrs: tuple[str, ...] = DEFAULT_CIDRS
    default_action: Mapping[str, Any] = field(default_factory=lambda: DEFAULT_ACTION_404)
    attributes: tuple[tuple[str, str], ...] = ()
    mutual_auth: Mapping[str, Any] | None = None


def _one(values: Sequence[tuple[str, Any]], label: str, port: int) -> Any:
    """The one value members set (first wins; a different one conflicts)."""
    chosen: tuple[str, Any] | None = None
    for key, value in values:
        if value is None:
            continue
        if chosen is not None and chosen[1] != value:
            raise GroupConflict(
                f"failed to merge listPort config for port: {port}: conflicting {label}, "
                f"{chosen[0]}: {show(chosen[1])} | {key}: {show(value)}"
            )
        chosen = chosen or (key, value)
    return chosen[1] if chosen else None


def merge(
    members: Sequence[MemberSettings],
    *,
    default_ssl_policy: str,
    ssl_redirect: int | None,
    default_backends: Mapping[str, Mapping[str, Any]],
) -> dict[int, ListenerSpec]:
    """Port → listener, from the members in group order. ``default_backends`` maps an
    Ingress key to the action of its ``spec.defaultBackend``."""
    out: dict[int, ListenerSpec] = {}
    for m in members:
        for protocol, port in m.listen_ports:
            spec = out.setdefault(port, ListenerSpec(port=port, protocol=protocol))
            spec.members.append(m)
    for port, spec in sorted(out.items()):
        spec.protocol = _one(
            [(m.key, p) for m in spec.members for p, q in m.listen_ports if q == port], "protocol", port
        )
        cidrs = _one([(m.key, m.inbound_cidrs) for m in spec.members], "inbound-cidrs", port)
        spec.cidrs = tuple(cidrs) if cidrs else DEFAULT_CIDRS
        if spec.protocol == "HTTPS":
            spec.ssl_policy = (
                _one([(m.key, m.ssl_policy) for m in spec.members], "sslPolicy", port) or default_ssl_policy
            )
            for m in spec.members:
                for arn in m.certificates:
                    if arn not in spec.certificates[1:]:
                        spec.certificates.append(arn)
            if not spec.certificates:
                raise GroupConflict(
                    f"HTTPS listener on port {port} has no certificate: set certificate-arn, "
                    "or a host whose certificate can be discovered, on one of its Ingresses"
                )
        merged: dict[str, str] = {}
        for m in spec.members:
            for key, value in m.listener_attributes.get((spec.protocol, port), ()):
                if merged.setdefault(key, value) != value:
                    raise GroupConflict(
                        f"conflicting listener attributes {key}: {merged[key]} | {value} for ingress {m.key}"
                    )
        spec.attributes = tuple(sorted(merged.items()))
        if spec.protocol == "HTTPS":  # LBC: mTLS on HTTPS listeners only
            mtls = [
                (m.key, json.dumps(m.mutual_auth[port], sort_keys=True)) for m in spec.members if port in m.mutual_auth
            ]
            chosen = _one(mtls, "mTLS Attributes", port)
            spec.mutual_auth = json.loads(chosen) if chosen else None
        backends = [m.key for m in spec.members if m.key in default_backends]
        if len(backends) > 1:
            raise GroupConflict(f"multiple ingress defined default backend: [{' '.join(backends)}]")
        if ssl_redirect is not None and spec.protocol == "HTTP":
            spec.default_action = {
                "Type": "redirect",
                "RedirectConfig": {"Port": str(ssl_redirect), "Protocol": "HTTPS", "StatusCode": "HTTP_301"},
            }
        elif backends:
            spec.default_action = default_backends[backends[0]]
    if ssl_redirect is not None:
        target = out.get(ssl_redirect)
        if target is None:
            raise GroupConflict(f"listener does not exist for SSLRedirect port: {ssl_redirect}")
        if target.protocol != "HTTPS":
            raise GroupConflict(f"listener protocol non-SSL for SSLRedirect port: {ssl_redirect}")
    return out
