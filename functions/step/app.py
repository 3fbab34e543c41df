"""Step: one task of the provision/teardown state machines. Exceptions propagate with
their class names, which the state machines' Retry/Catch match."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from albatross.controller import steps
from albatross.controller.settings import Settings
from albatross.store.table import Store

logger = Logger(service="albatross-step")


@logger.inject_lambda_context(correlation_id_path="group")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_env()
    return steps.run(event, settings=settings, store=Store(settings.table))
