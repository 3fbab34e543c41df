"""Readiness: the timed polls of pod readiness gates (docs/adr/0014-pod-readiness-gates.md).

One record, one target group: one DescribeTargetHealth for its gated targets still
pending, the conditions that changed written back, and the next poll sent one
health-check interval on while any is not True (albatross.controller.gates). A record
that fails (throttled past botocore's retries, say) is reported and comes back after the
queue's visibility timeout, a health-check interval or so later: nothing dead-letters.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from albatross.controller import gates
from albatross.controller.events import PartialBatchResponse
from albatross.controller.settings import Settings
from albatross.store.table import Store

logger = Logger(service="albatross-readiness")
metrics = Metrics(namespace="Albatross", service="albatross-readiness")


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialBatchResponse:
    settings = Settings.from_env()
    store = Store(settings.table)
    failed: PartialBatchResponse = {"batchItemFailures": []}
    written = 0
    for record in event.get("Records") or []:
        try:
            written += gates.poll_message(str(record["body"]), gates=gates.Gates.of(settings), store=store)
        except Exception:  # one target group's failure holds up no other: it comes back alone
            logger.exception("readiness poll failed, will retry", extra={"messageId": record.get("messageId")})
            failed["batchItemFailures"].append({"itemIdentifier": str(record.get("messageId"))})
    metrics.add_metric(name="PodConditionsWritten", unit=MetricUnit.Count, value=written)
    return failed
