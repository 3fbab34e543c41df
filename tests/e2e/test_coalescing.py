"""Twenty changes to one group arriving together cost at most two reconciles (one for
those stored before it started, one for the rest). That the group's reconciles never
overlap is SQS FIFO's guarantee (one message group per IngressGroup: a message is not
delivered while an earlier one of its group is in flight)."""

from __future__ import annotations

import time
from pathlib import Path

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
    # twenty newer versions of the Ingress, as the forwarder would send them
    entries = [ingress_entry(system, obj, base + 1000 + i) for i in range(1, 21)]
    ingest = str(system.cloud.deployment.rule_routes[0].function)
    reconcile = str(system.cloud.deployment.queue_routes[0].function)
    before = system.dispatcher.invocations[ingest]
    reconciles_before = system.dispatcher.invocations[reconcile]
    counter = CallCounter()
    try:
        for i in range(0, 20, 10):
            clients.events().put_events(Entries=entries[i : i + 10])  # type: ignore[arg-type]  # entry dicts
        system.wait_for("twenty ingests", lambda: system.dispatcher.invocations[ingest] >= before + 20)
        # the request waits out the queue's 1 s delay: wait for its reconcile, then for quiet
        system.wait_for("a reconcile", lambda: system.dispatcher.invocations[reconcile] > reconciles_before)
        time.sleep(1.5)
        system.wait_for("the queue to drain", lambda: work_queue_idle(system))
        calls = counter.snapshot()
    finally:
        counter.close()
    # each reconcile of this group reads its load balancer once, by ARN (the stack index)
    reconciles = calls[("elasticloadbalancing", "DescribeLoadBalancers")]
    assert 1 <= reconciles <= 2, calls
    assert CallCounter.mutating(calls) == 0
