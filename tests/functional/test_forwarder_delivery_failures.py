"""When the forwarder cannot deliver, the user sees it where they look (issue 17): PutEvents
refusing every entry (AccessDeniedException per entry, as EventBridge answers an IAM
denial) or the whole call (UnrecognizedClientException: the credentials are wrong) puts
one FailedDeliverEvents Warning on each Ingress whose changes were lost (its own, or its
Service's), not on Ingresses of another class, and no second one within the interval;
/readyz fails while it lasts, /metrics shows it, and both recover once EventBridge
accepts again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from kubernetes import client as k8s

from albatross.aws import clients
from albatross.local import faults
from albatross_forwarder.delivery import REASON
from tests.functional.forwarding import NS, Bus, Forwarders, create_ingress, ingress, metric, wait_for
from tests.functional.test_forwarder_runtime import get
from tests.k8s_typing import body, must

DENIED = "User: arn:aws:sts::123456789012:assumed-role/forwarder/x is not authorized to perform: events:PutEvents"


def _denied_per_entry(request: Any, **_: Any) -> AWSResponse:
    """PutEvents answering 200 with every entry refused, as EventBridge reports a denial
    for the bus in the request's entries (PutEventsResultEntry: AccessDeniedException)."""
    entries = json.loads(request.body)["Entries"]
    answer = {
        "FailedEntryCount": len(entries),
        "Entries": [{"ErrorCode": "AccessDeniedException", "ErrorMessage": DENIED} for _ in entries],
    }
    return faults.wire_response(200, json.dumps(answer).encode(), {"Content-Type": "application/x-amz-json-1.1"})


@contextmanager
def refusing(failure: str) -> Iterator[str]:
    """PutEvents refused, the way AWS refuses it; yields the reason the Warning names."""
    if failure == "denied":
        clients.add_hook("before-send.eventbridge.PutEvents", _denied_per_entry, unique_id="test-denied")
        try:
            yield "AccessDeniedException"
        finally:
            clients.remove_hook("test-denied")
        return
    invalid = "The security token included in the request is invalid."
    with faults.inject(
        faults.Fault("events", "PutEvents", "UnrecognizedClientException", invalid, times=10**6, wire=True)
    ):
        yield "UnrecognizedClientException"


def warnings(api: k8s.ApiClient, name: str) -> list[k8s.CoreV1Event]:
    return [
        e
        for e in k8s.CoreV1Api(api).list_namespaced_event(NS).items
        if e.involved_object.name == name and e.reason == REASON
    ]


@pytest.mark.parametrize("failure", ["denied", "credentials"])
def test_undelivered_changes_warn_their_ingresses_and_fail_readiness_until_sends_succeed(
    forwarders: Forwarders, failure: str
) -> None:
    api = forwarders.api()
    core, net = k8s.CoreV1Api(api), k8s.NetworkingV1Api(api)
    core.create_namespaced_service(NS, body({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}))
    create_ingress(api, "a")
    create_ingress(api, "b")
    other = ingress("c")
    other["spec"]["ingressClassName"] = "nginx"
    net.create_namespaced_ingress(NS, body(other))
    bus = Bus("a")
    with refusing(failure) as reason:
        # a lease a loaded machine cannot lose; Warnings at most once an hour (no second
        # within this test); unready as soon as a call fails
        forwarder = forwarders.make(
            bus,
            start=False,
            health_port=0,
            health_address="127.0.0.1",
            lease_duration=60,
            unready_after_failing=0.001,
            delivery_warning_interval=3600,
        )
        forwarder.sender.max_attempts = 2  # give up after two tries, not eight
        forwarder.start()
        wait_for("the Warnings on a and b", lambda: warnings(api, "a") and warnings(api, "b"), timeout=30)
        [event] = warnings(api, "a")
        assert event.type == "Warning"
        message = must(event.message)
        assert f"({reason})" in message
        assert bus.name in message
        assert event.involved_object.uid == must(net.read_namespaced_ingress("a", NS).metadata).uid
        assert warnings(api, "c") == []  # not ours: never told

        wait_for("/readyz failing", lambda: get(forwarder, "/readyz")[0] == 503)
        text = get(forwarder, "/readyz")[1]
        assert text.startswith("delivery to EventBridge failing for ")
        assert reason in text
        assert metric(forwarder, "delivery_failing_seconds") > 0
        assert metric(forwarder, "events_failed_total") > 0

        # a later change of a is lost too: counted for the next Warning, not told now
        net.patch_namespaced_ingress("a", NS, {"metadata": {"annotations": {"touched": "1"}}})
        wait_for("a's later loss counted", lambda: forwarder.delivery.pending().get(f"{NS}/a", 0) >= 1)
        [again] = warnings(api, "a")
        assert (must(again.metadata).name, again.count) == (must(event.metadata).name, 1)
        assert metric(forwarder, "delivery_warnings_total") == 2
        assert bus.changes("Ingress") == []

    # EventBridge accepts again: the next change goes out and readiness recovers
    net.patch_namespaced_ingress("a", NS, {"metadata": {"annotations": {"touched": "2"}}})
    wait_for("a's change on the bus", lambda: bus.changes("Ingress"), timeout=30)
    wait_for("/readyz recovered", lambda: get(forwarder, "/readyz") == (200, "leader, synced\n"))
    assert metric(forwarder, "delivery_failing_seconds") == 0
