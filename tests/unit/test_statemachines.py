"""The exception-name contract between the step handler and the state machines
(STYLE.md §8): every error name is a class of ours, retryable ones are retried with a
bound, UserError is caught and never retried, every Lambda task retries the Lambda
service exceptions, and nothing retries States.ALL or States.TaskFailed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from albatross.aws import errors

MACHINES = sorted((Path(__file__).resolve().parents[2] / "statemachines").glob("*.asl.json"))
LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
RETRYABLE = {"Throttled", "Retryable", "DependencyPending", "LoadBalancerNotReady"}


def tasks(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            yield name, state


@pytest.mark.parametrize("path", MACHINES, ids=[p.name for p in MACHINES])
def test_error_names_are_our_classes_and_retries_are_bounded(path: Path) -> None:
    definition = json.loads(path.read_text())
    assert list(tasks(definition)), "a state machine without tasks"
    for name, state in tasks(definition):
        retried = set()
        for retry in state.get("Retry", []):
            assert 1 <= retry["MaxAttempts"] <= 100, f"{name}: unbounded retry"
            for error in retry["ErrorEquals"]:
                assert error not in ("States.ALL", "States.TaskFailed"), f"{name} retries {error} blindly"
                retried.add(error)
        assert retried >= LAMBDA_ERRORS, f"{name} does not retry the Lambda service exceptions"
        assert "UserError" not in retried
        for error in retried - LAMBDA_ERRORS:
            cls = getattr(errors, error, None)
            assert isinstance(cls, type), f"{name}: {error} is not a class of ours"
            assert issubclass(cls, errors.AlbatrossError), f"{name}: {error} is not ours"
            assert error in RETRYABLE, f"{name} retries {error}, which is not transient"
        if name != "ReportFailure":
            catches = [e for c in state.get("Catch", []) for e in c["ErrorEquals"]]
            assert "States.ALL" in catches, f"{name}: a failure must reach ReportFailure"


def test_every_retryable_class_is_retried_somewhere() -> None:
    used = {
        error
        for path in MACHINES
        for _, state in tasks(json.loads(path.read_text()))
        for retry in state.get("Retry", [])
        for error in retry["ErrorEquals"]
    }
    assert used >= RETRYABLE


def test_every_phase_a_state_machine_names_exists() -> None:
    from albatross.controller.phases import PHASES

    named = {
        state["Parameters"]["Payload"]["phase"]
        for path in MACHINES
        for _, state in tasks(json.loads(path.read_text()))
        if state["Parameters"]["Payload"].get("task") == "phase"
    }
    assert named
    assert named <= PHASES, named - PHASES
