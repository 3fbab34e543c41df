"""The local SQS's receive (albatross.local.mends) reads the queue's retention period
once per message, not all the queue's attributes (approximate counts over every message):
the same answers as moto's own, at a cost that does not grow with the backlog."""

from __future__ import annotations

from typing import Any

import pytest
from moto.sqs.models import Queue, sqs_backends

from albatross.aws import clients
from albatross.local.mends import mend_moto

RETENTION = 60  # seconds: SQS's least MessageRetentionPeriod


@pytest.mark.parametrize("fifo", [False, True])
def test_receives_answer_as_motos_own_without_reading_every_attribute(moto_endpoint: str, fifo: bool) -> None:
    sqs: Any = clients.sqs()
    name = "q.fifo" if fifo else "q"
    attributes = {"MessageRetentionPeriod": str(RETENTION), **({"FifoQueue": "true"} if fifo else {})}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    for n in range(3):
        fifo_only = {"MessageGroupId": f"g{n}", "MessageDeduplicationId": str(n)} if fifo else {}
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}", **fifo_only)
    backend: Any = sqs_backends["123456789012"]["us-east-1"]
    fresh, old = list(backend.queues[name]._messages)[:2]
    old.sent_timestamp -= (RETENTION + 1) * 1000  # sent longer ago than the queue keeps it
    expected = [backend.is_message_valid_based_on_retention_period(name, m) for m in (fresh, old)]
    assert expected == [True, False]
    old.sent_timestamp += (RETENTION + 1) * 1000
    looked: list[int] = []
    counted = Queue.__dict__["attributes"]

    class Spy:
        def __get__(self, obj: Any, owner: Any) -> Any:
            looked.append(1)
            return counted.__get__(obj, owner)

    with mend_moto():
        old.sent_timestamp -= (RETENTION + 1) * 1000
        assert [backend.is_message_valid_based_on_retention_period(name, m) for m in (fresh, old)] == expected
        old.sent_timestamp += (RETENTION + 1) * 1000
        Queue.attributes = Spy()  # type: ignore[assignment,method-assign]  # counts reads of all attributes
        try:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        finally:
            Queue.attributes = counted  # type: ignore[method-assign]  # put back
    assert sorted(m["Body"] for m in got.get("Messages", [])) == ["m0", "m1", "m2"]
    assert looked == []  # no message made the receive compute the queue's attributes
