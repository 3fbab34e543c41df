"""Reconcile one IngressGroup: build → discover → plan → apply (in place or through a
state machine) → report.

* Members come from the store. A member that is deleting, left the class or moved to
  another group is *leaving*: its rules are pruned and its finalizer removed after.
* A member error (bad annotation, malformed spec, or a defect of ours that one
  Ingress's values reach) is reported as a Warning on that member, and the group is
  built with the member's last good version, or without it if it never built; the other
  members proceed (ADR 0002). Only a member that never built in a group whose load
  balancer Albatross has never modelled (adopted from LBC, or a lost state table) holds
  the group as it is: that member may own part of it.
* Creating or deleting a load balancer needs waiting, so it runs in the provision or
  teardown state machine; everything else is applied here directly.
* A plan that deletes a load balancer with deletion protection (stated by a deleting
  Ingress, or on in AWS) is refused before anything runs: a Warning on every member, the
  finalizers kept. Protection is turned off only when the user asks for it
  (``deletion_protection.enabled=false``), then the plan runs (:mod:`albatross.plan.protection`).
* AWS refusing a change for good (a quota such as TooManyRules, a missing certificate)
  is a Warning ``FailedDeployModel`` on the members; throttling, 5xx and pending
  dependencies raise, and the work queue delivers the group again.
* While an execution runs for the group, a new request only marks the group dirty; the
  execution's last step enqueues it once more. The execution's input carries what this
  reconcile found (:class:`albatross.controller.phases.View`): its phases search nothing.
* A reconcile that is not ``fresh`` (no drift event asked for it) with a stack index
  builds from the applied model first; when the model is the one applied, every resource
  in that form and nobody leaving, it calls no AWS API: the targets are synced against
  their digests and the status reported with the names the index keeps. Otherwise it
  reads the stack (by the index) and goes on as below.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from aws_lambda_powertools import Logger

from albatross.aws import applier, budget, clients, discovery
from albatross.aws.errors import UserError, aws_errors
from albatross.contract import object_key
from albatross.controller import gates, lease, phases, queues, report
from albatross.controller.settings import Settings
from albatross.controller.targets import ALL_SERVICES
from albatross.k8s.errors import readable
from albatross.k8s.ingress import Ingress, lifecycle
from albatross.k8s.ingress_class import class_params_of, parse_ingress_class
from albatross.k8s.params import parse_params
from albatross.model import assemble, names, oidc
from albatross.model.discovery import Discovery
from albatross.model.group import Members
from albatross.model.stack import LOAD_BALANCER, TARGET_GROUP, Stack
from albatross.plan import protection
from albatross.plan.actual import Actual, ActualResource, StackIndex
from albatross.plan.planner import plan, recorded_first, set_aside
from albatross.store.table import GroupState, Store

logger = Logger(child=True)


@dataclass
class Outcome:
    group: str
    result: str
    steps: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    execution: str | None = None


class _Stored:
    """The assembly's objects (:mod:`albatross.model.assemble`), read from the state
    store, and its AWS facts, read from AWS with the group's load balancer as found."""

    def __init__(self, *, settings: Settings, store: Store, group: str) -> None:
        self.settings, self.store, self.group = settings, store, group
        self.actual: Actual | None = None
        # Or, for a build from what the last apply left (no read): the load balancer as
        # the applied model has it and the backend group the index names.
        self.existing: tuple[dict[str, Any], ...] | None = None
        self.backend = ""
        self.used: Discovery | None = None  # the facts the build was given

    def ingress_classes(self) -> list[Mapping[str, Any]]:
        return self.store.ingress_classes()

    def class_params(self) -> list[Mapping[str, Any]]:
        return self.store.class_params()

    def objects(self, kind: str, keys: set[str]) -> Mapping[str, Mapping[str, Any]]:
        return self.store.get_objects(kind, keys)

    def discovery(self, ingresses: Sequence[Ingress]) -> Discovery:
        if self.actual is not None:
            existing = discovery.existing_load_balancers(self.actual, self.group)
        elif self.existing is not None:
            existing = self.existing
        else:  # the reconcile finds the load balancer before it builds
            raise RuntimeError("the group's load balancer is looked for before its build")
        if self.backend:  # the group's load balancer uses it: known without a call, warm or cold
            found = discovery.discover(vpc_id=self.settings.vpc_id, existing=existing)
            self.used = replace(found, backend_security_group_id=self.backend)
        else:
            self.used = discovery.discover(
                vpc_id=self.settings.vpc_id, existing=existing, cluster=self.settings.cluster, create_backend=True
            )
        return self.used


