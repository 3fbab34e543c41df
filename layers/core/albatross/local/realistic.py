"""The realistic local AWS (opt-in): moto behaving like one account under AWS's limits.

* **Throttling** at the local endpoint itself, so every caller shares the account's
  budget as on AWS (the functions in this process or in an artifact's processes, the
  CLI in another terminal, a test): one token bucket per account for ELBv2's
  ``Describe*``, one for Register/DeregisterTargets and one per other mutating action;
  one per EC2 API (mutating, non-mutating, unfiltered and unpaginated non-mutating) and
  EC2's resource buckets; one per tagging API action. A request the bucket cannot pay
  for is answered with the service's own throttling error at the wire (ELBv2
  ``Throttling`` HTTP 400, EC2 ``RequestLimitExceeded`` HTTP 503, tagging
  ``ThrottledException`` HTTP 400: :data:`albatross.local.faults.THROTTLED`, in the
  shape :func:`albatross.local.faults.error_body` writes), so botocore retries it as it
  would AWS's. A throttled request takes no token.
  Calls signed with :data:`OBSERVER_KEY` are a harness's own checks: never throttled
  nor tallied.
* **Validation, quotas, provisioning**: :func:`albatross.local.mends.aws_limits`.

Every figure is :mod:`albatross.model.limits`'. Time is **AWS's**: :class:`AwsClock`,
wall seconds over ``time_scale``, so a run with ``time_scale=0.05`` is AWS twenty times
faster, buckets and provisioning included, and what it measures on this clock is in AWS
seconds. A test passes its own clock and moves it by hand.
"""

from __future__ import annotations

import http
import io
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from moto.server import ThreadedMotoServer

from albatross.local import mends
from albatross.local.faults import PROTOCOLS, THROTTLED, error_body
from albatross.model import limits

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]


class AwsClock:
    """AWS's seconds in a time-scaled local system: ``time.monotonic()`` over ``time_scale``."""

    def __init__(self, time_scale: float) -> None:
        self.time_scale = time_scale

    def __call__(self) -> float:
        return time.monotonic() / self.time_scale


_EPSILON = 1e-9  # a clock moved by 0.1 s refills 1 token, whatever the floating point says


class TokenBucket:
    """AWS's token bucket: starts full, refilled continuously up to its capacity."""

    def __init__(self, spec: limits.Bucket, now: float) -> None:
        self.spec = spec
        self.tokens = float(spec.capacity)
        self.last = now

    def take(self, now: float, count: int = 1) -> bool:
        self.tokens = self.at(now)
        self.last = now
        if self.tokens < count - _EPSILON:
            return False
        self.tokens = max(0.0, self.tokens - count)
        return True

    def at(self, now: float) -> float:
        """The tokens the bucket holds at ``now``."""
        return min(float(self.spec.capacity), self.tokens + max(0.0, now - self.last) * self.spec.refill)


@dataclass
class Tally:
    """What the account was asked, per (service, action): answered and throttled."""

    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    throttled: Counter[tuple[str, str]] = field(default_factory=Counter)

    def total(self, service: str, *, prefix: str = "", throttled: bool = False) -> int:
        counts = self.throttled if throttled else self.calls
        return sum(n for (s, a), n in counts.items() if s == service and a.startswith(prefix))


