"""Drift: on the schedule, every IngressGroup is checked against bulk reads of the
account; those that differ, and the slice whose full re-read is due, are enqueued for a
reconcile that reads everything afresh (and stacks whose groups are gone, for teardown).
ADR 0015."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from albatross.controller import drift
from albatross.controller.settings import Settings
from albatross.store.table import Store

logger = Logger(service="albatross-drift")
metrics = Metrics(namespace="Albatross", service="albatross-drift")


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_env()
    run = str(event.get("id") or context.aws_request_id)
    found = drift.sweep(
        settings=settings,
        store=Store(settings.table),
        run_id=run,
        period=drift.period_of(os.environ.get("DRIFT_SCHEDULE", "")),
        full_read_hours=float(os.environ.get("DRIFT_FULL_READ_HOURS") or drift.FULL_READ_HOURS),
    )
    counts = {key: len(found[key]) for key in ("groups", "changed", "due", "deferred")}
    metrics.add_metric(name="DriftGroupsChecked", unit=MetricUnit.Count, value=counts["groups"])
    metrics.add_metric(name="DriftEnqueuedChanged", unit=MetricUnit.Count, value=counts["changed"])
    metrics.add_metric(name="DriftEnqueuedDue", unit=MetricUnit.Count, value=counts["due"])
    metrics.add_metric(name="DriftDeferred", unit=MetricUnit.Count, value=counts["deferred"])
    metrics.add_metric(name="OrphanStacks", unit=MetricUnit.Count, value=len(found["orphans"]))
    return {**counts, "orphans": found["orphans"], "unknown": found["unknown"]}
