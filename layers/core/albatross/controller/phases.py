"""The phases of applying a group's saved model, shared by the state machines' step
function and the reconcile function's in-place path.

Each phase re-reads what it needs (the saved model, the actual stack by tags) and
applies only its part of the plan, so any phase can run twice, or after a crash, and
converge. The tag search lags behind creates (the Resource Groups Tagging API is
eventually consistent): each phase records in the state store what it made, the moment
the create call answers, and the next phases read those by id
(:func:`albatross.aws.discovery.locate`), so they see the load balancer, target groups
and security group made a phase earlier, and never plan them again. A record goes when
Albatross deletes the resource, when the tag search (or its load balancer's listing)
shows it, or when it has been gone for :data:`GONE_AFTER` seconds. Phase names:

* ``apply:<Type>``: creates and updates of one resource type, in dependency order;
* ``targets``: target registrations (and backend security group rules) of every desired
  target group;
* ``prune:<Type>``: deletions of one resource type, in reverse order
  (``prune:TargetGroup`` first revokes the backend rules of target groups that left).

An execution started by a reconcile carries a :class:`View` in its input: what that
reconcile found (the physical id of each resource paired with a desired one, the
unpaired ones to delete) and which phases its plan gave work. A phase then searches
nothing by tags: a phase without work reads nothing, one with work reads only the
resources of its own type (by id, or listed under their parents) and takes the others
as the view and the records of this execution's creates name them, in their desired
form (the phases before made them so). The wait for ``active`` reads the load
balancers by ARN; the execution's last step writes the stack index from the same
ids. Without a view (an execution started otherwise) a phase reads the whole stack.
An execution's input is not trusted as it stands (anyone allowed to start one could
have written it): a task acts on, or records, an id of the view only once
:func:`vouch` finds it the group's.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping, Set
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from albatross.aws import applier, discovery, targets
from albatross.aws.errors import LoadBalancerNotReady, NotFound, UserError, aws_errors
from albatross.aws.gateway import AWS
from albatross.controller import gates as readiness_gates
from albatross.controller import networking
from albatross.controller.settings import Settings
from albatross.k8s.errors import readable
from albatross.k8s.node import Node, parse_node
from albatross.k8s.service import parse_endpoint_slice, parse_service
from albatross.kinds import KINDS, kind_of
from albatross.kinds.base import Kind, tag_dict
from albatross.model import names
from albatross.model import networking as net
from albatross.model.stack import ALB_TARGET, LISTENER_RULE, LOAD_BALANCER, SECURITY_GROUP, TARGET_GROUP, Stack
from albatross.model.targets import digest, gated_addresses, instance_targets, ip_targets, waiting_pods
from albatross.plan.actual import Actual, ActualResource
from albatross.plan.planner import CREATE_ORDER, Step, pair, plan, resolve, set_aside
from albatross.store.registered import Registered
from albatross.store.table import GroupState, Store

logger = Logger(child=True)

TYPE_NAMES = {t.rsplit("::", 1)[-1]: t for t in CREATE_ORDER}
PHASES = frozenset({"targets"} | {f"{action}:{name}" for action in ("apply", "prune") for name in TYPE_NAMES})
# A recorded resource that a read by id does not find is forgotten only after this long:
# a describe right after the create may not find it yet either (EC2's API is eventually
# consistent too).
GONE_AFTER = 600.0


def recorded(state: GroupState) -> dict[str, str]:
    """What Albatross made for the group and has not seen deleted: physical id →
    resource id, for :func:`albatross.aws.discovery.locate`."""
    return {physical: made.rid for physical, made in state.made.items()}


def current_stack(*, settings: Settings, store: Store, group: str, state: GroupState) -> Actual:
    """The group's stack as the tag search and the records of what Albatross made show
    it; records the search now lists, and those gone for :data:`GONE_AFTER`, are
    forgotten."""
    found = discovery.locate(cluster=settings.cluster, stack_id=group, recorded=recorded(state))
    present = {r.physical_id for r in found.actual.resources}
    now = time.time()
    done = [
        physical
        for physical, made in state.made.items()
        if physical not in found.by_id and (physical in present or now - made.at > GONE_AFTER)
    ]
    store.forget_made(group, done)
    return found.actual


def _record(store: Store, group: str, steps: Iterable[Step], physical: Mapping[str, str], actual: Actual) -> None:
    """Record what the applied ``steps`` made, forget what they deleted (with the
    listeners and rules that went with a load balancer or listener)."""
    steps = list(steps)
    made = {physical[s.id]: s.id for s in steps if s.op == "create" and s.id in physical}
    store.record_made(group, made, at=time.time())
    deleted = {s.actual.physical_id for s in steps if s.op == "delete" and s.actual is not None}
    if deleted:
        under = {
            r.physical_id
            for r in actual.resources
            if discovery.parent_of(r.physical_id) in deleted
            or discovery.parent_of(discovery.parent_of(r.physical_id)) in deleted
        }
        store.forget_made(group, deleted | under)


def _apply(store: Store, group: str, steps: list[Step], physical: dict[str, str], actual: Actual) -> None:
    """Apply ``steps`` in order, recording what each made or deleted."""
    applied: list[Step] = []
    try:
        for step in steps:
            logger.info("applying", extra={"group": group, "step": step.describe()})
            applier.apply(step, physical)
            applied.append(step)
    finally:
        # also when a later step fails: what was made is on record before the error leaves
        _record(store, group, applied, physical, actual)


def dns_names(actual: Actual, physical: Mapping[str, str]) -> dict[str, str]:
    """The DNS name of each of the group's load balancers (those paired with a desired one)."""
    return {
        r.id: str(r.properties.get("DNSName") or "")
        for r in actual.of_type(LOAD_BALANCER)
        if physical.get(r.id) == r.physical_id
    }


