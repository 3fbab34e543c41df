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
from collections.abc import Callable, Collection, Mapping
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
    receipt_handle: str = ""
    receive_count: int = 0  # ApproximateReceiveCount: this receive is the n-th; 0 when absent
    group_id: str = ""  # MessageGroupId (FIFO); "" when absent
    source_arn: str = ""  # eventSourceARN: the queue it came from


class ItemFailure(TypedDict):
    itemIdentifier: str


class PartialBatchResponse(TypedDict):
    batchItemFailures: list[ItemFailure]


class NotDue(Exception):
    """The record is not to be handled yet (a retry received before its backoff ended):
    it is left on the queue unattempted, for ``seconds`` more."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"due in {seconds:.1f}s")
        self.seconds = seconds


# A record left on the queue, with the failure it met; None: not attempted, as an earlier
# record of its message group was left.
Unhandled = tuple[QueueMessage, BaseException | None]
# Decides what becomes of the records left (see albatross.controller.retries); returns the
# message ids to report as failed, which stay on the queue.
Settle = Callable[[list[Unhandled]], Collection[str]]


def _number(value: Any) -> int:
    text = str(value or "0")
    return int(text) if text.isdecimal() else 0


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
        if not isinstance(attributes, Mapping):
            attributes = {}
        out.append(
            QueueMessage(
                message_id=ident,
                body=str(record.get("body") or ""),
                sent_timestamp=_number(attributes.get("SentTimestamp")),
                receipt_handle=str(record.get("receiptHandle") or ""),
                receive_count=_number(attributes.get("ApproximateReceiveCount")),
                group_id=str(attributes.get("MessageGroupId") or ""),
                source_arn=str(record.get("eventSourceARN") or ""),
            )
        )
    return out


def fifo_batch(
    event: Any, handle: Callable[[QueueMessage], None], *, settle: Settle | None = None
) -> PartialBatchResponse:
    """Handle the records in order. A record that fails is left on the queue, and so is
    every later record of its message group, unattempted: a FIFO queue keeps a group in
    order only if nothing after a failed message is processed before it is retried.
    Records of other groups go on (Powertools' ``skip_group_on_error``): groups are
    independent, and a record held back for another group's failure would spend its
    receives toward the dead-letter queue without ever failing.

    ``settle`` decides what becomes of the records left (backoff, a fresh copy, the
    dead-letter queue) and which of them to report as failed; without it, or if it fails,
    every one left is reported."""
    messages = _messages(event)
    stopped: set[str] = set()  # message groups with a record left in this batch
    unhandled: list[Unhandled] = []
    for message in messages:
        if message.group_id in stopped:
            unhandled.append((message, None))
            continue
        try:
            handle(message)
            continue
        except NotDue as e:
            logger.info("record not due yet", extra={"messageId": message.message_id, "seconds": round(e.seconds, 1)})
            error: BaseException = e
        except Exception as e:  # any failure goes back to the queue, and is logged
            logger.exception("record failed", extra={"messageId": message.message_id})
            error = e
        stopped.add(message.group_id)
        unhandled.append((message, error))
    left = [m.message_id for m, _ in unhandled]
    if settle is not None and unhandled:
        try:
            reported = set(settle(unhandled))
        except Exception:  # reporting every record left is always safe: each comes back
            logger.exception("settling the records left failed; all are reported failed")
        else:
            left = [i for i in left if i in reported]
    return {"batchItemFailures": [{"itemIdentifier": i} for i in left]}


def body_of(message: QueueMessage) -> dict[str, Any]:
    body = json.loads(message.body)
    if not isinstance(body, dict):
        raise MalformedEvent("a queue message body is a JSON object")
    return body
