"""Tell the cluster how a group's reconcile ended, through the write-back queue.

On success: each live member's ``status.loadBalancer`` (only when it differs from what
the member shows), a Normal ``SuccessfullyReconciled`` Event, and finalizer removal for
the members that left; then the group's run is over and, if changes arrived meanwhile,
it is enqueued once more. On failure: a Warning ``FailedDeployModel`` Event on every
member, the leaving ones included (a deleting Ingress keeps its finalizer until its part
of the load balancer is gone: the Event says so, and what happens next). A load balancer
tagged for the group's stack that Albatross did not make or adopt: a Warning
``DuplicateLoadBalancer`` naming it on every member. A plan refused for deletion
protection: a Warning on every member, the leaving ones included, naming the load
balancer and how to release it.

Every message names the Ingress's uid as stored: the forwarder applies it to that
object only, never to another one created since under the same name.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from albatross.aws import discovery
from albatross.contract import WriteBack
from albatross.controller import queues
from albatross.controller.settings import Settings
from albatross.k8s.ingress import GroupID, parse_ingress
from albatross.model import frontend_nlb, names
from albatross.model.stack import LOAD_BALANCER
from albatross.plan.actual import Actual, ActualResource
from albatross.plan.protection import BUILD, Refusal
from albatross.store.table import Store


def uid_of(obj: Mapping[str, Any] | None) -> str:
    """The stored Ingress's ``metadata.uid`` ("" when unknown: the message is then
    applied to whatever Ingress has that name)."""
    meta = (obj or {}).get("metadata")
    uid = meta.get("uid") if isinstance(meta, Mapping) else None
    return uid if isinstance(uid, str) else ""


def warnings(
    settings: Settings,
    ingresses: Iterable[str],
    *,
    reason: str,
    message: str,
    objects: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[WriteBack]:
    """A Warning Event for each Ingress; ``objects``: the stored Ingresses by key, for
    their uids."""
    return [
        WriteBack(
            type="event",
            cluster=settings.cluster,
            ingress=k,
            uid=uid_of((objects or {}).get(k)),
            event_type="Warning",
            reason=reason,
            message=message,
        )
        for k in ingresses
    ]


def finish(
    *,
    settings: Settings,
    store: Store,
    group: str,
    members: Iterable[str],
    leaving: Iterable[Mapping[str, str]],
    changed: bool,
    actual: Actual | None = None,
) -> list[WriteBack]:
    """Write back the outcome of a successful run; returns what was sent. ``actual`` is
    the stack as it now stands (found again when not given)."""
    if actual is None:
        actual = discovery.find_stack(cluster=settings.cluster, stack_id=group)
    # the ALB's name and the frontend NLB's (albatross.model.frontend_nlb.status_hostnames)
    by_id = {r.id: r for r in actual.of_type(LOAD_BALANCER)}
    alb, nlb = (
        str(by_id[rid].properties.get("DNSName") or "") if rid in by_id else ""
        for rid in (names.LOAD_BALANCER_ID, names.FRONTEND_NLB_ID)
    )
    # Only members the load balancer serves: each has a version that built (ADR 0002); a
    # member that never built has none, gets no address and no "reconciled" Event.
    served = {key for key, good in store.member_records(group).items() if good is not None}
    live = store.get_objects("Ingress", [key for key in members if key in served])
    messages: list[WriteBack] = []
    for key, obj in sorted(live.items()):
        ing = parse_ingress(obj)
        dns = frontend_nlb.status_hostnames(alb, nlb, ing.annotations)
        if dns != ing.hostnames:
            messages.append(WriteBack(type="status", cluster=settings.cluster, ingress=key, uid=ing.uid, hostnames=dns))
            changed = True
        if changed:
            messages.append(
                WriteBack(
                    type="event",
                    cluster=settings.cluster,
                    ingress=key,
                    uid=ing.uid,
                    event_type="Normal",
                    reason="SuccessfullyReconciled",
                    message="Successfully reconciled",
                )
            )
    leaving = list(leaving)
    releasing = [item for item in leaving if item.get("finalizer")]
    stored = store.get_objects("Ingress", [item["ingress"] for item in releasing]) if releasing else {}
    for item in releasing:
        messages.append(
            WriteBack(
                type="removeFinalizer",
                cluster=settings.cluster,
                ingress=item["ingress"],
                uid=uid_of(stored.get(item["ingress"])),
                finalizer=item["finalizer"],
            )
        )
    queues.send_writebacks(settings.writeback_queue_url, messages)
    for item in leaving:
        store.remove_member(group, item["ingress"])
    return messages


def end_run(
    *,
    settings: Settings,
    store: Store,
    group: str,
    succeeded: bool = False,
    retry: bool = False,
    execution: str | None = None,
) -> bool:
    """Release the group after an execution; re-enqueue it when it was marked dirty (read
    and cleared in the same write as the release, so a mark set meanwhile is not lost),
    or when ``retry`` (a failed execution to try again). ``succeeded``: the execution
    did its work (a streak of failed ones is over). ``execution``: release only while
    that one is the group's (reported from outside it: a newer run may hold the group by
    now, and is left alone). Returns whether it was enqueued."""
    released, dirty = store.release(group, succeeded=succeeded, expected=execution)
    if execution is not None and released is None:
        return False
    execution = released
    if dirty or retry:
        # the execution's name keeps the request apart from any other (FIFO deduplication);
        # a user's change that came meanwhile goes on the urgent lane (ADR 0017)
        run = execution or f"{time.time():.3f}"
        queue = settings.work_queue(urgent=dirty == "urgent")
        queues.enqueue(queue, [group], cause=f"dirty:{run}" if dirty else f"retry:{run}")
    return bool(dirty) or retry


def failed(
    *,
    settings: Settings,
    store: Store,
    group: str,
    members: Iterable[str],
    error: str,
    leaving: Iterable[Mapping[str, str]] = (),
    then: str = "",
) -> list[WriteBack]:
    """A Warning ``FailedDeployModel`` on every member and every leaving one (with the
    finalizer it keeps meanwhile); ``then``: what happens next. Returns what was sent."""
    leaving = list(leaving)
    live = store.get_objects("Ingress", [*members, *(item["ingress"] for item in leaving)])
    held = {item["ingress"]: item.get("finalizer") for item in leaving if item["ingress"] in live}
    base = f"Failed deploy model due to {error}"
    messages = [
        msg
        for key in sorted(live)
        for msg in warnings(
            settings,
            [key],
            reason="FailedDeployModel",
            message="; ".join(
                part
                for part in (
                    base,
                    (
                        f"the Ingress keeps its finalizer {held[key]} until its part of the load balancer is deleted"
                        if held.get(key)
                        else ""
                    ),
                    then,
                )
                if part
            ),
            objects=live,
        )
    ]
    queues.send_writebacks(settings.writeback_queue_url, messages)
    return messages


def protected(
    *,
    settings: Settings,
    store: Store,
    members: Iterable[str],
    leaving: Iterable[Mapping[str, str]],
    refusals: Iterable[Refusal],
) -> list[WriteBack]:
    """A Warning on every member and every leaving one for each load balancer the plan
    may not delete (deletion protection, :mod:`albatross.plan.protection`): why, that
    nothing of it is deleted, the finalizer each keeps, and how to release it."""
    leaving = list(leaving)
    live = store.get_objects("Ingress", [*members, *(item["ingress"] for item in leaving)])
    held = {item["ingress"]: item.get("finalizer") for item in leaving if item["ingress"] in live}
    messages: list[WriteBack] = []
    for refusal in refusals:
        lead = "Failed build model" if refusal.reason == BUILD else "Failed deploy model"
        for key in sorted(live):
            parts = (
                f"{lead} due to {refusal.cause}",
                f"load balancer {refusal.name} and its listeners, rules and target groups are left as they are",
                f"the Ingress keeps its finalizer {held[key]}" if held.get(key) else "",
                f"to delete it, {refusal.release}",
            )
            messages += warnings(
                settings, [key], reason=refusal.reason, message="; ".join(p for p in parts if p), objects=live
            )
    queues.send_writebacks(settings.writeback_queue_url, messages)
    return messages


def finalizer_of(group: str) -> str:
    return names.finalizer(GroupID.parse(group))


def unrecorded(
    settings: Settings,
    ingresses: Iterable[str],
    load_balancers: Iterable[ActualResource],
    *,
    group: str,
    objects: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[WriteBack]:
    """A Warning on each Ingress naming each load balancer tagged for the group's stack
    that Albatross did not make or adopt (see :func:`albatross.plan.planner.set_aside`)."""
    keys = list(ingresses)
    return [
        msg
        for lb in load_balancers
        for msg in warnings(
            settings,
            keys,
            reason="DuplicateLoadBalancer",
            message=(
                f"load balancer {lb.properties.get('Name')} ({lb.physical_id}) carries the tags of this group's stack "
                f"({names.TAG_STACK}={group}) but Albatross has no record of making or adopting it: it is left alone, "
                "neither changed nor deleted; delete it, or remove its tags, if it is not in use"
            ),
            objects=objects,
        )
    ]
