"""What becomes of a record the reconcile function leaves on the work or targets queue
(docs/adr/0009-transient-failures-never-dead-letter.md).

* Every record left comes back after a backoff, exponential in the receives so far with
  jitter (``Policy.delay``), set as its visibility timeout: SQS FIFO has no per-message
  delay. The later records of its message group, held back unattempted, come back with
  it. A throttled record comes back after the first step whatever its receives: it
  waited for the account budget already (ADR 0017).
* A record that failed for a reason that passes by itself (:func:`albatross.aws.errors.transient`),
  or was never attempted, is never dead-lettered: on its last allowed receive a fresh copy
  goes to the end of its message group (same group, a deduplication id from the message
  id and the receives so far) and the original is reported handled. The copy carries the
  receives so far and when it is due, so its backoff goes on where the original's ended
  (received sooner, it is put back unattempted: :func:`when_due`).
* Any other failure (a defect our code meets on this message) is poison: on its last
  receive it is left for the dead-letter queue, and ``dead_letter`` is told first (the
  reconcile function writes a Warning on every member of the group); a failure to tell
  does not change what happens to the record.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from albatross.aws.errors import throttled, transient
from albatross.controller import queues
from albatross.controller.events import NotDue, QueueMessage, Unhandled

logger = Logger(child=True)

RETRY = "retry"  # the body key of a copy: {"receives": receives before it, "due": epoch seconds}
MAX_VISIBILITY = 43200  # SQS's longest visibility timeout (12 hours)


@dataclass(frozen=True)
class Policy:
    max_receives: int  # the queue's maxReceiveCount; 0: unknown, no receive is taken for the last
    first_seconds: float  # the backoff after a first failed receive
    cap_seconds: float  # never longer

    def delay(self, receives: int, rng: random.Random) -> int:
        """Seconds before the next receive after ``receives`` failed ones: ``first *
        2^(receives-1)``, at most the cap, of which a random half is taken off
        ("equal jitter"), so records that failed together do not come back together."""
        ceiling = min(self.cap_seconds, self.first_seconds * 2.0 ** min(max(receives, 1) - 1, 60))
        return min(MAX_VISIBILITY, math.ceil(ceiling / 2 + rng.uniform(0, ceiling / 2)))

    def last(self, message: QueueMessage) -> bool:
        """Whether this receive is the last before the queue dead-letters the message."""
        return self.max_receives > 0 and message.receive_count >= self.max_receives


@dataclass(frozen=True)
class Queue:
    url: str
    name: str  # as `albatross redrive --queue` spells it


def queue_of(source_arn: str, queues_by_name: Mapping[str, str]) -> Queue | None:
    """The queue (URL and redrive name) of a record's ``eventSourceARN``, among
    ``queues_by_name`` (redrive name → URL): an SQS URL ends with the queue's name, as
    its ARN does."""
    name = source_arn.rpartition(":")[2]
    for label, url in queues_by_name.items():
        if name and url and url.rstrip("/").rpartition("/")[2] == name:
            return Queue(url=url, name=label)
    return None


def _retry_of(message: QueueMessage) -> tuple[int, float]:
    """(receives before this message, when it is due) from a copy's body; (0, 0) otherwise."""
    try:
        body = json.loads(message.body)
    except ValueError:
        return 0, 0.0
    retry = body.get(RETRY) if isinstance(body, dict) else None
    if not isinstance(retry, dict):
        return 0, 0.0
    before, due = retry.get("receives"), retry.get("due")
    return (
        before if isinstance(before, int) and not isinstance(before, bool) and before > 0 else 0,
        float(due) if isinstance(due, int | float) and not isinstance(due, bool) else 0.0,
    )


def receives(message: QueueMessage) -> int:
    """Receives of the request so far: this message's and those of the copies before it."""
    return _retry_of(message)[0] + message.receive_count


def when_due(
    handle: Callable[[QueueMessage], None], policy: Policy, *, now: Callable[[], float] = time.time
) -> Callable[[QueueMessage], None]:
    """``handle``, but a copy received before it is due is put back unattempted
    (:class:`NotDue`), unless this receive is its last."""

    def run(message: QueueMessage) -> None:
        wait = _retry_of(message)[1] - now()
        if wait > 0 and not policy.last(message):
            raise NotDue(wait)
        handle(message)

    return run


def copy_body(message: QueueMessage, *, due: float) -> str:
    """The message's body, with the receives so far and when the copy is due."""
    body = json.loads(message.body)
    if not isinstance(body, dict):
        raise ValueError("a queue message body is a JSON object")
    return json.dumps({**body, RETRY: {"receives": receives(message), "due": round(due, 3)}})


