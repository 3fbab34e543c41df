"""Records left on a FIFO queue, against SQS's own rules (moto): a record comes back after
its backoff (its visibility timeout), a transient failure is never dead-lettered (on its
last receive a fresh copy takes its place at the end of its message group), poison goes
to the dead-letter queue after maxReceiveCount receives with one notice, and a record
held back behind its group's failure is never dead-lettered either (ADR 0009).

The test plays Lambda's event source mapping as AWS documents it ("Using Lambda with
Amazon SQS"): receive a batch with every system attribute, invoke with the records,
delete those not reported in ``batchItemFailures``. Time passes by setting a waiting
record's visibility timeout to 0, as its backoff ending would."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from albatross.aws import clients
from albatross.aws.errors import Throttled
from albatross.controller import retries
from albatross.controller.events import PartialBatchResponse, QueueMessage, Unhandled, fifo_batch
from albatross.local.dispatch import sqs_record
from albatross.local.faults import Fault, inject

MAX_RECEIVES = 3
# Long enough that a postponed record is surely still invisible when the test looks.
POLICY = retries.Policy(max_receives=MAX_RECEIVES, first_seconds=60, cap_seconds=60)


@dataclass
class Queues:
    url: str
    arn: str
    dlq: str
    dead_letters: list[tuple[str, str, str]] = field(default_factory=list)  # (message id, error, queue name)

    def send(self, group: str, body: dict[str, Any], *, dedup: str) -> str:
        sent = clients.sqs().send_message(
            QueueUrl=self.url, MessageBody=json.dumps(body), MessageGroupId=group, MessageDeduplicationId=dedup
        )
        return str(sent["MessageId"])

    def receive(self) -> list[dict[str, Any]]:
        found = clients.sqs().receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageSystemAttributeNames=["All"]
        )
        return [dict(m) for m in found.get("Messages", [])]

    def waiting(self, url: str) -> int:
        attrs = clients.sqs().get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def in_dlq(self) -> list[dict[str, Any]]:
        found = clients.sqs().receive_message(QueueUrl=self.dlq, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        return [dict(m) for m in found.get("Messages", [])]

    def elapse(self, messages: list[dict[str, Any]]) -> None:
        """The backoff of these received messages ends now."""
        for m in messages:
            clients.sqs().change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
            )

    def settle(self, unhandled: list[Unhandled]) -> list[str]:
        def dead_letter(message: QueueMessage, *, error: BaseException, queue: retries.Queue) -> None:
            self.dead_letters.append((message.message_id, repr(error), queue.name))

        return retries.settle(
            unhandled, policy=POLICY, queues_by_name={"work": self.url, "targets": ""}, dead_letter=dead_letter
        ).failed

    def deliver(
        self,
        messages: list[dict[str, Any]],
        handle: Callable[[QueueMessage], None],
        *,
        now: Callable[[], float] = time.time,
    ) -> list[str]:
        """One invocation, as the event source mapping makes it; returns the ids reported failed."""
        event = {"Records": [sqs_record(m, self.arn) for m in messages]}
        response: PartialBatchResponse = fifo_batch(
            event, retries.when_due(handle, POLICY, now=now), settle=self.settle
        )
        failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
        for m in messages:
            if m["MessageId"] not in failed:
                clients.sqs().delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
        return failed


@pytest.fixture
def queues(moto_endpoint: str) -> Queues:
    sqs = clients.sqs()
    dlq = sqs.create_queue(QueueName="work-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # Visibility 0: a record nobody postponed is back at once, so a postponed one shows.
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES}
    url = sqs.create_queue(
        QueueName="work.fifo",
        Attributes={"FifoQueue": "true", "VisibilityTimeout": "0", "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Queues(url=url, arn=arn, dlq=dlq)


def throttled(message: QueueMessage) -> None:
    raise Throttled("Throttling: Rate exceeded")


def defect(message: QueueMessage) -> None:
    raise KeyError("listeners")


def test_a_transient_failure_comes_back_after_its_backoff_and_is_never_dead_lettered(queues: Queues) -> None:
    original = queues.send("shop", {"group": "shop"}, dedup="d1")
    for receive in range(1, MAX_RECEIVES + 1):
        [message] = queues.receive()
        assert (message["MessageId"], message["Attributes"]["ApproximateReceiveCount"]) == (original, str(receive))
        failed = queues.deliver([message], throttled)
        if receive < MAX_RECEIVES:
            assert failed == [original]
            assert queues.receive() == []  # postponed: invisible, though the queue's visibility timeout is 0
            queues.elapse([message])
        else:
            assert failed == []  # handled: a copy took its place, the original is deleted
    assert queues.in_dlq() == []
    assert queues.dead_letters == []
    [copy] = queues.receive()
    assert copy["MessageId"] != original
    assert copy["Attributes"]["MessageGroupId"] == "shop"
    body = json.loads(copy["Body"])
    assert body["group"] == "shop"
    assert body["retry"]["receives"] == MAX_RECEIVES
    assert body["retry"]["due"] > time.time()  # the backoff goes on where the original's ended

    handled: list[str] = []
    # received before it is due: put back, not attempted, and its receive is not its last
    assert queues.deliver([copy], lambda m: handled.append(m.message_id)) == [copy["MessageId"]]
    assert handled == []
    assert queues.receive() == []
    queues.elapse([copy])
    [copy] = queues.receive()
    later = body["retry"]["due"] + 1
    assert queues.deliver([copy], lambda m: handled.append(m.message_id), now=lambda: later) == []
    assert handled == [copy["MessageId"]]
    assert queues.waiting(queues.url) == 0
    assert queues.in_dlq() == []


def test_poison_reaches_the_dead_letter_queue_after_max_receives_with_one_notice(queues: Queues) -> None:
    original = queues.send("shop", {"group": "shop"}, dedup="d1")
    for receive in range(1, MAX_RECEIVES + 1):
        [message] = queues.receive()
        assert message["Attributes"]["ApproximateReceiveCount"] == str(receive)
        assert queues.deliver([message], defect) == [original]
        assert queues.dead_letters == ([] if receive < MAX_RECEIVES else [(original, "KeyError('listeners')", "work")])
        if receive < MAX_RECEIVES:
            queues.elapse([message])
    # no backoff on the way out: SQS moves it at the next receive, past maxReceiveCount
    assert queues.receive() == []
    [dead] = queues.in_dlq()
    assert (dead["MessageId"], json.loads(dead["Body"])) == (original, {"group": "shop"})
    assert len(queues.dead_letters) == 1


def test_a_record_held_back_behind_its_groups_failure_is_never_dead_lettered(queues: Queues) -> None:
    """Only the failing record is poison: the later one of its group was never attempted
    (copied on its last receive), and the other group went on at its first receive."""
    first = queues.send("a", {"group": "a", "n": 1}, dedup="a1")
    second = queues.send("a", {"group": "a", "n": 2}, dedup="a2")
    other = queues.send("b", {"group": "b"}, dedup="b1")
    attempted: list[str] = []

    def handle(message: QueueMessage) -> None:
        attempted.append(message.message_id)
        if message.message_id == first:
            raise KeyError("listeners")

    for receive in range(1, MAX_RECEIVES + 1):
        messages = queues.receive()
        assert {m["MessageId"] for m in messages} == ({first, second, other} if receive == 1 else {first, second})
        failed = queues.deliver(messages, handle)
        assert failed == ([first, second] if receive < MAX_RECEIVES else [first])
        queues.elapse([m for m in messages if m["MessageId"] in failed])
    assert attempted == [first, other, first, first]  # the held-back record was never run
    assert [d[0] for d in queues.dead_letters] == [first]
    [copy] = queues.receive()  # the poison moved to the DLQ instead of being delivered
    assert json.loads(copy["Body"])["n"] == 2
    [dead] = queues.in_dlq()
    assert dead["MessageId"] == first
    assert copy["Attributes"]["MessageGroupId"] == "a"


def test_a_copy_is_sent_once_per_receive(queues: Queues) -> None:
    """The deduplication id comes from the message id and the receives so far: a handler
    that runs twice for the same receive sends one copy (FIFO deduplication)."""
    queues.send("shop", {"group": "shop"}, dedup="d1")
    for _ in range(MAX_RECEIVES - 1):
        [message] = queues.receive()
        queues.deliver([message], throttled)
        queues.elapse([message])
    [message] = queues.receive()
    event = {"Records": [sqs_record(message, queues.arn)]}
    for _ in range(2):
        fifo_batch(event, throttled, settle=queues.settle)
    clients.sqs().delete_message(QueueUrl=queues.url, ReceiptHandle=message["ReceiptHandle"])
    assert queues.waiting(queues.url) == 1


def test_a_copy_that_cannot_be_sent_leaves_the_original_for_the_dead_letter_queue_with_its_notice(
    queues: Queues,
) -> None:
    queues.send("shop", {"group": "shop"}, dedup="d1")
    for _ in range(MAX_RECEIVES - 1):
        [message] = queues.receive()
        queues.deliver([message], throttled)
        queues.elapse([message])
    [message] = queues.receive()
    refused = Fault("sqs", "SendMessageBatch", "AccessDenied", "not authorized to send", status=403, times=1)
    with inject(refused):
        assert queues.deliver([message], throttled) == [message["MessageId"]]
    assert refused.raised == 1
    assert queues.dead_letters == [(message["MessageId"], "Throttled('Throttling: Rate exceeded')", "work")]
    queues.elapse([message])
    assert queues.receive() == []
    assert len(queues.in_dlq()) == 1
