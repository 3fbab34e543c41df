"""Listener rules keep no identity of their own: an existing rule whose conditions and
actions are already what some desired rule wants is kept and, if needed, moved to that
rule's priority (one SetRulePriorities per listener) instead of being rewritten in
place. Only what is left is updated in place (same priority), created or deleted.

So inserting a rule at the top of a listener costs one reorder and one create, not a
rewrite of every rule below it, and no request meets a missing rule mid-change. A rule
being deleted that sits where a move must go is deleted just before the move.

Rule count never peaks above the larger of before and after (so a change at ALB's
100-rule limit still goes through): a create only takes a priority a moved rule left, and
the other deletes are of priorities the new set does not use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from albatross.model.stack import LISTENER_RULE, Resource, ref_target
from albatross.plan.actual import ActualResource
from albatross.plan.compare import mutable_view


@dataclass
class RuleChanges:
    moves: dict[str, list[tuple[ActualResource, int]]] = field(default_factory=dict)  # listener id → moves
    updates: list[tuple[str, Resource, ActualResource]] = field(default_factory=list)
    creates: list[tuple[str, Resource]] = field(default_factory=list)
    deletes: list[ActualResource] = field(default_factory=list)
    kept: list[tuple[str, Resource, ActualResource]] = field(default_factory=list)  # content as wanted


def _listener_of(rid: str) -> str:
    return rid.rsplit(":", 1)[0]


def _key(props: Mapping[str, Any]) -> Any:
    return repr(mutable_view(LISTENER_RULE, props))


def match(desired: Mapping[str, Resource], actual: list[ActualResource], resolve: Any) -> RuleChanges:
    """``desired``: rule id → rule; ``resolve``: turns refs into physical ids."""
    out = RuleChanges()
    listeners = {_listener_of(rid) for rid in desired} | {_listener_of(r.id) for r in actual}
    for listener in sorted(listeners):
        want = {
            int(r.properties["Priority"]): (rid, r, _key(resolve(r.properties)))
            for rid, r in desired.items()
            if ref_target(r.properties.get("ListenerArn")) == listener or _listener_of(rid) == listener
        }
        have = {int(r.properties["Priority"]): r for r in actual if _listener_of(r.id) == listener}
        have_keys = {p: _key(r.properties) for p, r in have.items()}
        open_want = dict(want)
        open_have = dict(have)
        for priority, (rid, resource, key) in want.items():  # 1. already right where it should be
            if priority in open_have and have_keys[priority] == key:
                out.kept.append((rid, resource, open_have[priority]))
                del open_want[priority], open_have[priority]
        for priority, (rid, resource, key) in sorted(open_want.items()):  # 2. right content, wrong place
            source = next((p for p in sorted(open_have) if have_keys[p] == key), None)
            if source is not None:
                out.kept.append((rid, resource, open_have[source]))
                out.moves.setdefault(listener, []).append((open_have.pop(source), priority))
                del open_want[priority]
        for priority, (rid, resource, _) in sorted(open_want.items()):  # 3. rewrite in place, or create
            if priority in open_have:
                out.updates.append((rid, resource, open_have.pop(priority)))
            else:
                out.creates.append((rid, resource))
        out.deletes.extend(open_have[p] for p in sorted(open_have))  # 4. the rest goes
    return out


def blockers(moves: list[tuple[ActualResource, int]], deletes: list[ActualResource]) -> list[ActualResource]:
    """Rules about to be deleted that sit on a priority a move (of the same listener)
    needs: they go first (the requests they served are meant to stop matching them
    anyway)."""
    targets = {p for _, p in moves}
    listeners = {_listener_of(r.id) for r, _ in moves}
    return [r for r in deletes if _listener_of(r.id) in listeners and int(r.properties["Priority"]) in targets]


def reorder(listener: str, moves: list[tuple[ActualResource, int]]) -> Resource:
    """The SetRulePriorities of one listener."""
    priorities = [{"RuleArn": r.physical_id, "Priority": p} for r, p in moves]
    return Resource(type=LISTENER_RULE, properties={"Listener": listener, "RulePriorities": priorities})
