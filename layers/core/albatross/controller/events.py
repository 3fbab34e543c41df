"""The Lambda event shapes the handlers take: an EventBridge event, and an SQS FIFO batch
answered with a partial-batch response.

Plain reads of the documented shapes, no models: Powertools' parser needs pydantic, and its
data classes and batch processor import every event class and asyncio, together a third
of a handler's cold start (docs/adr/0008-lean-handlers-and-a-built-layer.md). What is read is checked:
an event that lacks a field it needs raises :class:`MalformedEvent`.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from aws_lambda_powertools import Logger

from albatross.contract import ContractError

logger = Logger(child=True)


class MalformedEvent(ContractError):
    """The Lambda event is not of the shape its source documents."""


@dataclass(frozen=True)
class BusEvent:
    """An EventBridge event as Lambda receives it from a rule."""

    id: str
    detail_type: str
    detail: Mapping[str, Any]
    replay_name: str | None
    time: float | None = None  # when it was sent (epoch seconds; the bus's ``time``), None if unreadable

    @classmethod
    def of(cls, event: Any) -> BusEvent:
        if not isinstance(event, Mapping):
            raise MalformedEvent("an EventBridge event is a JSON object")
        ident, detail_type, detail = event.get("id"), event.get("detail-type"), event.get("detail")
        if not isinstance(ident, str) or not isinstance(detail_type, str) or not isinstance(detail, Mapping):
            raise MalformedEvent("an EventBridge event needs an id, a detail-type and a detail object")
        replay = event.get("replay-name")
        return cls(
            id=ident,
            detail_type=detail_type,
            detail=detail,
            replay_name=replay if isinstance(replay, str) else None,
            time=_epoch(event.get("time")),
        )


def _epoch(stamp: Any) -> float | None:
    """An event's ``time`` (ISO 8601, e.g. ``2026-11-23T12:00:00Z``) in epoch seconds."""
    if not isinstance(stamp, str):
        return None
    try:
        when = datetime.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return (when if when.tzinfo is not None else when.replace(tzinfo=datetime.UTC)).timestamp()


@dataclass(frozen=True)
class QueueMessage:
    """One record of an SQS batch."""

    message_id: str
    body: str
    sent_timestamp: int  # ms since the epoch; 0 when absent


class ItemFailure(TypedDict):
    itemIdentifier: str


class PartialBatchResponse(TypedDict):
    batchItemFailures: list[ItemFailure]


def _messages(event: Any) -> list[QueueMessage]:
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list):
        raise MalformedEvent("an SQS event needs a Records list")
    out = []
    for record in records:
        ident = record.get("messageId") if isinstance(record, Mapping) else None
        if not isinstance(ident, str):
            raise MalformedEvent("an SQS record needs a messageId")
        attributes = record.get("attributes") or {}
        sent = str(attributes.get("SentTimestamp") or "0") if isinstance(attributes, Mapping) else "0"
        out.append(
            QueueMessage(
                message_id=ident,
                body=str(record.get("body") or ""),
                sent_timestamp=int(sent) if sent.isdecimal() else 0,
            )
        )
    return out


def fifo_batch(event: Any, handle: Callable[[QueueMessage], None]) -> PartialBatchResponse:
    """Handle the records in order; at the first failure, report it and every record after
    it as failed, unhandled: a FIFO queue keeps a message group in order only if nothing
    after a failed message is processed before it is retried."""
    messages = _messages(event)
    for index, message in enumerate(messages):
        try:
            handle(message)
        except Exception:  # any failure goes back to the queue, and is logged
            logger.exception("record failed", extra={"messageId": message.message_id})
            return {"batchItemFailures": [{"itemIdentifier": m.message_id} for m in messages[index:]]}
    return {"batchItemFailures": []}


def body_of(message: QueueMessage) -> dict[str, Any]:
    body = json.loads(message.body)
    if not isinstance(body, dict):
        raise MalformedEvent("a queue message body is a JSON object")
    return body
