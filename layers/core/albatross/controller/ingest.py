"""Ingest: keep the newest snapshot of each object and ask for the reconciles it affects.

EventBridge neither orders nor deduplicates. A change older than (or as old as) the
stored snapshot is dropped, unless it is of another object made later under the same
key (another uid, a later creationTimestamp: a cluster made again under the same name);
a ``Resync`` turns snapshots of objects that no longer exist into tombstones, and is
recorded (``albatross install`` waits for one); a Resync whose ``asOf`` is below the
mark an earlier-sent Resync left re-baselines the kind (the cluster's resourceVersions
went back: an etcd restore). A Resync that carries ``versions`` (what the forwarder
last sent of each live key) is also checked the other way: a listed object stored at
an older version, as a tombstone or not at all lost a change on its way (a bus delivery
dropped), and the forwarder is asked to read and send it again (``resend`` write-backs,
:data:`albatross.contract.RESEND_MAX_KEYS` keys each). Every group whose desired state
may have changed is enqueued once. A claim-checked change is read from the payload bucket first and then
handled exactly like an inline one. A gated Pod (ADR 0014) whose containers became ready,
or that started terminating, asks its namespace's groups for a targets sync: with a
readiness gate, a pod can be a target before its endpoint is ready.

A group is never reconciled from half a cluster (the sync hold). A new forwarder lists
everything and sends it, then its Resync; ingest stores each object as it arrives, and a
reconcile started in between would see some of a group's members, or a member without
its Service, and plan away what the rest still needs (an adopted load balancer's target
groups deleted and made again; LBC never reconciles before its caches have synced). So an
Ingress that ingest has never stored, that already has a load balancer address (LBC made
its stack, or Albatross before its state table was lost) and that was sent after the last
Resync ingest applied, holds its group: the group's reconciles wait (``forwarder#held``)
until the forwarder's next Resync has been applied, which asks for each held group once;
a Resync that overtook Ingresses or Services of its own lists (EventBridge keeps no
order) records them as awaited (``forwarder#awaited``) and the held groups it covers
(held by changes sent before it; a later list's wait for their own Resync) go once the
last of them is stored, deleted or refused; an Ingress of its lists stored after it is
held as well while anything is awaited (its Service may be), though the Resync covers it.
A new Ingress (no address yet) and every group not held are reconciled at once; an
implicit group (one Ingress) is complete once the Services its Ingress names are stored
with their EndpointSlices, and is not held, or no longer, from then on (a user's edit to
it waits only for its Services); a hold older than :data:`HOLD_SECONDS` (the forwarder
stopped before its Resync) no longer holds. A release asks for the reconcile first and
ends the hold after. An update reads neither partition: a held group's request is
refused by the ``heldAt`` mark on the state item the request writes, and an awaited
object's older snapshot carries the version awaited, which the write replacing it returns.
An object stored for the first time costs a query of the awaited partition, and a new
Service or EndpointSlice one of the hold partition (what it may complete).

resourceVersions are opaque strings to Kubernetes; the contract admits decimal ones only
and ingest compares them as integers (etcd's revisions, which is what the API server
gives them), as it always has.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from albatross.aws import payloads
from albatross.contract import Claim, ClaimError, ObjectChange, Resync, bindings, class_groups, resend_messages
from albatross.contract.claim import open_claim
from albatross.contract.membership import uses_ingress_class
from albatross.contract.needs import services_of
from albatross.contract.oidc import reference_of
from albatross.contract.readiness import gates_of
from albatross.controller import lanes, queues
from albatross.controller.settings import Settings
from albatross.k8s.errors import ObjectError
from albatross.k8s.ingress import group_key_of
from albatross.k8s.node import Node, parse_node
from albatross.k8s.service import SERVICE_NAME_LABEL
from albatross.model.readiness import containers_ready
from albatross.store import table
from albatross.store.table import Awaited, Store

logger = Logger(child=True)

# albatross.controller.targets.ALL_SERVICES, named here so ingest does not import the
# targets sync (and the AWS adapters it needs) at start (ADR 0008)
ALL_SERVICES = "*"


def redeem(claim: Claim, *, settings: Settings) -> ObjectChange | Resync:
    """The change a claim check stands for: its payload read and verified (ClaimError:
    missing, unreadable, another bucket, or not what the claim names)."""
    if settings.payload_bucket and claim.ref.bucket != settings.payload_bucket:
        raise ClaimError(f"payload bucket {claim.ref.bucket!r} is not this stack's ({settings.payload_bucket!r})")
    return open_claim(claim, payloads.fetch(claim.ref))


def _names_class(obj: Mapping[str, Any] | None) -> bool:
    return obj is not None and uses_ingress_class(obj)  # the named class, or the default one


def _class_groups(store: Store, *objs: Mapping[str, Any] | None) -> dict[str, str]:
    """The groups IngressClassParams impose (ADR 0004); read only for Ingresses an
    IngressClass may apply to (two queries on small partitions)."""
    if not any(_names_class(o) for o in objs):
        return {}
    return class_groups(store.ingress_classes(), store.class_params())


def _regroup(store: Store) -> set[str]:
    """After an IngressClass or IngressClassParams change: every stored Ingress's group
    again, membership recorded where it moved; returns every group, old and new."""
    grouped = class_groups(store.ingress_classes(), store.class_params())
    groups = store.all_groups()
    known: dict[str, set[str]] = {}
    for key, (_, obj) in sorted(store.live_snapshots("Ingress").items()):
        group = group_key_of(obj, grouped)
        if group not in known:
            known[group] = set(store.members(group)) if group in groups else set()
        if key not in known[group]:
            store.add_member(group, key)
            known[group].add(key)
        groups.add(group)
    return groups


def parse_node_safe(obj: Mapping[str, Any]) -> Node | None:
    try:
        return parse_node(obj)
    except ObjectError:
        return None


def _service_of(kind: str, obj: Mapping[str, Any]) -> str | None:
    """The Service an EndpointSlice belongs to (``namespace/name``)."""
    if kind != "EndpointSlice":
        return None
    meta = obj.get("metadata") or {}
    name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return f"{meta.get('namespace')}/{name}" if name else None


def _groups_affected(
    store: Store,
    kind: str,
    obj: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    grouped: Mapping[str, str] | None = None,
    deleted: bool = False,
) -> set[str]:
    meta = obj.get("metadata") or {}
    if kind == "Ingress":
        if previous is not None and not deleted and not lanes.user_changed(obj, previous):
            return set()  # its status or finalizers: nothing to build again (lanes.user_changed)
        if grouped is None:
            grouped = _class_groups(store, obj, previous)
        groups = {group_key_of(obj, grouped)}
        if previous is not None:
            groups.add(group_key_of(previous, grouped))
        return groups
    if kind == "Node":
        # instance-mode targets: a node that goes, or a change of what makes it serve
        if not deleted and previous is not None and parse_node_safe(previous) == parse_node_safe(obj):
            return set()
        # bindings too (their target type is the target group's: an ip one syncs for nothing)
        served = {
            bindings.group_of(k) for k, (_, o) in store.live_snapshots(bindings.KIND).items() if bindings.served(o)
        }
        return store.all_groups() | served
    if kind == "Namespace":
        # only its labels matter (IngressClassParams namespace selectors)
        if previous is not None and (previous.get("metadata") or {}).get("labels") == meta.get("labels"):
            return set()
        return store.all_groups(namespace=str(meta.get("name", "")))
    if kind == "Service":
        return set(store.groups_for_service(f"{meta.get('namespace')}/{meta.get('name')}"))
    if kind == "Secret":
        # OIDC client credentials (ADR 0005): the groups of the Secret's namespace, when the
        # copy it names changed (an Ingress names only Secrets of its own namespace)
        def usable(o: Mapping[str, Any]) -> Any:
            return reference_of(o), o.get("missingKeys")

        if previous is not None and not deleted and usable(previous) == usable(obj):
            return set()
        return store.all_groups(namespace=str(meta.get("namespace", "")))
    if kind in ("IngressClass", "IngressClassParams"):
        return _regroup(store)  # which Ingresses use a class is only known per group
    if kind == bindings.KIND:
        return {bindings.group_of(f"{meta.get('namespace')}/{meta.get('name')}")}
    if kind == "EndpointSlice":
        service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        return set(store.groups_for_service(f"{meta.get('namespace')}/{service}")) if service else set()
    if kind == "Pod":
        return _pod_groups(store, obj, previous, deleted)
    return set()


def _registration(pod: Mapping[str, Any] | None) -> tuple[bool, bool]:
    """What of a gated pod decides whether it is a target before it is ready (ADR 0014):
    its containers' readiness and its deletion. Its gates' conditions (what Albatross
    itself writes) and the rest change no registration."""
    if pod is None:
        return False, False
    return containers_ready(pod), bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def _pod_groups(store: Store, obj: Mapping[str, Any], previous: Mapping[str, Any] | None, deleted: bool) -> set[str]:
    """The groups (and bindings) that may register a gated pod: those of its namespace,
    when its containers became ready or it started terminating. Its endpoint's own
    changes (created, ready, gone) come as EndpointSlice changes."""
    if deleted or _registration(obj) == _registration(previous) or _registration(obj) == (False, False):
        return set()
    namespace = str((obj.get("metadata") or {}).get("namespace", ""))
    # a binding's gate is named as the binding (LBC's): read by key, not scanned for
    named = {f"{namespace}/{gate.split('/', 1)[1]}" for gate in gates_of(obj)}
    served = {bindings.group_of(k) for k, o in store.get_objects(bindings.KIND, named).items() if bindings.served(o)}
    return store.all_groups(namespace=namespace) | served


def _request(
    settings: Settings,
    store: Store,
    groups: set[str],
    *,
    cause: str,
    hold: bool = False,
    release: bool = False,
    sent: float | None = None,
    urgent: bool = False,
) -> set[str]:
    """A reconcile of each IngressGroup; a sync of each binding on the targets queue (a
    binding has no model to build: ADR 0013). ``hold``: hold the groups until the next
    Resync instead (see the module docstring; ``sent``: when the change that holds them
    was sent); groups held already are not reconciled either (their request is refused
    by the hold's mark on the very item it writes: no read), unless ``release`` (what
    ends their hold: the caller ends it, in the index, after this request). ``urgent``:
    a user's change, asked for on the urgent lane (ADR 0017). Returns the groups asked
    for (held ones left out)."""
    bound = {g for g in groups if bindings.binding_of(g) is not None}
    if bound and settings.targets_queue_url:
        queues.enqueue(settings.targets_queue_url, bound, cause=cause, service="*")
    wanted = groups - bound
    if not wanted:
        return bound
    if release:
        # a release is bulk, but for the groups a user's change waited in (ADR 0017)
        waited = store.unhold(wanted)
        if waited:
            queues.request(settings.work_queue(urgent=True), store, waited, cause=cause, urgent=True)
        if wanted - waited:
            queues.request(settings.work_queue_url, store, wanted - waited, cause=cause)
        return bound | wanted
    held: set[str] = set()
    if hold:
        held = wanted - _complete(store, wanted)
        store.hold_groups(held, at=time.time(), sent=sent)
    refused: set[str] = set()
    if wanted - held:
        # a user's change goes on the urgent lane (ADR 0017); a release is bulk
        queues.request(
            settings.work_queue(urgent=urgent), store, wanted - held, cause=cause, held=refused, urgent=urgent
        )
    if refused and (complete := _complete(store, refused)):
        # held, and nothing of theirs is on its way any more (its last piece was stored by
        # an invocation running at once, which read the holds before this one was written)
        _request(settings, store, complete, cause=cause, release=True)
        store.release_groups(complete)
        refused -= complete
    held |= refused
    if held and urgent:
        store.mark_held_urgent(held)  # its release asks on the urgent lane
    if held:
        logger.info("held until the forwarder's Resync", extra={"groups": sorted(held), "event": cause})
    return bound | (wanted - held)


def _served(obj: Mapping[str, Any]) -> bool:
    """The Ingress has a load balancer address already: something made its stack."""
    status = obj.get("status")
    balancer = status.get("loadBalancer") if isinstance(status, Mapping) else None
    return isinstance(balancer, Mapping) and bool(balancer.get("ingress"))


def _complete(store: Store, groups: set[str], *, known: Mapping[str, Mapping[str, Any]] | None = None) -> set[str]:
    """The implicit groups (one Ingress, keyed by it) among ``groups`` whose Ingress is
    stored with every Service it names and those Services' EndpointSlices: nothing of
    theirs is still on its way (reconciled with a Service and without its slices, a group
    would deregister its targets, then register them again). ``known``: Ingresses by key
    as they are being stored (not read)."""
    implicit = {g for g in groups if "/" in g}  # an explicit group's name has no "/"
    if not implicit:
        return set()
    known = known or {}
    unknown = implicit - set(known)
    ingresses = {**(store.get_objects("Ingress", unknown) if unknown else {}), **known}
    needed = {group: services_of(obj) for group, obj in ingresses.items()}  # namespace/name each
    services = store.get_objects("Service", set().union(*needed.values())) if needed else {}
    awaited = store.awaited_items(now=time.time(), hold_for=HOLD_SECONDS) if services else {}
    ready = {key for key, obj in services.items() if _slices_stored(store, key, obj, awaited)}
    return {group for group, names in needed.items() if names <= ready}


def _slices_stored(store: Store, key: str, service: Mapping[str, Any], awaited: Mapping[str, Awaited]) -> bool:
    """Whether the EndpointSlices of Service ``key`` are stored: none the last Resync
    awaits (one of an unknown Service awaits every Service of its namespace), and, for a
    Service with a selector, at least one: Kubernetes' EndpointSlice controller keeps a
    placeholder slice for such a Service even with no endpoints, and the forwarder's
    first list sends a Service's slices right behind it."""
    namespace = key.split("/", 1)[0]
    for name, what in awaited.items():
        kind, _, slice_key = name.partition("/")
        if kind == "EndpointSlice" and (what.service or slice_key.split("/", 1)[0]) in (key, namespace):
            return False
    spec = service.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    if not spec.get("selector") or spec.get("type") == "ExternalName":
        return True  # no slices of the controller's: what is stored is all there is
    return bool(store.endpoint_slices(key))


