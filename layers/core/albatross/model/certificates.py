"""Certificate discovery, as LBC does it: an Ingress with an HTTPS listen port and no
certificate-arn gets the issued ACM certificates matching its hosts (``spec.rules`` hosts
and ``spec.tls`` hosts), exactly or through a one-label wildcard: the sorted union of the
matches, so the default certificate is the lowest ARN. An Ingress without hosts gets none
(its HTTPS listener takes the other members' certificates)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from albatross.k8s.errors import ObjectError
from albatross.model.discovery import Discovery
from albatross.model.settings import MemberSettings


def _names(cert: Mapping[str, Any]) -> set[str]:
    names = {str(cert.get("DomainName", ""))}
    names.update(str(n) for n in cert.get("SubjectAlternativeNames") or ())
    return {n.lower() for n in names if n}


def matches(name: str, host: str) -> bool:
    host = host.lower()
    if name == host:
        return True
    if name.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == name[2:]
    return False


def hosts_of(member: MemberSettings) -> list[str]:
    ing = member.ingress
    return sorted({p.host for p in ing.paths if p.host} | set(ing.tls_hosts))


def needs_discovery(member: MemberSettings) -> bool:
    return not member.certificates and any(p == "HTTPS" for p, _ in member.listen_ports)


def discover(member: MemberSettings, discovery: Discovery) -> MemberSettings:
    """The member with discovered certificates (unchanged when none are needed)."""
    if not needs_discovery(member):
        return member
    issued = [c for c in discovery.certificates if c.get("Status", "ISSUED") == "ISSUED"]
    found: set[str] = set()
    for host in hosts_of(member):
        arns = {str(c["CertificateArn"]) for c in issued if any(matches(n, host) for n in _names(c))}
        if not arns:
            raise ObjectError(f"no certificate found for host: {host}")
        found |= arns
    return replace(member, certificates=tuple(sorted(found)))
