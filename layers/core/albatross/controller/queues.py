"""The queues the controller writes: work, urgent work and targets (FIFO, one message
group per IngressGroup) and write-back (read by the forwarder only); and what the reconcile
function does to the records it leaves on its queues: postpone them (backoff) or send a
fresh copy (docs/adr/0009-transient-failures-never-dead-letter.md)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence

from albatross.aws import clients
from albatross.aws.errors import Retryable, aws_errors
from albatross.contract import WriteBack
from albatross.store.table import HOLD_SECONDS, Store


def _group_id(group: str) -> str:
    # MessageGroupId: at most 128 characters; a long group key is hashed.
    return group if len(group) <= 128 else hashlib.sha256(group.encode()).hexdigest()


def enqueue(
    queue_url: str,
    groups: Iterable[str],
    *,
    cause: str,
    fresh: bool = False,
    service: str | None = None,
    nodes: bool = False,
) -> None:
    """Ask for one reconcile of each group; ``cause`` (an event id) deduplicates retries;
    ``fresh``: read everything (the drift sweep), trusting no stack index; ``service``:
    only sync the targets bound to that Service, ``nodes``: those of instance-mode target
    groups (the targets queue)."""
    extra = {
        **({"fresh": True} if fresh else {}),
        **({"service": service} if service else {}),
        **({"nodes": True} if nodes else {}),
    }
    entries = [
        {
            "Id": str(i),
            "MessageBody": json.dumps({"group": g, **extra}),
            "MessageGroupId": _group_id(g),
            "MessageDeduplicationId": hashlib.sha256(f"{g}\n{cause}".encode()).hexdigest(),
        }
        for i, g in enumerate(sorted(set(groups)))
    ]
    _send(queue_url, entries)


def request(
    queue_url: str,
    store: Store,
    groups: Iterable[str],
    *,
    cause: str,
    stale_after: float = 900,
    held: set[str] | None = None,
    urgent: bool = False,
) -> set[str]:
    """Ask for a reconcile of each group, coalesced: a group that already has one
    requested and not yet started is not enqueued again (twenty events for one group
    arriving together cost one reconcile, or two when some arrive after it started). A
    mark older than ``stale_after`` seconds (a lost message) does not hold. ``held``: a
    group ingest's sync hold holds is not enqueued either, and is added to it. Returns
    the groups enqueued.

    ``urgent``: ``queue_url`` is the urgent lane's (a user's change, ADR 0017), and the
    coalescing is per lane: an urgent request is not coalesced into a pending bulk one
    (it would wait behind the bulk backlog), only into a pending urgent one; a bulk
    request is coalesced into either."""
    now = time.time()
    after = None if held is None else now - HOLD_SECONDS
    marks = {
        g: store.request_unless_held(g, now=now, stale_after=stale_after, held_after=after, urgent=urgent)
        for g in set(groups)
    }
    wanted = {g for g, mark in marks.items() if mark == "requested"}
    if held is not None:
        held |= {g for g, mark in marks.items() if mark == "held"}
    try:
        enqueue(queue_url, wanted, cause=cause)
    except Exception:
        for group in wanted:  # nothing was queued for them: let the retry mark them again
            store.take_request(group)
        raise
    return wanted


def send_writebacks(queue_url: str, messages: Iterable[WriteBack]) -> None:
    entries = [{"Id": str(i), "MessageBody": m.to_body()} for i, m in enumerate(messages)]
    _send(queue_url, entries)


def postpone(queue_url: str, delays: Sequence[tuple[str, int]]) -> None:
    """Make each received message (by receipt handle) visible again only after its
    seconds: SQS FIFO has no per-message delay, a visibility timeout is the backoff."""
    sqs = clients.sqs()
    for i in range(0, len(delays), 10):
        entries = [
            {"Id": str(i + n), "ReceiptHandle": receipt, "VisibilityTimeout": seconds}
            for n, (receipt, seconds) in enumerate(delays[i : i + 10])
        ]
        with aws_errors():
            resp = sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)  # type: ignore[arg-type]  # entry dicts
        if resp.get("Failed"):
            raise Retryable(f"SQS kept {len(resp['Failed'])} visibility timeout(s): {resp['Failed'][0].get('Message')}")


def resend(queue_url: str, *, body: str, group_id: str, deduplication_id: str) -> None:
    """Send a copy of a FIFO message to the end of its message group."""
    entry = {"Id": "0", "MessageBody": body, "MessageGroupId": group_id, "MessageDeduplicationId": deduplication_id}
    _send(queue_url, [entry])


def _send(queue_url: str, entries: list[dict[str, str]]) -> None:
    sqs = clients.sqs()
    for i in range(0, len(entries), 10):
        with aws_errors():
            resp = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries[i : i + 10])  # type: ignore[arg-type]  # entry dicts
        if resp.get("Failed"):
            raise Retryable(f"SQS refused {len(resp['Failed'])} message(s): {resp['Failed'][0].get('Message')}")