def _release_for_service(settings: Settings, store: Store, key: str, cause: str) -> set[str]:
    """A Service (or one of its slices) stored: the held implicit groups of its namespace
    it completes, asked for, then their holds ended (a crash in between leaves the hold
    to the next release, never a group without its reconcile)."""
    namespace = key.split("/", 1)[0]
    held = {g for g in store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) if g.startswith(f"{namespace}/")}
    complete = _complete(store, held) if held else set()
    if not complete:
        return set()
    groups = _request(settings, store, complete, cause=cause, release=True)
    store.release_groups(complete)
    return groups


def _covered(store: Store, sent: float | None) -> bool:
    """A Resync sent after (or as) the change was sent has been applied: what the
    forwarder had listed before it reached ingest, or was asked for again."""
    last = store.last_resync_sent()
    return last is not None and sent is not None and sent <= last


def _holds(store: Store, change: ObjectChange, previous: Mapping[str, Any] | None, sent: float | None) -> bool:
    """Whether this change is of a forwarder's list that has not reached ingest whole:
    an Ingress never stored, already served, sent after the last Resync applied, or
    before it while that Resync still awaits Ingresses or Services it listed (it
    overtook them: this one's Service may be among them)."""
    if change.kind != "Ingress" or change.action != "upsert" or previous is not None:
        return False
    return _served(change.object) and (not _covered(store, sent) or _awaiting(store))