def saved_model(store: Store, group: str) -> Stack | None:
    model = store.group_state(group).model
    return Stack.from_json(model) if model else None


def _select(steps: list[Step], phase: str) -> list[Step]:
    action, _, type_name = phase.partition(":")
    if type_name not in TYPE_NAMES:
        raise UserError(f"unknown phase {phase!r}")
    ops = ("create", "update", "reorder") if action == "apply" else ("delete",)
    return [s for s in steps if s.type == TYPE_NAMES[type_name] and s.op in ops]


def physical_ids(desired: Stack | None, actual: Actual) -> dict[str, str]:
    """Resource id → ARN (or SG id) of the actual resources paired with desired ones."""
    return {rid: res.physical_id for rid, res in pair(desired, actual)[0].items()}


@dataclass(frozen=True)
class View:
    """What the reconcile that started an execution found and planned, carried in the
    execution's input (``view``) so that its phases search nothing by tags.

    ``paired``: resource id → physical id of each resource paired with a desired one;
    ``orphans``: physical id → resource id of those to delete (load balancers only when
    the group made or adopted them); ``work``: ``<op>:<Type>`` of every planned step;
    ``started``: when it was planned (epoch seconds: this execution's creates are the
    records made since); ``trusted``: whether the reconcile read by the stack index (so
    the recorded target digests are trusted, as an in-place apply trusts them)."""

    paired: Mapping[str, str]
    orphans: Mapping[str, str]
    work: frozenset[str]
    started: float
    trusted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "paired": dict(sorted(self.paired.items())),
            "orphans": dict(sorted(self.orphans.items())),
            "work": sorted(self.work),
            "started": self.started,
            "trusted": self.trusted,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> View:
        return cls(
            paired=dict(data.get("paired") or {}),
            orphans=dict(data.get("orphans") or {}),
            work=frozenset(data.get("work") or ()),
            started=float(data.get("started") or 0.0),
            trusted=bool(data.get("trusted")),
        )

    @classmethod
    def of(cls, *, desired: Stack | None, actual: Actual, steps: Iterable[Step], trusted: bool) -> View:
        paired, orphans = pair(desired, actual)
        return cls(
            paired={rid: r.physical_id for rid, r in paired.items()},
            orphans={r.physical_id: r.id for r in orphans},
            work=frozenset(f"{s.op}:{s.type.rsplit('::', 1)[-1]}" for s in steps),
            started=time.time(),
            trusted=trusted,
        )

    def has_work(self, phase: str) -> bool:
        action, _, type_name = phase.partition(":")
        ops = ("create", "update", "reorder") if action == "apply" else ("delete",)
        return any(f"{op}:{type_name}" in self.work for op in ops)

    def known(self, state: GroupState) -> dict[str, str]:
        """Resource id → physical id of the desired resources as they stand now: those the
        reconcile found paired, and those this execution has made since (the newest
        record of an id)."""
        out = dict(self.paired)
        made = sorted((m.at, physical, m.rid) for physical, m in state.made.items() if m.at >= self.started)
        for _, physical, rid in made:
            if rid not in self.paired:
                out[rid] = physical
        return out