def _applied_existing(model: Mapping[str, Any] | None, group: str) -> tuple[dict[str, Any], ...] | None:
    """The group's load balancer as the applied model has it, in the shape
    :func:`albatross.aws.discovery.existing_load_balancers` gives from a read: what the
    build takes from it (scheme, subnets) is what the last apply set."""
    if not model:
        return None
    lb = Stack.from_json(model).resources.get(names.LOAD_BALANCER_ID)
    if lb is None:
        return ()
    return (
        {
            "stack": group,
            "LoadBalancer": {
                "Scheme": lb.properties.get("Scheme"),
                "AvailabilityZones": [{"SubnetId": sid} for sid in sorted(lb.properties.get("Subnets") or ())],
            },
        },
    )


def _as_applied(*, desired: Stack, state: GroupState, index: StackIndex, leaving: Sequence[Any]) -> bool:
    """Whether the last apply left AWS as ``desired`` wants it: the same model, every
    resource applied in this form (the index's digests), nobody leaving. What AWS holds
    changes then only by someone else's hand, which drift events and the sweep report
    (``fresh``)."""
    if leaving or state.leaving or index.dns is None:
        return False
    return desired.to_json() == state.model and dict(index.applied) == {
        rid: r.digest() for rid, r in desired.resources.items()
    }


def _warning(key: str, assembly: assemble.Assembly) -> str:
    """A failed member's Warning: the user's error in LBC's words; a defect of ours as
    Albatross's fault, not the Ingress's (ADR 0010)."""
    fate = assembly.fate[key]
    if key in assembly.internal:
        return (
            f"Albatross failed to build the model due to an internal error ({assembly.internal[key]}), "
            f"not an error in this Ingress; please report it; {fate}"
        )
    return f"Failed build model due to {assembly.errors[key]}; {fate}"


def _remember_good(store: Store, group: str, current: Mapping[str, Any], recorded: Mapping[str, Any] | None) -> None:
    """Keep the member's current object as its last good version (written on change only)."""
    version = (current.get("metadata") or {}).get("resourceVersion")
    if recorded is None or (recorded.get("metadata") or {}).get("resourceVersion") != version:
        store.set_last_good(group, object_key(current), current)


def _busy(store: Store, group: str, execution: str | None) -> bool:
    if not execution:
        return False
    with aws_errors():
        status = clients.sfn().describe_execution(executionArn=execution)["status"]
    if status == "RUNNING":
        store.mark_dirty(group, urgent=budget.lane.get() == budget.URGENT)
        return True
    store.set_execution(group, None)
    return False


def _statements(store: Store, members: Members, objects: Mapping[str, Mapping[str, Any]]) -> list[protection.Statement]:
    """What each Ingress leaving by deletion says about deletion protection, from its
    last version and its class's IngressClassParams (read only for a teardown)."""
    deleting = [objects[m["ingress"]] for m in members.leaving if m["ingress"] in objects]
    deleting = [obj for obj in deleting if lifecycle(obj)[0]]
    if not deleting:
        return []
    classes = {
        c.name: c for c in readable([o for o in store.ingress_classes() if assemble.shaped(o)], parse_ingress_class)
    }
    names = {class_params_of(obj, classes) for obj in deleting} - {None}
    params = {p.name: p for p in readable(store.class_params(), parse_params)} if names else {}
    return [protection.statement(obj, params.get(class_params_of(obj, classes) or "")) for obj in deleting]


def _read_stack(
    *, settings: Settings, store: Store, group: str, state: GroupState, index: StackIndex | None
) -> tuple[Actual, StackIndex | None]:
    """The group's stack: by the index's ARNs, or (no index, or something it names is
    gone) by the tag search; returns it and the index still to be trusted."""
    actual = discovery.find_indexed(index) if index else None
    if actual is not None:
        return actual, index
    # what executions made is read by id too: the tag search may not list it yet
    found = discovery.find_stack(cluster=settings.cluster, stack_id=group, recorded=phases.recorded(state))
    return recorded_first(found, state.owned), None  # facts from our load balancer, not a look-alike