def _awaiting(store: Store) -> bool:
    """The last Resync still awaits Ingresses or Services of its lists."""
    return bool(store.awaited(now=time.time(), hold_for=HOLD_SECONDS))


def _hold_first(change: ObjectChange, *, store: Store, sent: float | None) -> str | None:
    """Hold the group of an Ingress that will hold it before the Ingress is stored: once
    stored (with its membership), a concurrent invocation's request of every group (an
    IngressClass change regroups all of them), or of its Service's groups, would find it
    stored and not yet held, and reconcile it from half a first list. Only an Ingress
    never stored writes it (what :func:`_holds` then decides; a version racing it would
    have held the same group), and :func:`_follow_change` releases it as it releases any
    hold (complete, covered). Returns the group when this wrote its hold.

    An implicit group complete already (the adoption's common case: the first list's
    Services and slices came first) is not held here: what a hold waits for is there,
    and a hold would only be written, refused by the group's own request and taken back.
    :func:`_follow_change` still judges the hold after the Ingress is stored, on what is
    stored then (its group read again, what a Resync applied meanwhile awaits)."""
    if change.kind != "Ingress" or change.action != "upsert" or not _served(change.object):
        return None
    # the stored snapshot first: most changes of a served Ingress are of a stored one (one read)
    if store.get_objects("Ingress", {change.key}) or (_covered(store, sent) and not _awaiting(store)):
        return None
    group = group_key_of(change.object, _class_groups(store, change.object))
    if group == change.key and _complete(store, {group}, known={group: change.object}):
        return None
    if group in store.held_groups(now=time.time(), hold_for=HOLD_SECONDS):
        return None
    store.hold_groups({group}, at=time.time(), sent=sent)
    return group


