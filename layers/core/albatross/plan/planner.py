"""Turn (desired, actual) into ordered steps: creates and updates in dependency order,
deletes in reverse.

A desired and an actual resource pair when they have the same resource id and the same
identity (see :data:`albatross.plan.compare.IDENTITY`); an unpaired desired resource is
created, an unpaired actual one deleted, a pair whose mutable view differs updated.
References to resources being replaced do not resolve, so whatever points at them is
updated to the replacement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from albatross.model.stack import (
    LISTENER,
    LISTENER_RULE,
    LOAD_BALANCER,
    SECURITY_GROUP,
    TARGET_GROUP,
    Resource,
    Stack,
    ref_target,
)
from albatross.plan import rules
from albatross.plan.actual import Actual, ActualResource
from albatross.plan.compare import IDENTITY, attributes_differ, mutable_view

CREATE_ORDER = (SECURITY_GROUP, TARGET_GROUP, LOAD_BALANCER, LISTENER, LISTENER_RULE)
DELETE_ORDER = tuple(reversed(CREATE_ORDER))

Op = Literal["create", "update", "delete", "reorder"]


@dataclass(frozen=True)
class Step:
    op: Op
    type: str
    id: str
    desired: Resource | None = None
    actual: ActualResource | None = None
    # A delete because the whole group is gone: deletion protection set out of band is
    # lifted then (as LBC does), and honoured otherwise.
    group_deleted: bool = False

    def describe(self) -> str:
        return f"{self.op} {self.type.rsplit('::', 1)[-1]} {self.id}"


def resolve(value: Any, physical: Mapping[str, str]) -> Any:
    """Replace ``{"$ref": id}`` with the physical id (or leave the ref when unknown)."""
    target = ref_target(value)
    if target is not None:
        return physical.get(target, value)
    if isinstance(value, Mapping):
        return {k: resolve(v, physical) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, physical) for v in value]
    return value


def pair(desired: Stack | None, actual: Actual) -> tuple[dict[str, ActualResource], list[ActualResource]]:
    """Pairs by resource id and identity; returns (id → paired actual, unpaired actuals)."""
    wanted = desired.resources if desired else {}
    paired: dict[str, ActualResource] = {}
    orphans: list[ActualResource] = []
    for res in actual.resources:
        want = wanted.get(res.id)
        same = (
            want is not None
            and want.type == res.type
            and res.id not in paired
            and IDENTITY[res.type](want.properties) == IDENTITY[res.type](res.properties)
        )
        if same:
            paired[res.id] = res
        else:
            orphans.append(res)
    return paired, orphans


def plan(desired: Stack | None, actual: Actual) -> list[Step]:
    paired, orphans = pair(desired, actual)
    physical = {rid: res.physical_id for rid, res in paired.items() if res.type != LISTENER_RULE}
    steps: list[Step] = []
    wanted = desired.resources if desired else {}
    for type_ in CREATE_ORDER:
        if type_ == LISTENER_RULE:
            continue
        for rid in sorted(wanted, key=_natural):
            want = wanted[rid]
            if want.type != type_:
                continue
            have = paired.get(rid)
            if have is None:
                steps.append(Step(op="create", type=type_, id=rid, desired=want))
            else:
                resolved = resolve(want.properties, physical)
                if mutable_view(type_, resolved) != mutable_view(type_, have.properties) or attributes_differ(
                    resolved, have.properties
                ):
                    steps.append(Step(op="update", type=type_, id=rid, desired=want, actual=have))
    changes = rules.match(
        {rid: r for rid, r in wanted.items() if r.type == LISTENER_RULE},
        actual.of_type(LISTENER_RULE),
        lambda props: resolve(props, physical),
    )
    early: list[ActualResource] = []
    for listener, moves in sorted(changes.moves.items()):
        for blocker in rules.blockers(moves, changes.deletes):
            early.append(blocker)
            steps.append(Step(op="delete", type=LISTENER_RULE, id=blocker.id, actual=blocker))
        steps.append(Step(op="reorder", type=LISTENER_RULE, id=listener, desired=rules.reorder(listener, moves)))
    for rid, want, have in changes.updates:
        steps.append(Step(op="update", type=LISTENER_RULE, id=rid, desired=want, actual=have))
    for rid, want in sorted(changes.creates, key=lambda c: _natural(c[0])):
        steps.append(Step(op="create", type=LISTENER_RULE, id=rid, desired=want))
    doomed = [r for r in orphans if r.type != LISTENER_RULE] + [r for r in changes.deletes if r not in early]
    for type_ in DELETE_ORDER:
        for res in sorted(doomed, key=lambda r: _natural(r.id)):
            if res.type == type_:
                steps.append(Step(op="delete", type=type_, id=res.id, actual=res, group_deleted=desired is None))
    return steps


def _natural(rid: str) -> tuple[Any, ...]:
    """Sort ``80:10`` after ``80:9``: numbers compare as numbers."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in rid.replace(":", " ").split())
