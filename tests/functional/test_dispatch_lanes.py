"""The local dispatcher keeps each SQS event source of a function to its own
``ScalingConfig.MaximumConcurrency``, within the function's reserved concurrency, as
Lambda does (AWS Lambda, "Configuring maximum concurrency for Amazon SQS event sources":
the most concurrent invocations the event source may start, 2 to 1,000); and the local
deployer reads the caps from the template, through SAM's translation (ADR 0017: the work
queue 10, the urgent queue 5, the targets queue 5, the function reserving 20).

No timing decides anything: bulk invocations wait, each holding its slot, until the
urgent record has run, and the urgent record waits until the bulk ones hold every slot
their cap allows. Without the caps bulk work takes more than its 10 (18 of the 20 slots
when tried), and a user's change waits for one of the last few."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path
from typing import Any

from albatross.aws import clients
from albatross.local.cloud import _Deployer
from albatross.local.dispatch import Dispatcher
from albatross.local.mends import mend_moto
from albatross.local.template import translate

ROOT = Path(__file__).resolve().parents[2]
FUNCTION = "reconcile"
QUEUES = [
    "WorkQueue",
    "WorkDeadLetterQueue",
    "UrgentWorkQueue",
    "UrgentWorkDeadLetterQueue",
    "TargetsQueue",
    "TargetsDeadLetterQueue",
]
WAIT = 60.0  # a failure's bound only
BULK = 25  # more than the function's reserved concurrency


def _deployed() -> tuple[Any, dict[str, str]]:
    """The reconcile function's queues and event source mappings, deployed by the local
    deployer from the translated template (the function itself stands in: this test's
    dispatcher invokes Python code); and each queue's logical id by ARN."""
    translated = translate(ROOT / "template.yaml", {"ClusterName": "lanes", "VpcId": "vpc-1"}).template
    resources = translated["Resources"]
    mappings = {
        logical: r
        for logical, r in resources.items()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and r["Properties"]["FunctionName"] == {"Ref": "ReconcileFunction"}
    }
    deployer = _Deployer(
        stack="lanes",
        translated={
            "Parameters": translated["Parameters"],
            "Resources": {**{q: resources[q] for q in QUEUES}, **mappings},
        },
        parameters={"ClusterName": "lanes", "VpcId": "vpc-1"},
        code_dirs={},
        time_scale=1.0,
    )
    deployer.out.attributes["ReconcileFunction"] = {"Ref": FUNCTION, "Arn": f"arn:aws:lambda:::function:{FUNCTION}"}
    deployer.out.concurrency[FUNCTION] = int(
        resources["ReconcileFunction"]["Properties"]["ReservedConcurrentExecutions"]
    )
    deployment = deployer.deploy()
    return deployment, {deployment.attributes[q]["Arn"]: q for q in QUEUES}


class Lanes(Dispatcher):
    """Bulk (work queue) invocations hold their slot until the urgent record has run; the
    urgent one runs once the bulk ones hold every slot their cap gives them, or gives up."""

    def __init__(self, deployment: Any, queue_of: dict[str, str], bulk_cap: int) -> None:
        super().__init__(deployment)
        self.queue_of = queue_of
        self.bulk_cap = bulk_cap
        self.lock = threading.Condition()
        self.running: dict[str, int] = {}
        self.peaks: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self.urgent_saw: int | None = None  # bulk invocations running while the urgent one ran
        self.urgent_ran = threading.Event()

    def _invoke(self, function: str, event: Any) -> tuple[bool, Any]:
        queue = self.queue_of[event["Records"][0]["eventSourceARN"]]
        with self.lock:
            self.running[queue] = self.running.get(queue, 0) + 1
            self.peaks[queue] = max(self.peaks.get(queue, 0), self.running[queue])
            self.lock.notify_all()
        try:
            if queue == "WorkQueue":
                self.urgent_ran.wait(WAIT)
            elif queue == "UrgentWorkQueue":
                with self.lock:
                    self.lock.wait_for(lambda: self.running.get("WorkQueue", 0) >= self.bulk_cap, WAIT)
                    self.urgent_saw = self.running.get("WorkQueue", 0)
                self.urgent_ran.set()
            return True, {"batchItemFailures": []}
        finally:
            with self.lock:
                self.running[queue] -= 1
                self.done[queue] = self.done.get(queue, 0) + len(event["Records"])
                self.lock.notify_all()


def _send(url: str, count: int, prefix: str) -> None:
    for i in range(count):
        clients.sqs().send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"group": f"{prefix}{i}"}),
            MessageGroupId=f"{prefix}{i}",
            MessageDeduplicationId=f"{prefix}{i}",
        )


def test_bulk_work_holds_its_cap_and_no_more_and_a_users_change_runs_beside_it(moto_endpoint: str) -> None:
    with mend_moto():
        deployment, queue_of = _deployed()
        caps = {queue_of[r.queue_arn]: r.concurrency for r in deployment.queue_routes}
        assert caps == {"WorkQueue": 10, "UrgentWorkQueue": 5, "TargetsQueue": 5}
        # one record per invocation, so that each bulk record holds a slot of its own
        deployment.queue_routes = [dataclasses.replace(r, batch_size=1) for r in deployment.queue_routes]
        urls = {queue_of[r.queue_arn]: r.queue_url for r in deployment.queue_routes}
        _send(urls["WorkQueue"], BULK, "bulk-")
        _send(urls["UrgentWorkQueue"], 1, "user-")
        dispatcher = Lanes(deployment, queue_of, bulk_cap=caps["WorkQueue"])
        dispatcher.start()
        try:
            deadline = time.monotonic() + 2 * WAIT  # a lost message fails the test, not the suite's timeout
            with dispatcher.lock:
                dispatcher.lock.wait_for(
                    lambda: (
                        dispatcher.done.get("WorkQueue", 0) + dispatcher.done.get("UrgentWorkQueue", 0) == BULK + 1
                        or time.monotonic() > deadline
                    ),
                    2 * WAIT,
                )
        finally:
            dispatcher.stop()
    assert dispatcher.urgent_ran.is_set()
    assert dispatcher.urgent_saw == 10  # the user's change ran while bulk work held all it may
    assert dispatcher.peaks["WorkQueue"] == 10  # reached, never passed
    assert dispatcher.done == {"WorkQueue": BULK, "UrgentWorkQueue": 1}
    assert dispatcher.peak[FUNCTION] <= 20  # within the reserved concurrency
