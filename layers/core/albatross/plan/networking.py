"""Match the backend rules a security group needs against the inbound rules it has.

Pure. Only rules this cluster's Albatross owns (with its description, see
:func:`albatross.model.names.backend_rule_description`) are ever revoked. A needed rule
that already exists under another description (LBC's, another cluster's, one made by
hand) is left alone and not made again: AWS refuses a duplicate, and whoever made it
revokes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass

from albatross.model.networking import Rule


@dataclass(frozen=True)
class ActualRule:
    rule: Rule
    rule_id: str  # SecurityGroupRuleId
    owned: bool  # carries this cluster's description


def match(needed: Set[Rule], actual: Iterable[ActualRule]) -> tuple[list[Rule], list[str]]:
    """(rules to authorize, rule ids to revoke)."""
    actual = list(actual)
    present = {a.rule for a in actual}
    return sorted(needed - present), sorted(a.rule_id for a in actual if a.owned and a.rule not in needed)
