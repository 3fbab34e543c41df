"""The targets fast path: an EndpointSlice change registers and deregisters targets of
the target groups bound to its Service, and a Node change those of every instance-mode
target group, without a full reconcile.

The group's saved model says which target groups take their targets from the Service
and how (port, address family); the stack index gives their ARNs. Nothing else is read
but the Service, its EndpointSlices and each target group's health (when its desired
targets changed). When the group has no index yet (its stack is being created, or the
last apply failed), the group is handed to a full reconcile instead, which registers
targets as part of its flow.

A TargetGroupBinding (a user's target group bound to a Service, ADR 0013) syncs here
too, under its own key (:func:`albatross.contract.bindings.group_of`): its target group
is described and checked, then stated as a one-target-group model whose binding is the
binding's spec, so its targets and backend rules take the path our own target groups
take (:func:`albatross.controller.phases.sync_targets`). Its status and Events go back
through the write-back queue. The target group itself is never changed: only its
registrations, and the backend rules the binding asked for.

Pod readiness gates (ADR 0014): a gated pod whose containers are ready is registered
before it is ready, and its gate's first condition and first health poll are sent
(:mod:`albatross.controller.gates`); a Pod change comes here as its Service's change.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from aws_lambda_powertools import Logger

from albatross.aws import clients
from albatross.aws import targets as aws_targets
from albatross.aws.errors import NotFound, Retryable, UserError, aws_errors
from albatross.contract import bindings, mapping
from albatross.controller import gates, networking, phases, queues
from albatross.controller.settings import Settings
from albatross.k8s.errors import readable
from albatross.k8s.service import parse_service
from albatross.model.stack import TARGET_GROUP, Resource, Stack
from albatross.plan.actual import StackIndex
from albatross.store.table import HOLD_SECONDS, Store

logger = Logger(child=True)


ALL_SERVICES = "*"
# The resource id of a binding's target group in its one-target-group model.
BOUND = "bound"


def sync_service(*, settings: Settings, store: Store, group: str, service: str | None, cause: str) -> int:
    """Make the registrations of ``group``'s target groups bound to ``service`` match its
    ready endpoints (``service`` None: of its instance-mode target groups, after a Node
    change; ``ALL_SERVICES``: of every target group, after a reconcile registered
    targets); returns the targets changed (-1: handed to a full reconcile). A
    binding's group syncs its binding (:func:`sync_binding`)."""
    if bindings.binding_of(group) is not None:
        return sync_binding(settings=settings, store=store, group=group, verify=service == ALL_SERVICES)
    state = store.group_state(group)
    desired = phases.saved_model(store, group)
    if desired is None or not state.index or state.execution:
        if not state.index and group in store.held_groups(now=time.time(), hold_for=HOLD_SECONDS):
            # ingest's sync hold: an endpoint change must not reconcile it from half a first
            # list either; its release asks for the reconcile, which registers the targets
            logger.info("held until the forwarder's Resync", extra={"group": group, "event": cause})
            return 0
        queues.request(settings.work_queue_url, store, [group], cause=f"targets:{cause}")
        return -1
    ids = StackIndex.from_json(state.index).ids
    try:
        changed, digests = phases.sync_targets(
            desired,
            ids,
            store,
            state.targets,
            only_service=None if service in (None, ALL_SERVICES) else service,
            only_mode=None if service else "instance",
            group=group,
            cluster=settings.cluster,
            gates=gates.Gates.of(settings),
        )
    except NotFound:
        # a target group the index names is gone: a full reconcile finds what exists
        store.save_index(group, None)
        queues.request(settings.work_queue_url, store, [group], cause=f"targets:{cause}")
        return -1
    store.set_target_digests(group, digests, known=state.targets)
    logger.info("targets synced", extra={"group": group, "service": service, "changed": changed})
    return changed


# --- TargetGroupBindings ------------------------------------------------------------------


