"""Step: one task of the provision/teardown state machines. Exceptions propagate with
their class names, which the state machines' Retry/Catch match."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from albatross.aws import budget
from albatross.controller import steps
from albatross.controller.settings import Settings
from albatross.store.table import Store

logger = Logger(service="albatross-step")


# What a task keeps for itself after its last AWS call; the budget's waits end before it.
FINISH_SECONDS = 15.0


@logger.inject_lambda_context(correlation_id_path="group")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.from_env()
    # a task waits for the account budget as long as it can afford rather than failing as
    # throttled after one call's wait, and redoing its reads on the state machine's retry
    with budget.bounded(context.get_remaining_time_in_millis() / 1000 - FINISH_SECONDS):
        return steps.run(event, settings=settings, store=Store(settings.table))
