"""Drift: on the schedule, every IngressGroup is enqueued for a reconcile that reads
everything afresh (and stacks whose groups are gone, for teardown)."""

from __future__ import annotations

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
    found = drift.sweep(settings=settings, store=Store(settings.table), run_id=run)
    metrics.add_metric(name="DriftGroupsChecked", unit=MetricUnit.Count, value=len(found["groups"]))
    metrics.add_metric(name="OrphanStacks", unit=MetricUnit.Count, value=len(found["orphans"]))
    return {"groups": len(found["groups"]), "orphans": found["orphans"], "unknown": found["unknown"]}
