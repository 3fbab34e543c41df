"""The local state machines' Lambda tasks share one SDK client per region and service
(albatross.local.mends): moto made one per task."""

from __future__ import annotations

from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

from albatross.local.mends import mend_moto


def client_for(region: str, service: str) -> Any:
    return lambda_eval_utils.__dict__["boto_client_for"](region, service)


def test_tasks_reuse_one_client_per_region_and_service() -> None:
    assert client_for("us-east-1", "lambda") is not client_for("us-east-1", "lambda")  # moto's own
    with mend_moto():
        first = client_for("us-east-1", "lambda")
        assert client_for("us-east-1", "lambda") is first
        assert client_for("eu-west-1", "lambda") is not first
        assert client_for("eu-west-1", "lambda").meta.region_name == "eu-west-1"
    assert client_for("us-east-1", "lambda") is not first  # put back on exit