def copy_id(message: QueueMessage) -> str:
    """The copy's deduplication id: the same for the same message at the same receive (a
    handler run twice sends one copy), another for each later receive."""
    return hashlib.sha256(f"{message.message_id}\n{receives(message)}".encode()).hexdigest()


def backoff(message: QueueMessage, error: BaseException | None, *, policy: Policy, rng: random.Random) -> int:
    """Seconds before a record left on its queue (and its message group's later ones)
    comes back."""
    if isinstance(error, NotDue):
        return math.ceil(error.seconds)
    if error is not None and not transient(error) and policy.last(message):
        return 0  # poison leaving for the DLQ: nothing to wait for, what follows it never failed
    if error is not None and throttled(error):
        # the record waited for the budget already (ADR 0017): it comes back after the
        # first step, not an ever longer one, which is for failures
        return policy.delay(1, rng)
    return policy.delay(receives(message), rng)


@dataclass
class Settled:
    failed: list[str] = field(default_factory=list)  # reported failed: left on the queue
    postponed: list[str] = field(default_factory=list)  # their visibility set to a backoff
    copied: list[str] = field(default_factory=list)  # a fresh copy sent, reported handled
    dead_lettered: list[str] = field(default_factory=list)  # left for the dead-letter queue


class DeadLetter(Protocol):
    """Told of a record left for the dead-letter queue, with the failure it met."""

    def __call__(self, message: QueueMessage, *, error: BaseException, queue: Queue) -> None: ...


def settle(
    unhandled: list[Unhandled],
    *,
    policy: Policy,
    queues_by_name: Mapping[str, str],
    dead_letter: DeadLetter,
    rng: random.Random | None = None,
    now: Callable[[], float] = time.time,
) -> Settled:
    """Decide, for each record left, between a backoff, a fresh copy and the dead-letter
    queue (see the module docstring); returns what was done."""
    rng = rng or random.Random()  # noqa: S311  # jitter, not a secret
    out = Settled()
    delays: dict[str, int] = {}  # per message group: its records come back together
    postpone: dict[str, list[tuple[str, int]]] = {}
    for message, error in unhandled:
        group = message.group_id
        passes = error is None or isinstance(error, NotDue) or transient(error)
        if group not in delays:
            delays[group] = backoff(message, error, policy=policy, rng=rng)
        delay = delays[group]
        queue = queue_of(message.source_arn, queues_by_name)
        facts: dict[str, Any] = {
            "messageId": message.message_id,
            "group": group,
            "receives": receives(message),
            "error": repr(error) if error is not None else None,
            "transient": passes,
        }
        if queue is None:  # not one of ours: it comes back after its visibility timeout
            logger.warning("record left on a queue this function does not know", extra=facts)
            out.failed.append(message.message_id)
            continue
        if not policy.last(message):
            out.failed.append(message.message_id)
            out.postponed.append(message.message_id)
            postpone.setdefault(queue.url, []).append((message.receipt_handle, delay))
            logger.info("record retried later", extra={**facts, "seconds": delay})
            continue
        if passes:
            try:
                queues.resend(
                    queue.url,
                    body=copy_body(message, due=now() + delay),
                    group_id=group,
                    deduplication_id=copy_id(message),
                )
            except Exception as e:  # the copy was not sent: the original goes on to the DLQ
                logger.exception("retry copy not sent", extra=facts)
                error = error if error is not None and not isinstance(error, NotDue) else e
            else:
                out.copied.append(message.message_id)
                logger.warning("record sent again as a fresh copy", extra={**facts, "seconds": delay})
                continue
        assert error is not None  # a record never attempted was copied, or its copy failed with an error
        out.failed.append(message.message_id)
        out.dead_lettered.append(message.message_id)
        postpone.setdefault(queue.url, []).append((message.receipt_handle, delay))
        logger.error("record left for the dead-letter queue", extra={**facts, "queue": queue.name})
        try:
            dead_letter(message, error=error, queue=queue)
        except Exception:  # best effort: the record's fate stays the same
            logger.exception("could not tell the cluster of a dead letter", extra=facts)
    for url, delays_of in postpone.items():
        try:
            queues.postpone(url, delays_of)
        except Exception:  # they come back after the queue's visibility timeout instead
            logger.exception("could not postpone records", extra={"queue": url, "records": len(delays_of)})
    return out
