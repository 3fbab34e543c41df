"""Twenty changes to one group stored before its reconcile starts are served by one
reconcile: a request already queued and not yet started is not queued again. The test
allows one more, for what else reaches the group meanwhile (the forwarder keeps running
and sends what it sees). That the group's reconciles never overlap is SQS FIFO's
guarantee: one message group per IngressGroup, a message is not delivered while an
earlier one of its group is in flight. The reconcile function's queue is held until the
twenty are stored, so a slow machine cannot spread them over more reconciles' time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from albatross.aws import clients
from albatross.aws.calls import CallCounter
from albatross.local.system import LocalSystem
from tests.e2e.test_slice import ingress_entry, ingress_object, ready_2048, work_queue_idle

ROOT = Path(__file__).resolve().parents[2]
NS = NAME = "game-2048"


def test_twenty_events_for_one_group_cost_at_most_two_reconciles(system: LocalSystem) -> None:
    ready_2048(system)
    obj = ingress_object(system)
    base = int(obj["metadata"]["resourceVersion"])
    # twenty newer versions of the Ingress, as the forwarder would send them: each a user's
    # edit (an annotation that is not Albatross's: it builds the same model)
    entries = [ingress_entry(system, edited(obj, i), base + 1000 + i) for i in range(1, 21)]
    ingest = system.function("IngestFunction")
    reconcile = system.function("ReconcileFunction")
    before = system.dispatcher.invocations[ingest]
    reconciles_before = system.dispatcher.invocations[reconcile]
    counter = CallCounter()
    try:
        with system.dispatcher.holding(reconcile):
            for i in range(0, 20, 10):
                clients.events().put_events(Entries=entries[i : i + 10])  # type: ignore[arg-type]  # entry dicts
            system.wait_for("twenty ingests", lambda: system.dispatcher.invocations[ingest] >= before + 20)
        system.wait_for("a reconcile", lambda: system.dispatcher.invocations[reconcile] > reconciles_before)
        system.wait_for("the queue to drain", lambda: work_queue_idle(system))
        calls = counter.snapshot()
    finally:
        counter.close()
    # the versions' content is 2048's as applied: each reconcile finds the model it
    # applied and reads nothing from AWS (issue 16; it read the load balancer by ARN)
    reconciles = system.dispatcher.invocations[reconcile] - reconciles_before
    assert 1 <= reconciles <= 2
    assert CallCounter.reads(calls) == 0, calls
    assert CallCounter.mutating(calls) == 0


def edited(obj: dict[str, Any], n: int) -> dict[str, Any]:
    meta = obj["metadata"]
    return {**obj, "metadata": {**meta, "annotations": {**(meta.get("annotations") or {}), "example.com/edit": str(n)}}}