def _settled(
    *,
    settings: Settings,
    store: Store,
    group: str,
    request_id: str,
    state: GroupState,
    index: StackIndex,
    desired: Stack,
    assembly: assemble.Assembly,
    members: Members,
    records: Mapping[str, Any],
    objects: Mapping[str, Mapping[str, Any]],
) -> Outcome:
    """A reconcile whose model is the one applied, with every resource in that form and
    no drift reported: nothing is read from AWS. Only the targets are synced, against the
    digests of what was registered (a changed Service or endpoints still registers), and
    the status is reported with the names the index keeps."""
    for ing in members.live:
        if ing.key not in assembly.failed:
            _remember_good(store, group, objects[ing.key], records.get(ing.key))
    store.set_refs(group, assembly.built.service_refs)
    gates.send_gates(gates.Gates.of(settings), store=store, group=group, desired=desired, previous=desired)
    registered, digests = phases.sync_targets(
        desired,
        index.ids,
        store,
        state.targets,
        group=group,
        cluster=settings.cluster,
        gates=gates.Gates.of(settings),
    )
    lbs = Actual(
        resources=tuple(
            ActualResource(id=rid, type=LOAD_BALANCER, physical_id=index.ids.get(rid, ""), properties={"DNSName": dns})
            for rid, dns in sorted((index.dns or {}).items())
        )
    )
    report.finish(
        settings=settings,
        store=store,
        group=group,
        members=[i.key for i in members.live],
        leaving=[],
        changed=registered > 0,
        actual=lbs,
    )
    changed = store.set_target_digests(group, digests, known=state.targets)
    if changed and settings.targets_queue_url:  # as after an in-place apply (below)
        queues.enqueue(settings.targets_queue_url, [group], cause=f"after:{request_id}", service=ALL_SERVICES)
    logger.info("reconciled: the model is the one applied", extra={"group": group, "changes": registered})
    return Outcome(group=group, result="applied" if registered else "unchanged")


def reconcile(*, settings: Settings, store: Store, group: str, request_id: str, fresh: bool = False) -> Outcome:
    """``fresh``: read everything, trusting no stack index (the drift sweep).

    One piece of work on a group at a time (:mod:`albatross.controller.lease`): a group
    leased by another reconcile or a targets sync raises
    :class:`~albatross.controller.events.NotDue`: its record goes back unattempted, not
    failed (ADR 0017)."""
    with lease.leased(settings, store, group, holder=request_id):
        return _reconcile(settings=settings, store=store, group=group, request_id=request_id, fresh=fresh)


