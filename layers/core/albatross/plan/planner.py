"""Turn (desired, actual) into ordered steps: creates and updates in dependency order,
deletes in reverse.

A desired and an actual resource pair when they have the same resource id and the same
identity (see :data:`albatross.plan.compare.IDENTITY`); an unpaired desired resource is
created, an unpaired actual one deleted, a pair whose mutable view differs updated.
References to resources being replaced do not resolve, so whatever points at them is
updated to the replacement.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from albatross.model.names import LOAD_BALANCER_ID
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
from albatross.plan.compare import IDENTITY, attributes_differ, mutable_view, tag_changes

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
    # A delete because the whole group is gone (not a replacement): what the applier's
    # deletion protection guard says when it refuses (albatross.plan.protection decides).
    group_deleted: bool = False
    previous: Resource | None = None  # what the previous model wanted (for tags to remove)

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
    # Parents first: a listener pairs only if its load balancer did (a replaced load
    # balancer gets new listeners), and rules only under a paired listener.
    for res in sorted(actual.resources, key=lambda r: CREATE_ORDER.index(r.type)):
        want = wanted.get(res.id)
        same = (
            want is not None
            and want.type == res.type
            and res.id not in paired
            and IDENTITY[res.type](want.properties) == IDENTITY[res.type](res.properties)
            and all(parent in paired for parent in _parents(want))
            and _under(res, paired)
        )
        if res.type == LISTENER_RULE:
            same = _listener_of_rule(res.id) in paired and _under(res, paired)
        if same:
            paired[res.id] = res
        else:
            orphans.append(res)
    return paired, orphans


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
    gone = {r.physical_id for r in aside}
    for type_, parent in ((LISTENER, "LoadBalancerArn"), (LISTENER_RULE, "ListenerArn")):
        gone |= {r.physical_id for r in actual.of_type(type_) if r.properties.get(parent) in gone}
    under = [r for r in actual.resources if r.physical_id in gone]
    # what a kept load balancer uses cannot go (AWS would refuse), and is not ours to take from it
    named = _strings_in([r.properties for r in under])
    used = {sg for r in aside for sg in r.properties.get("SecurityGroups") or ()} | {
        r.physical_id for r in actual.of_type(TARGET_GROUP) if r.physical_id in named
    }
    unpaired = {r.physical_id for r in orphans}
    kept = tuple(
        r
        for r in actual.resources
        if r.physical_id not in gone and not (r.physical_id in unpaired and r.physical_id in used)
    )
    return Actual(resources=kept), aside


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


def _parents(resource: Resource) -> list[str]:
    if resource.type == LISTENER:
        return [t for t in (ref_target(resource.properties.get("LoadBalancerArn")),) if t]
    return []


def _listener_of_rule(rid: str) -> str:
    return rid.rsplit(":", 1)[0]


def _under(res: ActualResource, paired: Mapping[str, ActualResource]) -> bool:
    """Whether an actual listener (rule) hangs under the paired load balancer (listener),
    when discovery says where it hangs: while a load balancer is replaced, the old one's
    listeners and rules carry the same ids as the new one's."""
    if res.type == LISTENER:
        arn, parent = res.properties.get("LoadBalancerArn"), paired.get(LOAD_BALANCER_ID)
    elif res.type == LISTENER_RULE:
        arn, parent = res.properties.get("ListenerArn"), paired.get(_listener_of_rule(res.id))
    else:
        return True
    return arn is None or parent is None or arn == parent.physical_id


def plan(desired: Stack | None, actual: Actual, previous: Stack | None = None) -> list[Step]:
    """``previous``: the model applied before, when known: tags it set that ``desired``
    no longer sets are removed."""
    paired, orphans = pair(desired, actual)
    before = previous.resources if previous else {}
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
                if (
                    mutable_view(type_, resolved) != mutable_view(type_, have.properties)
                    or attributes_differ(resolved, have.properties)
                    or any(tag_changes(want.properties, have.properties, _props(before.get(rid))))
                ):
                    steps.append(
                        Step(op="update", type=type_, id=rid, desired=want, actual=have, previous=before.get(rid))
                    )
    changes = rules.match(
        {rid: r for rid, r in wanted.items() if r.type == LISTENER_RULE},
        # the others go with their listener; a rule of another load balancer's listener
        # with the same id (a duplicate's) is not this one
        [r for r in actual.of_type(LISTENER_RULE) if paired.get(r.id) is r],
        lambda props: resolve(props, physical),
    )
    early: list[ActualResource] = []
    for listener, moves in sorted(changes.moves.items()):
        for blocker in rules.blockers(moves, changes.deletes):
            early.append(blocker)
            steps.append(Step(op="delete", type=LISTENER_RULE, id=blocker.id, actual=blocker))
        steps.append(Step(op="reorder", type=LISTENER_RULE, id=listener, desired=rules.reorder(listener, moves)))
    # New rules before rewrites: a rule rewritten in place stops serving what it served,
    # which by then a new rule serves (no request meets the default 404 mid-change).
    for rid, want in sorted(changes.creates, key=lambda c: _natural(c[0])):
        steps.append(Step(op="create", type=LISTENER_RULE, id=rid, desired=want))
    for rid, want, have in changes.updates:
        steps.append(Step(op="update", type=LISTENER_RULE, id=rid, desired=want, actual=have))
    for rid, want, have in changes.kept:
        if any(tag_changes(want.properties, have.properties, _props(before.get(rid)))):
            steps.append(
                Step(op="update", type=LISTENER_RULE, id=rid, desired=want, actual=have, previous=before.get(rid))
            )
    doomed = orphans + [r for r in changes.deletes if r not in early]
    doomed = _without_cascaded(doomed)
    for type_ in DELETE_ORDER:
        for res in sorted(doomed, key=lambda r: _natural(r.id)):
            if res.type == type_:
                steps.append(Step(op="delete", type=type_, id=res.id, actual=res, group_deleted=desired is None))
    return steps


def _without_cascaded(doomed: list[ActualResource]) -> list[ActualResource]:
    """Deleting a load balancer deletes its listeners and their rules, and deleting a
    listener its rules: no call of their own."""
    gone = {r.physical_id for r in doomed if r.type in (LOAD_BALANCER, LISTENER)}
    parent = {LISTENER: "LoadBalancerArn", LISTENER_RULE: "ListenerArn"}
    return [r for r in doomed if r.type not in parent or r.properties.get(parent[r.type]) not in gone]


def _props(resource: Resource | None) -> Mapping[str, Any] | None:
    return resource.properties if resource is not None else None


def _natural(rid: str) -> tuple[Any, ...]:
    """Sort ``80:10`` after ``80:9``: numbers compare as numbers."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in rid.replace(":", " ").split())
