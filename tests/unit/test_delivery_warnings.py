"""Delivery failures, in pure code: the sender tells how long PutEvents has accepted
nothing and hands over what it gave up, with AWS's reason; the Warnings on Ingresses are
rate-limited per Ingress and count what was lost since the last one."""

from __future__ import annotations

import json
from typing import Any

import pytest
import urllib3
from botocore.exceptions import EndpointConnectionError
from kubernetes.client.exceptions import ApiException

from albatross_forwarder.delivery import BACKOFF, DeliveryWarnings
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
    delivery, recorded, clock = warnings
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
    assert delivery.pending() == {"shop/web": 1}  # kept, and not rate-limited by the interval
    clock.now += BACKOFF
    assert delivery.flush() == 1


def test_a_call_that_refuses_every_entry_is_given_up_once_with_the_count(caplog: pytest.LogCaptureFixture) -> None:
    """PutEvents answers 200 with each entry's ErrorCode (PutEventsResultEntry); an IAM
    denial refuses all ten of a batch: one give-up (one delivery-warning update), one
    log line counting them, every entry counted as dropped."""

    class Denied:
        def put_events(self, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803  # boto3's name
            failed = [{"ErrorCode": "AccessDeniedException", "ErrorMessage": "denied"} for _ in Entries]
            return {"FailedEntryCount": len(Entries), "Entries": failed}

    given_up: list[tuple[list[str], str]] = []
    sender = Sender(
        events_client=Denied(),
        bus_name="b",
        on_failed=lambda entries, reason: given_up.append(([json.loads(e["Detail"])["key"] for e in entries], reason)),
    )
    keys = [f"shop/web-{i}" for i in range(10)]
    for key in keys:
        sender.submit({"kind": "Ingress", "key": key})
    with caplog.at_level("ERROR", logger="albatross.forwarder.sender"):
        sender._send([sender._queue.get()[1] for _ in keys])
    assert given_up == [(keys, "AccessDeniedException")]
    assert sender.dropped == 10
    [line] = [r.getMessage() for r in caplog.records if r.name == "albatross.forwarder.sender"]
    assert line == "entries rejected, not sent: 10 (AccessDeniedException)"


def test_entries_refused_for_different_reasons_in_one_call_are_one_give_up_naming_each() -> None:
    class Mixed:
        def put_events(self, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803  # boto3's name
            codes = ["MalformedDetail", "AccessDeniedException", None]
            return {
                "FailedEntryCount": 2,
                "Entries": [{"ErrorCode": c, "ErrorMessage": "x"} if c else {"EventId": "1"} for c in codes],
            }

    given_up: list[tuple[int, str]] = []
    sender = Sender(events_client=Mixed(), bus_name="b", on_failed=lambda e, r: given_up.append((len(e), r)))
    for key in ("a/a", "a/b", "a/c"):
        sender.submit({"kind": "Ingress", "key": key})
    sender._send([sender._queue.get()[1] for _ in range(3)])
    assert given_up == [(2, "AccessDeniedException, MalformedDetail")]
    assert (sender.sent, sender.dropped) == (1, 2)


class Api:
    """The Kubernetes API recording Events: answers each call with the next of ``answers``
    (an HTTP status, the client's ApiException; a connection error; or True: created)."""

    def __init__(self, *answers: int | Exception | bool) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    def __call__(self, ingress: str, message: str) -> bool:
        self.calls.append(ingress)
        answer = self.answers.pop(0) if self.answers else True
        if isinstance(answer, bool):
            return answer
        if isinstance(answer, int):
            raise ApiException(status=answer, reason="refused")
        raise answer


@pytest.mark.parametrize("status", [403, 422, 404])
def test_a_warning_the_api_refuses_for_good_is_dropped_once_not_retried(
    warnings: tuple[DeliveryWarnings, list[tuple[str, str]], Clock], status: int, caplog: pytest.LogCaptureFixture
) -> None:
    """403 (RBAC forbids Events), 422 (invalid), 404 (the namespace is gone) answer the
    same every time: one try, one log line, counted; not every flush for ever."""
    delivery, _, clock = warnings
    api = Api(status)
    delivery.record = api
    delivery.failed(["shop/web"], "AccessDeniedException")
    with caplog.at_level("WARNING", logger="albatross.forwarder.delivery"):
        for _ in range(20):  # a hundred seconds of the reporter's 5 s flushes
            delivery.flush()
            clock.now += 5
    assert api.calls == ["shop/web"]
    assert (delivery.dropped, delivery.recorded, delivery.pending()) == (1, 0, {})
    assert len([r for r in caplog.records if r.name == "albatross.forwarder.delivery"]) == 1
    if status == 404:
        assert "shop/web" not in delivery._last  # its namespace is gone: nothing kept
    else:  # the Ingress's next loss is told within the interval's limit, like a recorded one
        delivery.failed(["shop/web"], "AccessDeniedException")
        clock.now = 1000 + 300
        assert delivery.flush() == 1
        assert api.calls == ["shop/web", "shop/web"]


@pytest.mark.parametrize(
    "error",
    [
        ApiException(status=503, reason="unavailable"),
        ApiException(status=429, reason="throttled"),
        urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset by peer")),
    ],
    ids=["503", "429", "unreachable"],
)
def test_a_warning_that_can_pass_later_is_retried_with_a_backoff(
    warnings: tuple[DeliveryWarnings, list[tuple[str, str]], Clock], error: Exception
) -> None:
    delivery, _, clock = warnings
    api = Api(error, error, error)
    delivery.record = api
    delivery.failed(["shop/web"], "AccessDeniedException")
    tried: list[float] = []
    while not delivery.recorded and clock.now < 1000 + 300:
        before = len(api.calls)
        delivery.flush()
        if len(api.calls) > before:
            tried.append(clock.now - 1000)
        clock.now += 1
    # at once, then each wait twice the last
    assert tried == [0, BACKOFF, 3 * BACKOFF, 7 * BACKOFF]
    assert (delivery.recorded, delivery.dropped, delivery.pending()) == (1, 0, {})