def apply_change(
    change: ObjectChange, *, settings: Settings, store: Store, event_id: str, sent: float | None = None
) -> set[str]:
    """Store one change; returns the groups enqueued (empty when stale or foreign; held
    groups left out). ``sent``: when the forwarder sent it (the event's ``time``)."""
    if change.cluster != settings.cluster:
        logger.info("ignoring an event of another cluster", extra={"cluster": change.cluster, "key": change.key})
        return set()
    rv = int(change.resource_version)
    held_first = _hold_first(change, store=store, sent=sent)
    applied, previous, redelivered, awaited = store.put_snapshot(
        kind=change.kind, key=change.key, rv=rv, obj=change.object, deleted=change.action == "delete"
    )
    if not applied and held_first is not None:
        store.release_groups({held_first})  # a stale change (after its delete) holds nothing
    if not applied:
        logger.info(
            "dropped a stale change", extra={"kind": change.kind, "key": change.key, "rv": change.resource_version}
        )
        return set()
    try:
        groups = _follow_change(
            change,
            settings=settings,
            store=store,
            event_id=event_id,
            previous=previous,
            sent=sent,
            awaited=awaited is not None or redelivered,
        )
    except Exception:
        # Stored, but not enqueued: without a mark, the retry of this very event would
        # be dropped as a duplicate and the change would wait for the drift sweep.
        store.mark_pending(kind=change.kind, key=change.key, rv=rv, obj=change.object, previous=previous)
        raise
    if redelivered:
        store.settle(kind=change.kind, key=change.key, rv=rv, obj=change.object)
    return groups


