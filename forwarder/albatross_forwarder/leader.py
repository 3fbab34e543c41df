"""Leader election on a ``coordination.k8s.io/v1`` Lease: of the replicas, one leads
(watches, sends, consumes write-backs), the others stand by.

The holder renews every third of the lease duration. A replica takes the Lease when it
is absent, released (empty ``holderIdentity``) or expired: it has seen the Lease
unchanged for a whole ``leaseDurationSeconds`` by its own monotonic clock. The holder's
``renewTime`` is never compared with our wall clock: with skewed clocks that would let
a standby take a healthy Lease. Every write is a replace with the ``resourceVersion``
just read, so of two replicas racing for it one gets 409 and stays a candidate. A
leader that has not renewed for two thirds of the duration (counted from the *start* of
its last successful round) steps down by itself, before any round that would outlast
that, and its requests time out before the deadline: it stops before anyone else may
take over. The only I/O is the Lease; clocks are injected.
"""

from __future__ import annotations

import datetime
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from albatross_forwarder.kube import LEASES, Kube

log = logging.getLogger("albatross.forwarder.leader")


def _micro(t: datetime.datetime) -> str:
    return t.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _wall() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class LeaderElector:
    def __init__(
        self,
        *,
        kube: Kube,
        namespace: str,
        name: str,
        identity: str,
        duration: int = 15,
        on_started: Callable[[], None],
        on_stopped: Callable[[], None],
        now: Callable[[], datetime.datetime] = _wall,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.duration = duration
        self.renew_every = duration / 3
        self.renew_deadline = duration * 2 / 3
        self.on_started = on_started
        self.on_stopped = on_stopped
        self.now = now
        self.monotonic = monotonic
        self.leading = False
        self.acquired = 0  # times this replica became leader
        self.holder = ""  # the holder last seen on the Lease
        self.last_contact: float | None = None  # monotonic time of the last answer about the Lease
        self._renewed = 0.0  # monotonic time of the last successful acquire or renew
        self._seen_version: str | None = None
        self._seen_at = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._timeout = self.renew_every / 2  # per request; shorter as the deadline nears

    # --- one round ----------------------------------------------------------------------

    def _read(self) -> dict[str, Any] | None:
        try:
            return self.kube.get(LEASES, self.namespace, self.name, timeout=self._timeout)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def _replace(self, lease: Mapping[str, Any]) -> None:
        """PUT with the resourceVersion read: 409 when someone wrote in between."""
        self.kube.replace(LEASES, self.namespace, self.name, lease, timeout=self._timeout)

    def _observe(self, lease: Mapping[str, Any]) -> None:
        version = str((lease.get("metadata") or {}).get("resourceVersion"))
        if version != self._seen_version:
            self._seen_version, self._seen_at = version, self.monotonic()

    def expired(self, spec: Mapping[str, Any]) -> bool:
        if not spec.get("holderIdentity"):
            return True
        duration = float(spec.get("leaseDurationSeconds") or self.duration)
        return self.monotonic() - self._seen_at > duration

    def _spec(self, old: Mapping[str, Any], *, holder: str, duration: int) -> dict[str, Any]:
        now = _micro(self.now())
        same = old.get("holderIdentity") == holder
        transitions = int(old.get("leaseTransitions") or 0)
        return {
            **old,
            "holderIdentity": holder,
            "leaseDurationSeconds": duration,
            "renewTime": now,
            "acquireTime": old.get("acquireTime", now) if same else now,
            # a new holder is a transition; creating the Lease or releasing it is not
            "leaseTransitions": transitions if same or not holder or not old else transitions + 1,
        }

    def try_acquire_or_renew(self) -> bool:
        """One round: True when this replica holds the Lease afterwards."""
        try:
            lease = self._read()
            if lease is None:
                body = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": self._spec({}, holder=self.identity, duration=self.duration),
                }
                self.kube.create(LEASES, self.namespace, body, timeout=self._timeout)
                self.holder, self.last_contact = self.identity, self.monotonic()
                return True
            self._observe(lease)
            spec = lease.get("spec") or {}
            self.holder, self.last_contact = str(spec.get("holderIdentity") or ""), self.monotonic()
            if self.holder != self.identity and not self.expired(spec):
                return False
            lease["spec"] = self._spec(spec, holder=self.identity, duration=self.duration)
            self._replace(lease)
            self.holder = self.identity
            return True
        except ApiException as e:
            if e.status == 409:  # another replica wrote first: it won this round
                self.last_contact = self.monotonic()
                return False
            log.warning("lease %s/%s: %s %s", self.namespace, self.name, e.status, e.reason)
            return False
        except Exception as e:  # noqa: BLE001  # transport errors: this round is lost, the next may not be
            log.warning("lease %s/%s unreachable: %s", self.namespace, self.name, e)
            return False

    # --- the loop ------------------------------------------------------------------------

    def step(self) -> float:
        """One round and its consequences; returns how long to wait before the next."""
        with self._lock:
            if self._stop.is_set():
                return 0.0
            started = self.monotonic()
            if self.leading:
                left = self.renew_deadline - (started - self._renewed)
                if left <= 0:
                    self._step_down("could not renew the lease in time")
                else:  # read and replace must both end before the deadline
                    self._timeout = max(0.2, min(self.renew_every, left) / 2)
            if not self.leading:
                self._timeout = self.renew_every / 2
            held = self.try_acquire_or_renew()
            if held:
                self._renewed = started
                if not self.leading:
                    self.leading = True
                    self.acquired += 1
                    log.info("became leader (lease %s/%s, identity %s)", self.namespace, self.name, self.identity)
                    self.on_started()
                return self.renew_every
            if self.leading:
                taken = self.holder not in ("", self.identity)
                if taken or self.monotonic() - self._renewed > self.renew_deadline:
                    self._step_down("the lease went to " + self.holder if taken else "could not renew the lease")
                else:
                    return self.renew_every / 4  # retry soon: the deadline is close
            return self.renew_every * random.uniform(0.8, 1.0)  # noqa: S311  # jitter, not crypto

    def _step_down(self, why: str) -> None:
        self.leading = False
        log.warning("stopped leading: %s", why)
        self.on_stopped()

    def run(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self.step())

    def stop(self) -> None:
        """Stop competing; a leader stays leader (and keeps its work) until ``release``."""
        self._stop.set()
        with self._lock:  # wait for a round in progress
            pass

    def release(self) -> None:
        """Give the Lease up so a standby takes it at once (SIGTERM, after flushing)."""
        with self._lock:
            if not self.leading:
                return
            self.leading = False
            try:
                lease = self._read()
                spec = (lease or {}).get("spec") or {}
                if lease is None or spec.get("holderIdentity") != self.identity:
                    return
                lease["spec"] = self._spec(spec, holder="", duration=1)
                self._replace(lease)
                log.info("released lease %s/%s", self.namespace, self.name)
            except Exception as e:  # noqa: BLE001  # it expires by itself; releasing only saves the wait
                log.warning("could not release lease %s/%s: %s", self.namespace, self.name, e)
