"""The drift sweep: on a schedule, every group is reconciled again with a fresh read.

Event-driven reconciles trust the stack index for what it vouches for (security group
rules, attributes, certificates, tags, registrations whose desired form did not change);
the sweep reads everything (:func:`albatross.aws.discovery.read_stack`), so manual edits
and deleted resources are repaired within one period. Groups are enqueued on the FIFO
work queue, ten per batch call, one message group each: the reconcile function works
through them at its own pace and never runs two reconciles of a group at once.

TargetGroupBindings are enqueued on the targets queue (their own message groups), for a
sync that trusts no digest.

Orphans: a stack tagged for this cluster whose group has no member left is enqueued too
(its reconcile tears it down), but only when Albatross has applied a model for that group
before. A stack LBC left behind, or one whose Ingresses have not been
forwarded yet, is reported and left alone.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from albatross.aws import discovery
from albatross.contract import bindings
from albatross.controller import queues
from albatross.controller.settings import Settings
from albatross.store.table import Store

logger = Logger(child=True)


def sweep(*, settings: Settings, store: Store, run_id: str) -> dict[str, list[str]]:
    """Enqueue every group for a fresh reconcile; returns what was enqueued and skipped."""
    groups = store.all_groups()
    stacks = discovery.stacks(cluster=settings.cluster)
    orphans = sorted(s for s in stacks - groups if store.group_state(s).managed)
    unknown = sorted(stacks - groups - set(orphans))
    queues.enqueue(settings.work_queue_url, groups | set(orphans), cause=f"drift:{run_id}", fresh=True)
    # users' TargetGroupBindings (ADR 0013): a sync of every target group ("*") checks
    # the registrations and rules in AWS, so a target deregistered by hand comes back
    bound = {bindings.group_of(k) for k, (_, o) in store.live_snapshots(bindings.KIND).items() if bindings.served(o)}
    if bound and settings.targets_queue_url:
        queues.enqueue(settings.targets_queue_url, bound, cause=f"drift:{run_id}", service="*")
    if unknown:
        logger.warning("stacks of this cluster that Albatross never managed; left alone", extra={"stacks": unknown})
    logger.info("drift sweep", extra={"groups": len(groups), "orphans": orphans, "bindings": len(bound)})
    return {"groups": sorted(groups), "orphans": orphans, "unknown": unknown, "bindings": sorted(bound)}
