"""Send contract entries to EventBridge in batches (≤ 10 entries, ≤ 256 KB), retrying
only the entries that failed for a retryable reason.

An entry over 256 KB goes by claim check (:mod:`albatross.contract.claim`): the full
Detail is PUT to the payload bucket and the entry carries a reference to it. Without a
bucket such an entry is logged and counted as dropped."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from albatross.contract import MAX_ENTRY_BYTES, put_events_entry
from albatross.contract.claim import claim_check

log = logging.getLogger("albatross.forwarder.sender")
_RETRYABLE = {"ThrottlingException", "InternalFailure", "InternalException", "ServiceUnavailable"}


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
        bucket: str = "",
    ) -> None:
        self.client = events_client
        self.bus = bus_name
        self.max_attempts = max_attempts
        self.s3 = s3_client
        self.bucket = bucket
        self.claimed = 0  # entries sent by claim check
        self._queue: queue.Queue[dict[str, str]] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="forwarder-sender", daemon=True)
        self.sent = 0
        self.dropped = 0

    def start(self) -> None:
        self._thread.start()

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
        self._queue.put(entry)

    def _claim(self, detail: Mapping[str, Any], size: int) -> dict[str, str] | None:
        """PUT the Detail to the payload bucket; the small entry that points at it, or
        None (no bucket, or S3 kept failing: never send an entry EventBridge rejects)."""
        key = detail.get("key")
        if not self.bucket or self.s3 is None:
            log.error("entry too large and no payload bucket set, not sent", extra={"key": key, "bytes": size})
            return None
        claim, body = claim_check(detail, bucket=self.bucket)
        for attempt in range(self.max_attempts):
            try:
                self.s3.put_object(Bucket=self.bucket, Key=claim.ref.key, Body=body, ContentType="application/json")
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
        return self._queue.qsize()

    def _batch(self) -> list[dict[str, str]]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch, size = [first], _size(first)
        while len(batch) < 10:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                break
            if size + _size(entry) > MAX_ENTRY_BYTES:
                self._queue.put(entry)
                break
            batch.append(entry)
            size += _size(entry)
        return batch

    def _run(self) -> None:
        while not self._stop.is_set() or not self._queue.empty():
            batch = self._batch()
            if batch:
                self._send(batch)

    def _send(self, batch: list[dict[str, str]]) -> None:
        for attempt in range(self.max_attempts):
            try:
                resp = self.client.put_events(Entries=batch)
            except Exception:  # network or 5xx: retry the whole batch
                log.warning("PutEvents failed, retrying", exc_info=True)
                time.sleep(min(0.1 * 2**attempt, 5))
                continue
            retry = []
            for entry, result in zip(batch, resp.get("Entries", []), strict=False):
                if "ErrorCode" not in result:
                    self.sent += 1
                elif result["ErrorCode"] in _RETRYABLE:
                    retry.append(entry)
                else:
                    self.dropped += 1
                    log.error(
                        "entry rejected",
                        extra={"code": result["ErrorCode"], "detail": json.loads(entry["Detail"]).get("key")},
                    )
            if not retry:
                return
            batch = retry
            time.sleep(min(0.1 * 2**attempt, 5))
        self.dropped += len(batch)
        log.error("gave up on %d entries after %d attempts", len(batch), self.max_attempts)
