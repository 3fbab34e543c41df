"""Turn (desired, actual) into ordered steps: creates and updates in dependency order,
deletes in reverse.

A desired and an actual resource pair when they have the same resource id and the same
identity (each kind says what its identity is: :mod:`albatross.kinds`); an unpaired
desired resource is created, an unpaired actual one deleted, a pair whose mutable view
differs updated. References to resources being replaced do not resolve, so whatever
points at them is updated to the replacement. The order is the kinds' registry order
(ADR 0011); each kind plans its own creates and updates (the listener rules match by
content), and this module holds no per-kind branch.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from albatross.kinds import CREATE_ORDER, DELETE_ORDER, KINDS, kind_of
from albatross.kinds.base import Op, Step, natural, resolve
from albatross.model.stack import LOAD_BALANCER, Resource, Stack
from albatross.plan.actual import Actual, ActualResource

__all__ = ["CREATE_ORDER", "DELETE_ORDER", "Op", "Step", "pair", "plan", "recorded_first", "resolve", "set_aside"]


def pair(desired: Stack | None, actual: Actual) -> tuple[dict[str, ActualResource], list[ActualResource]]:
    """Pairs by resource id and identity; returns (id → paired actual, unpaired actuals)."""
    wanted = desired.resources if desired else {}
    paired: dict[str, ActualResource] = {}
    orphans: list[ActualResource] = []
    # Parents first: a listener pairs only if its load balancer did (a replaced load
    # balancer gets new listeners), and rules only under a paired listener.
    for res in sorted(actual.resources, key=lambda r: CREATE_ORDER.index(r.type)):
        if kind_of(res.type).pairs(res, wanted.get(res.id), paired):
            paired[res.id] = res
        else:
            orphans.append(res)
    return paired, orphans


def _hanging_under(actual: Actual, gone: set[str]) -> set[str]:
    """``gone`` and the physical ids of everything that hangs under it, at any depth."""
    out = set(gone)
    for kind in KINDS:  # parents come before their children
        if kind.parent_property is not None:
            out |= {r.physical_id for r in actual.of_type(kind.type) if r.properties.get(kind.parent_property) in out}
    return out


def set_aside(
    desired: Stack | None, actual: Actual, recorded: Collection[str]
) -> tuple[Actual, tuple[ActualResource, ...]]:
    """Take out of ``actual`` every load balancer the plan would delete (tagged for the
    stack, not the one the desired load balancer pairs with) that is not ``recorded`` as
    made or adopted by Albatross, with its listeners and rules and the target groups
    and security groups of the stack it uses: tags alone never make Albatross delete or
    change a load balancer. Returns what is left to plan with, and the load balancers
    set aside, for a Warning that names each."""
    _, orphans = pair(desired, actual)
    aside = tuple(r for r in orphans if r.type == LOAD_BALANCER and r.physical_id not in recorded)
    if not aside:
        return actual, ()
    gone = _hanging_under(actual, {r.physical_id for r in aside})
    under = [r for r in actual.resources if r.physical_id in gone]
    # what a kept load balancer uses cannot go (AWS would refuse), and is not ours to take
    # from it: the security groups and target groups its properties and its listeners'
    # and rules' name
    used = _strings_in([r.properties for r in under])
    unpaired = {r.physical_id for r in orphans}
    kept = [
        r
        for r in actual.resources
        if r.physical_id not in gone and not (r.physical_id in unpaired and r.physical_id in used)
    ]
    # and what hangs under what was taken out (the ALB's registration in a target group
    # of the set-aside NLB): planned alone, it would be deleted
    taken = {r.physical_id for r in actual.resources} - {r.physical_id for r in kept}
    for kind in KINDS:  # parents come before their children
        if kind.parent_property is not None:
            out = {
                r.physical_id for r in kept if r.type == kind.type and r.properties.get(kind.parent_property) in taken
            }
            taken |= out
            kept = [r for r in kept if r.physical_id not in out]
    return Actual(resources=tuple(kept)), aside


def recorded_first(actual: Actual, recorded: Collection[str]) -> Actual:
    """``actual`` with the recorded load balancers before the others: where the model
    takes facts from the stack's live load balancer (its subnets), it takes them from
    one Albatross made or adopted, not from one merely tagged like it."""
    return Actual(
        resources=tuple(
            sorted(actual.resources, key=lambda r: r.type == LOAD_BALANCER and r.physical_id not in recorded)
        )
    )


def _strings_in(value: Any) -> set[str]:
    """Every string in a JSON-like value (the ARNs an action names, among others)."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return set().union(*(_strings_in(v) for v in value))
    return set()


def plan(desired: Stack | None, actual: Actual, previous: Stack | None = None) -> list[Step]:
    """``previous``: the model applied before, when known: tags it set that ``desired``
    no longer sets are removed."""
    paired, orphans = pair(desired, actual)
    before: Mapping[str, Resource] = previous.resources if previous else {}
    physical = {rid: res.physical_id for rid, res in paired.items() if kind_of(res.type).referable}
    wanted = desired.resources if desired else {}
    steps: list[Step] = []
    doomed = list(orphans)
    for kind in KINDS:
        made, unwanted = kind.plan(
            wanted=wanted, actual=actual.resources, paired=paired, physical=physical, before=before
        )
        steps += made
        doomed += unwanted
    doomed = _without_cascaded(doomed)
    for type_ in DELETE_ORDER:
        for res in sorted(doomed, key=lambda r: natural(r.id)):
            if res.type == type_:
                steps.append(Step(op="delete", type=type_, id=res.id, actual=res, group_deleted=desired is None))
    return steps


def _without_cascaded(doomed: list[ActualResource]) -> list[ActualResource]:
    """Deleting a load balancer deletes its listeners and their rules, and deleting a
    listener its rules: no call of their own (a kind that does not go with its parent,
    an ALB registered in a target group, is deleted by its own call)."""
    gone = {r.physical_id for r in doomed}
    return [
        r
        for r in doomed
        if (parent := kind_of(r.type).parent_property) is None
        or not kind_of(r.type).goes_with_parent
        or r.properties.get(parent) not in gone
    ]
