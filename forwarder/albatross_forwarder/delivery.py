"""Delivery failures reach the Ingresses they were about, as Warning Events, rate-limited.

The sender hands over the entries it gave up (PutEvents denied, credentials wrong, the bus
gone, the endpoint unreachable, an entry refused): the forwarder names the Ingresses each
was about (:meth:`DeliveryWarnings.failed`), and :meth:`DeliveryWarnings.flush` records at
most one Event per Ingress per ``interval``, whose message counts the changes lost since
the last one. Recording runs on a thread of its own, so the sending never waits on the
Kubernetes API; an Ingress that is gone is skipped (``record`` says so).

A Warning the API refuses is tried again only if it can pass later: a 5xx, 429 (too many
requests), 408, 409 or 401 (a token about to be renewed), or no answer at all; each
Ingress's next try waits twice as long as its last (:data:`BACKOFF` up to ``interval``).
Any other 4xx will not change by asking again (403: RBAC forbids it, 404: the namespace
is gone, 422: invalid): that Warning is logged once, counted in :attr:`DeliveryWarnings.dropped`
(``albatross_forwarder_delivery_warnings_dropped_total``) and forgotten.

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
BACKOFF = 5.0  # seconds before an Ingress's first retry of a refused Warning; doubled each time
# Answers that may differ next time; any other 4xx is the same every time it is asked
_RETRYABLE_4XX = frozenset({401, 408, 409, 429})


def retryable(error: Exception) -> bool:
    """Whether recording again may succeed: the API answered 5xx or a 4xx that can change,
    or did not answer (a connection error has no status)."""
    status = getattr(error, "status", None)
    if not isinstance(status, int) or not 400 <= status < 500:
        return True
    return status in _RETRYABLE_4XX


class DeliveryWarnings:
    def __init__(
        self, *, record: Record, bus: str, interval: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.record = record
        self.bus = bus
        self.interval = interval
        self.clock = clock
        self.recorded = 0  # Warning Events recorded (albatross_forwarder_delivery_warnings_total)
        self.dropped = 0  # Warnings the API refused for good (albatross_forwarder_delivery_warnings_dropped_total)
        self._lock = threading.Lock()
        self._lost: dict[str, int] = {}  # Ingress → changes lost since its last Warning
        self._reason: dict[str, str] = {}  # Ingress → the last reason
        self._last: dict[str, float] = {}  # Ingress → when its last Warning was recorded
        self._tries: dict[str, int] = {}  # Ingress → refused tries in a row of its pending Warning
        self._retry_at: dict[str, float] = {}  # Ingress → not tried again before then
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
                if (key not in self._last or now - self._last[key] >= self.interval)
                and now >= self._retry_at.get(key, now)
            }
            for key in due:
                del self._lost[key]
                self._last[key] = now
        done = 0
        dropped = 0
        for key, (count, reason) in sorted(due.items()):
            try:
                recorded = self.record(key, self.message(count, reason))
            except Exception as e:  # noqa: BLE001  # any failure is judged by retryable(), and logged either way
                if retryable(e):  # the API is unreachable or busy: counted again, after a backoff
                    self._retry(key, count, reason, now)
                    continue
                # refused as it will be every time (RBAC, invalid, the namespace gone): the
                # interval's one try is spent, and asking again every few seconds would not help
                status = getattr(e, "status", None)
                log.error(
                    "%s Warning on %s refused (%s), dropped: %d lost changes not told", REASON, key, status, count
                )
                dropped += 1
                forget = status == 404  # the namespace is gone: nothing to remember of it
            else:
                done += recorded
                forget = not recorded  # gone, or no longer ours: nothing to remember of it
            with self._lock:
                self._tries.pop(key, None)
                self._retry_at.pop(key, None)
                if forget and key not in self._lost:
                    self._last.pop(key, None)
                    self._reason.pop(key, None)
        self.recorded += done
        self.dropped += dropped
        if done:
            log.warning("delivery failures recorded as %s Warning Events on %d Ingresses", REASON, done)
        return done

    def _retry(self, key: str, count: int, reason: str, now: float) -> None:
        log.warning("could not record the delivery failure on %s, trying again later", key, exc_info=True)
        with self._lock:
            tries = self._tries.get(key, 0) + 1
            self._tries[key] = tries
            self._retry_at[key] = now + min(BACKOFF * 2 ** (tries - 1), self.interval)
            self._lost[key] = self._lost.get(key, 0) + count
            self._reason.setdefault(key, reason)
            self._last.pop(key, None)

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
