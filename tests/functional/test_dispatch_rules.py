"""The local dispatcher delivers a rule's events as EventBridge invokes a Lambda target:
asynchronously, one invocation per event, several at once up to the function's reserved
concurrency (AWS Lambda, "Invoking functions asynchronously" and "Configuring reserved
concurrency"), in no guaranteed order; every event reaches the function as often as
``deliveries`` says (dropped, once, twice) and no more, and an event whose invocation
failed is kept for a retry.

No timing decides anything here: the overlap is forced by invocations that wait for each
other (a serial dispatcher never runs the second while the first waits: the wait's bound
is a failure's only)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

from albatross.aws import clients
from albatross.local.cloud import Deployment, RuleRoute
from albatross.local.dispatch import Dispatcher

FUNCTION = "ingest"
RESERVED = 3
EVENTS = 12
FAILING = 7  # this event's invocation fails: its message must stay on the tap queue
WAIT = 60.0  # a failure's bound only


class Recorder(Dispatcher):
    """A dispatcher whose function is this Python code. The first ``RESERVED`` invocations
    wait until all of them run at once; every invocation is recorded."""

    def __init__(self, deployment: Deployment) -> None:
        super().__init__(deployment)
        self.seen: Counter[int] = Counter()
        self.together = threading.Barrier(RESERVED, timeout=WAIT)
        self.met: bool | None = None
        self.started = 0
        self.record_lock = threading.Lock()

    def _invoke(self, function: str, event: Any) -> tuple[bool, Any]:
        n = int(event["detail"]["n"])
        with self.record_lock:
            self.started += 1
            first = self.started <= RESERVED
            self.seen[n] += 1
        if first:
            try:
                self.together.wait()
                self.met = self.met is not False
            except threading.BrokenBarrierError:
                self.met = False
        return n != FAILING, None


def deliveries(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Event 0 is dropped on the bus, event 1 delivered twice, the rest once."""
    n = event["detail"]["n"]
    return [] if n == 0 else [event, event] if n == 1 else [event]


def test_a_rules_events_run_at_once_up_to_the_reserved_concurrency_each_as_often_as_delivered(
    moto_endpoint: str,
) -> None:
    sqs = clients.sqs()
    # the tap queue as the local deployer makes it; nothing comes back by expiry here
    url = sqs.create_queue(QueueName="rule-tap", Attributes={"VisibilityTimeout": "600"})["QueueUrl"]
    for n in range(EVENTS):
        event = {"id": f"e-{n}", "source": "albatross.k8s", "detail-type": "ObjectChange", "detail": {"n": n}}
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))
    deployment = Deployment(
        rule_routes=[RuleRoute(queue_url=url, function=FUNCTION, retry_seconds=600)], concurrency={FUNCTION: RESERVED}
    )
    dispatcher = Recorder(deployment)
    dispatcher.deliveries = deliveries
    expected = Counter({n: 2 if n == 1 else 1 for n in range(1, EVENTS)})

    def left() -> dict[str, str]:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        return dict(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"])  # type: ignore[arg-type]  # names as sent

    dispatcher.start()
    try:
        done = threading.Event()
        while not done.wait(0.05):
            with dispatcher.record_lock:
                delivered = dispatcher.seen == expected
            if dispatcher.met is False or (
                delivered and not dispatcher.busy() and left()["ApproximateNumberOfMessagesNotVisible"] == "1"
            ):
                done.set()
    finally:
        dispatcher.stop()
    assert dispatcher.met is True, f"{RESERVED} invocations never ran at once"
    assert dispatcher.peak[FUNCTION] == RESERVED  # reached, never passed
    assert dispatcher.seen == expected  # the dropped one never, the duplicated one twice, none redelivered
    # every message deleted but the failed event's, which stays in flight for EventBridge's retry
    assert left() == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "1"}


class Slow(Dispatcher):
    """A function that runs longer than the tap queue's retry delay, and looks, while it
    runs, whether its own event came back."""

    def __init__(self, deployment: Deployment, url: str) -> None:
        super().__init__(deployment)
        self.url = url
        self.came_back: list[str] = []
        self.runs = 0
        self.done = threading.Event()

    def _invoke(self, function: str, event: Any) -> tuple[bool, Any]:
        self.runs += 1
        # longer than the 1 s retry delay: a long poll returns the event if it is visible again
        got = clients.sqs().receive_message(QueueUrl=self.url, WaitTimeSeconds=3, VisibilityTimeout=0)
        self.came_back += [m["MessageId"] for m in got.get("Messages", [])]
        self.done.set()
        return True, None


def test_an_event_is_not_delivered_again_while_its_invocation_runs(moto_endpoint: str) -> None:
    """EventBridge retries a failed invocation, not a slow one: an event whose handler runs
    past the tap queue's retry delay stays taken, and is deleted once it succeeds."""
    sqs = clients.sqs()
    url = sqs.create_queue(QueueName="slow-tap", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": "e", "detail-type": "x", "detail": {"n": 0}}))
    deployment = Deployment(rule_routes=[RuleRoute(queue_url=url, function=FUNCTION, retry_seconds=1)])
    dispatcher = Slow(deployment, url)
    dispatcher.start()
    try:
        assert dispatcher.done.wait(WAIT)
    finally:
        dispatcher.stop()
    assert dispatcher.came_back == []
    assert dispatcher.runs == 1
