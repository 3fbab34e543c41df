"""Send contract entries to EventBridge in batches (≤ 10 entries, ≤ 256 KB), retrying
only the entries that failed for a retryable reason.

An entry over 256 KB goes by claim check (:mod:`albatross.contract.claim`): the full
Detail is PUT to the payload bucket and the entry carries a reference to it. Without a
bucket such an entry is logged and counted as dropped. The S3 client is made at the
first claim check: most clusters never need one, and it costs about 6 MiB.

Entries go out in the order they came; each carries the time it was queued, so
:meth:`Sender.oldest_age` is how long the oldest entry not yet accepted has waited.

Delivery failures are made visible, not only logged: :meth:`Sender.failing_for` is how
long PutEvents has accepted nothing (every call raised, or refused every entry: denied,
bad credentials, the bus gone, the endpoint unreachable), which ``/readyz`` reads; and
the entries given up are handed to ``on_failed`` with the reason, which the forwarder
turns into Warning Events on the Ingresses they were about."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from albatross.contract import MAX_ENTRY_BYTES, put_events_entry
from albatross.contract.claim import claim_check

log = logging.getLogger("albatross.forwarder.sender")
_RETRYABLE = {"ThrottlingException", "InternalFailure", "InternalException", "ServiceUnavailable"}
Queued = tuple[float, dict[str, str]]  # (when queued, the PutEvents entry)


def _size(entry: Mapping[str, str]) -> int:
    return sum(len(str(v).encode()) for v in entry.values())


class Sender:
    def __init__(
        self,
        *,
        events_client: Any,
        bus_name: str,
        max_attempts: int = 8,
        s3_client: Any = None,
        make_s3_client: Callable[[], Any] | None = None,
        bucket: str = "",
        clock: Callable[[], float] = time.monotonic,
        on_failed: Callable[[list[dict[str, str]], str], None] | None = None,
    ) -> None:
        """``s3_client``, or ``make_s3_client`` to make one at the first claim check;
        ``on_failed(entries, reason)``: entries given up (called on the sending thread:
        it must not block)."""
        self.client = events_client
        self.bus = bus_name
        self.max_attempts = max_attempts
        self.bucket = bucket
        self.clock = clock
        self.claimed = 0  # entries sent by claim check
        self.sent = 0
        self.dropped = 0
        self._s3, self._make_s3, self._s3_lock = s3_client, make_s3_client, threading.Lock()
        self._queue: queue.Queue[Queued] = queue.Queue()
        self._carry: Queued | None = None  # taken from the queue, did not fit the last batch
        self._inflight: float | None = None  # when the oldest entry of the batch being sent was queued
        self._inflight_count = 0
        self.on_failed = on_failed
        # since when PutEvents has accepted nothing (None: it works), and the last reason
        self._failing_since: float | None = None
        self.last_error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="forwarder-sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        """The sending thread runs (it ends only after :meth:`stop`)."""
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def submit(self, detail: Mapping[str, Any]) -> None:
        entry = put_events_entry(bus_name=self.bus, detail=detail)
        if _size(entry) > MAX_ENTRY_BYTES:
            claimed = self._claim(detail, _size(entry))
            if claimed is None:
                self.dropped += 1
                return
            entry = claimed
        self._queue.put((self.clock(), entry))

    def s3(self) -> Any:
        """The S3 client (None without one): made on first use, once, whichever thread asks."""
        with self._s3_lock:
            if self._s3 is None and self._make_s3 is not None:
                self._s3 = self._make_s3()
            return self._s3

    def _claim(self, detail: Mapping[str, Any], size: int) -> dict[str, str] | None:
        """PUT the Detail to the payload bucket; the small entry that points at it, or
        None (no bucket, or S3 kept failing: never send an entry EventBridge rejects)."""
        key = detail.get("key")
        s3 = self.s3() if self.bucket else None
        if s3 is None:
            log.error("entry too large and no payload bucket set, not sent", extra={"key": key, "bytes": size})
            return None
        claim, body = claim_check(detail, bucket=self.bucket)
        for attempt in range(self.max_attempts):
            try:
                s3.put_object(Bucket=self.bucket, Key=claim.ref.key, Body=body, ContentType="application/json")
            except ClientError as e:
                status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
                if status < 500 and status != 429:  # denied, no such bucket: retrying will not help
                    log.error("payload PUT refused (%s), entry not sent", status, extra={"key": key})
                    return None
                log.warning("payload PUT failed (%s), retrying", status, extra={"key": key})
                time.sleep(min(0.1 * 2**attempt, 5))
                continue
            except Exception:  # network (botocore retried already): the same PUT again
                log.warning("payload PUT failed, retrying", extra={"key": key}, exc_info=True)
                time.sleep(min(0.1 * 2**attempt, 5))
                continue
            self.claimed += 1
            log.info("entry sent by claim check", extra={"key": key, "bytes": size, "object": claim.ref.key})
            return put_events_entry(bus_name=self.bus, detail=claim.to_detail())
        log.error("payload PUT kept failing, entry not sent", extra={"key": key, "bytes": size})
        return None

    def pending(self) -> int:
        """Entries not yet accepted or given up: queued, or in the batch being sent."""
        return self._queue.qsize() + (self._carry is not None) + self._inflight_count

    def oldest_age(self) -> float:
        """Seconds the oldest entry not yet accepted (or given up) has waited; 0 if none."""
        with self._queue.mutex:  # the queue's own lock: a consistent look at its head
            head = self._queue.queue[0][0] if self._queue.queue else None
        carry = self._carry
        # in the order entries were queued: the batch in flight, the carried one, the queue
        first = next((t for t in (self._inflight, carry[0] if carry else None, head) if t is not None), None)
        return 0.0 if first is None else max(0.0, self.clock() - first)

    def failing_for(self) -> float:
        """Seconds since PutEvents last accepted anything, while every call since has
        failed; 0 while delivery works (or nothing was sent yet)."""
        since = self._failing_since
        return 0.0 if since is None else max(0.0, self.clock() - since)

    def _failed(self, reason: str) -> None:
        self.last_error = reason
        if self._failing_since is None:
            self._failing_since = self.clock()

    def _give_up(self, entries: list[dict[str, str]], reason: str) -> None:
        self.dropped += len(entries)
        if self.on_failed is not None and entries:
            try:
                self.on_failed(entries, reason)
            except Exception:  # reporting must never stop the sending
                log.exception("reporting %d entries not sent failed", len(entries))

    def _batch(self) -> list[Queued]:
        if self._carry is not None:
            first, self._carry = self._carry, None
        else:
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                return []
        batch, size = [first], _size(first[1])
        while len(batch) < 10:
            try:
                queued = self._queue.get_nowait()
            except queue.Empty:
                break
            if size + _size(queued[1]) > MAX_ENTRY_BYTES:
                self._carry = queued  # first in the next batch: the order stays
                break
            batch.append(queued)
            size += _size(queued[1])
        return batch

    def _run(self) -> None:
        while not self._stop.is_set() or not self._queue.empty() or self._carry is not None:
            batch = self._batch()
            if batch:
                self._inflight, self._inflight_count = batch[0][0], len(batch)
                try:
                    self._send([entry for _, entry in batch])
                finally:
                    self._inflight, self._inflight_count = None, 0

    def _send(self, batch: list[dict[str, str]]) -> None:
        reason = ""
        for attempt in range(self.max_attempts):
            try:
                resp = self.client.put_events(Entries=batch)
            except Exception as e:  # network, 5xx, or refused (denied, bad credentials, no bus): retry the batch
                reason = _reason(e)
                self._failed(reason)
                log.warning("PutEvents failed (%s), retrying", reason, exc_info=True)
                time.sleep(min(0.1 * 2**attempt, 5))
                continue
            retry: list[dict[str, str]] = []
            rejected: dict[str, list[dict[str, str]]] = {}  # refused for good, by AWS's code
            refused = 0  # entries of this call EventBridge did not take
            for entry, result in zip(batch, resp.get("Entries", []), strict=False):
                if "ErrorCode" not in result:
                    self.sent += 1
                    self._failing_since, self.last_error = None, ""  # EventBridge accepts: delivery works
                    continue
                refused += 1
                reason = str(result["ErrorCode"])
                if reason in _RETRYABLE:
                    retry.append(entry)
                else:
                    rejected.setdefault(reason, []).append(entry)
            if rejected:
                # one give-up for the call, not one per entry: a denial refuses all ten,
                # and each give-up is a log line and a pass over the delivery warnings
                entries = [entry for group in rejected.values() for entry in group]
                codes = ", ".join(sorted(rejected))
                log.error(
                    "entries rejected, not sent: %d (%s)",
                    len(entries),
                    codes,
                    extra={"codes": {code: len(group) for code, group in rejected.items()}, "keys": _keys(entries)},
                )
                self._give_up(entries, codes)
            if refused and refused == len(batch):  # the call delivered nothing
                self._failed(reason)
            if not retry:
                return
            batch = retry
            time.sleep(min(0.1 * 2**attempt, 5))
        self._give_up(batch, reason or "unknown")
        log.error("gave up on %d entries after %d attempts (%s)", len(batch), self.max_attempts, reason)


def _keys(entries: list[dict[str, str]], most: int = 10) -> list[str]:
    """The object keys of the first ``most`` entries, for a log line that names what was lost."""
    keys = []
    for entry in entries[:most]:
        try:
            keys.append(str(json.loads(entry.get("Detail") or "{}").get("key")))
        except ValueError:
            keys.append("?")
    return keys


def _reason(error: Exception) -> str:
    """What refused a call, as AWS names it (AccessDeniedException, ResourceNotFoundException,
    UnrecognizedClientException...), or the exception's type (EndpointConnectionError)."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or type(error).__name__)
    return type(error).__name__
