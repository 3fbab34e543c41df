"""The account's AWS call budget (docs/adr/0016-account-call-budget.md): every Lambda's
ELBv2, EC2 and tagging requests spend tokens of buckets kept in the state table, filled at
``share`` of AWS's own rates, so Albatross backs off before AWS throttles it and leaves
the rest of the account's budget to its other tools.

One item per AWS bucket (:mod:`albatross.model.limits` says which calls share one):
``budget#<service>#<bucket key>`` / ``#`` with ``tokens``, ``at`` (when they were
counted, on the budget's clock) and ``v`` (a version the conditional write checks). A
process leases a few tokens at once, so DynamoDB is written once per lease and not per
call, and drops what it has not spent within :data:`LEASE_SECONDS`.

:mod:`albatross.aws.clients` installs :meth:`Budget.hook` on its shared clients of the
gated services. The item layout lives here and not in :mod:`albatross.store`, which sits
above this layer and uses the clients this module gates.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from albatross.aws.errors import ConditionFailed, Throttled, aws_errors
from albatross.model import limits

ENV_SHARE = "API_BUDGET_SHARE"  # the share of AWS's rates Albatross may use (0: no budget)
# One second of the budget's clock in seconds: 1 on AWS; `albatross local` scales every
# *_SECONDS variable, so the budget keeps time with the local AWS's clock
ENV_CLOCK = "API_BUDGET_CLOCK_SECONDS"
ENV_WAIT = "API_BUDGET_WAIT_SECONDS"  # how long one call may wait for a token
ENV_TABLE = "STATE_TABLE"
DEFAULT_WAIT = 5.0

LEASE_SECONDS = 1.0  # a lease's tokens not spent by then are dropped (a late burst is a burst)
MAX_LEASE = 5
_RACES = 10  # conditional writes lost in a row before the caller is told to try later
_EPSILON = 1e-9
PK_PREFIX = "budget#"

# The clients gated (their botocore names), and each one's event name → the service as
# AWS's throttling (and albatross.local.realistic) names it
GATED = frozenset({"elbv2", "ec2", "resourcegroupstaggingapi"})
_SERVICES = {
    "elastic-load-balancing-v2": "elasticloadbalancing",
    "ec2": "ec2",
    "resource-groups-tagging-api": "tagging",
}

# The latest budget-clock time this context's calls may wait until, instead of the per-call
# bound (None: the per-call bound): a handler sets it from its Lambda's remaining time
# (:func:`bounded`), so a record waits in line for as long as its invocation can afford.
deadline: ContextVar[float | None] = ContextVar("albatross_budget_deadline", default=None)
# Which lane the calls of this context serve (ADR 0017): "urgent" (a user's change) may
# spend a bucket's reserve; "bulk" (everything else) leaves it.
URGENT, BULK = "urgent", "bulk"
lane: ContextVar[str] = ContextVar("albatross_budget_lane", default=BULK)
RESERVE = 0.25  # of a bucket's tokens, that only the urgent lane may take

log = logging.getLogger(__name__)


def bucket_of(service: str, action: str, params: dict[str, list[str]]) -> tuple[str, limits.Bucket] | None:
    """The AWS bucket a request draws on (its key and figures), if Albatross budgets it."""
    if service == "elasticloadbalancing":
        return limits.elbv2_bucket(action)
    if service == "ec2":
        return limits.ec2_bucket(action, frozenset(name.split(".", 1)[0] for name in params))
    if service == "tagging":
        return action, limits.TAGGING
    return None


@dataclass(frozen=True)
class Share:
    """A bucket at Albatross's share of AWS's: tokens at most, and added per second."""

    capacity: float
    refill: float

    @classmethod
    def of(cls, spec: limits.Bucket, share: float) -> Share:
        return cls(capacity=max(1.0, spec.capacity * share), refill=spec.refill * share)

    @property
    def reserve(self) -> float:
        """Tokens a bulk caller leaves in the bucket (ADR 0017): a quarter, but never so
        much that less than one whole token is left to bulk work (a small share's bucket
        of one token would otherwise be the urgent lane's alone)."""
        return max(0.0, min(self.capacity * RESERVE, self.capacity - 1))

    @property
    def lease(self) -> int:
        """The most tokens taken at once: a quarter of the bucket, so one process cannot hold it all."""
        return max(1, min(MAX_LEASE, int(self.capacity // 4)))


@dataclass
class _Seen:
    tokens: float
    at: float
    version: int


class Ledger:
    """The buckets' items in the state table, and what this process last saw of each (so
    a take needs one write, not a read and a write)."""

    def __init__(self, table: str, dynamodb: Callable[[], Any]) -> None:
        self.table = table
        self.dynamodb = dynamodb
        self.seen: dict[str, _Seen] = {}

    def take(self, key: str, bucket: Share, *, want: int, now: float, floor: float = 0.0) -> tuple[int, float]:
        """Take up to ``want`` whole tokens at ``now``, leaving ``floor`` in the bucket:
        (how many, 0), or (0, seconds until one is due) when it holds less than one above it."""
        for _ in range(_RACES):
            seen = self.seen.get(key)
            have = (
                bucket.capacity
                if seen is None
                else min(bucket.capacity, seen.tokens + max(0.0, now - seen.at) * bucket.refill)
            )
            if have - floor < 1 - _EPSILON:
                return 0, (1 + floor - have) / bucket.refill if bucket.refill > 0 else float("inf")
            granted = min(want, int(have - floor + _EPSILON))
            stamp = now if seen is None else max(now, seen.at)
            version = 0 if seen is None else seen.version
            if self._write(key, tokens=max(0.0, have - granted), at=stamp, version=version):
                self.seen[key] = _Seen(max(0.0, have - granted), stamp, version + 1)
                return granted, 0.0
        return 0, 1 / bucket.refill if bucket.refill > 0 else float("inf")

    def _write(self, key: str, *, tokens: float, at: float, version: int) -> bool:
        """Store the bucket if nobody wrote it since ``version``; False, with what is stored
        remembered, if someone did."""
        condition = "attribute_not_exists(pk)" if version == 0 else "v = :v"
        values = {":t": {"N": repr(tokens)}, ":a": {"N": repr(at)}, ":n": {"N": str(version + 1)}}
        if version:
            values[":v"] = {"N": str(version)}
        try:
            with aws_errors():  # a DynamoDB throttle leaves as Throttled: transient
                self.dynamodb().update_item(
                    TableName=self.table,
                    Key={"pk": {"S": PK_PREFIX + key}, "sk": {"S": "#"}},
                    UpdateExpression="SET tokens = :t, #at = :a, v = :n",
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#at": "at"},
                    ExpressionAttributeValues=values,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ConditionFailed as lost:
            # the SDK's error it came from holds the item as it is now
            item: Any = getattr(lost.__cause__, "response", {}).get("Item")
            if item and "v" in item:
                self.seen[key] = _Seen(float(item["tokens"]["N"]), float(item["at"]["N"]), int(item["v"]["N"]))
            else:
                self.seen.pop(key, None)
            return False
        return True


@dataclass
class _Lease:
    tokens: int
    until: float
    size: int = 1  # the next lease's: doubled when this one was spent in time, halved when not


class Budget:
    """Albatross's share of the account's buckets, as this process spends it."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        share: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        max_wait: float,
    ) -> None:
        self.ledger = ledger
        self.share = share
        self.clock = clock  # the budget's seconds (AWS's)
        self.sleep = sleep  # sleeps that many of them
        self.max_wait = max_wait
        self.waited = 0.0  # budget seconds this process's calls waited, all told
        self.waits = 0  # calls that waited
        self._leases: dict[tuple[str, str], _Lease] = {}  # per bucket and lane: bulk never spends the reserve
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def spend(self, service: str, action: str, params: dict[str, list[str]] | None = None) -> None:
        """Take one token for the request, waiting for it if need be; :class:`Throttled`
        when none is due before the call's deadline."""
        found = bucket_of(service, action, params or {})
        if found is None:
            return
        name, spec = found
        key, bucket = f"{service}#{name}", Share.of(spec, self.share)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        start = self.clock()
        bound = deadline.get()
        until = start + self.max_wait if bound is None else bound
        serving = lane.get()
        floor = 0.0 if serving == URGENT else bucket.reserve
        while True:
            with lock:
                now = self.clock()
                lease = self._leases.get((key, serving))
                if lease is not None and lease.tokens > 0 and now < lease.until:
                    lease.tokens -= 1
                    break
                # a process that spends its leases in time takes more at once (fewer writes);
                # one whose tokens expire unspent, fewer (less of the budget wasted)
                size = 1 if lease is None else lease.size
                if lease is not None and lease.tokens > 0:
                    size = max(1, size // 2)
                elif lease is not None and lease.tokens == 0:
                    size = min(bucket.lease, size * 2)
                granted, wait = self.ledger.take(key, bucket, want=min(size, bucket.lease), now=now, floor=floor)
                if granted:
                    self._leases[(key, serving)] = _Lease(granted - 1, now + LEASE_SECONDS, size)
                    break
            if now + wait > until:
                self._record(service, name, now - start)
                raise Throttled(
                    f"the account's API budget for {service} {name} ({self.share:g} of AWS's rate) is spent: "
                    f"no token before this call's deadline ({now - start:.1f}s waited, {serving} lane); retried"
                )
            self.sleep(wait)
        self._record(service, name, now - start)

    def _record(self, service: str, name: str, waited: float) -> None:
        if waited <= 0:
            return
        with self._lock:
            self.waited += waited
            self.waits += 1
        _emit_wait(waited * 1000, bucket=f"{service} {name}")

    def hook(self, request: Any, event_name: str, **_: Any) -> None:
        """botocore's ``before-send``: spend for each request on the wire (retries too)."""
        _event, service_id, action = [*event_name.split(".", 2), "", ""][:3]
        service = _SERVICES.get(service_id)
        if service is None:
            return
        params: dict[str, list[str]] = {}
        if service == "ec2":  # EC2's bucket depends on the request's filters and ids
            body = request.body or b""
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
            params = urllib.parse.parse_qs(text)
        self.spend(service, action, params)


def _emit_wait(milliseconds: float, *, bucket: str) -> None:
    """``ApiBudgetWait`` in CloudWatch's embedded metric format (one log line), so no
    handler has to carry the budget's metrics."""
    log.info("waited for the API budget", extra={"bucket": bucket, "waited_ms": round(milliseconds)})
    if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true":
        return
    service = os.environ.get("POWERTOOLS_SERVICE_NAME", "albatross")
    document = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": "Albatross",
                    "Dimensions": [["service"]],
                    "Metrics": [{"Name": "ApiBudgetWait", "Unit": "Milliseconds"}],
                }
            ],
        },
        "service": service,
        "bucket": bucket,
        "ApiBudgetWait": round(milliseconds, 1),
    }
    print(json.dumps(document), flush=True)  # EMF: Lambda's stdout is the metric's channel


def _second() -> float:
    """One second of the budget's clock, in wall seconds (the environment's)."""
    try:
        return float(os.environ.get(ENV_CLOCK) or 1.0)
    except ValueError:
        return 1.0


@contextmanager
def bounded(remaining_seconds: float) -> Iterator[None]:
    """Every budget wait in this context ends by ``remaining_seconds`` (wall seconds from
    now: a Lambda's remaining time less what it needs to finish), instead of the per-call
    bound: a record waits in line rather than giving up and redoing its reads (ADR 0017)."""
    second = _second()
    token = deadline.set(time.time() / second + max(0.0, remaining_seconds) / second)
    try:
        yield
    finally:
        deadline.reset(token)


@contextmanager
def in_lane(name: str) -> Iterator[None]:
    """The calls in this context serve ``name`` (:data:`URGENT` or :data:`BULK`)."""
    token = lane.set(name)
    try:
        yield
    finally:
        lane.reset(token)


def from_env(dynamodb: Callable[[], Any]) -> Budget | None:
    """The budget the function's environment sets (None: no share, or no state table)."""
    env = os.environ
    try:
        share = float(env.get(ENV_SHARE) or 0)
    except ValueError:
        return None
    table = env.get(ENV_TABLE, "")
    if share <= 0 or not table:
        return None
    second = _second()
    return Budget(
        ledger=Ledger(table, dynamodb),
        share=min(share, 1.0),
        clock=lambda: time.time() / second,
        sleep=lambda seconds: time.sleep(seconds * second),
        max_wait=float(env.get(ENV_WAIT) or DEFAULT_WAIT) / second,
    )
