"""Match the backend rules a security group needs against the inbound rules it has.

Pure. Only rules this cluster owns are ever revoked: those with this cluster's
description (:func:`albatross.model.names.backend_rule_description`), and LBC's
(``elbv2.k8s.aws/targetGroupBinding=shared``) sourced from the cluster's shared backend
security group, which LBC made for this same cluster. A needed rule that an existing
rule covers (same protocol and source, the port within its range: LBC aggregates a
security group's ports into one range per source) is not made again, whoever made it:
AWS refuses a duplicate, and whoever made it revokes it.

An owned rule is revoked only when it covers no needed rule. So a cluster moving from
one source to another (per-load-balancer groups to the shared backend group) keeps each
old rule until the settle that made its replacement, and an LBC range that still covers
one needed port stays whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass

from albatross.model.networking import Rule


@dataclass(frozen=True)
class ActualRule:
    rule: Rule  # (protocol, FromPort, source)
    rule_id: str  # SecurityGroupRuleId
    owned: bool  # this cluster's (see the module docstring)
    to_port: int | None = None  # ToPort when it differs from FromPort (a range)

    def covers(self, needed: Rule) -> bool:
        protocol, first, source = self.rule
        last = first if self.to_port is None else self.to_port
        return needed[0] == protocol and needed[2] == source and first <= needed[1] <= last


def match(needed: Set[Rule], actual: Iterable[ActualRule]) -> tuple[list[Rule], list[str]]:
    """(rules to authorize, rule ids to revoke)."""
    actual = list(actual)
    missing = sorted(n for n in needed if not any(a.covers(n) for a in actual))
    unneeded = sorted(a.rule_id for a in actual if a.owned and not any(a.covers(n) for n in needed))
    return missing, unneeded
