"""The targets fast path: an EndpointSlice change registers and deregisters targets of
the target groups bound to its Service, and a Node change those of every instance-mode
target group, without a full reconcile.

The group's saved model says which target groups take their targets from the Service
and how (port, address family); the stack index gives their ARNs. Nothing else is read
but the Service, its EndpointSlices and each target group's health (when its desired
targets changed). When the group has no index yet (its stack is being created, or the
last apply failed), the group is handed to a full reconcile instead, which registers
targets as part of its flow.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from albatross.aws.errors import NotFound
from albatross.controller import phases, queues
from albatross.controller.settings import Settings
from albatross.plan.actual import StackIndex
from albatross.store.table import Store

logger = Logger(child=True)


ALL_SERVICES = "*"


def sync_service(*, settings: Settings, store: Store, group: str, service: str | None, cause: str) -> int:
    """Make the registrations of ``group``'s target groups bound to ``service`` match its
    ready endpoints (``service`` None: of its instance-mode target groups, after a Node
    change; ``ALL_SERVICES``: of every target group, after a reconcile registered
    targets); returns the targets changed (-1: handed to a full reconcile)."""
    state = store.group_state(group)
    desired = phases.saved_model(store, group)
    if desired is None or not state.index or state.execution:
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
        )
    except NotFound:
        # a target group the index names is gone: a full reconcile finds what exists
        store.save_index(group, None)
        queues.request(settings.work_queue_url, store, [group], cause=f"targets:{cause}")
        return -1
    store.set_target_digests(group, {r: d for r, d in digests.items() if state.targets.get(r) != d})
    logger.info("targets synced", extra={"group": group, "service": service, "changed": changed})
    return changed
