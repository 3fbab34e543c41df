"""Match the backend rules a security group needs against the inbound rules it has.

Pure. Only rules Albatross owns (labelled as LBC labels its own, see
:data:`albatross.model.names.BACKEND_RULE_DESCRIPTION`) are ever revoked. A needed rule
that already exists under another label (a rule someone made by hand, say) is left
alone and not made again, because AWS refuses a duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass

from albatross.model.networking import Rule


@dataclass(frozen=True)
class ActualRule:
    rule: Rule
    rule_id: str  # SecurityGroupRuleId
    owned: bool  # carries our label


def match(needed: Set[Rule], actual: Iterable[ActualRule]) -> tuple[list[Rule], list[str]]:
    """(rules to authorize, rule ids to revoke)."""
    actual = list(actual)
    present = {a.rule for a in actual}
    return sorted(needed - present), sorted(a.rule_id for a in actual if a.owned and a.rule not in needed)