def _follow_change(
    change: ObjectChange,
    *,
    settings: Settings,
    store: Store,
    event_id: str,
    previous: Mapping[str, Any] | None,
    sent: float | None = None,
    awaited: bool = False,
) -> set[str]:
    """Membership and the reconcile (or targets sync) a stored change asks for.
    ``awaited``: what it replaced was marked as awaited by a Resync (or this is the
    retry of a change whose handling failed: it may have been)."""
    grouped = _class_groups(store, change.object, previous) if change.kind == "Ingress" else None
    if change.kind == "Ingress" and change.action == "upsert":
        store.add_member(group_key_of(change.object, grouped), change.key)
    if change.kind == bindings.KIND and change.action == "upsert" and (bound := bindings.service_of(change.object)):
        # its Service's changes (and its slices') sync it, as they do the groups using it
        store.set_refs(bindings.group_of(change.key), [bound])
    groups = _groups_affected(store, change.kind, change.object, previous, grouped, change.action == "delete")
    service = _service_of(change.kind, change.object)
    if groups and change.kind == "Pod" and settings.targets_queue_url:
        # a gated pod's containers are ready: the targets fast path of its group's Services
        # (a target group whose targets did not change reads nothing from AWS)
        queues.enqueue(settings.targets_queue_url, groups, cause=event_id, service=ALL_SERVICES)
    elif groups and service and settings.targets_queue_url:
        # endpoints change no model: only registrations follow (the targets fast path)
        queues.enqueue(settings.targets_queue_url, groups, cause=event_id, service=service)
    elif groups and change.kind == "Node" and settings.targets_queue_url:
        queues.enqueue(settings.targets_queue_url, groups, cause=event_id, nodes=True)
    elif groups:
        affected = groups
        hold = _holds(store, change, previous, sent)
        urgent = lanes.urgent(kind=change.kind, deleted=change.action == "delete", obj=change.object, previous=previous)
        groups = _request(settings, store, affected, cause=event_id, hold=hold, sent=sent, urgent=urgent)
        if hold and (held := affected - groups):
            # The Resync that covers this change was applied meanwhile, or the last object
            # it awaited was stored, and may have released the holds before this one was
            # written: released here; else those its Services (and their slices) complete,
            # stored meanwhile by invocations running at once (EventBridge keeps no
            # order), which read the holds before this one was written.
            released = held if _covered(store, sent) and not _awaiting(store) else _complete(store, held)
            if released:
                groups |= _request(settings, store, released, cause=event_id, release=True)
                store.release_groups(released)
    # Only what can complete a held group looks at the holds: a Service or slice stored
    # for the first time (or one a Resync awaits); an update of one stored reads nothing.
    fresh = previous is None or awaited
    if change.kind == "Service" and change.action == "upsert" and fresh:
        groups |= _release_for_service(settings, store, change.key, event_id)
    if service and change.action == "upsert" and fresh:
        groups |= _release_for_service(settings, store, service, event_id)
    if change.kind in AWAITED_KINDS and fresh:
        groups |= _release_on_arrival(
            settings,
            store,
            f"{change.kind}/{change.key}",
            rv=None if change.action == "delete" else int(change.resource_version),
            retried=awaited,
            cause=event_id,
            obj=change.object,
        )
    logger.info(
        "snapshot stored",
        extra={"kind": change.kind, "key": change.key, "rv": change.resource_version, "groups": sorted(groups)},
    )
    return groups