def view_of(event: Mapping[str, Any]) -> View | None:
    """The view an execution's input carries (the step task's ``input``), if any."""
    carried = event.get("input")
    data = carried.get("view") if isinstance(carried, Mapping) else None
    return View.from_json(data) if isinstance(data, Mapping) else None


def _kind_of_id(physical_id: str) -> Kind | None:
    return next((k for k in reversed(KINDS) if k.owns(physical_id)), None)


class ForeignView(Exception):
    """An execution's view names a resource that is not the group's. An execution's
    input is data anyone allowed to start (or redrive) one could have written, and a
    message may act only on what Albatross manages: the task refuses before any call on
    what the view names, and the execution fails (a Warning on the members, the stack
    index forgotten: the next reconcile searches by tags)."""


def _records(state: GroupState) -> set[str]:
    """The physical ids the group's stored records name: its stack index's, what
    Albatross made for it, the load balancers it made or adopted."""
    ids = (state.index or {}).get("ids")
    return {str(p) for p in (ids.values() if isinstance(ids, Mapping) else ()) if p} | set(state.made) | state.owned


def _root(physical_id: str) -> str:
    """The parentless resource a listener, rule or ALB target hangs under (their ARNs
    extend it); the id itself for the others."""
    for _ in KINDS:  # a parent's ARN is a segment shorter: bounded by the kinds' depth
        parent = discovery.parent_of(physical_id)
        if not parent:
            break
        physical_id = parent
    return physical_id


