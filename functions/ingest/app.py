"""Ingest: one EventBridge event from the forwarder → snapshot stored, groups enqueued."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from albatross.contract import ClaimError, ContractError, ObjectChange, ObjectClaim, ResyncClaim, parse_detail
from albatross.controller import ingest
from albatross.controller.events import BusEvent
from albatross.controller.settings import Settings
from albatross.store.table import Store

logger = Logger(service="albatross-ingest")
metrics = Metrics(namespace="Albatross", service="albatross-ingest")


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path="id")
def lambda_handler(raw: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_env()
    try:
        event = BusEvent.of(raw)
        if event.replay_name:  # one line per replayed event: albatross replay counts them
            logger.info("replayed event", extra={"replay": event.replay_name, "detailType": event.detail_type})
        change = parse_detail(event.detail)
        if isinstance(change, ObjectClaim | ResyncClaim):  # too big for EventBridge: the detail is in S3
            change = ingest.redeem(change, settings=settings)
    except ContractError as e:
        # Not retried into success: raise so the invocation fails into the DLQ, kept.
        claim = isinstance(e, ClaimError)
        detail = raw.get("detail") if isinstance(raw, dict) else None
        key = detail.get("key") if isinstance(detail, dict) else None
        logger.error(
            "claim check failed" if claim else "malformed event",
            extra={
                "reason": str(e),
                "detailType": raw.get("detail-type") if isinstance(raw, dict) else None,
                "key": key,
            },
        )
        metrics.add_metric(name="ClaimCheckFailures" if claim else "MalformedEvents", unit=MetricUnit.Count, value=1)
        if not claim:  # never stored: a Resync that awaits it must not (a claim may be read on a retry)
            cause = str(raw.get("id", "")) if isinstance(raw, dict) else ""
            ingest.refused(detail, settings=settings, store=Store(settings.table), cause=cause)
        raise
    metrics.add_metric(name="EventsIngested", unit=MetricUnit.Count, value=1)
    store = Store(settings.table)
    if isinstance(change, ObjectChange):
        groups = ingest.apply_change(change, settings=settings, store=store, event_id=event.id, sent=event.time)
    elif event.replay_name:
        # A replayed Resync lists what was live then: tombstoning by it would drop objects made since.
        logger.info("ignoring a replayed resync", extra={"replay": event.replay_name})
        groups = set()
    else:
        groups = ingest.apply_resync(change, settings=settings, store=store, event_id=event.id, sent=event.time)
        # the forwarder is heard: ForwarderSilentAlarm (per cluster, as stacks may share an
        # account) fires when none arrives for two Resync periods. single_metric prints
        # even with metrics disabled, as the offline system runs them (one process, whose
        # stdout is also its CLI's)
        if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() != "true":
            with single_metric(name="ResyncsIngested", unit=MetricUnit.Count, value=1) as resync:
                resync.add_dimension(name="cluster", value=settings.cluster)
    return {"groups": sorted(groups)}