class Throttle:
    """The account's token buckets, on ``clock`` (AWS seconds)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.buckets: dict[tuple[str, str], TokenBucket] = {}
        self.tally = Tally()
        self.paused = False  # every call passes, untallied (see Realistic.unlimited)
        self._lock = threading.Lock()

    def _bucket(self, service: str, key: str, spec: limits.Bucket, now: float) -> TokenBucket:
        found = self.buckets.get((service, key))
        if found is None:
            found = self.buckets[(service, key)] = TokenBucket(spec, now)
        return found

    def admit(self, service: str, action: str, params: dict[str, list[str]]) -> bool:
        """Take the call's tokens, or say it is throttled. Services without limits pass."""
        costs = charges(service, action, params)
        if costs is None or self.paused:
            return True
        with self._lock:
            now = self.clock()
            buckets = [(self._bucket(service, key, spec, now), count) for key, spec, count in costs]
            # all or nothing: a call refused by its resource bucket spends no request token
            if all(b.at(now) >= n - _EPSILON for b, n in buckets):
                for bucket, count in buckets:
                    bucket.take(now, count)
                self.tally.calls[(service, action)] += 1
                return True
            for bucket, _ in buckets:
                bucket.take(now, 0)  # refilled to now, nothing taken
            self.tally.throttled[(service, action)] += 1
            return False

    def wrap(self, app: App) -> App:
        """The WSGI app that answers a throttled call itself and passes the rest to ``app``."""

        def throttled(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
            service = signing_name(environ)
            if service not in THROTTLED or _scope(environ)[0] == OBSERVER_KEY:
                return app(environ, start_response)
            action, params = _request(environ)
            if not action or self.admit(service, action, params):
                return app(environ, start_response)
            code, status, message = THROTTLED[service]
            body, headers = error_body(code, message, PROTOCOLS[service])
            start_response(
                f"{status} {http.HTTPStatus(status).phrase}",
                [*headers.items(), ("Content-Length", str(len(body)))],
            )
            return [body]

        return throttled


def charges(service: str, action: str, params: dict[str, list[str]]) -> list[tuple[str, limits.Bucket, int]] | None:
    """The buckets a call draws on: (key, bucket, tokens)."""
    if service == "elasticloadbalancing":
        key, spec = limits.elbv2_bucket(action)
        return [(key, spec, 1)]
    if service == "ec2":
        names = frozenset(name.split(".", 1)[0] for name in params)
        key, spec = limits.ec2_bucket(action, names)
        costs = [(key, spec, 1)]
        resource = limits.EC2_RESOURCE.get(action)
        if resource is not None:
            count = int(params.get("MaxCount", ["0"])[0]) or sum(1 for p in params if p.startswith("InstanceId."))
            costs.append((f"{action} (instances)", resource, max(1, count)))
        return costs
    if service == "tagging":
        return [(action, limits.TAGGING, 1)]
    return None


def _scope(environ: Environ) -> list[str]:
    """The request's SigV4 credential: access key, date, region, service, ``aws4_request``."""
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    return auth.partition("Credential=")[2].split(",", 1)[0].split("/")


def signing_name(environ: Environ) -> str:
    """The signing name of the service a request is for, from its SigV4 credential scope."""
    scope = _scope(environ)
    return scope[3] if len(scope) > 3 else ""


# Calls signed with this access key are an observer's (a test's or the benchmark's checks
# of what the controller did): outside the account's budget, not throttled, not tallied.
OBSERVER_KEY = "albatross-observer"


def _request(environ: Environ) -> tuple[str, dict[str, list[str]]]:
    """The action and parameters of a query-protocol request (the body is put back for
    moto), or a JSON one's action from its ``X-Amz-Target``."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        return target.rsplit(".", 1)[-1], {}
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    params = urllib.parse.parse_qs(str(environ.get("QUERY_STRING", "")))
    params.update(urllib.parse.parse_qs(body.decode("utf-8", "replace")))
    action = params.pop("Action", [""])[0]
    params.pop("Version", None)
    return action, params


@dataclass
class Realistic:
    """The realistic mode of a running local AWS: its clock, buckets and tallies, and the
    load balancers' provisioning."""

    clock: Callable[[], float]
    throttle: Throttle
    provisioning: mends.Provisioning

    @contextmanager
    def unlimited(self) -> Iterator[None]:
        """While inside, nothing is throttled or tallied and new load balancers are active at
        once: a harness's setup (say, stacks made the way LBC makes them before Albatross
        starts) that must not spend the account's budget or wait. Quotas still hold."""
        self.throttle.paused = self.provisioning.instant = True
        try:
            yield
        finally:
            self.throttle.paused = self.provisioning.instant = False


@contextmanager
def limited(
    server: ThreadedMotoServer,
    *,
    time_scale: float,
    clock: Callable[[], float] | None = None,
    provisioning_seconds: float = limits.PROVISIONING_SECONDS,
) -> Iterator[Realistic]:
    """While inside, the started ``server`` throttles as one AWS account and moto's ELBv2
    validates, counts quotas and provisions as AWS does. ``clock``: AWS seconds (default
    :class:`AwsClock` of ``time_scale``); ``provisioning_seconds`` are on it."""
    now = clock or AwsClock(time_scale)
    wsgi = server._server  # the started werkzeug server: its app is what answers
    if wsgi is None:
        raise RuntimeError("start the moto server before making it realistic")
    throttle = Throttle(now)
    served = wsgi.app
    wsgi.app = throttle.wrap(served)
    try:
        with mends.aws_limits(clock=now, provisioning_seconds=provisioning_seconds) as provisioning:
            yield Realistic(clock=now, throttle=throttle, provisioning=provisioning)
    finally:
        wsgi.app = served
