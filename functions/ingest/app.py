"""Ingest: one EventBridge event from the forwarder → snapshot stored, groups enqueued."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from albatross.contract import ClaimError, ContractError, ObjectChange, ObjectClaim, ResyncClaim, parse_detail
from albatross.controller import ingest
from albatross.controller.settings import Settings
from albatross.store.table import Store

logger = Logger(service="albatross-ingest")
tracer = Tracer(service="albatross-ingest")
metrics = Metrics(namespace="Albatross", service="albatross-ingest")


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path="id")
@tracer.capture_lambda_handler
@event_parser(model=EventBridgeModel)
def lambda_handler(event: EventBridgeModel, context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_env()
    try:
        if not isinstance(event.detail, dict):
            raise ContractError("detail must be a JSON object")
        change = parse_detail(event.detail)
        if isinstance(change, ObjectClaim | ResyncClaim):  # too big for EventBridge: the detail is in S3
            change = ingest.redeem(change, settings=settings)
    except ContractError as e:
        # Not retried into success: raise so the invocation fails into the DLQ, kept.
        claim = isinstance(e, ClaimError)
        key = event.detail.get("key") if isinstance(event.detail, dict) else None
        logger.error(
            "claim check failed" if claim else "malformed event",
            extra={"reason": str(e), "detailType": event.detail_type, "key": key},
        )
        metrics.add_metric(name="ClaimCheckFailures" if claim else "MalformedEvents", unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name="EventsIngested", unit=MetricUnit.Count, value=1)
    store = Store(settings.table)
    if isinstance(change, ObjectChange):
        groups = ingest.apply_change(change, settings=settings, store=store, event_id=event.id)
    elif event.replay_name:
        # A replayed Resync lists what was live then: tombstoning by it would drop objects made since.
        logger.info("ignoring a replayed resync", extra={"replay": event.replay_name})
        groups = set()
    else:
        groups = ingest.apply_resync(change, settings=settings, store=store, event_id=event.id)
    return {"groups": sorted(groups)}
