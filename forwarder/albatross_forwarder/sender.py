"""Send contract entries to EventBridge in batches (≤ 10 entries, ≤ 256 KB), retrying
only the entries that failed for a retryable reason."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Mapping
from typing import Any

from albatross.contract import MAX_ENTRY_BYTES, put_events_entry

log = logging.getLogger("albatross.forwarder.sender")
_RETRYABLE = {"ThrottlingException", "InternalFailure", "InternalException", "ServiceUnavailable"}


def _size(entry: Mapping[str, str]) -> int:
    return sum(len(str(v).encode()) for v in entry.values())


class Sender:
    def __init__(self, *, events_client: Any, bus_name: str, max_attempts: int = 8) -> None:
        self.client = events_client
        self.bus = bus_name
        self.max_attempts = max_attempts
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
            # The claim-check path through S3 lands with the forwarder issue; never send
            # an entry EventBridge would reject, and say so.
            log.error("entry too large, not sent", extra={"key": detail.get("key"), "bytes": _size(entry)})
            self.dropped += 1
            return
        self._queue.put(entry)

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
