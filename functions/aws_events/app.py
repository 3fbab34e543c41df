"""AWS events: what AWS itself puts on the default bus about Albatross's resources (an
execution that ended without reporting, a change someone else made to a managed load
balancer), acted on at once instead of at the next drift sweep
(:mod:`albatross.controller.aws_events`)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from albatross.contract import ContractError
from albatross.controller import aws_events
from albatross.controller.events import BusEvent
from albatross.controller.settings import Settings
from albatross.store.table import Store

logger = Logger(service="albatross-aws-events")
metrics = Metrics(namespace="Albatross", service="albatross-aws-events")

# What each outcome counts as (the dashboard's "AWS events" widget).
_METRICS = {
    "reported": "ExecutionsReported",
    "reconcile": "ChangesByOthers",
    "unknown": "UnknownResources",
    "ignored": "AwsEventsIgnored",
}


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path="id")
def lambda_handler(raw: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_env()
    # The roles whose calls are Albatross's own (the rule leaves them out already).
    roles = frozenset(r for r in os.environ.get("ALBATROSS_ROLE_ARNS", "").split(",") if r)
    try:
        event = BusEvent.of(raw)
    except ContractError as e:
        # From AWS's own sources: no retry makes it readable, and the drift sweep repairs
        # whatever it was about.
        logger.warning("malformed event: ignored", extra={"reason": str(e)})
        metrics.add_metric(name="AwsEventsIgnored", unit=MetricUnit.Count, value=1)
        return {"action": "ignored", "reason": "malformed event"}
    outcome = aws_events.handle(event, settings=settings, store=Store(settings.table), roles=roles)
    metrics.add_metric(name=_METRICS[outcome.action], unit=MetricUnit.Count, value=1)
    if outcome.action in ("ignored", "unknown"):
        logger.info(f"event {outcome.action}", extra=outcome.to_json())
    return outcome.to_json()
