"""The drift sweep: on a schedule, every group is checked against bulk reads of the
account, and a rotating slice of them is reconciled again with a fresh read (ADR 0015).

Event-driven reconciles trust the stack index for what it vouches for (security group
rules, attributes, certificates, tags, registrations whose desired form did not change);
a fresh reconcile reads everything (:func:`albatross.aws.discovery.read_stack`). Reading
every group that way on every run costs about 7 ELBv2 ``Describe*`` calls a group, too
much of the account's refill at hundreds of groups. So a run:

* reads every load balancer and target group of the account in pages of 400
  (:func:`albatross.aws.discovery.account`) and compares them with each group's stack
  index: a group whose load balancer or target group is gone, whose load balancer
  failed or no longer uses a security group the index names, or one of whose target
  groups no load balancer forwards to any more (a listener or rule deleted), is
  enqueued fresh at once (``changed``); so is a group with no index or whose last
  runs failed (the sweep is their retry);
* enqueues fresh the groups whose turn it is (``due``): a group's slot is a hash of its
  name, the run's the epoch time over the schedule's period, modulo as many slots as
  the budget needs (at most ``DriftFullReadHours`` worth), so every group is re-read in
  full at least that often, and every run on a small deployment;
* keeps within a budget of calls (:data:`albatross.model.limits.DRIFT_DESCRIBE_SHARE`
  of the ``Describe*`` refill over one period): the due groups beyond it are
  ``deferred`` to their next turn, in an order that changes every rotation.

Groups are enqueued on the FIFO work queue, ten per batch call, one message group each:
the reconcile function works through them at its own pace and never runs two
reconciles of a group at once. Hand edits are caught in seconds by CloudTrail's events
(:mod:`albatross.controller.aws_events`); this is the net under that path.

TargetGroupBindings are enqueued on the targets queue (their own message groups), for a
sync that trusts no digest.

Orphans: a stack tagged for this cluster whose group has no member left is enqueued too
(its reconcile tears it down), but only when Albatross has applied a model for that group
before. A stack LBC left behind, or one whose Ingresses have not been
forwarded yet, is reported and left alone.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from albatross.aws import discovery
from albatross.contract import bindings
from albatross.controller import queues
from albatross.controller.settings import Settings
from albatross.kinds import load_balancer, security_group, target_group
from albatross.model import limits
from albatross.store.table import GroupState, Store

logger = Logger(child=True)

PERIOD_SECONDS = 600.0  # the template's DriftSchedule default, rate(10 minutes)
FULL_READ_HOURS = 24.0  # the template's DriftFullReadHours default
# Slices are sized to four fifths of the budget, so a hash's uneven slices seldom defer
HEADROOM = 0.8

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}


def period_of(expression: str) -> float:
    """The seconds between runs of an EventBridge Scheduler ``rate(...)`` expression; the
    default period for anything else (a cron expression has no single period)."""
    found = _RATE.match(expression.strip())
    if not found:
        return PERIOD_SECONDS
    return float(int(found.group(1)) * _UNIT[found.group(2).rstrip("s")])


def budget_of(period: float) -> int:
    """The ELBv2 ``Describe*`` calls a run may make: its share of the refill over one
    period."""
    return int(limits.DRIFT_DESCRIBE_SHARE * limits.ELBV2_DESCRIBE.refill * period)


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def difference(state: GroupState, seen: discovery.Account) -> str:
    """Why the group needs a fresh reconcile now, by the bulk reads ("" when nothing
    shows)."""
    if state.failed.runs:
        return "its last runs failed"
    ids = [str(p) for p in ((state.index or {}).get("ids") or {}).values() if p]
    if not ids:
        return "no stack index"
    used: set[str] = set()
    for arn in (p for p in ids if load_balancer.KIND.owns(p)):
        if arn not in seen.load_balancers:
            return f"load balancer gone: {arn}"
        code, groups = seen.load_balancers[arn]
        if code == "failed":
            return f"load balancer failed: {arn}"
        used |= groups
    for arn in (p for p in ids if target_group.KIND.owns(p)):
        if arn not in seen.target_groups:
            return f"target group gone: {arn}"
        if not seen.target_groups[arn]:
            return f"target group without a load balancer: {arn}"
    for sg in (p for p in ids if security_group.KIND.owns(p)):
        if sg not in used:
            return f"security group not in use: {sg}"
    return ""


def rotation(
    groups: list[str], *, now: float, period: float, full_read_hours: float, capacity: int
) -> tuple[list[str], int]:
    """The groups whose full re-read is due in the run at ``now``, in this rotation's
    order (deferral takes from the end); and the number of slots."""
    most = max(1, int(full_read_hours * 3600 // period))
    slots = min(most, max(1, math.ceil(len(groups) / max(1.0, capacity * HEADROOM))))
    run = int(now // period)
    turn, cycle = run % slots, run // slots
    due = [g for g in groups if _hash(g) % slots == turn]
    return sorted(due, key=lambda g: _hash(f"{cycle}:{g}")), slots


def sweep(
    *,
    settings: Settings,
    store: Store,
    run_id: str,
    now: float | None = None,
    period: float = PERIOD_SECONDS,
    full_read_hours: float = FULL_READ_HOURS,
    budget: int | None = None,
) -> dict[str, Any]:
    """Check every group in bulk, enqueue those that differ and those whose full re-read
    is due within the budget; returns what was checked, enqueued, deferred and skipped."""
    at = time.time() if now is None else now
    calls = budget_of(period) if budget is None else budget
    groups = store.all_groups()
    stacks = discovery.stacks(cluster=settings.cluster)
    orphans = sorted(s for s in stacks - groups if store.group_state(s).managed)
    unknown = sorted(stacks - groups - set(orphans))
    seen = discovery.account()
    changed: dict[str, str] = {}
    for group in sorted(groups):
        why = difference(store.group_state(group), seen)
        if why:
            changed[group] = why
    left = max(0, calls - seen.calls - len(changed) * limits.FULL_READ_DESCRIBES)
    capacity = left // limits.FULL_READ_DESCRIBES
    due, slots = rotation(
        sorted(groups - set(changed)),
        now=at,
        period=period,
        full_read_hours=full_read_hours,
        capacity=calls // limits.FULL_READ_DESCRIBES,
    )
    taken, deferred = due[:capacity], due[capacity:]
    queues.enqueue(
        settings.work_queue_url, set(changed) | set(taken) | set(orphans), cause=f"drift:{run_id}", fresh=True
    )
    # users' TargetGroupBindings (ADR 0013): a sync of every target group ("*") checks
    # the registrations and rules in AWS, so a target deregistered by hand comes back
    bound = {bindings.group_of(k) for k, (_, o) in store.live_snapshots(bindings.KIND).items() if bindings.served(o)}
    if bound and settings.targets_queue_url:
        queues.enqueue(settings.targets_queue_url, bound, cause=f"drift:{run_id}", service="*")
    if unknown:
        logger.warning("stacks of this cluster that Albatross never managed; left alone", extra={"stacks": unknown})
    logger.info(
        "drift sweep",
        extra={
            "groups": len(groups),
            "changed": _reasons(changed),
            "due": len(taken),
            "deferred": len(deferred),
            "slots": slots,
            "bulk_calls": seen.calls,
            "orphans": orphans,
            "bindings": len(bound),
        },
    )
    return {
        "groups": sorted(groups),
        "changed": sorted(changed),
        "due": sorted(taken),
        "deferred": sorted(deferred),
        "orphans": orphans,
        "unknown": unknown,
        "bindings": sorted(bound),
    }


def _reasons(changed: Mapping[str, str]) -> dict[str, str]:
    """The first groups that differ, with why (a log line stays short)."""
    return dict(sorted(changed.items())[:20])
