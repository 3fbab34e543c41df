"""Delivery failures, in pure code: the sender tells how long PutEvents has accepted
nothing and hands over what it gave up, with AWS's reason; the Warnings on Ingresses are
rate-limited per Ingress and count what was lost since the last one."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from albatross_forwarder.delivery import DeliveryWarnings
from albatross_forwarder.sender import Sender


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Unreachable:
    """An EventBridge endpoint that cannot be reached, until ``up``; botocore raises
    EndpointConnectionError once its own retries are spent."""

    def __init__(self) -> None:
        self.up = False
        self.calls = 0

    def put_events(self, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803  # boto3's name
        self.calls += 1
        if not self.up:
            raise EndpointConnectionError(endpoint_url="https://events.us-east-1.amazonaws.com/")
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(i)} for i in range(len(Entries))]}


def test_the_sender_tells_how_long_delivery_has_failed_and_what_it_gave_up() -> None:
    clock, bus = Clock(), Unreachable()
    given_up: list[tuple[list[str], str]] = []
    sender = Sender(
        events_client=bus,
        bus_name="b",
        max_attempts=1,
        clock=clock,
        on_failed=lambda entries, reason: given_up.append(([json.loads(e["Detail"])["key"] for e in entries], reason)),
    )
    assert sender.failing_for() == 0  # nothing sent yet: nothing failing
    sender.submit({"kind": "Ingress", "key": "shop/web"})
    sender._send([sender._queue.get()[1]])  # the sending thread's step, run here
    assert given_up == [(["shop/web"], "EndpointConnectionError")]
    assert (sender.sent, sender.dropped, sender.last_error) == (0, 1, "EndpointConnectionError")
    clock.now += 90
    assert sender.failing_for() == 90  # since the first failed call
    sender.submit({"kind": "Ingress", "key": "shop/api"})
    sender._send([sender._queue.get()[1]])
    assert sender.failing_for() == 90  # still the first failure's time: failing for longer
    bus.up = True
    sender.submit({"kind": "Ingress", "key": "shop/api"})
    sender._send([sender._queue.get()[1]])
    assert (sender.failing_for(), sender.last_error, sender.sent) == (0, "", 1)  # accepted: delivery works


def test_an_entry_refused_while_others_go_through_is_given_up_but_delivery_is_not_failing() -> None:
    class OneRefused:
        def put_events(self, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803  # boto3's name
            return {
                "FailedEntryCount": 1,
                "Entries": [{"ErrorCode": "MalformedDetail", "ErrorMessage": "bad"}, {"EventId": "1"}],
            }

    given_up: list[str] = []
    sender = Sender(events_client=OneRefused(), bus_name="b", on_failed=lambda e, reason: given_up.append(reason))
    sender.submit({"kind": "Ingress", "key": "a/a"})
    sender.submit({"kind": "Ingress", "key": "a/b"})
    sender._send([sender._queue.get()[1], sender._queue.get()[1]])
    assert given_up == ["MalformedDetail"]
    assert sender.failing_for() == 0


@pytest.fixture
def warnings() -> tuple[DeliveryWarnings, list[tuple[str, str]], Clock]:
    clock, recorded = Clock(), []

    def record(ingress: str, message: str) -> bool:
        if ingress.endswith("/gone"):
            return False
        recorded.append((ingress, message))
        return True

    return DeliveryWarnings(record=record, bus="albatross-c", interval=300, clock=clock), recorded, clock


def test_one_warning_per_ingress_per_interval_counting_what_was_lost(
    warnings: tuple[DeliveryWarnings, list[tuple[str, str]], Clock],
) -> None:
    delivery, recorded, clock = warnings
    delivery.failed(["shop/web", "shop/api"], "AccessDeniedException")
    assert delivery.flush() == 2  # the first failure of each is told at once
    assert [i for i, _ in recorded] == ["shop/api", "shop/web"]
    assert recorded[1][1].startswith("1 change of this Ingress or of its Services could not be delivered")
    assert "albatross-c" in recorded[1][1]
    assert "(AccessDeniedException)" in recorded[1][1]

    delivery.failed(["shop/web"], "AccessDeniedException")
    delivery.failed(["shop/web"], "UnrecognizedClientException")
    clock.now += 299
    assert delivery.flush() == 0  # within the interval: held, and counted
    assert delivery.pending() == {"shop/web": 2}
    clock.now += 1
    assert delivery.flush() == 1
    assert recorded[-1][0] == "shop/web"
    assert recorded[-1][1].startswith("2 changes of this Ingress")
    assert "(UnrecognizedClientException)" in recorded[-1][1]  # the latest reason
    assert delivery.recorded == 3


def test_a_gone_ingress_is_not_counted_and_a_refused_record_is_tried_again(
    warnings: tuple[DeliveryWarnings, list[tuple[str, str]], Clock],
) -> None:
    delivery, recorded, _ = warnings
    delivery.failed(["shop/gone"], "AccessDeniedException")
    assert delivery.flush() == 0
    assert (delivery.pending(), recorded, delivery.recorded) == ({}, [], 0)
    assert "shop/gone" not in delivery._last  # nothing kept of an Ingress that is gone

    calls = []

    def refused(ingress: str, message: str) -> bool:
        calls.append(ingress)
        if len(calls) == 1:
            raise RuntimeError("the API server is unreachable too")
        return True

    delivery.record = refused
    delivery.failed(["shop/web"], "AccessDeniedException")
    assert delivery.flush() == 0
    assert delivery.pending() == {"shop/web": 1}  # kept, and not rate-limited by the failed try
    assert delivery.flush() == 1