def apply_resync(
    resync: Resync, *, settings: Settings, store: Store, event_id: str, sent: float | None = None
) -> set[str]:
    """Tombstone every stored object of a listed kind that the cluster no longer has.
    ``sent``: when the forwarder sent the Resync (the event's ``time``; now, if unknown).

    A Resync sent after the one that set a kind's mark, whose ``asOf`` is below that
    mark, says the cluster's resourceVersions went back (an etcd restore, a cluster made
    again under the same name): every version stored above its ``asOf`` belongs to a
    sequence that no longer counts, and would blind ingest to the changes to come. That
    kind is re-baselined: the Resync's view wins over what was stored before it was sent
    (what it does not list goes, whatever its version) and what it lists, or a tombstone
    of it, is stored again at version 0, so the next change of it is taken whatever its
    version. A Resync sent before the mark's (late, or redriven from the dead-letter
    queue) only tombstones what its watch had seen.

    With ``versions``, the listed objects stored older than the forwarder last sent them
    (or as tombstones, or not at all) are asked for again (:func:`stale_keys`, a
    ``resend`` write-back): a delivery of their change was lost. Not by a late Resync
    (the newer one asked already); in a re-baselined kind, what was stored again at
    version 0 is asked for too (its content is of the old sequence)."""
    if resync.cluster != settings.cluster:
        return set()
    sent_at = time.time() if sent is None else sent
    groups: set[str] = set()
    stale: dict[str, list[str]] = {}
    snapshots: dict[str, Mapping[str, tuple[int, Mapping[str, Any]]]] = {}  # what was stored, per kind
    for kind, live in resync.keys.items():
        wanted = set(live)
        stored = snapshots[kind] = store.live_snapshots(kind)
        mark = _as_of(resync, kind)
        # A Resync sent before the one that set the mark (late, or redriven) asks for
        # nothing again: the newer one judged the same objects at newer versions.
        newest = True
        if mark is not None:
            newest, prior = store.claim_mark(
                kind,
                rv=mark,
                sent=sent_at,
                event_id=event_id,
                bootstrap=max((rv for rv, _ in stored.values()), default=0),
            )
            if newest and prior is not None and mark < prior:
                gone, rebased = _rebaseline(
                    resync, kind, wanted=wanted, stored=stored, mark=mark, sent=sent_at, store=store
                )
                groups |= gone
                if rebased:
                    logger.warning(
                        "the cluster's resourceVersions went back (an etcd restore, or a cluster made again under "
                        "this name): re-baselined",
                        extra={"kind": kind, "asOf": mark, "mark": prior, "snapshots": rebased},
                    )
                # what is stored again at version 0 holds the old sequence's content: asked for anew
                snapshots[kind] = store.live_snapshots(kind)
                stale[kind] = stale_keys(resync, kind, snapshots[kind])
                continue
        for key, (rv, obj) in stored.items():
            if key in wanted or not resync.judges(kind, key, rv):
                continue
            applied, previous, *_ = store.put_snapshot(kind=kind, key=key, rv=rv, obj=obj, deleted=True)
            if applied:
                groups |= _groups_affected(store, kind, obj, previous, deleted=True)
        if newest:
            stale[kind] = stale_keys(resync, kind, stored)
    # Recorded before the holds are read: a change held concurrently either sees this
    # record (and releases its hold itself) or wrote its hold before they are read. A
    # Resync sent before the one recorded (late, redriven) releases nothing: the newer
    # one judged the holds, and may still await what its own lists hold.
    recorded = store.record_resync(event_id=event_id, at=time.time(), sent=sent_at)
    # Only the holds of changes sent before it: one held by a later list (a newer
    # forwarder's) waits for the Resync that covers it.
    holds = store.holds(now=sent_at, hold_for=float("inf")) if recorded else {}
    held = {group for group, held_sent in holds.items() if held_sent is None or held_sent <= sent_at}
    # Recorded even with nothing held: an Ingress of these lists stored after this Resync
    # is covered by it, yet its Service or the rest of its group may still be on the way.
    if recorded and _still_on_their_way(resync, stale, snapshots, store) and held:
        # the Resync overtook changes of its own lists (EventBridge keeps no order): a
        # held group goes once they are stored (_release_on_arrival), or whole
        held = _complete(store, held)
    if held:
        _request(settings, store, held, cause=event_id, release=True)
    if groups - held:
        # the tombstones' groups: a held one among them still waits for its members
        _request(settings, store, groups - held, cause=event_id)
    store.release_groups(held)  # after the request: a failed one leaves them for the retry
    logger.info("resync applied", extra={"groups": sorted(groups), "released": sorted(held)})
    _ask_again({k: v for k, v in stale.items() if v}, settings=settings, event_id=event_id)
    return groups


# How long a sync hold holds (the reconcile's targets path honours it too).
HOLD_SECONDS = table.HOLD_SECONDS

