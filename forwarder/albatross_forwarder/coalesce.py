"""Coalesce EndpointSlice and Node churn between the watchers and the sender.

A rolling update changes a Service's EndpointSlices many times a second, and every
change sent is an ingest and a target sync in AWS. Changes are held per bucket (the
Service an EndpointSlice belongs to, by its ``kubernetes.io/service-name`` label; all
Nodes share one) until the bucket has been quiet for ``debounce`` seconds or its first
held change is ``max_wait`` old; then the latest state of every object that changed goes
out. A later change of an object replaces the held one (a delete too: an object changed
and then deleted goes out as the delete only). Every other kind passes straight through.
The clock is injected; ``start`` runs the flushing thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from albatross.contract import ObjectChange

SERVICE_LABEL = "kubernetes.io/service-name"


def bucket_of(change: ObjectChange) -> str | None:
    """The bucket a change is held in, or None when it is sent at once."""
    if change.kind == "Node":
        return "Node"
    if change.kind == "EndpointSlice":
        meta = change.object.get("metadata") or {}
        service = (meta.get("labels") or {}).get(SERVICE_LABEL, "")
        return slices_bucket(f"{meta.get('namespace')}/{service}")
    return None


def slices_bucket(service: str) -> str:
    """The bucket of the EndpointSlices of ``service`` (``namespace/name``)."""
    return f"EndpointSlice {service}"


@dataclass
class _Bucket:
    first: float
    last: float
    changes: dict[str, ObjectChange] = field(default_factory=dict)

    def due(self, debounce: float, max_wait: float) -> float:
        return min(self.last + debounce, self.first + max_wait)


class Coalescer:
    def __init__(
        self,
        *,
        send: Callable[[ObjectChange], None],
        debounce: float = 0.2,
        max_wait: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.send = send
        self.debounce = debounce
        self.max_wait = max(max_wait, debounce)
        self.clock = clock
        self.coalesced = 0  # changes replaced by a later one of the same object, never sent
        self._buckets: dict[str, _Bucket] = {}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="forwarder-coalescer", daemon=True)

    # --- holding and taking (no threads, no waiting) --------------------------------------

    def submit(self, change: ObjectChange) -> None:
        bucket = bucket_of(change)
        if bucket is None or self.debounce <= 0:
            self.send(change)
            return
        with self._cond:
            now = self.clock()
            held = self._buckets.get(bucket)
            if held is None:
                held = self._buckets[bucket] = _Bucket(first=now, last=now)
            if held.changes.pop(change.key, None) is not None:
                self.coalesced += 1
            held.changes[change.key] = change
            held.last = now
            self._cond.notify()

    def take_due(self, now: float) -> list[ObjectChange]:
        with self._cond:
            due = [b for b, held in self._buckets.items() if held.due(self.debounce, self.max_wait) <= now]
            return [c for b in due for c in self._buckets.pop(b).changes.values()]

    def take_all(self) -> list[ObjectChange]:
        with self._cond:
            buckets, self._buckets = self._buckets, {}
        return [c for held in buckets.values() for c in held.changes.values()]

    def pending(self) -> int:
        with self._cond:
            return sum(len(held.changes) for held in self._buckets.values())

    def oldest_age(self) -> float:
        """Seconds the oldest held change has waited (0 when none is held)."""
        with self._cond:
            first = min((held.first for held in self._buckets.values()), default=None)
            return 0.0 if first is None else max(0.0, self.clock() - first)

    # --- the flushing thread ---------------------------------------------------------------

    def flush(self, bucket: str | None = None) -> None:
        """Send everything held now (before a Resync, and on the way out); ``bucket``:
        only what that bucket holds (a Service's slices read ahead of its list)."""
        if bucket is None:
            changes = self.take_all()
        else:
            with self._cond:
                held = self._buckets.pop(bucket, None)
            changes = list(held.changes.values()) if held is not None else []
        for change in changes:
            self.send(change)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                wake = min((b.due(self.debounce, self.max_wait) for b in self._buckets.values()), default=None)
                wait = None if wake is None else wake - self.clock()
                if wait is None or wait > 0:
                    self._cond.wait(wait)
                    continue
            for change in self.take_due(self.clock()):
                self.send(change)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Stop the thread and send what is held."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        self.flush()