def sync_binding(*, settings: Settings, store: Store, group: str, verify: bool = False) -> int:
    """Make the registrations of the target group a binding names match its Service
    (the binding gone: give up what it registered); returns the targets changed.
    ``verify``: trust no digest, read the registrations and rules in AWS (a change of the
    binding or its Service, a Resync, the drift sweep; not an endpoint change).

    A binding Albatross cannot serve (its spec, or a target group that is missing, in
    another VPC, of another type, or not tagged for the cluster) gets a Warning and
    changes nothing: what it registered before stays, as an Ingress's last good version
    does (ADR 0002). It blocks no other binding or group: each syncs under its own key."""
    key = str(bindings.binding_of(group))
    obj = store.get_objects(bindings.KIND, [key]).get(key)
    state = store.group_state(group)
    saved = Stack.from_json(state.model).of_type(TARGET_GROUP).get(BOUND) if state.model else None
    if obj is None or not bindings.served(obj) or mapping(obj.get("metadata")).get("deletionTimestamp"):
        # gone, or going (held only by a finalizer, such as the one LBC left): released now
        return unbind(settings=settings, store=store, group=group, saved=saved)
    try:
        spec = bindings.parse_spec(obj)
        found, tags = aws_targets.describe(arn=spec.target_group_arn, name=spec.target_group_name)
    except bindings.BindingError as e:
        _tell(settings, obj, "Warning", bindings.INVALID, f"Failed to serve the binding: {e}")
        return 0
    except UserError as e:  # a malformed ARN or name, or no permission to read it
        _tell(settings, obj, "Warning", bindings.INVALID, f"Failed to read the target group: {e}"[:1000])
        return 0
    problem = bindings.target_group_problem(spec, found, tags=tags, cluster=settings.cluster, vpc_id=settings.vpc_id)
    if problem is not None or found is None:
        _tell(settings, obj, "Warning", bindings.INVALID, f"Failed to serve the binding: {problem}")
        return 0
    arn = str(found["TargetGroupArn"])
    if saved is None or saved.properties.get("TargetGroupArn") != arn or _shared(saved) != spec.multi_cluster:
        # one binding per target group, as LBC's validator allows (several when all share it)
        holder = store.claim_target_group(arn, group, shared=spec.multi_cluster)
        if holder:
            other = bindings.binding_of(holder) or holder
            _tell(
                settings,
                obj,
                "Warning",
                bindings.INVALID,
                f"TargetGroup {arn} is already bound to TargetGroupBinding {other}",
            )
            return 0
        if holder is not None:
            raise Retryable(f"the claim on target group {arn} changed meanwhile")
    changed = 0
    if saved is not None and saved.properties.get("TargetGroupArn") != arn:
        # the binding now names another target group: the old one's targets go first
        changed += unbind(settings=settings, store=store, group=group, saved=saved)
        state = store.group_state(group)
    binding = bindings.model_binding(spec, found)
    service = _service(store, spec.service)
    if service is None:
        # LBC: BackendNotFound, and the targets deregistered (none are wanted)
        _tell(settings, obj, "Warning", "BackendNotFound", f"Service {spec.service} not found")
    port = found.get("Port")
    if binding["targetType"] == "instance":
        # instance targets take the Service port's NodePort, as LBC registers them
        found_port = (
            service.port(number=binding["servicePortNumber"], name=binding["servicePortName"]) if service else None
        )
        port = found_port.node_port if found_port is not None and found_port.node_port else port
    bound = Resource(
        type=TARGET_GROUP,
        properties={"TargetGroupArn": arn, "Port": port, "TargetType": found["TargetType"], "VpcId": found["VpcId"]},
        binding=binding,
    )
    desired = Stack(stack_id=group, resources={BOUND: bound})
    if saved != bound:
        store.save_model(group, model=desired.to_json(), leaving=[])
    registered, digests = phases.sync_targets(
        desired,
        {BOUND: arn},
        store,
        None if verify else state.targets,
        group=group,
        cluster=settings.cluster,
        gates=gates.Gates.of(settings),
    )
    changed += registered
    store.set_target_digests(group, digests, known=state.targets)
    status = mapping(obj.get("status")).get("observedGeneration")
    if service is not None and spec.generation and status != spec.generation:
        _tell(settings, obj, "Normal", "SuccessfullyReconciled", "Successfully reconciled")
        _tell(settings, obj, "", "", "", generation=spec.generation)
    logger.info("binding synced", extra={"binding": key, "targetGroup": arn, "changed": changed})
    return changed


def unbind(*, settings: Settings, store: Store, group: str, saved: Resource | None) -> int:
    """Give up what a binding registered (all the target group's targets, or, shared
    with other clusters, only this cluster's) and the backend rules it made; the target
    group stays as it is. Returns the targets deregistered."""
    if saved is None:
        return 0
    arn = str(saved.properties.get("TargetGroupArn"))
    removed = 0
    try:
        # read, not taken from the record (ADR 0019): a binding that owns its target group
        # gives up every target in it, as LBC does
        if _shared(saved):
            removed = aws_targets.sync(arn, set(), tracked=store.tracked_targets(group, BOUND) or set()).deregistered
        else:
            removed = aws_targets.sync(arn, set()).deregistered
    except NotFound:
        pass  # the target group is gone: nothing registered is left
    calls = networking.release(store=store, group=group, cluster=settings.cluster, keep=set())
    gates.release(gates.Gates.of(settings), store=store, group=group, target_groups=[saved])  # their gates pass
    store.release_target_group(arn, group)
    store.track_targets(group, BOUND, None)
    store.forget_registered(group, BOUND)  # bound again later, its first sync reads
    store.set_target_digests(group, {BOUND: ""})  # matches no digest: a binding made again syncs
    store.save_model(group, model=None, leaving=[])
    logger.info("binding released", extra={"group": group, "targetGroup": arn, "deregistered": removed})
    return removed + calls


def _shared(saved: Resource | None) -> bool | None:
    """Whether a bound target group is shared with other clusters (None: none bound)."""
    return None if saved is None else bool((saved.binding or {}).get("multiCluster"))


def _service(store: Store, key: str) -> Any:
    found = store.get_objects("Service", [key]).get(key)
    return next(iter(readable([found] if found else [], parse_service)), None)


def _tell(
    settings: Settings,
    obj: Mapping[str, Any],
    event_type: str,
    reason: str,
    message: str,
    *,
    generation: int | None = None,
) -> None:
    """Write back to the binding: an Event, or (``generation``) its observedGeneration."""
    meta = mapping(obj.get("metadata"))
    name = f"{meta.get('namespace')}/{meta.get('name')}"
    uid = str(meta.get("uid") or "")
    message_ = (
        bindings.BindingWriteBack(
            type="bindingStatus", cluster=settings.cluster, binding=name, uid=uid, observed_generation=generation
        )
        if generation is not None
        else bindings.BindingWriteBack(
            type="bindingEvent",
            cluster=settings.cluster,
            binding=name,
            uid=uid,
            event_type=event_type,
            reason=reason,
            message=message,
        )
    )
    if event_type == "Warning":
        logger.warning("binding not served", extra={"binding": name, "reason": reason, "why": message})
    _send(settings.writeback_queue_url, [message_])


def _send(queue_url: str, messages: Iterable[bindings.BindingWriteBack]) -> None:
    if not queue_url:
        return
    sqs = clients.sqs()
    with aws_errors():
        for message in messages:
            sqs.send_message(QueueUrl=queue_url, MessageBody=message.to_body())