def _reconcile(*, settings: Settings, store: Store, group: str, request_id: str, fresh: bool) -> Outcome:
    store.take_request(group)  # first: a change stored after this point asks again
    records = store.member_records(group)
    objects = store.get_objects("Ingress", records)
    source = _Stored(settings=settings, store=store, group=group)
    members = assemble.classify(
        source=source, group=group, keys=list(records), objects=objects, ingress_class=settings.ingress_class
    )
    state = store.group_state(group)
    if _busy(store, group, state.execution):  # first: what an execution changes must not be read half-done
        return Outcome(group=group, result="busy")
    index = StackIndex.from_json(state.index) if state.index and not fresh else None
    actual: Actual | None = None
    if index is not None and index.dns is not None and not state.leaving:
        # Build from what the last apply left, and read AWS only if the model moved.
        source.existing, source.backend = _applied_existing(state.model, group), index.backend
    if source.existing is None:
        actual, index = _read_stack(settings=settings, store=store, group=group, state=state, index=index)
        source.actual = actual

    def build() -> tuple[assemble.Assembly, Stack | None] | Outcome:
        assembly = assemble.assemble(
            source=source,
            config=settings.controller,
            group=group,
            members=members,
            last_good=records,
            unmodelled=bool(actual and actual.resources) and not state.managed,
        )
        if assembly.failed:
            queues.send_writebacks(
                settings.writeback_queue_url,
                [
                    msg
                    for key in sorted(assembly.errors)
                    for msg in report.warnings(
                        settings, [key], reason="FailedBuildModel", message=_warning(key, assembly), objects=objects
                    )
                ],
            )
            if assembly.held:
                logger.warning("group left as it is: member errors", extra={"group": group, "errors": assembly.errors})
                return Outcome(
                    group=group, result="invalid", errors=[f"{k}: {v}" for k, v in sorted(assembly.errors.items())]
                )
            logger.warning("members left at their last good version", extra={"group": group, "errors": assembly.failed})
        try:  # OIDC client credentials: the Secrets Manager copies' ARNs and versions (ADR 0005)
            resolved = oidc.resolve_secrets(
                assembly.built.stack, store.get_objects("Secret", oidc.secret_keys(assembly.built.stack))
            )
        except oidc.SecretError as e:
            live = [i.key for i in members.live]
            message = f"Failed build model due to {e}; the load balancer is left as it is"
            queues.send_writebacks(
                settings.writeback_queue_url,
                report.warnings(settings, live, reason="FailedBuildModel", message=message, objects=objects),
            )
            logger.warning("group left as it is: OIDC Secret", extra={"group": group, "error": str(e)})
            return Outcome(group=group, result="invalid", errors=[str(e)])
        return assembly, resolved

    made = build()
    if isinstance(made, Outcome):
        return made
    assembly, desired = made
    if actual is None:
        assert index is not None  # the build from the applied model is tried only with an index
        if desired is not None and _as_applied(desired=desired, state=state, index=index, leaving=members.leaving):
            return _settled(
                settings=settings,
                store=store,
                group=group,
                request_id=request_id,
                state=state,
                index=index,
                desired=desired,
                assembly=assembly,
                members=members,
                records=records,
                objects=objects,
            )
        actual, index = _read_stack(settings=settings, store=store, group=group, state=state, index=index)
        if list(discovery.existing_load_balancers(actual, group)) != list(source.existing or ()):
            # AWS's load balancer is not the applied one (changed by hand, or gone): build
            # from it, as a reconcile that reads first does
            source.actual, source.backend = actual, ""
            made = build()
            if isinstance(made, Outcome):
                return made
            assembly, desired = made
    built, failed = assembly.built, assembly.failed
    for ing in members.live:
        if ing.key not in failed:
            _remember_good(store, group, objects[ing.key], records.get(ing.key))
    actual, unrecorded = set_aside(desired, actual, state.owned)  # tags alone make no load balancer ours
    if unrecorded:
        everyone = [i.key for i in members.live] + [m["ingress"] for m in members.leaving]
        queues.send_writebacks(
            settings.writeback_queue_url,
            report.unrecorded(settings, everyone, unrecorded, group=group, objects=objects),
        )
        logger.warning(
            "load balancers tagged for the group but not made by Albatross: left alone",
            extra={"group": group, "loadBalancers": [r.physical_id for r in unrecorded]},
        )
    actual = discovery.complete(actual, desired, index.applied if index else None)
    steps = plan(desired, actual, previous=Stack.from_json(state.model) if state.model else None)
    verdict = protection.decide(
        steps=steps,
        desired=desired,
        statements=_statements(store, members, objects) if desired is None and protection.doomed(steps) else (),
        protected=lambda lb: applier.deletion_protected(lb.physical_id),
    )
    if verdict.refused:
        # Nothing runs and nothing is saved: the model, the stack index and the Services
        # the group needs stay as applied, so the protected load balancer keeps serving
        # (and its targets keep syncing) until the user releases it.
        report.protected(
            settings=settings,
            store=store,
            members=[i.key for i in members.live],
            leaving=members.leaving,
            refusals=verdict.refusals,
        )
        logger.warning(
            "deletion protection: the plan is refused",
            extra={"group": group, "loadBalancers": [r.name for r in verdict.refusals], "steps": len(steps)},
        )
        return Outcome(group=group, result="refused", errors=[f"{r.reason}: {r.cause}" for r in verdict.refusals])
    store.set_refs(group, built.service_refs)
    for lb in verdict.lift:
        applier.lift_deletion_protection(lb.physical_id)  # the user asked for it off: first, then the deletes
        logger.info("deletion protection turned off, as asked", extra={"group": group, "loadBalancer": lb.physical_id})
    model: Mapping[str, Any] | None = desired.to_json() if desired else None
    if model != state.model or members.leaving != list(state.leaving):
        store.save_model(group, model=model, leaving=members.leaving)
    # pod readiness gates (ADR 0014): what the webhook is to inject for the group's Services,
    # as the model being applied has it (in place or by an execution; a teardown's keys go)
    previous = Stack.from_json(state.model) if state.model else None
    gates.send_gates(gates.Gates.of(settings), store=store, group=group, desired=desired, previous=previous)
    if previous is not None:  # the pods of target groups that leave: their gates pass
        gates.release(
            gates.Gates.of(settings),
            store=store,
            group=group,
            target_groups=previous.of_type(TARGET_GROUP).values(),
            keep=desired.of_type(TARGET_GROUP).values() if desired else (),
        )
    described = [s.describe() for s in steps]
    if any(s.type == LOAD_BALANCER and s.op in ("create", "delete") for s in steps):
        machine = settings.provision_state_machine if desired else settings.teardown_state_machine
        name = hashlib.sha256(f"{group}\n{request_id}".encode()).hexdigest()[:32]
        with aws_errors():
            # what this reconcile found and planned: the phases read only their own part
            view = phases.View.of(desired=desired, actual=actual, steps=steps, trusted=index is not None)
            execution = clients.sfn().start_execution(
                stateMachineArn=machine, name=name, input=json.dumps({"group": group, "view": view.to_json()})
            )["executionArn"]
        store.set_execution(group, execution)
        logger.info("execution started", extra={"group": group, "execution": execution, "steps": described})
        return Outcome(group=group, result="started", steps=described, execution=execution)
    try:
        done = phases.apply_all(
            store=store,
            group=group,
            cluster=settings.cluster,
            desired=desired,
            actual=actual,
            steps=steps,
            applied=state.targets if index else None,  # None: trusts no record of registrations either
            gates=gates.Gates.of(settings),
        )
    except Exception as e:
        if state.index:  # a half-applied plan: the next reconcile searches by tags and reads everything
            store.save_index(group, None)
        if not isinstance(e, UserError):
            raise  # throttling, 5xx, dependencies: the work queue delivers the group again
        # AWS refused for a reason retrying will not change (a quota, a missing
        # certificate): say so on the Ingresses; the next change reconciles again.
        report.failed(
            settings=settings,
            store=store,
            group=group,
            members=[i.key for i in members.live],
            leaving=members.leaving,
            error=str(e),
            then="the next edit of the group's Ingresses (their spec or annotations), or the drift sweep, tries again",
        )
        logger.warning("apply refused", extra={"group": group, "error": str(e)})
        return Outcome(group=group, result="failed", steps=described, errors=[str(e)])
    report.finish(
        settings=settings,
        store=store,
        group=group,
        members=[i.key for i in members.live],
        leaving=members.leaving,
        changed=done.changes > 0,
        actual=actual,  # the load balancer (its DNS name) is never created or deleted in place
    )
    after = discovery.index_of(desired, done.physical)
    if after is not None:  # what a reconcile that finds the model unchanged builds and reports with
        used = source.used.backend_security_group_id if source.used else None
        after = replace(after, dns=phases.dns_names(actual, done.physical), backend=used or "")
    if (after.to_json() if after else None) != state.index:
        store.save_index(group, after.to_json() if after else None)
    registered = store.set_target_digests(group, done.targets, known=state.targets)
    if registered and settings.targets_queue_url:
        # A target sync of the fast path may have run while this reconcile registered
        # what it had read: one more sync, after both, settles on the newest endpoints
        # (free when nothing changed: the marks match and nothing is read from AWS).
        queues.enqueue(settings.targets_queue_url, [group], cause=f"after:{request_id}", service=ALL_SERVICES)
    logger.info("reconciled in place", extra={"group": group, "steps": described, "changes": done.changes})
    return Outcome(group=group, result="applied" if done.changes else "unchanged", steps=described)
