"""Reconcile: SQS FIFO batch of group keys → one reconcile per group, partial failures.

A record that fails comes back after a backoff; one that fails for a reason that passes
by itself is never dead-lettered, and one that reaches the dead-letter queue first
writes a Warning on every member of its group (albatross.controller.retries, ADR 0009).
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from albatross.aws import budget
from albatross.aws.calls import CallCounter
from albatross.aws.errors import AlbatrossError
from albatross.controller import queues, report, retries, targets
from albatross.controller.events import NotDue, PartialBatchResponse, QueueMessage, Unhandled, body_of, fifo_batch
from albatross.controller.reconcile import reconcile
from albatross.controller.settings import Settings
from albatross.store.table import Store

logger = Logger(service="albatross-reconcile")
metrics = Metrics(namespace="Albatross", service="albatross-reconcile")


def record_handler(record: QueueMessage) -> None:
    settings = Settings.from_env()
    # a record of the urgent queue is a user's change: its AWS calls may spend the budget's
    # reserve, which bulk work leaves (ADR 0017)
    urgent = retries.queue_of(record.source_arn, {"urgent": settings.urgent_work_queue_url}) is not None
    token = budget.lane.set(budget.URGENT if urgent else budget.BULK)
    try:
        _handle(record, settings)
    finally:
        budget.lane.reset(token)


def _handle(record: QueueMessage, settings: Settings) -> None:
    body = body_of(record)
    group, fresh = body["group"], bool(body.get("fresh"))
    logger.set_correlation_id(group)
    if body.get("service") or body.get("nodes"):  # the targets fast path
        changed = targets.sync_service(
            settings=settings,
            store=Store(settings.table),
            group=group,
            service=body.get("service"),
            cause=record.message_id,
        )
        metrics.add_metric(name="TargetsSynced", unit=MetricUnit.Count, value=max(changed, 0))
        return
    sent = record.sent_timestamp
    if sent:
        lag = max(0, int(time.time() * 1000) - sent)
        metrics.add_metric(name="QueueLag", unit=MetricUnit.Milliseconds, value=lag)
    counter, started, attempted = CallCounter(), time.monotonic(), True
    try:
        outcome = reconcile(
            settings=settings, store=Store(settings.table), group=group, request_id=record.message_id, fresh=fresh
        )
    except NotDue:
        # its group is leased by another reconcile (ADR 0017): nothing was done, and a
        # duration of a few milliseconds would only pull the reconciles' figures down
        attempted = False
        metrics.add_metric(name="ReconcileLeasedElsewhere", unit=MetricUnit.Count, value=1)
        raise
    except AlbatrossError as e:
        metrics.add_metric(name=f"Errors_{type(e).__name__}", unit=MetricUnit.Count, value=1)
        raise
    finally:
        counter.close()
        if attempted:
            calls = counter.snapshot()
            metrics.add_metric(name="AwsMutatingCalls", unit=MetricUnit.Count, value=CallCounter.mutating(calls))
            metrics.add_metric(name="AwsReadCalls", unit=MetricUnit.Count, value=CallCounter.reads(calls))
            duration = (time.monotonic() - started) * 1000
            metrics.add_metric(name="ReconcileDuration", unit=MetricUnit.Milliseconds, value=duration)
    metrics.add_metric(name=f"Reconcile_{outcome.result}", unit=MetricUnit.Count, value=1)
    Store(settings.table).record_outcome(
        group,
        {
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "result": outcome.result,
            "duration_ms": round((time.monotonic() - started) * 1000),
            "steps": outcome.steps,
            "errors": outcome.errors,
        },
    )
    if fresh and outcome.steps:
        metrics.add_metric(name="DriftRepaired", unit=MetricUnit.Count, value=1)
        logger.warning("drift repaired", extra={"group": group, "steps": outcome.steps})
    logger.info("reconcile done", extra={"group": group, "result": outcome.result, "steps": outcome.steps})


_WHAT = {"work": "the reconcile", "urgent": "the reconcile", "targets": "the target sync"}
_ERROR_CHARS = 1000  # of the error in the Warning: an Event's message is for a human, not a log


def dead_letter_warning(message: QueueMessage, *, error: BaseException, queue: retries.Queue) -> None:
    """A Warning on every member of the record's group: its request failed on every
    receive and is going to the dead-letter queue, and how to send it back."""
    settings = Settings.from_env()
    group = str(body_of(message)["group"])
    store = Store(settings.table)
    records = store.member_records(group)
    objects = store.get_objects("Ingress", records)
    cause = f"{type(error).__name__}: {error}"[:_ERROR_CHARS]
    text = (
        f"Failed deploy model due to {cause}; {_WHAT.get(queue.name, 'the request')} of group {group} failed "
        f"{retries.receives(message)} times and is now in the {queue.name} dead-letter queue; once the cause is "
        f"fixed, send it back with: albatross redrive --queue {queue.name}"
    )
    queues.send_writebacks(
        settings.writeback_queue_url,
        report.warnings(settings, sorted(records), reason="FailedDeployModel", message=text, objects=objects),
    )


def settle(unhandled: list[Unhandled]) -> list[str]:
    settings = Settings.from_env()
    settled = retries.settle(
        unhandled,
        policy=_policy(settings),
        queues_by_name={
            "work": settings.work_queue_url,
            "urgent": settings.urgent_work_queue_url,
            "targets": settings.targets_queue_url,
        },
        dead_letter=dead_letter_warning,
    )
    for name, ids in (
        ("RetriedLater", settled.postponed),
        ("RetriedAsCopy", settled.copied),
        ("DeadLettered", settled.dead_lettered),
    ):
        if ids:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=len(ids))
    return settled.failed


def _policy(settings: Settings) -> retries.Policy:
    return retries.Policy(
        max_receives=settings.max_receive_count,
        first_seconds=settings.retry_backoff_seconds,
        cap_seconds=settings.retry_backoff_max_seconds,
    )


# What an invocation keeps for itself after its records' last AWS call: settling the
# records left (visibility, copies) and recording outcomes. The budget's waits end before it.
FINISH_SECONDS = 30.0


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialBatchResponse:
    # a record waits in line for the account budget as long as the invocation can afford,
    # rather than giving up after one call's wait and redoing its reads (ADR 0017)
    with budget.bounded(context.get_remaining_time_in_millis() / 1000 - FINISH_SECONDS):
        return fifo_batch(event, retries.when_due(record_handler, _policy(Settings.from_env())), settle=settle)
