"""The handlers' event readers: EventBridge events and SQS FIFO batches, in the shapes the
AWS documentation gives them (Lambda's "Using Lambda with Amazon SQS": a record that fails
in a FIFO batch is reported with every record after it, ``batchItemFailures`` of
``itemIdentifier``s)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from albatross.controller.events import BusEvent, MalformedEvent, QueueMessage, body_of, fifo_batch
from tests.helpers import EVENTS, load_event


def sqs_event() -> dict[str, Any]:
    data = json.loads((EVENTS / "lambda" / "reconcile-work.json").read_text())
    assert isinstance(data, dict)
    return data


def batch(*ids: str) -> dict[str, Any]:
    [record] = sqs_event()["Records"]
    return {"Records": [{**record, "messageId": i, "body": json.dumps({"group": i})} for i in ids]}


def test_a_bus_event_is_read_as_sent() -> None:
    event = BusEvent.of(load_event("ingress-upsert"))
    assert (event.id, event.detail_type, event.replay_name) == ("5e0a7c1e-0001-4a7b-9c1d-000000000001", "Ingress", None)
    assert event.detail["key"] == "game-2048/game-2048"
    assert BusEvent.of({**load_event("resync"), "replay-name": "r1"}).replay_name == "r1"


def test_a_bus_event_says_when_it_was_sent() -> None:
    """The bus's ``time`` (ISO 8601, UTC): ingest orders Resyncs by it."""
    resync = load_event("resync", "v2")
    assert resync["time"] == "2026-11-23T12:00:00Z"
    assert BusEvent.of(resync).time == 1795435200.0  # 2026-11-23T12:00:00Z in epoch seconds
    assert BusEvent.of({**resync, "time": "yesterday"}).time is None
    assert BusEvent.of({k: v for k, v in resync.items() if k != "time"}).time is None


@pytest.mark.parametrize(
    "event",
    [None, [], "x", {}, {"id": "1", "detail-type": "Ingress"}, {"id": 1, "detail-type": "Ingress", "detail": {}}],
)
def test_a_bus_event_without_its_fields_is_malformed(event: Any) -> None:
    with pytest.raises(MalformedEvent):
        BusEvent.of(event)


def test_a_queue_record_is_read_as_sent() -> None:
    handled: list[QueueMessage] = []
    assert fifo_batch(sqs_event(), handled.append) == {"batchItemFailures": []}
    [message] = handled
    assert message.message_id == "0e9a3c52-0001-4c1f-9a59-000000000001"
    assert message.sent_timestamp == 1795435200000
    assert body_of(message) == {"group": "game-2048/game-2048"}


def test_a_failed_record_fails_itself_and_every_later_one_unhandled() -> None:
    handled: list[str] = []

    def handle(message: QueueMessage) -> None:
        if message.message_id == "b":
            raise RuntimeError("boom")
        handled.append(message.message_id)

    response = fifo_batch(batch("a", "b", "c", "d"), handle)
    assert response == {"batchItemFailures": [{"itemIdentifier": i} for i in ("b", "c", "d")]}
    assert handled == ["a"]


@pytest.mark.parametrize("event", [{}, {"Records": "x"}, {"Records": [{"body": "{}"}]}, {"Records": [7]}])
def test_a_queue_event_without_its_fields_is_malformed(event: Any) -> None:
    with pytest.raises(MalformedEvent):
        fifo_batch(event, lambda message: None)


def test_a_body_that_is_not_an_object_is_malformed() -> None:
    with pytest.raises(MalformedEvent):
        body_of(QueueMessage(message_id="1", body="[1]", sent_timestamp=0))
