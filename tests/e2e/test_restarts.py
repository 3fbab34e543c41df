"""Restarts and crashes cost nothing: a new forwarder (no memory) re-sends what it lists
and nothing is reconciled; a reconcile that dies halfway (AWS throttling past botocore's
retries) is delivered again by the work queue and converges; events that arrive out of
order leave the newest state."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from albatross.aws import clients
from albatross.aws.calls import CallCounter
from albatross.local.faults import Fault, inject
from albatross.local.system import LocalSystem
from tests.e2e.test_slice import ingress_entry, ingress_object, ready_2048, work_queue_idle

ROOT = Path(__file__).resolve().parents[2]
NS = NAME = "game-2048"


def rules() -> list[list[str]]:
    elbv2 = clients.elbv2()
    [lb] = elbv2.describe_load_balancers()["LoadBalancers"]
    [listener] = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    found = sorted(
        (r for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"] if not r["IsDefault"]),
        key=lambda r: int(r["Priority"]),
    )
    return [r["Conditions"][0]["PathPatternConfig"]["Values"][:1] for r in found]


def test_a_restarted_forwarder_causes_no_reconcile(system: LocalSystem) -> None:
    ready_2048(system)
    reconcile = system.function("ReconcileFunction")
    ingest = system.function("IngestFunction")
    reconciles, ingests = system.dispatcher.invocations[reconcile], system.dispatcher.invocations[ingest]
    counter = CallCounter()
    try:
        system.restart_forwarder()
        # it lists every kind again and sends a Resync: more than a handful of events
        system.wait_for("the new forwarder's events", lambda: system.dispatcher.invocations[ingest] >= ingests + 5)
        time.sleep(2)
        system.wait_for("the queue to drain", lambda: work_queue_idle(system))
        calls = counter.snapshot()
    finally:
        counter.close()
    assert system.dispatcher.invocations[reconcile] == reconciles
    assert CallCounter.mutating(calls) + CallCounter.reads(calls) == 0, calls


def test_a_reconcile_that_dies_is_delivered_again_and_converges(system: LocalSystem) -> None:
    ready_2048(system)
    backend = {"service": {"name": NAME, "port": {"number": 80}}}
    paths = [
        {"path": "/", "pathType": "Prefix", "backend": backend},
        {"path": "/new", "pathType": "Prefix", "backend": backend},
    ]
    # throttled past botocore's 5 retries, once: the reconcile raises Throttled
    throttled = Fault("elasticloadbalancing", "CreateRule", "Throttling", "Rate exceeded", times=6, wire=True)
    with inject(throttled):
        k8s.NetworkingV1Api(system.api()).patch_namespaced_ingress(
            NAME, NS, {"spec": {"rules": [{"http": {"paths": paths}}]}}
        )
        system.wait_for("the rule, on a later delivery", lambda: rules() == [["/new"], ["/*"]], timeout=90)
    assert throttled.raised == 6
    assert throttled.calls == 7


def test_events_out_of_order_leave_the_newest_state(system: LocalSystem) -> None:
    ready_2048(system)
    obj = ingress_object(system)
    rv = int(obj["metadata"]["resourceVersion"])

    def event(version: int, path: str) -> dict[str, Any]:
        changed = json.loads(json.dumps(obj))
        changed["spec"]["rules"][0]["http"]["paths"][0]["path"] = path
        return ingress_entry(system, changed, version)

    # the newest first, then an older one (EventBridge does not order)
    clients.events().put_events(Entries=[event(rv + 200, "/newest")])  # type: ignore[list-item]  # entry dicts
    clients.events().put_events(Entries=[event(rv + 100, "/older")])  # type: ignore[list-item]  # entry dicts
    system.wait_for("the newest path", lambda: rules() == [["/newest"]])
    time.sleep(2)
    system.wait_for("the queue to drain", lambda: work_queue_idle(system))
    assert rules() == [["/newest"]]
