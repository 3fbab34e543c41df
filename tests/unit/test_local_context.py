"""The offline system's Lambda context counts down from the function's Timeout, as
Lambda's does: handlers bound their budget waits by it (ADR 0017)."""

from __future__ import annotations

import json
from pathlib import Path

from albatross.local import lambdas

HANDLER = """
def lambda_handler(event, context):
    return {"remaining": context.get_remaining_time_in_millis()}
"""


def test_the_context_counts_down_from_the_functions_timeout(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(HANDLER)
    lambdas.register("remaining-300", lambdas.Code(folder=tmp_path, handler="app.lambda_handler", timeout=300.0))
    lambdas.register("remaining-15", lambdas.Code(folder=tmp_path, handler="app.lambda_handler", timeout=15.0))
    payload, errored = lambdas.invoke("remaining-300", "arn:aws:lambda:us-east-1:123456789012:function:r", {})
    assert not errored
    remaining = json.loads(payload)["remaining"]
    assert 60_000 < remaining <= 300_000  # the 300 s Timeout, not a fixed minute
    payload, _ = lambdas.invoke("remaining-15", "arn:aws:lambda:us-east-1:123456789012:function:r", {})
    assert 0 <= json.loads(payload)["remaining"] <= 15_000
