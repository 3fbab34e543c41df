"""Twenty changes to one group arriving together cost at most two reconciles (one for
those stored before it started, one for the rest). That the group's reconciles never
overlap is SQS FIFO's guarantee (one message group per IngressGroup: a message is not
delivered while an earlier one of its group is in flight)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import utils

from albatross.aws import clients
from albatross.aws.calls import CallCounter
from albatross.local.demo import ingress_hostname
from albatross.local.system import LocalSystem
from tests.e2e.test_slice import work_queue_idle

ROOT = Path(__file__).resolve().parents[2]
NS = NAME = "game-2048"


def test_twenty_events_for_one_group_cost_at_most_two_reconciles(system: LocalSystem) -> None:
    utils.create_from_yaml(system.api(), str(ROOT / "examples/2048/2048.yaml"))  # type: ignore[no-untyped-call]  # untyped in the client
    system.wait_for("the address", lambda: ingress_hostname(system, NS, NAME))
    system.wait_for("the queue to drain", lambda: work_queue_idle(system))
    obj: dict[str, Any] = system.api().sanitize_for_serialization(  # type: ignore[no-untyped-call]  # untyped
        k8s.NetworkingV1Api(system.api()).read_namespaced_ingress(NAME, NS)
    )
    base = int(obj["metadata"]["resourceVersion"])
    entries = []
    for i in range(1, 21):  # twenty newer versions of the Ingress, as the forwarder would send them
        version = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(base + 1000 + i)}}
        detail = {
            "schemaVersion": "1",
            "cluster": system.cluster,
            "kind": "Ingress",
            "action": "upsert",
            "key": f"{NS}/{NAME}",
            "resourceVersion": str(base + 1000 + i),
            "object": version,
        }
        entries.append(
            {
                "EventBusName": str(system.output("EventBusName")),
                "Source": "albatross.k8s",
                "DetailType": "Ingress",
                "Detail": json.dumps(detail),
            }
        )
    ingest = str(system.cloud.deployment.rule_routes[0].function)
    before = system.dispatcher.invocations[ingest]
    counter = CallCounter()
    try:
        for i in range(0, 20, 10):
            clients.events().put_events(Entries=entries[i : i + 10])  # type: ignore[arg-type]  # entry dicts
        system.wait_for("twenty ingests", lambda: system.dispatcher.invocations[ingest] >= before + 20)
        system.wait_for("the queue to drain", lambda: work_queue_idle(system))
        calls = counter.snapshot()
    finally:
        counter.close()
    # each reconcile of this group reads its load balancer once, by ARN (the stack index)
    reconciles = calls[("elasticloadbalancing", "DescribeLoadBalancers")]
    assert 1 <= reconciles <= 2, calls
    assert CallCounter.mutating(calls) == 0
