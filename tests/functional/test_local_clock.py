"""The local system's Step Functions wait on its scaled clock: a Retry's intervals (with
their backoff) and a Wait state last ``time_scale`` of what the definition says, as the
rest of the system's durations do. A definition that waits 1,000 s between attempts
finishes inside the test's timeout only if the clock is scaled."""

from __future__ import annotations

import json
import time
import urllib.request

from albatross.aws import clients
from albatross.local import clock
from tests.k8s_typing import must

ROLE = "arn:aws:iam::123456789012:role/sfn"

DEFINITION = {
    "StartAt": "Wait",
    "States": {
        "Wait": {"Type": "Wait", "Seconds": 1000, "Next": "Attempt"},
        "Attempt": {  # a branch that always fails: retried twice, 1,000 s then 2,000 s apart
            "Type": "Parallel",
            "Branches": [{"StartAt": "Fail", "States": {"Fail": {"Type": "Fail", "Error": "Boom", "Cause": "no"}}}],
            "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 1000, "MaxAttempts": 2, "BackoffRate": 2.0}],
            "End": True,
        },
    },
}


def test_retry_intervals_and_waits_run_on_the_scaled_clock(moto_endpoint: str) -> None:
    config = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/config", data=config, method="POST")  # noqa: S310  # local server
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310  # local server
        pass
    sfn = clients.sfn()
    machine = sfn.create_state_machine(name="clock", definition=json.dumps(DEFINITION), roleArn=ROLE)
    with clock.scaled(0.0001):  # 4,000 s of waits in 0.4 s
        execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name="scaled")["executionArn"]
        status = "RUNNING"
        while status == "RUNNING":
            time.sleep(0.05)  # a poll's interval
            status = sfn.describe_execution(executionArn=execution)["status"]
    assert status == "FAILED"  # the retries were spent, not skipped
    history = sfn.get_execution_history(executionArn=execution)["events"]
    started = [e for e in history if e["type"] == "ParallelStateStarted"]
    assert len(started) == 3  # the first attempt and MaxAttempts (2) retries
    failed = must(next(e for e in history if e["type"] == "ExecutionFailed").get("executionFailedEventDetails"))
    assert failed.get("error") == "Boom"
    assert sum(e["type"] == "WaitStateExited" for e in history) == 1