def _elb_tags(ids: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    with aws_errors():
        found = AWS.elbv2().describe_tags(ResourceArns=list(ids))["TagDescriptions"]
    return [(str(d["ResourceArn"]), tag_dict(d.get("Tags"))) for d in found]


def _tags_of(ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """Tags of parentless resources by physical id, the gone ones left out: ELBv2's
    DescribeTags (20 ARNs a call), security groups' own description."""
    ids = sorted(set(ids))
    groups = kind_of(SECURITY_GROUP)
    out = {
        r.physical_id: tag_dict(r.properties.get("Tags"))
        for r in discovery.describe(groups, {i: i for i in ids if groups.owns(i)})
    }
    arns = [i for i in ids if not groups.owns(i)]
    for start in range(0, len(arns), 20):
        out.update(discovery.each(_elb_tags, {a: a for a in arns[start : start + 20]}))
    return out


def vouch(*, cluster: str, group: str, state: GroupState, view: View, desired: Stack | None, task: str) -> None:
    """Raise :class:`ForeignView` unless every physical id ``view`` names is the group's:
    one its stored records name (:func:`_records`: no AWS call, the normal case), or
    hanging under one of those; else one whose tags say it is this cluster's stack for
    the group (current or legacy cluster tag), as the tag search keeps them: one read
    per kind, only for ids no record names. A load balancer the view would have deleted
    must be recorded, tags are not enough (as :func:`albatross.plan.planner.set_aside`
    rules), and a paired id must be of its desired resource's type. What AWS no longer
    has is not refused: nothing can be done to it."""
    refused: dict[str, str] = {}
    wanted = desired.resources if desired else {}
    for rid, pid in view.paired.items():
        if rid in wanted and not kind_of(wanted[rid].type).owns(pid):
            refused[pid] = f"not a {wanted[rid].type.rsplit('::', 1)[-1]}"
    records, paired = _records(state), set(view.paired.values())
    asked: dict[str, list[str]] = {}  # root → the ids that hang on its tags
    for pid in sorted((paired | set(view.orphans)) - set(refused)):
        root = _root(pid)
        kind = _kind_of_id(root)
        if pid in records or root in records:
            continue
        if kind is None or kind.parent_type is not None:
            refused[pid] = "not an Albatross resource"
        elif kind.type == LOAD_BALANCER and root not in paired:
            refused[pid] = "under a load balancer the group neither made nor adopted"
        else:
            asked.setdefault(root, []).append(pid)
    if asked and not refused:  # a view already refused is not read about
        tags = _tags_of(asked)
        for root, pids in asked.items():
            if root in tags and not names.owned_by(tags[root], cluster=cluster, stack=group):
                refused.update(dict.fromkeys(pids, "tagged for another stack, or not tagged as ours"))
    if refused:
        _refuse(group=group, task=task, refused=refused)


def _refuse(*, group: str, task: str, refused: Mapping[str, str]) -> None:
    """Log what a view names that is not the group's, and why, and fail the task."""
    logger.error(
        "the execution's view names what is not the group's: refused",
        extra={"group": group, "task": task, "refused": dict(refused)},
    )
    shown = "; ".join(f"{pid} ({why})" for pid, why in sorted(refused.items())[:3])
    more = f" and {len(refused) - 3} more" if len(refused) > 3 else ""
    raise ForeignView(f"the execution's input names what is not {group}'s: {shown}{more}; nothing was done to it")


def _synthesized(desired: Stack | None, known: Mapping[str, str], skip: str) -> list[ActualResource]:
    """The desired resources the view names, other than ``skip``'s type (and rules,
    which nothing else needs), as the phases before made them: their desired form."""
    if desired is None:
        return []
    out: list[ActualResource] = []
    for rid, res in desired.resources.items():
        pid = known.get(rid)
        if pid is None or res.type in (skip, LISTENER_RULE) or not kind_of(res.type).owns(pid):
            continue
        out.append(ActualResource(id=rid, type=res.type, physical_id=pid, properties=resolve(res.properties, known)))
    return out


def _read_own(
    type_: str, *, desired: Stack | None, known: Mapping[str, str], view: View, others: list[ActualResource]
) -> list[ActualResource]:
    """What AWS holds of one type: by id (the desired ones the view names and the orphans
    of the type), or listed under the parents the view names; completed as the plan
    compares it (attributes, tags, certificates)."""
    kind = kind_of(type_)
    if kind.parent_type is None:
        ids = {pid: rid for rid, pid in known.items() if kind.owns(pid)}
        ids.update({pid: rid for pid, rid in view.orphans.items() if kind.owns(pid)})
        found = discovery.describe(kind, ids)
    else:
        found = []
        for parent in [r for r in others if r.type == kind.parent_type]:
            try:
                with aws_errors():
                    found += kind.list_under(AWS, parent)
            except NotFound:
                continue
    return list(discovery.complete(Actual(resources=tuple(found)), desired).resources)


def _run_viewed(*, settings: Settings, store: Store, group: str, phase: str, view: View) -> dict[str, Any]:
    """:func:`run_phase` with a view: nothing read when the plan gave the phase no work."""
    state = store.group_state(group)
    desired = Stack.from_json(state.model) if state.model else None
    type_name = phase.partition(":")[2]
    type_ = LOAD_BALANCER if phase == "targets" else TYPE_NAMES[type_name]
    needed = "update:LoadBalancer" in view.work if phase == "targets" else view.has_work(phase)
    if needed or phase in ("targets", "apply:LoadBalancer"):  # these act on (or record as ours) what the view names
        vouch(cluster=settings.cluster, group=group, state=state, view=view, desired=desired, task=phase)
    released = 0
    if phase == "prune:TargetGroup":  # no AWS call when no rule is recorded for a target group that left
        released = release_rules(store=store, group=group, cluster=settings.cluster, desired=desired)
    steps: list[Step] = []
    known = view.known(state)
    physical = {rid: pid for rid, pid in known.items() if rid in (desired.resources if desired else {})}
    if needed:
        if type_ == ALB_TARGET:
            # an ALB registered in a frontend NLB's target group (rare) hangs under target
            # groups that may be leaving: read with the whole stack, records kept
            found = discovery.read_stack(
                cluster=settings.cluster, stack_id=group, desired=desired, recorded=recorded(state)
            )
        else:
            others = _synthesized(desired, known, skip=type_)
            found = Actual(
                resources=tuple(others + _read_own(type_, desired=desired, known=known, view=view, others=others))
            )
        actual, _ = set_aside(desired, found, state.owned)  # as without a view: tags alone make nothing ours
        physical = physical_ids(desired, actual)
        planned = plan(desired, actual)
        steps = [s for s in planned if _attaching(s)] if phase == "targets" else _select(planned, phase)
        _apply(store, group, steps, physical, actual)
    if phase == "targets":
        changes, digests = sync_targets(
            desired,
            physical,
            store,
            state.targets if view.trusted else None,
            group=group,
            cluster=settings.cluster,
            gates=readiness_gates.Gates.of(settings),
            created={p for p, m in state.made.items() if m.at >= view.started},  # this execution's
        )
        # what it registered and opened, checked in AWS: the next reconcile of the same
        # model reads nothing (trusted only with the index the execution's end saves)
        store.set_target_digests(group, digests, known=state.targets)
        return {"phase": phase, "changes": len(steps) + changes}
    if phase == "prune:SecurityGroup" and desired is None:
        released += networking.release_backend_group(store=store, cluster=settings.cluster, vpc_id=settings.vpc_id)
    if phase == "apply:LoadBalancer":
        store.own_load_balancers(
            group, [physical[rid] for rid in (names.LOAD_BALANCER_ID, names.FRONTEND_NLB_ID) if rid in physical]
        )
    return {"phase": phase, "changes": len(steps) + released}


def _check_viewed(*, store: Store, group: str, want: str, view: View) -> dict[str, Any]:
    """:func:`check_load_balancer` with a view: the load balancers by ARN, one call."""
    state = store.group_state(group)
    ids = {rid: pid for rid, pid in view.known(state).items() if rid in (names.LOAD_BALANCER_ID, names.FRONTEND_NLB_ID)}
    if want == "gone":
        ids = {rid: pid for pid, rid in view.orphans.items() if kind_of(LOAD_BALANCER).owns(pid)}
    # only a load balancer the group made or adopted is waited for (the provision's
    # apply:LoadBalancer has recorded the paired one): read by ARN, never one of others
    records = _records(state)
    if not set(ids.values()) <= records:
        _refuse(
            group=group,
            task=f"wait:{want}",
            refused=dict.fromkeys(set(ids.values()) - records, "a load balancer the group neither made nor adopted"),
        )
    found = discovery.describe(
        kind_of(LOAD_BALANCER), {pid: rid for rid, pid in ids.items() if kind_of(LOAD_BALANCER).owns(pid)}
    )
    states = [r.properties.get("State") for r in found]
    if want == "gone":
        if states:
            raise LoadBalancerNotReady(f"load balancer of {group} still exists ({states[0]})")
        return {"loadBalancer": "gone"}
    if not states or len(found) < len(ids) or any(s != "active" for s in states):
        raise LoadBalancerNotReady(f"load balancer of {group} is {states[0] if states else 'missing'}")
    return {"loadBalancer": "active", "dns": {r.id: str(r.properties.get("DNSName") or "") for r in found}}


def as_finished(*, store: Store, group: str, cluster: str, view: View, dns: Any) -> tuple[Actual, dict[str, str]]:
    """The execution's end with a view: the group's load balancers (their DNS names, as
    the wait for ``active`` answered, read by ARN when it did not) and resource id →
    physical id of every desired resource, for the status and the stack index (so only
    what :func:`vouch` accepts)."""
    state = store.group_state(group)
    desired = Stack.from_json(state.model) if state.model else None
    wanted = desired.resources if desired else {}
    if wanted:  # a teardown's end names nothing
        vouch(cluster=cluster, group=group, state=state, view=view, desired=desired, task="finish")
    physical = {rid: pid for rid, pid in view.known(state).items() if rid in wanted}
    lbs = {rid: pid for rid, pid in physical.items() if wanted[rid].type == LOAD_BALANCER}
    if not isinstance(dns, Mapping) or set(dns) != set(lbs):
        found = discovery.describe(kind_of(LOAD_BALANCER), {pid: rid for rid, pid in lbs.items()})
        dns = {r.id: r.properties.get("DNSName") for r in found}
    return Actual(
        resources=tuple(
            ActualResource(id=rid, type=LOAD_BALANCER, physical_id=pid, properties={"DNSName": str(dns.get(rid) or "")})
            for rid, pid in sorted(lbs.items())
        )
    ), physical


def sync_targets(
    desired: Stack | None,
    physical: Mapping[str, str],
    store: Store,
    applied: Mapping[str, str] | None = None,
    only_service: str | None = None,
    only_mode: str | None = None,
    *,
    group: str,
    cluster: str,
    gates: readiness_gates.Gates | None = None,
    created: Collection[str] = frozenset(),
) -> tuple[int, dict[str, str]]:
    """Register the targets of each desired target group (ready endpoints in ip mode, the
    serving Nodes' instances in instance mode), after the backend security group rules
    they need (:mod:`albatross.controller.networking`); returns the changes and, per
    target group, the digest of its target set and networking. A target group whose
    digest is the one ``applied`` records (the group's ``targets`` digests) is synced
    already: not read. Without ``applied`` (nothing vouched for), the rules are checked
    in AWS too. ``only_service`` / ``only_mode``: just the target groups of that Service /
    of that target type.

    Registrations are diffed against the record of what the last sync registered (ADR
    0019), read from AWS only without one, or when ``applied`` is None (a fresh path
    trusts no record); ``created``: the ARNs of target groups this run made, which hold
    nothing it did not register (no read).

    Pod readiness gates (ADR 0014): in ip mode an endpoint that is not ready is
    registered too when its pod waits on this target group's gate with its containers
    ready, and ``gates`` gets those pods' first conditions and first poll
    (:func:`albatross.controller.gates.after_sync`)."""
    if desired is None:
        return 0, {}
    verify = not applied
    trusted = applied is not None  # the record of registrations too (ADR 0019)
    applied = applied or {}
    changed = 0
    digests: dict[str, str] = {}
    nodes: list[Node] | None = None  # read once, when an instance-mode target group needs them
    records: dict[str, Registered] | None = None  # read once, when a target group needs a sync
    for rid, tg in desired.of_type(TARGET_GROUP).items():
        binding: Mapping[str, Any] = tg.binding or {}
        mode = binding.get("targetType")
        if rid not in physical or mode not in ("ip", "instance"):
            continue
        service_key = str(binding["service"])
        if only_service is not None and service_key != only_service:
            continue
        if only_mode is not None and mode != only_mode:
            continue
        addresses: Mapping[str, Mapping[str, Any]] = {}  # gated pods' addresses (ip mode)
        raw: list[Mapping[str, Any]] = []  # the Service's EndpointSlices (ip mode): the pods' nodes
        gate = ""
        if mode == "instance":
            if nodes is None:
                nodes = readable(store.nodes(), parse_node)
            wanted = instance_targets(binding=binding, port=int(tg.properties["Port"]), nodes=nodes)
        else:
            service_obj = store.get_objects("Service", [service_key]).get(service_key)
            service = next(iter(readable([service_obj] if service_obj else [], parse_service)), None)
            raw = store.endpoint_slices(service_key)
            slices = readable(raw, parse_endpoint_slice)
            gate = readiness_gates.gate_of(group, tg)
            waiting = waiting_pods(raw)  # pods whose gates may make them targets (read only then)
            addresses = gated_addresses(raw, store.get_objects("Pod", waiting), gate) if waiting else {}
            wanted = ip_targets(binding=binding, service=service, slices=slices, gated=set(addresses))
        # the target group's ARN is part of the mark: a replaced (or re-created) target
        # group with the same id and the same endpoints still needs its targets
        digests[rid] = f"{physical[rid]}|{digest(wanted)}|{net.spec_digest(binding, physical)}"
        if applied.get(rid) == digests[rid]:
            continue
        calls, settled = networking.sync(
            store=store,
            group=group,
            cluster=cluster,
            rid=rid,
            target_group=tg,
            physical=physical,
            targets=wanted,
            verify=verify,
            slices=raw,
        )
        changed += calls
        if not settled:
            digests[rid] += "|unsettled"  # matches no digest: the next sync tries the rules again
        seen: dict[tuple[str, int], dict[str, Any]] = {}  # the health read before registering
        records = store.registered_targets(group) if records is None else records
        record = records.get(rid)
        ours = record.targets if record is not None and record.arn == physical[rid] else None
        if physical[rid] in created:
            known: Set[tuple[str, int]] | None = frozenset() if ours is None else ours
        else:
            known = ours if trusted else None  # a fresh path: what AWS holds, not our record
        version = record.version if record is not None else None
        if known is not None and not known >= frozenset(wanted):
            # before the calls, the record names all they may leave registered: a sync that
            # fails between its calls and its record (a throttle, a timeout; the state
            # machine's retry) leaves a record erring toward too much, which a later sync
            # deregisters, never toward too little, which no sync would see
            if store.save_registered(group, rid, arn=physical[rid], targets=known | frozenset(wanted), version=version):
                version = (version or 0) + 1
            else:
                known, version = None, None  # another sync wrote meanwhile: read what AWS holds
        if binding.get("multiCluster"):
            # shared with other clusters: deregister only what this cluster registered
            tracked = store.tracked_targets(group, rid) or set()
            synced = targets.sync(physical[rid], wanted, tracked=tracked, seen=seen, known=known)
            store.track_targets(group, rid, wanted)
        else:
            synced = targets.sync(physical[rid], wanted, seen=seen, known=known)
        changed += synced.registered + synced.deregistered
        if addresses:
            # without a read the sync knows the health of none: the gated targets it just
            # registered get their first conditions; those an earlier sync registered got
            # theirs then, and their poll goes on (ADR 0019)
            gated = wanted if synced.read or known is None else wanted - known
            readiness_gates.after_sync(
                gates,
                target_group_arn=physical[rid],
                target_group=tg,
                targets=readiness_gates.gated_targets(gated, addresses, gate),
                seen=seen,
            )
        # the exact set only now, after the calls and the first conditions
        changed_record = synced.read or ours != frozenset(wanted)
        if changed_record and not store.save_registered(group, rid, arn=physical[rid], targets=wanted, version=version):
            digests[rid] += "|unsettled"  # another sync wrote meanwhile: the next one reads
    return changed, digests


@dataclass(frozen=True)
class Applied:
    changes: int
    physical: Mapping[str, str]  # resource id → physical id, after the creates
    targets: Mapping[str, str]  # target group id → digest of its registered targets


def _attaching(step: Step) -> bool:
    """A load balancer's update, applied before the targets sync: it may attach the shared
    backend security group, and the sync then revokes the rules sourced from the group it
    replaces (a migrating cluster: the new source attached before the old rules go)."""
    return step.op == "update" and step.type == LOAD_BALANCER


def _releasing(step: Step) -> bool:
    """A delete that must come after the backend rules naming what it deletes are gone."""
    return step.op == "delete" and step.type in (TARGET_GROUP, SECURITY_GROUP)


def release_rules(*, store: Store, group: str, cluster: str, desired: Stack | None) -> int:
    """Revoke the backend rules of target groups that left the model (all of them when
    the group goes), before target groups and security groups are deleted."""
    keep = set(desired.of_type(TARGET_GROUP)) if desired else set()
    return networking.release(store=store, group=group, cluster=cluster, keep=keep)


def apply_all(
    *,
    store: Store,
    group: str,
    cluster: str,
    desired: Stack | None,
    actual: Actual,
    steps: list[Step],
    applied: Mapping[str, str] | None,
    gates: readiness_gates.Gates | None = None,
) -> Applied:
    """Apply a whole plan in one go (no load balancer created or deleted), registering
    targets of new target groups before any rule forwards to them, and revoking backend
    rules nobody needs before target groups and security groups are deleted.
    ``applied``: the target digests the stack index vouches for (None: a reconcile without
    one, which trusts no record of registrations either, ADR 0019)."""
    physical = physical_ids(desired, actual)
    before_targets = {CREATE_ORDER[0], CREATE_ORDER[1]}
    first = [s for s in steps if (s.op != "delete" and s.type in before_targets) or _attaching(s)]
    rest = [s for s in steps if s not in first]
    for step in first:
        logger.info("applying", extra={"group": group, "step": step.describe()})
        applier.apply(step, physical)
    # target groups made just now hold nothing (ADR 0019)
    made = {physical[s.id] for s in first if s.op == "create" and s.type == TARGET_GROUP and s.id in physical}
    registered, digests = sync_targets(
        desired, physical, store, applied, group=group, cluster=cluster, gates=gates, created=made
    )
    # nothing vouched for (the drift sweep): a target group deleted by hand leaves no step
    release = not applied or any(_releasing(s) for s in rest)
    for step in rest:
        if release and _releasing(step):
            registered += release_rules(store=store, group=group, cluster=cluster, desired=desired)
            release = False
        logger.info("applying", extra={"group": group, "step": step.describe()})
        applier.apply(step, physical)
    if release:
        registered += release_rules(store=store, group=group, cluster=cluster, desired=desired)
    if desired is None:  # what a failed teardown left, deleted in place: as its last phase does
        registered += networking.release_backend_group(store=store, cluster=cluster, vpc_id=None)
    return Applied(changes=len(steps) + registered, physical=physical, targets=digests)


def run_phase(*, settings: Settings, store: Store, group: str, phase: str, view: View | None = None) -> dict[str, Any]:
    if phase not in PHASES:
        raise UserError(f"unknown phase {phase!r}")
    if view is not None:
        return _run_viewed(settings=settings, store=store, group=group, phase=phase, view=view)
    state = store.group_state(group)
    desired = Stack.from_json(state.model) if state.model else None
    found = discovery.complete(current_stack(settings=settings, store=store, group=group, state=state), desired)
    # a load balancer the group has no record of is not ours to change or delete
    actual, _ = set_aside(desired, found, state.owned)
    physical = physical_ids(desired, actual)
    if phase == "targets":
        for step in [s for s in plan(desired, actual) if _attaching(s)]:  # as in apply_all
            logger.info("applying", extra={"group": group, "step": step.describe()})
            applier.apply(step, physical)
        changes, digests = sync_targets(
            desired, physical, store, group=group, cluster=settings.cluster, gates=readiness_gates.Gates.of(settings)
        )
        store.set_target_digests(group, digests, known=state.targets)
        return {"phase": phase, "changes": changes}
    released = (
        release_rules(store=store, group=group, cluster=settings.cluster, desired=desired)
        if phase == "prune:TargetGroup"
        else 0
    )
    steps = _select(plan(desired, actual), phase)
    _apply(store, group, steps, physical, actual)
    if phase == "prune:SecurityGroup" and desired is None:
        # the group is gone: the cluster's shared backend group with it once no stack
        # uses it (:func:`albatross.controller.networking.release_backend_group`)
        released += networking.release_backend_group(store=store, cluster=settings.cluster, vpc_id=settings.vpc_id)
    if phase == "apply:LoadBalancer":
        # made now, adopted by name, or made by an earlier try that died before this
        # line: the desired load balancers (the ALB, a frontend NLB) are the group's from
        # here on, index or not
        store.own_load_balancers(
            group, [physical[rid] for rid in (names.LOAD_BALANCER_ID, names.FRONTEND_NLB_ID) if rid in physical]
        )
    return {"phase": phase, "changes": len(steps) + released}


def check_load_balancer(*, settings: Settings, group: str, want: str, view: View | None = None) -> dict[str, Any]:
    """Raise LoadBalancerNotReady until the group's load balancer is active (``want``
    = ``active``) or gone (``want`` = ``gone``); the state machine retries with a bound.
    One merely tagged like it, that the group has no record of, is not waited for. With
    a view: one DescribeLoadBalancers by ARN, and ``active`` answers with the DNS names."""
    store = Store(settings.table)
    if view is not None:
        return _check_viewed(store=store, group=group, want=want, view=view)
    state = store.group_state(group)
    desired = Stack.from_json(state.model) if state.model else None
    actual, _ = set_aside(desired, current_stack(settings=settings, store=store, group=group, state=state), state.owned)
    # the ALB and a frontend NLB (ADR 0012): both made in one phase, both gone before
    # their target groups are deleted
    states = [
        r.properties.get("State")
        for r in actual.of_type(LOAD_BALANCER)
        if r.id in (names.LOAD_BALANCER_ID, names.FRONTEND_NLB_ID)
    ]
    if want == "gone":
        if states:
            raise LoadBalancerNotReady(f"load balancer of {group} still exists ({states[0]})")
        return {"loadBalancer": "gone"}
    if not states or any(s != "active" for s in states):
        raise LoadBalancerNotReady(f"load balancer of {group} is {states[0] if states else 'missing'}")
    return {"loadBalancer": "active"}
