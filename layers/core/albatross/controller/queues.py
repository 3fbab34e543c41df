"""The two queues the controller writes: work (FIFO, one message group per IngressGroup)
and write-back (read by the forwarder only)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from albatross.aws import clients
from albatross.aws.errors import Retryable, aws_errors
from albatross.contract import WriteBack


def _group_id(group: str) -> str:
    # MessageGroupId: at most 128 characters; a long group key is hashed.
    return group if len(group) <= 128 else hashlib.sha256(group.encode()).hexdigest()


def enqueue(queue_url: str, groups: Iterable[str], *, cause: str, fresh: bool = False) -> None:
    """Ask for one reconcile of each group; ``cause`` (an event id) deduplicates retries;
    ``fresh``: read everything (the drift sweep), trusting no stack index."""
    entries = [
        {
            "Id": str(i),
            "MessageBody": json.dumps({"group": g, **({"fresh": True} if fresh else {})}),
            "MessageGroupId": _group_id(g),
            "MessageDeduplicationId": hashlib.sha256(f"{g}\n{cause}".encode()).hexdigest(),
        }
        for i, g in enumerate(sorted(set(groups)))
    ]
    _send(queue_url, entries)


def send_writebacks(queue_url: str, messages: Iterable[WriteBack]) -> None:
    entries = [{"Id": str(i), "MessageBody": m.to_body()} for i, m in enumerate(messages)]
    _send(queue_url, entries)


def _send(queue_url: str, entries: list[dict[str, str]]) -> None:
    sqs = clients.sqs()
    for i in range(0, len(entries), 10):
        with aws_errors():
            resp = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries[i : i + 10])  # type: ignore[arg-type]  # entry dicts
        if resp.get("Failed"):
            raise Retryable(f"SQS refused {len(resp['Failed'])} message(s): {resp['Failed'][0].get('Message')}")
