"""``albatross redrive``: show what waits in the dead-letter queues and send it back.

* the ingest DLQ holds events the bus could not deliver to ingest (the event as its
  body): each is handed to the ingest function as the bus would have (the bus itself
  takes events from the forwarder's role only); one a newer version has replaced since
  is dropped there as stale;
* the work DLQ holds reconcile requests that failed five times: back onto the work queue,
  in their IngressGroup's message group; the urgent DLQ, those of a user's change (ADR
  0017): back onto the urgent work queue, the same way;
* the targets DLQ holds target syncs that failed five times: back onto the targets queue;
* the write-back DLQ holds what the forwarder could not apply: back onto the write-back
  queue.

A message leaves its DLQ only once it was sent back. One that cannot be (ingest refuses
it again, say) stays in its DLQ, visible again once the run ends, and the run goes on
with the others; the table says, per message, whether it was sent back and, if not,
why, in one line (the function's error type and message, not its raw payload). Any
message still failing makes the exit status 1. ``--dry-run`` lists and changes nothing
(each message received is made visible again at once). The queues come from the stack's
outputs (``--stack-name``, default from samconfig.toml) or an outputs JSON file
(``albatross local``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from albatross.aws import clients
from albatross.aws.errors import AlbatrossError, aws_errors
from albatross.cli.stack import CliError, require

DLQS = {
    "ingest": ("IngestDeadLetterQueueUrl", None),
    "work": ("WorkDeadLetterQueueUrl", "WorkQueueUrl"),
    "urgent": ("UrgentWorkDeadLetterQueueUrl", "UrgentWorkQueueUrl"),
    "targets": ("TargetsDeadLetterQueueUrl", "TargetsQueueUrl"),
    "writeback": ("WritebackDeadLetterQueueUrl", "WritebackQueueUrl"),
}


PROGRESS_EVERY = 25  # a progress line per this many messages (the table at the end has each)


class RedriveError(CliError):
    """A message cannot be sent back; the message says what to do."""


@dataclass(frozen=True)
class Moved:
    queue: str
    message_id: str
    summary: str
    age_s: float
    sent: bool
    reason: str = ""  # why it could not be sent back (it stays in its DLQ); "" when it was, or a dry run


def _summary(queue: str, body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body[:80]
    if queue == "ingest":
        detail = data.get("detail") or {}
        return f"{data.get('detail-type')} {detail.get('key', '')} rv {detail.get('resourceVersion', '')}".strip()
    if queue in ("work", "urgent", "targets"):
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
                raise RedriveError(f"ingest refused it: {failure(found['Payload'].read())}")
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


def failure(payload: bytes) -> str:
    """A failed invocation's payload (``{"errorType": ..., "errorMessage": ...}``) as
    one readable line."""
    try:
        data = json.loads(payload)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return " ".join(payload.decode("utf-8", "replace").split())[:300] or "no reason given"
    kind, text = str(data.get("errorType") or "error"), str(data.get("errorMessage") or "")
    return f"{kind}: {' '.join(text.split())}" if text else kind


def redrive(
    outputs: Mapping[str, str],
    *,
    queues: list[str],
    dry_run: bool,
    progress: Callable[[str], None] = lambda _: None,
) -> list[Moved]:
    """Send back (or, with ``dry_run``, list) every message of the named DLQs; one that
    cannot be sent back stays, with the reason in its :class:`Moved`. ``progress``
    hears how far it got."""
    require(outputs, *(DLQS[q][0] for q in queues), *(["IngestFunctionName"] if "ingest" in queues else []))
    out: list[Moved] = []
    now = time.time()
    for queue in queues:
        url = outputs[DLQS[queue][0]]
        # Received and kept: a dry run's, and those that failed. They are made visible
        # again only at the end, so that the receive loop meets each message once.
        held: list[str] = []
        progress(f"{queue}: reading its dead-letter queue ...")
        for count, message in enumerate(_messages(url), start=1):
            sent_at = int((message.get("Attributes") or {}).get("SentTimestamp", 0)) / 1000
            summary = _summary(queue, str(message["Body"]))
            reason = ""
            if dry_run:
                held.append(str(message["ReceiptHandle"]))
            else:
                try:
                    _send_back(queue, message, outputs)
                except (RedriveError, AlbatrossError) as e:
                    reason = str(e)
                    held.append(str(message["ReceiptHandle"]))
                else:
                    with aws_errors():
                        clients.sqs().delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            moved = Moved(
                queue,
                message["MessageId"],
                summary,
                round(now - sent_at, 1) if sent_at else 0.0,
                sent=not dry_run and not reason,
                reason=reason,
            )
            out.append(moved)
            if count % PROGRESS_EVERY == 0:
                progress(f"{queue}: {count} message(s) so far ...")
        with aws_errors():
            for receipt in held:  # as it was found: visible to the next redrive
                clients.sqs().change_message_visibility(QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0)
    return out


def _result(moved: Moved, *, dry_run: bool) -> str:
    if moved.reason:
        return f"still failing, left in the DLQ: {moved.reason}"
    return "would send back" if dry_run else "sent back"


def table(moved: list[Moved], *, dry_run: bool) -> str:
    if not moved:
        return "nothing in the dead-letter queues"
    rows = [("queue", "message", "what", "age s", "result")] + [
        (m.queue, m.message_id, m.summary, str(m.age_s), _result(m, dry_run=dry_run)) for m in moved
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    failing = sum(1 for m in moved if m.reason)
    verb = "would send back" if dry_run else "sent back"
    summary = f"{verb} {len(moved) - failing} message(s)"
    if failing:
        summary += f"; {failing} still failing, left in the dead-letter queue (fix the cause, then redrive again)"
    return "\n".join([*lines, summary])
