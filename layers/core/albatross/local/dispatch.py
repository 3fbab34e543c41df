"""Deliver what moto does not: EventBridge rules to Lambda (through the tap queues the
local deployer made, so moto's own pattern matcher decides what matches) and SQS event
source mappings to Lambda, with AWS's semantics: a failed invocation leaves its messages
to come back after the visibility timeout (and into the DLQ after maxReceiveCount); a
partial batch response deletes only the records that succeeded.

A rule invokes its Lambda target as EventBridge does, asynchronously: each event is one
invocation, several run at once (up to the function's reserved concurrency, else
:data:`UNRESERVED_RULE_INVOCATIONS`), in no guaranteed order. One poller waits on the
rule's tap queue and each event it takes starts another, as for a queue below.

An event source mapping drains its queue in parallel, as Lambda's pollers do: one poller
waits on the queue, and each batch it receives starts another (up to the route's
concurrency, :attr:`QueueRoute.concurrency`); a poller that finds the queue empty goes.
The function's reserved concurrency is shared by all of its queues: a batch received
beyond it waits for a running invocation to end (on AWS the invocation is throttled and
the mapping retries it; either way its messages stay in flight). On a FIFO queue SQS
serves a message group to one receiver at a time (:mod:`albatross.local.mends` makes
moto do so under concurrent receivers), so one IngressGroup's batches never overlap
while different groups' run side by side.

Each invocation is waited for as long as Lambda lets a function run
(:data:`INVOKE_READ_TIMEOUT`): an event source mapping never invokes a batch again while
it runs (a connection that failed before anything ran is tried again). A short read
timeout, retried, would send a slow batch again and again, each copy running beside
the first, with the same messages.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.config import Config

from albatross.aws import clients
from albatross.local.cloud import ACCOUNT, REGION, Deployment, QueueRoute, RuleRoute

log = logging.getLogger("albatross.local.dispatch")

# How often a poller waiting for an invocation slot, or on a held queue, looks again.
_LOOK = 0.05
# How long a rule's event stays taken while its delivery waits for a slot and runs:
# Lambda's longest timeout (a delivery that ends deletes it or sets its retry delay).
_TAKEN = 900
# How long an invocation is waited for: Lambda's longest function timeout (900 s, the
# Lambda quotas page), and a minute more for the runtime around it.
INVOKE_READ_TIMEOUT = 900 + 60
# A rule target's invocations at once when its function reserves no concurrency. On AWS
# that is the account's unreserved concurrency (1,000 by default); here every handler
# runs in this one process, so a handful is as concurrent as it gets.
UNRESERVED_RULE_INVOCATIONS = 10

# the shared clients' retries (a refused or reset connection is sent again: nothing ran),
# and a read that outlasts any function: a slow invocation is waited for, never sent again
INVOKER = Config(read_timeout=INVOKE_READ_TIMEOUT)

Route = QueueRoute | RuleRoute


class Dispatcher:
    def __init__(self, deployment: Deployment, *, wait_seconds: int = 1) -> None:
        self.deployment = deployment
        self.wait_seconds = wait_seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._lock = threading.Lock()
        self.invocations: dict[str, int] = {}
        self._invoker: Any = None  # made at the first invocation (the local endpoint is known by then)
        # What becomes of each event a rule delivers: the events to deliver now, in order
        # (none: dropped or held back; twice: duplicated). None: each is delivered once.
        # Tests and the chaos benchmark set it (albatross.local.chaos.BusChaos).
        self.deliveries: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None
        self._held: set[str] = set()  # functions whose queue is not polled for now (holding)
        # Invocation slots per function: its reserved concurrency, shared by its queues and rules.
        self._slots = {
            f: threading.BoundedSemaphore(n) for f, n in deployment.concurrency.items() if f in _consumers(deployment)
        }
        self._pollers: dict[Route, int] = {}  # pollers running per route
        self.peak: dict[str, int] = {}  # most invocations of a function at once from its queues and rules
        self._running: dict[str, int] = {}

    def start(self) -> None:
        routes: list[Route] = [*self.deployment.rule_routes, *self.deployment.queue_routes]
        for route in routes:
            self._grow(route, lead=True)

    def _spawn(self, name: str, loop: Callable[[], None]) -> None:
        # the "dispatch-" prefix: the benchmark's call counter leaves these threads' calls out
        t = threading.Thread(target=loop, name=name, daemon=True)
        with self._lock:
            self._threads = [x for x in self._threads if x.is_alive()]
            self._threads.append(t)
        t.start()

    def concurrency(self, route: Route) -> int:
        """Invocations at once from ``route``: a queue's from its mapping; a rule's, the
        target function's reserved concurrency, else :data:`UNRESERVED_RULE_INVOCATIONS`."""
        if isinstance(route, QueueRoute):
            return route.concurrency
        return self.deployment.concurrency.get(route.function, UNRESERVED_RULE_INVOCATIONS)

    def _grow(self, route: Route, *, lead: bool = False) -> None:
        """Another poller on ``route``, unless it has as many as its concurrency."""
        with self._lock:
            if self._stop.is_set() or (not lead and self._pollers.get(route, 0) >= self.concurrency(route)):
                return
            self._pollers[route] = n = self._pollers.get(route, 0) + 1
        self._spawn(f"dispatch-{route.function}-{n}", lambda: self._poll(route, lead=lead))

    def stop(self) -> None:
        self._stop.set()
        while True:
            with self._lock:
                alive = [t for t in self._threads if t.is_alive()]
            if not alive:
                return
            for t in alive:
                t.join(timeout=self.wait_seconds + 5)
                if t.is_alive():
                    return  # stuck in an invocation: daemon threads, left behind as before

    @contextmanager
    def holding(self, function: str) -> Iterator[None]:
        """While inside, ``function``'s queues and rules are not polled (as when its event
        source mapping is slow to scale up): what arrives waits in the queue, then is delivered
        as usual. A receive already under way finishes first."""
        with self._lock:
            self._held.add(function)
        try:
            yield
        finally:
            with self._lock:
                self._held.discard(function)

    def _holds(self, function: str) -> bool:
        with self._lock:
            return function in self._held

    def fire(self, schedule: str) -> Any:
        """Run an EventBridge Scheduler schedule's target now (schedules are not timed
        locally); returns the function's result, raising if it failed."""
        function = self.deployment.schedules[schedule]
        ok, payload = self._invoke(function, {"id": f"local-{schedule}-{time.time_ns()}", "schedule": schedule})
        if not ok:
            raise RuntimeError(f"{schedule} failed: {payload}")
        return payload

    def invoker(self) -> Any:
        """The Lambda client invocations go through: its own, waited for as long as the
        function may run (:data:`INVOKER`)."""
        with self._lock:
            if self._invoker is None:
                self._invoker = clients.separate("lambda", config=INVOKER)
            return self._invoker

    def _invoke(self, function: str, event: Any) -> tuple[bool, Any]:
        with self._lock:
            self._busy += 1
            self.invocations[function] = self.invocations.get(function, 0) + 1
        try:
            resp = self.invoker().invoke(FunctionName=function, Payload=json.dumps(event).encode())
            payload = json.loads(resp["Payload"].read() or b"null")
            ok = "FunctionError" not in resp
            if not ok:
                error = payload if isinstance(payload, dict) else {}
                log.warning("%s failed: %s: %s", function, error.get("errorType"), str(error.get("errorMessage"))[:300])
            return ok, payload
        finally:
            with self._lock:
                self._busy -= 1

    def _receive(self, url: str, count: int) -> list[dict[str, Any]]:
        resp = clients.sqs().receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(count, 10),
            WaitTimeSeconds=self.wait_seconds,
            MessageSystemAttributeNames=["All"],
        )
        return list(resp.get("Messages", []))  # type: ignore[arg-type]  # message dicts

    def _poll(self, route: Route, *, lead: bool) -> None:
        """Receive and invoke until stopped; a poller other than the lead goes when the
        queue has nothing for it (Lambda scales its pollers down as the backlog goes)."""
        # a rule's event is an invocation of its own: one per receive, so each event
        # waiting starts a poller of its own
        count = 1 if isinstance(route, RuleRoute) else route.batch_size
        try:
            while not self._stop.is_set():
                if self._holds(route.function):
                    self._stop.wait(_LOOK)
                    continue
                try:
                    messages = self._receive(route.queue_url, count)
                    if not messages:
                        if lead:
                            continue
                        return
                    with self._lock:
                        self._busy += 1  # from receipt on: its messages are in hand
                    try:
                        self._grow(route)  # more may be waiting: another poller looks
                        if isinstance(route, RuleRoute):
                            self._deliver_event(route, messages[0])
                        else:
                            self._deliver(route, messages)
                    finally:
                        with self._lock:
                            self._busy -= 1
                except Exception:  # keep delivering; the next receive retries
                    if not self._stop.is_set():
                        log.exception("dispatch to %s failed", route.function)
                        time.sleep(0.2)
        finally:
            with self._lock:
                self._pollers[route] -= 1

    def _deliver_event(self, route: RuleRoute, message: dict[str, Any]) -> None:
        """One event of a rule: what :attr:`deliveries` makes of it, each invoked; the
        tap queue's message is deleted once every one succeeded (else it comes back after
        the retry delay). While it waits for the function's concurrency and runs, it stays
        taken: EventBridge counts a failed invocation as a retry, not a slow or queued one."""
        sqs, receipt = clients.sqs(), message["ReceiptHandle"]
        sqs.change_message_visibility(QueueUrl=route.queue_url, ReceiptHandle=receipt, VisibilityTimeout=_TAKEN)
        event = _envelope(json.loads(message["Body"]))
        deliveries = self.deliveries
        results = []
        for e in deliveries(event) if deliveries else [event]:
            with self._slot(route.function) as got:
                if not got:
                    return  # stopping: the message comes back after its visibility timeout
                results.append(self._invoke(route.function, e)[0])
        if all(results):  # every delivery invoked, even after one failed
            sqs.delete_message(QueueUrl=route.queue_url, ReceiptHandle=receipt)
        else:
            sqs.change_message_visibility(
                QueueUrl=route.queue_url, ReceiptHandle=receipt, VisibilityTimeout=route.retry_seconds
            )

    def _deliver(self, route: QueueRoute, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [sqs_record(m, route.queue_arn) for m in messages]}
        with self._slot(route.function) as got:
            if not got:
                return  # stopping: the messages come back after their visibility timeout
            ok, payload = self._invoke(route.function, event)
        if not ok:
            return
        failed = set()
        if route.partial and isinstance(payload, dict):
            failed = {f["itemIdentifier"] for f in payload.get("batchItemFailures", [])}
        for m in messages:
            if m["MessageId"] not in failed:
                clients.sqs().delete_message(QueueUrl=route.queue_url, ReceiptHandle=m["ReceiptHandle"])

    @contextmanager
    def _slot(self, function: str) -> Iterator[bool]:
        """One of ``function``'s reserved concurrency, waited for (False: stopped first)."""
        slots = self._slots.get(function)
        while slots is not None and not slots.acquire(timeout=_LOOK):
            if self._stop.is_set():
                yield False
                return
        with self._lock:
            self._running[function] = running = self._running.get(function, 0) + 1
            self.peak[function] = max(self.peak.get(function, 0), running)
        try:
            yield True
        finally:
            with self._lock:
                self._running[function] -= 1
            if slots is not None:
                slots.release()

    def busy(self) -> bool:
        with self._lock:
            return self._busy > 0


def _consumers(deployment: Deployment) -> set[str]:
    routes: list[Route] = [*deployment.queue_routes, *deployment.rule_routes]
    return {r.function for r in routes}


def _envelope(event: dict[str, Any]) -> dict[str, Any]:
    """moto's copy of an event delivered to SQS lacks some fields AWS always sets."""
    return {"version": "0", "account": ACCOUNT, "region": REGION, "resources": [], **event}


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """A received SQS message as an event source mapping hands it to Lambda (system
    attributes under ``attributes``)."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
