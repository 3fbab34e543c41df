"""Delivery failures reach the Ingresses they were about, as Warning Events, rate-limited.

The sender hands over the entries it gave up (PutEvents denied, credentials wrong, the bus
gone, the endpoint unreachable, an entry refused): the forwarder names the Ingresses each
was about (:meth:`DeliveryWarnings.failed`), and :meth:`DeliveryWarnings.flush` records at
most one Event per Ingress per ``interval``, whose message counts the changes lost since
the last one. Recording runs on a thread of its own, so the sending never waits on the
Kubernetes API; an Ingress that is gone is skipped (``record`` says so).

Reason :data:`REASON`, in the style of LBC's ``Failed<Verb><Object>`` reasons.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

log = logging.getLogger("albatross.forwarder.delivery")

REASON = "FailedDeliverEvents"
# Records the Warning on one Ingress ("namespace/name"); False when it is gone.
Record = Callable[[str, str], bool]


class DeliveryWarnings:
    def __init__(
        self, *, record: Record, bus: str, interval: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.record = record
        self.bus = bus
        self.interval = interval
        self.clock = clock
        self.recorded = 0  # Warning Events recorded (albatross_forwarder_delivery_warnings_total)
        self._lock = threading.Lock()
        self._lost: dict[str, int] = {}  # Ingress → changes lost since its last Warning
        self._reason: dict[str, str] = {}  # Ingress → the last reason
        self._last: dict[str, float] = {}  # Ingress → when its last Warning was recorded
        self._wake = threading.Event()  # an Ingress is due now: tell it without waiting a period
        self._stop = threading.Event()

    def failed(self, ingresses: Iterable[str], reason: str) -> None:
        """Changes about each of ``ingresses`` were not delivered (cheap: the sender calls it)."""
        with self._lock:
            for key in ingresses:
                self._lost[key] = self._lost.get(key, 0) + 1
                self._reason[key] = reason
                if key not in self._last:
                    self._wake.set()  # its first Warning: at once, later ones within the period

    def pending(self) -> dict[str, int]:
        with self._lock:
            return dict(self._lost)

    def message(self, count: int, reason: str) -> str:
        changes = "1 change" if count == 1 else f"{count} changes"
        return (
            f"{changes} of this Ingress or of its Services could not be delivered to EventBridge bus {self.bus} "
            f"({reason}); Albatross acts on none of them until the forwarder can send again, and the next "
            "Resync after that has them sent again. See the forwarder's log and /readyz."
        )

    def flush(self) -> int:
        """Record a Warning on each Ingress with lost changes whose last one is ``interval``
        old (or that has none); the rest wait. The number recorded."""
        now = self.clock()
        with self._lock:
            due = {
                key: (count, self._reason[key])
                for key, count in self._lost.items()
                if key not in self._last or now - self._last[key] >= self.interval
            }
            for key in due:
                del self._lost[key]
                self._last[key] = now
        done = 0
        for key, (count, reason) in sorted(due.items()):
            try:
                if self.record(key, self.message(count, reason)):
                    done += 1
                else:  # gone, or no longer ours: nothing more to remember of it
                    with self._lock:
                        if key not in self._lost:
                            self._last.pop(key, None)
                            self._reason.pop(key, None)
            except Exception:  # the API refused or is unreachable too: counted again next time
                log.warning("could not record the delivery failure on %s", key, exc_info=True)
                with self._lock:
                    self._lost[key] = self._lost.get(key, 0) + count
                    self._reason.setdefault(key, reason)
                    self._last.pop(key, None)
        self.recorded += done
        if done:
            log.warning("delivery failures recorded as %s Warning Events on %d Ingresses", REASON, done)
        return done

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self, period: float = 5.0) -> None:
        """Flush every ``period`` seconds, and at once for an Ingress's first Warning,
        until :meth:`stop`."""
        while not self._stop.is_set():
            self._wake.wait(period)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.flush()
            except Exception:  # never let the reporter die: healthz watches it
                log.exception("delivery warnings flush failed")