# The kinds a held group's reconcile needs whole: its members, their Services and the
# Services' EndpointSlices.
AWAITED_KINDS = ("Ingress", "Service", "EndpointSlice")


def _still_on_their_way(
    resync: Resync,
    stale: Mapping[str, list[str]],
    stored: Mapping[str, Mapping[str, tuple[int, Mapping[str, Any]]]],
    store: Store,
) -> bool:
    """Whether Ingresses, Services or EndpointSlices the Resync lists are not stored (at
    the version it lists) yet: recorded as awaited (and marked on their older stored
    snapshots, whose next write then says so), read again after (a change stored
    meanwhile either sees the record or the mark, or is seen here), and those still
    missing kept awaited. One stored as a tombstone at the listed version or newer is
    not awaited: it was deleted after the list (its change, if still on its way, is
    dropped as stale and would never clear it)."""
    versions = resync.versions or {}
    missing: dict[str, Awaited] = {}
    for kind in AWAITED_KINDS:
        for key in stale.get(kind, []):
            old = (stored.get(kind) or {}).get(key)
            service = _service_of(kind, old[1]) if old is not None else None
            missing[f"{kind}/{key}"] = Awaited(int((versions.get(kind) or {}).get(key, "0")), service)
    if not missing:
        return False
    store.await_objects(missing, at=time.time())
    for name, what in missing.items():
        kind, _, key = name.partition("/")
        if (old := (stored.get(kind) or {}).get(key)) is not None:
            store.mark_awaited(kind=kind, key=key, obj=old[1], rv=what.rv)
    still: set[str] = set()
    for kind in sorted({name.partition("/")[0] for name in missing}):
        left = [k for k in stale_keys(resync, kind, store.live_snapshots(kind)) if f"{kind}/{k}" in missing]
        gone = store.gone_versions(kind) if left else {}
        still |= {f"{kind}/{k}" for k in left if gone.get(k, -1) < missing[f"{kind}/{k}"].rv}
    store.arrived(set(missing) - still)
    logger.info("held groups wait for what the Resync listed", extra={"awaited": sorted(still)[:20]})
    return bool(still)


def _release_on_arrival(
    settings: Settings,
    store: Store,
    awaited: str,
    *,
    rv: int | None,
    retried: bool,
    cause: str,
    obj: Mapping[str, Any] | None = None,
) -> set[str]:
    """An object the last Resync listed and found missing is stored (``rv``; None: its
    delete, or a change ingest refused, which will never be stored either): when it was
    the last one awaited, the groups the Resync held go (see :func:`apply_resync`).
    Their reconciles are asked for before the object leaves "awaited" (a crash in
    between leaves it for the retry); of two last arrivals at once, whichever finds
    nothing awaited after its own went asks. ``retried``: the retry of a change whose
    handling failed: with nothing awaited any more, it asks for what may be left.
    ``obj``: what was stored, marked again when older than awaited (its write replaced
    the mark, and the version awaited is still to come)."""
    items = store.awaited_items(now=time.time(), hold_for=HOLD_SECONDS)
    what = items.get(awaited)
    if what is None:
        return _release_covered(settings, store, cause) if retried and not items else set()
    if rv is not None and rv < what.rv:
        # an older version than the Resync listed: the one it listed is still on its way
        if obj is not None:
            kind, _, key = awaited.partition("/")
            store.mark_awaited(kind=kind, key=key, obj=obj, rv=what.rv)
        return set()
    if not set(items) - {awaited}:
        groups = _release_covered(settings, store, cause)
        store.arrived({awaited})
        return groups
    store.arrived({awaited})
    if store.awaited(now=time.time(), hold_for=HOLD_SECONDS):
        return set()
    return _release_covered(settings, store, cause)  # the others went meanwhile


def _release_covered(settings: Settings, store: Store, cause: str) -> set[str]:
    """Nothing awaited any more: the groups held by changes the last Resync covers (sent
    before it) go; those held by a later list wait for the Resync that covers them."""
    last = store.last_resync_sent()
    holds = store.holds(now=time.time(), hold_for=float("inf"))
    covered = {g for g, sent in holds.items() if sent is None or (last is not None and sent <= last)}
    if not covered:
        return set()
    groups = _request(settings, store, covered, cause=cause, release=True)
    store.release_groups(covered)
    logger.info("what the Resync listed is stored", extra={"released": sorted(covered)})
    return groups


