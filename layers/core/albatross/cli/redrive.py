"""``albatross redrive``: show what waits in the dead-letter queues and send it back.

* the ingest DLQ holds events the bus could not deliver to ingest (the event as its
  body): each is handed to the ingest function as the bus would have (the bus itself
  takes events from the forwarder's role only); one a newer version has replaced since
  is dropped there as stale;
* the work DLQ holds reconcile requests that failed five times: back onto the work queue,
  in their IngressGroup's message group;
* the targets DLQ holds target syncs that failed five times: back onto the targets queue;
* the write-back DLQ holds what the forwarder could not apply: back onto the write-back
  queue.

A message leaves its DLQ only once it was sent back. ``--dry-run`` lists and changes
nothing (each message received is made visible again at once). The queues come
from the stack's outputs (``--stack-name``, default from samconfig.toml) or an outputs
JSON file (``albatross local``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from albatross.aws import clients
from albatross.aws.errors import aws_errors
from albatross.cli.stack import CliError, require

DLQS = {
    "ingest": ("IngestDeadLetterQueueUrl", None),
    "work": ("WorkDeadLetterQueueUrl", "WorkQueueUrl"),
    "targets": ("TargetsDeadLetterQueueUrl", "TargetsQueueUrl"),
    "writeback": ("WritebackDeadLetterQueueUrl", "WritebackQueueUrl"),
}


class RedriveError(CliError):
    """A message cannot be sent back; the message says what to do."""


@dataclass(frozen=True)
class Moved:
    queue: str
    message_id: str
    summary: str
    age_s: float
    sent: bool


def _summary(queue: str, body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body[:80]
    if queue == "ingest":
        detail = data.get("detail") or {}
        return f"{data.get('detail-type')} {detail.get('key', '')} rv {detail.get('resourceVersion', '')}".strip()
    if queue in ("work", "targets"):
        return f"group {data.get('group')}" + (f" service {data['service']}" if data.get("service") else "")
    return f"{data.get('type')} {data.get('ingress')}"


def _messages(url: str) -> Iterator[dict[str, Any]]:
    seen: set[str] = set()
    sqs = clients.sqs()
    while True:
        with aws_errors():
            found = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=30,
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
        fresh = [m for m in found if m["MessageId"] not in seen]
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            yield dict(message)


def _send_back(queue: str, message: Mapping[str, Any], outputs: Mapping[str, str]) -> None:
    body = str(message["Body"])
    with aws_errors():
        if queue == "ingest":
            # The bus takes events from the forwarder's role only, so the event goes to
            # the ingest function directly, as the bus would have delivered it.
            event = {"version": "0", "account": "", "region": "", "resources": [], **json.loads(body)}
            found = clients.client("lambda").invoke(
                FunctionName=outputs["IngestFunctionName"], Payload=json.dumps(event).encode()
            )
            if "FunctionError" in found:
                raise RedriveError(f"ingest refused message {message['MessageId']}: {found['Payload'].read()[:300]!r}")
            return
        target = outputs[str(DLQS[queue][1])]
        attributes = message.get("Attributes") or {}
        extra: dict[str, str] = {}
        if target.endswith(".fifo"):
            extra = {
                "MessageGroupId": str(attributes.get("MessageGroupId") or "redrive"),
                "MessageDeduplicationId": f"redrive-{message['MessageId']}",
            }
        clients.sqs().send_message(QueueUrl=target, MessageBody=body, **extra)  # type: ignore[arg-type]  # optional FIFO keys


def redrive(outputs: Mapping[str, str], *, queues: list[str], dry_run: bool) -> list[Moved]:
    """Send back (or, with ``dry_run``, list) every message of the named DLQs."""
    require(outputs, *(DLQS[q][0] for q in queues), *(["IngestFunctionName"] if "ingest" in queues else []))
    out: list[Moved] = []
    now = time.time()
    for queue in queues:
        url = outputs[DLQS[queue][0]]
        held: list[str] = []  # dry run: received, to be made visible again once all are listed
        for message in _messages(url):
            sent_at = int((message.get("Attributes") or {}).get("SentTimestamp", 0)) / 1000
            summary = _summary(queue, str(message["Body"]))
            if not dry_run:
                _send_back(queue, message, outputs)
                with aws_errors():
                    clients.sqs().delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            else:
                held.append(str(message["ReceiptHandle"]))
            out.append(
                Moved(queue, message["MessageId"], summary, round(now - sent_at, 1) if sent_at else 0.0, not dry_run)
            )
        with aws_errors():
            for receipt in held:  # a dry run leaves the queue as it found it
                clients.sqs().change_message_visibility(QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0)
    return out


def table(moved: list[Moved], *, dry_run: bool) -> str:
    if not moved:
        return "nothing in the dead-letter queues"
    rows = [("queue", "message", "what", "age s")] + [(m.queue, m.message_id, m.summary, str(m.age_s)) for m in moved]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    verb = "would send back" if dry_run else "sent back"
    return "\n".join([*lines, f"{verb} {len(moved)} message(s)"])
