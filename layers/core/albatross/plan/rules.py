"""Listener rules keep no identity of their own: they are matched by content and moved
with one SetRulePriorities per listener. The listener rule kind holds how
(:mod:`albatross.kinds.listener_rule`); these names stay here for their callers."""

from __future__ import annotations

from albatross.kinds.listener_rule import RuleChanges, blockers, match, reorder

__all__ = ["RuleChanges", "blockers", "match", "reorder"]
