"""The local dispatcher drains a FIFO queue as Lambda's event source mapping does (AWS
Lambda, "Configuring scaling behavior for SQS event source mappings": a FIFO queue's
invocations scale up to the number of active message groups, each group's messages in
order, within the function's reserved concurrency); and the local SQS serves a message
group to one receiver at a time (SQS Developer Guide, "FIFO queue delivery logic": while
a group's messages are in flight, no other receive returns that group's messages).

No timing decides anything here: the overlap across groups is forced by a handler that
waits for the other group's messages, and the same wait gives the other pollers every
chance to take a second message of the waiting group."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from albatross.aws import clients
from albatross.local.cloud import Deployment, QueueRoute
from albatross.local.dispatch import Dispatcher
from albatross.local.mends import mend_moto

FUNCTION = "reconcile"
WAIT = 60.0  # a failure's bound only: a serial dispatcher never lets the other group run


@pytest.fixture
def fifo(moto_endpoint: str) -> Iterator[tuple[str, str]]:
    """A FIFO queue (its URL and ARN) on moto as the local AWS mends it."""
    with mend_moto():
        sqs = clients.sqs()
        # a visibility timeout far beyond any wait here: nothing comes back by expiry
        url = sqs.create_queue(QueueName="work.fifo", Attributes={"FifoQueue": "true", "VisibilityTimeout": "600"})[
            "QueueUrl"
        ]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        yield url, arn


def _send(url: str, group: str, count: int) -> None:
    for i in range(count):
        clients.sqs().send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"group": group, "n": i}),
            MessageGroupId=group,
            MessageDeduplicationId=f"{group}-{i}",
        )


class Recorder(Dispatcher):
    """A dispatcher whose function is this Python code: it records each invocation's
    messages and how many of each group run at once. Group ``a``'s first invocation waits
    until group ``b``'s last has ended."""

    def __init__(self, deployment: Deployment, last_b: int) -> None:
        super().__init__(deployment)
        self.seen: dict[str, list[int]] = {}
        self.overlaps: list[str] = []  # a group found running twice at once
        self.active: dict[str, int] = {}
        self.b_done = threading.Event()
        self.a_waited: bool | None = None
        self.last_b = last_b
        self.record_lock = threading.Lock()

    def _invoke(self, function: str, event: Any) -> tuple[bool, Any]:
        bodies = [json.loads(r["body"]) for r in event["Records"]]
        group = bodies[0]["group"]
        with self.record_lock:
            self.active[group] = self.active.get(group, 0) + 1
            if self.active[group] > 1:
                self.overlaps.append(group)
            self.seen.setdefault(group, []).extend(b["n"] for b in bodies)
        try:
            if group == "a" and bodies[0]["n"] == 0:
                self.a_waited = self.b_done.wait(WAIT)
            if group == "b" and bodies[-1]["n"] == self.last_b:
                self.b_done.set()
            return True, None
        finally:
            with self.record_lock:
                self.active[group] -= 1


def test_message_groups_drain_in_parallel_each_in_order_and_never_overlapping(fifo: tuple[str, str]) -> None:
    url, arn = fifo
    route = QueueRoute(queue_url=url, queue_arn=arn, function=FUNCTION, batch_size=1, partial=True, concurrency=4)
    # the function reserves 2: the queue's four pollers share them
    deployment = Deployment(queue_routes=[route], concurrency={FUNCTION: 2})
    _send(url, "a", 5)  # a's messages first: a receiver that ignored a's first being in flight takes a's second
    _send(url, "b", 5)
    _send(url, "c", 3)
    dispatcher = Recorder(deployment, last_b=4)
    dispatcher.start()
    try:
        done = threading.Event()

        def drained() -> bool:
            with dispatcher.record_lock:
                return sum(len(v) for v in dispatcher.seen.values()) == 13 and not any(dispatcher.active.values())

        deadline = time.monotonic() + 90  # a lost message fails the test, not the suite's timeout
        while not done.wait(0.05) and time.monotonic() < deadline:
            if drained() or dispatcher.a_waited is False:
                done.set()
    finally:
        dispatcher.stop()
    assert dispatcher.a_waited is True, "group b never ran while a's first message was in flight"
    assert dispatcher.overlaps == []
    assert dispatcher.seen == {"a": [0, 1, 2, 3, 4], "b": [0, 1, 2, 3, 4], "c": [0, 1, 2]}
    assert dispatcher.peak[FUNCTION] == 2  # the reserved concurrency, reached and never passed


def test_a_group_in_flight_is_withheld_from_a_receive_already_waiting(fifo: tuple[str, str]) -> None:
    """Two receivers long-poll an empty FIFO queue, both requests on the wire before the
    group's first message is sent; one takes it. The group's second message, then another
    group's, are sent while the other still waits: it returns with the other group's
    message only (its poll spanned both sends, so it saw the second and withheld it), and
    the second is served once the first is deleted. Every wait here ends on an event or
    fails the test: nothing passes because a poll ended early."""
    url, _ = fifo
    sqs = clients.sqs()
    got: list[list[dict[str, Any]]] = []
    on_wire = 0
    changed = threading.Condition()

    def sending(**_: Any) -> None:
        nonlocal on_wire
        with changed:
            on_wire += 1
            changed.notify_all()

    def receive() -> None:
        # SQS's longest poll: only a message ends it within this test's waits
        found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=20).get("Messages", [])
        with changed:
            got.append(list(found))  # type: ignore[arg-type]  # message dicts
            changed.notify_all()

    clients.add_hook("before-send.sqs.ReceiveMessage", sending, unique_id="test-on-wire")
    receivers = [threading.Thread(target=receive) for _ in range(2)]
    try:
        for t in receivers:
            t.start()
        with changed:
            assert changed.wait_for(lambda: on_wire == 2, timeout=WAIT), "the receives never went out"
    finally:
        clients.remove_hook("test-on-wire")
    _send(url, "g", 1)
    with changed:
        assert changed.wait_for(lambda: bool(got), timeout=WAIT), "no receiver took the group's first message"
        [taken] = got
    assert [json.loads(m["Body"])["n"] for m in taken] == [0]
    for group, n in (("g", 1), ("h", 0)):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"group": group, "n": n}),
            MessageGroupId=group,
            MessageDeduplicationId=f"{group}-{n}",
        )
    with changed:
        assert changed.wait_for(lambda: len(got) == 2, timeout=WAIT), "the waiting receive never returned"
        waited = got[1]
    served = [(json.loads(m["Body"])["group"], json.loads(m["Body"])["n"]) for m in waited]
    assert served == [("h", 0)], "the group's second message was served while its first was in flight"
    for t in receivers:
        t.join(timeout=WAIT)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=taken[0]["ReceiptHandle"])
    after = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["n"] for m in after] == [1]


def test_an_invocation_is_waited_for_as_long_as_a_function_may_run(moto_endpoint: str) -> None:
    """An event source mapping invokes a batch once and lets it run up to the function's
    timeout (at most 900 s, the Lambda quotas page); the SDK's defaults (a 60 s read,
    retried) sent a slow reconcile batch again every 30 s here, each copy running its
    records beside the first with the same message ids."""
    dispatcher = Dispatcher(Deployment())
    config = dispatcher.invoker().meta.config
    assert config.read_timeout >= 900  # a read that times out is what botocore sends again
    assert dispatcher.invoker() is dispatcher.invoker()  # one client, made once