def refused(detail: Any, *, settings: Settings, store: Store, cause: str) -> set[str]:
    """A change ingest refused (malformed: it will never be stored) is no longer awaited:
    the groups waiting for it go once nothing else is (they are reconciled without it,
    as with any member ingest cannot read: ADR 0002)."""
    if not isinstance(detail, Mapping) or detail.get("cluster") != settings.cluster:
        return set()
    kind, key = detail.get("kind"), detail.get("key")
    if kind not in AWAITED_KINDS or not isinstance(key, str) or not key:
        return set()
    return _release_on_arrival(settings, store, f"{kind}/{key}", rv=None, retried=False, cause=cause)


# At most this many objects are asked for again per Resync (50 messages); the rest, if
# ever so many, wait for the next Resync.
RESEND_MAX_PER_RESYNC = 5000


def stale_keys(resync: Resync, kind: str, stored: Mapping[str, tuple[int, Mapping[str, Any]]]) -> list[str]:
    """The keys of ``kind`` the Resync lists at a version newer than the live snapshot
    stored (``stored``: key → (resourceVersion, object)), or that have none: a tombstone,
    or nothing at all. A key outside the forwarder's namespaces is not its to send."""
    versions = (resync.versions or {}).get(kind) or {}
    scope = resync.namespaces
    return sorted(
        key
        for key, rv in versions.items()
        if (scope is None or "/" not in key or key.split("/", 1)[0] in scope)
        and (key not in stored or stored[key][0] < int(rv))
    )


def _ask_again(stale: Mapping[str, list[str]], *, settings: Settings, event_id: str) -> None:
    """Ask the forwarder to send the ``stale`` objects again (kind → keys)."""
    if not stale:
        return
    counts = {kind: len(keys) for kind, keys in sorted(stale.items())}
    total = sum(counts.values())
    if not settings.writeback_queue_url:
        logger.warning("stale snapshots, and no write-back queue to ask for them", extra={"stale": counts})
        return
    asked: dict[str, list[str]] = {}
    budget = RESEND_MAX_PER_RESYNC
    for kind, keys in sorted(stale.items()):
        if budget <= 0:
            break
        asked[kind] = keys[:budget]
        budget -= len(asked[kind])
    messages = resend_messages(settings.cluster, asked)
    queues.send_writebacks(settings.writeback_queue_url, messages)
    # Info, not a warning: a change sent just before the Resync may still be on its way
    # (EventBridge keeps no order), and is then asked for once more, harmlessly.
    logger.info(
        "stale snapshots (a change lost, or still on its way): asked the forwarder to send them again",
        extra={
            "stale": counts,
            "asked": sum(len(k) for k in asked.values()),
            "left": total - sum(len(k) for k in asked.values()),
            "messages": len(messages),
            "resync": event_id,
            "keys": {kind: keys[:20] for kind, keys in asked.items()},
        },
    )


def _as_of(resync: Resync, kind: str) -> int | None:
    """Where the Resync's watch of ``kind`` stood; None when it does not say, or says
    "0" (the kind was not listed: not served, or not ours to read)."""
    value = (resync.as_of or {}).get(kind)
    return int(value) if value is not None and value.isdigit() and int(value) > 0 else None


def _rebaseline(
    resync: Resync,
    kind: str,
    *,
    wanted: set[str],
    stored: Mapping[str, tuple[int, Mapping[str, Any]]],
    mark: int,
    sent: float,
    store: Store,
) -> tuple[set[str], int]:
    """The Resync's view of ``kind`` wins over what was stored before it was sent; what
    it lists or deletes above its ``asOf`` is stored again at version 0 (see
    :func:`apply_resync`). What was stored after it was sent is the newer word (a change
    that overtook it, or one stored since, when this is a retried delivery). Returns the
    groups whose objects went and how many snapshots were stored again at version 0."""
    groups: set[str] = set()
    rebased = 0
    for key, (rv, obj) in stored.items():
        if rv <= mark and key not in wanted and resync.judges(kind, key, rv):
            applied, previous, *_ = store.put_snapshot(kind=kind, key=key, rv=rv, obj=obj, deleted=True)
            if applied:
                groups |= _groups_affected(store, kind, obj, previous, deleted=True)
    for key, snap in store.snapshots_above(kind, mark).items():
        if snap.at >= sent or not resync.judges(kind, key, 0):
            continue
        if key in wanted:
            rebased += store.rebase(kind=kind, key=key, obj=snap.obj, seen=snap.rv, deleted=snap.deleted)
        elif not snap.deleted and store.rebase(kind=kind, key=key, obj=snap.obj, seen=snap.rv, deleted=True):
            rebased += 1
            groups |= _groups_affected(store, kind, snap.obj, snap.obj, deleted=True)
    return groups, rebased
