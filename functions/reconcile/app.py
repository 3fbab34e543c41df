"""Reconcile: SQS FIFO batch of group keys → one reconcile per group, partial failures."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from albatross.aws.calls import CallCounter
from albatross.aws.errors import AlbatrossError
from albatross.controller import targets
from albatross.controller.events import PartialBatchResponse, QueueMessage, body_of, fifo_batch
from albatross.controller.reconcile import reconcile
from albatross.controller.settings import Settings
from albatross.store.table import Store

logger = Logger(service="albatross-reconcile")
metrics = Metrics(namespace="Albatross", service="albatross-reconcile")


def record_handler(record: QueueMessage) -> None:
    body = body_of(record)
    group, fresh = body["group"], bool(body.get("fresh"))
    settings = Settings.from_env()
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
    counter, started = CallCounter(), time.monotonic()
    try:
        outcome = reconcile(
            settings=settings, store=Store(settings.table), group=group, request_id=record.message_id, fresh=fresh
        )
    except AlbatrossError as e:
        metrics.add_metric(name=f"Errors_{type(e).__name__}", unit=MetricUnit.Count, value=1)
        raise
    finally:
        counter.close()
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


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialBatchResponse:
    return fifo_batch(event, record_handler)
