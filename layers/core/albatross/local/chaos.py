"""Seeded chaos for the offline system: EventBridge and AWS on a bad day.

* **The bus** (:class:`BusChaos`): each event a rule delivers may be dropped, delivered
  twice, held back and delivered after later ones (reordered), or delivered again long
  after (a late replay of what was already handled). EventBridge promises at-least-once
  delivery in no order; a dropped delivery stands for one lost past the rule's retries.
* **AWS** (:class:`AwsChaos`): ELBv2 and EC2 calls answered with the throttling error each
  service sends (``Throttling`` / ``RequestLimitExceeded``), at the wire, so botocore's
  retry mode sees them as it would from AWS; and mutating calls whose response is lost
  *after AWS acted*: the request reaches the local AWS, then the client sees a read
  timeout and botocore sends the same call again, as it does after a lost response. Now
  and then a storm throttles a run of calls longer than botocore's retries: the caller
  itself sees ``Throttled``.

Every decision comes from one :class:`random.Random` per stream, seeded, under a lock: a
seed gives the same sequence of decisions (which call or event each lands on depends on
how threads interleave, as on AWS).
"""

from __future__ import annotations

import random
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ReadTimeoutError

from albatross.aws import clients
from albatross.local.faults import THROTTLED as THROTTLING  # what each service answers when throttled
from albatross.local.faults import Fault
from albatross.local.faults import _error_response as error_response  # one answer shape for every injected fault
from albatross.model import limits

_CLIENTS = {"elasticloadbalancing": "elbv2", "ec2": "ec2"}


@dataclass
class Tally:
    """What the chaos did, for the test's report and the benchmark's table."""

    delivered: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    replayed: int = 0
    throttled: int = 0
    storms: int = 0
    lost: int = 0

    def row(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class BusChaos:
    """Decides what becomes of each event a rule delivers. ``deliveries(event)`` returns
    the events to deliver now, in order: none (dropped or held back), the event, the event
    twice, and possibly events held back earlier or an old one replayed."""

    seed: int
    drop: float = 0.2
    duplicate: float = 0.1
    reorder: float = 0.15
    replay: float = 0.05
    tally: Tally = field(default_factory=Tally)
    enabled: bool = True
    _rng: random.Random = field(init=False)
    _held: list[dict[str, Any]] = field(default_factory=list, init=False)
    _past: list[dict[str, Any]] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"bus-{self.seed}")  # noqa: S311  # a test's chaos, not cryptography

    def deliveries(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        with self._lock:
            out: list[dict[str, Any]] = []
            if not self.enabled:
                out = [*self._held, event]
                self._held.clear()
                self.tally.delivered += len(out)
                return out
            roll = self._rng.random()
            if roll < self.drop:
                self.tally.dropped += 1
            elif roll < self.drop + self.reorder:
                self._held.append(event)  # delivered after the next event that goes through
                self.tally.reordered += 1
            elif roll < self.drop + self.reorder + self.duplicate:
                out = [event, event]
                self.tally.duplicated += 1
            else:
                out = [event]
            if out and self._held:
                out += self._held
                self._held.clear()
            if self._past and self._rng.random() < self.replay:
                out.append(self._rng.choice(self._past))
                self.tally.replayed += 1
            self._past.append(event)
            del self._past[:-200]
            self.tally.delivered += len(out)
            return out

    def calm(self) -> None:
        """Stop the chaos; what is held back goes with the next delivery."""
        with self._lock:
            self.enabled = False


@dataclass
class AwsChaos:
    """Throttles ELBv2/EC2 calls and loses responses of mutating ones, at the wire."""

    seed: int
    throttle: float = 0.1
    lose: float = 0.05
    storm: float = 0.01  # a burst: this call and the next ``storm_calls`` all throttled
    storm_calls: int = 12  # more than botocore's 5 attempts: the caller sees Throttled
    tally: Tally = field(default_factory=Tally)
    _rng: random.Random = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _storming: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"aws-{self.seed}")  # noqa: S311  # a test's chaos, not cryptography

    def _roll(self) -> float:
        """A draw in [0, 1); 0 while a storm lasts (every call throttled)."""
        with self._lock:
            if self._storming > 0:
                self._storming -= 1
                return 0.0
            if self._rng.random() < self.storm:
                self._storming = self.storm_calls
                self.tally.storms += 1
                return 0.0
            return self._rng.random()

    def _hook(self, service: str, protocol: str) -> Any:
        code, status, message = THROTTLING[service]
        throttled = Fault(service=service, operation="*", code=code, message=message, status=status)

        def send(request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
            operation = _operation(request)
            roll = self._roll()
            if roll < self.throttle:
                with self._lock:
                    self.tally.throttled += 1
                return error_response(throttled, protocol)
            if limits.mutating(operation) and roll < self.throttle + self.lose:
                _deliver(request)  # AWS acts on it ...
                with self._lock:
                    self.tally.lost += 1
                raise ReadTimeoutError(endpoint_url=request.url)  # ... and the answer never arrives
            return None

        return send

    @contextmanager
    def running(self) -> Iterator[AwsChaos]:
        session = botocore.session.get_session()
        ids = []
        for service, name in _CLIENTS.items():
            model = session.get_service_model(name)
            unique = f"albatross-chaos-{service}"
            clients.add_hook(
                f"before-send.{model.service_id.hyphenize()}", self._hook(service, model.protocol), unique_id=unique
            )
            ids.append(unique)
        try:
            yield self
        finally:
            for unique in ids:
                clients.remove_hook(unique)


def _operation(request: AWSPreparedRequest) -> str:
    """The operation a query-protocol request names (``Action=...`` in its body)."""
    body = request.body
    text = body.decode() if isinstance(body, bytes) else str(body or "")
    for part in text.split("&"):
        if part.startswith("Action="):
            return part[len("Action=") :]
    return ""


def _deliver(request: AWSPreparedRequest) -> None:
    """Send a prepared request to the local AWS and throw the answer away."""
    body = request.body
    data = body if isinstance(body, bytes) else str(body or "").encode()
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        raw: Any = value  # botocore's signers leave some header values as bytes
        headers[str(name)] = raw.decode() if isinstance(raw, bytes) else str(raw)
    sent = urllib.request.Request(request.url, data=data, headers=headers, method=request.method)  # noqa: S310  # the local AWS on 127.0.0.1
    try:
        with urllib.request.urlopen(sent, timeout=30) as answer:  # noqa: S310  # the local AWS on 127.0.0.1
            answer.read()
    except OSError:  # an error answer (HTTPError) is lost the same way: the caller times out either way
        return
