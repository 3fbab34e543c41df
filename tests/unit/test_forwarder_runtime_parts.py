"""Pure parts of the forwarder's runtime: the coalescer's holding rules (with a fake
clock), the sender's order, backlog and age (with a fake EventBridge client and clock),
the Prometheus text format, and the flags with their environment variables."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from albatross.contract import ObjectChange
from albatross_forwarder.coalesce import Coalescer
from albatross_forwarder.health import Metric, render
from albatross_forwarder.main import _parse
from albatross_forwarder.sender import Sender


def change(kind: str, name: str, *, service: str = "web", action: str = "upsert", rv: int = 1) -> ObjectChange:
    meta: dict[str, Any] = {"name": name}
    if kind == "EndpointSlice":
        meta.update(namespace="default", labels={"kubernetes.io/service-name": service})
    key = f"default/{name}" if kind == "EndpointSlice" else name
    return ObjectChange(
        cluster="c",
        kind=kind,
        action=action,  # type: ignore[arg-type]  # the literal is checked by the contract
        key=key,
        resource_version=str(rv),
        object={"kind": kind, "metadata": meta},
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sent() -> list[ObjectChange]:
    return []


@pytest.fixture
def coalescer(clock: Clock, sent: list[ObjectChange]) -> Coalescer:
    return Coalescer(send=sent.append, debounce=0.2, max_wait=1.0, clock=clock)


def test_other_kinds_pass_straight_through(coalescer: Coalescer, sent: list[ObjectChange]) -> None:
    coalescer.submit(change("Ingress", "i"))
    assert [c.key for c in sent] == ["i"]
    assert coalescer.pending() == 0


def test_a_quiet_bucket_is_sent_with_the_latest_state_of_each_object(
    coalescer: Coalescer, clock: Clock, sent: list[ObjectChange]
) -> None:
    for rv in range(1, 6):
        coalescer.submit(change("EndpointSlice", "web-1", rv=rv))
        coalescer.submit(change("EndpointSlice", "web-2", rv=rv))
        clock.now += 0.05
    assert coalescer.take_due(clock.now) == []  # still changing
    clock.now += 0.2
    out = coalescer.take_due(clock.now)
    assert sorted((c.key, c.resource_version) for c in out) == [("default/web-1", "5"), ("default/web-2", "5")]
    assert coalescer.coalesced == 8
    assert sent == []  # take_due hands them over; the thread sends


def test_changes_then_a_delete_send_only_the_delete(coalescer: Coalescer, clock: Clock) -> None:
    coalescer.submit(change("EndpointSlice", "web-1", rv=1))
    coalescer.submit(change("EndpointSlice", "web-1", rv=2))
    coalescer.submit(change("EndpointSlice", "web-1", rv=3, action="delete"))
    [only] = coalescer.take_due(clock.now + 1)
    assert (only.action, only.resource_version) == ("delete", "3")


def test_continuous_churn_is_sent_after_the_maximum_wait(coalescer: Coalescer, clock: Clock) -> None:
    waits, held_since = [], None
    for step in range(40):  # a change every 0.1 s: never quiet for the debounce
        coalescer.submit(change("EndpointSlice", "web-1", rv=step))
        held_since = clock.now if held_since is None else held_since
        clock.now = round(clock.now + 0.1, 3)
        if coalescer.take_due(clock.now):
            waits.append(clock.now - held_since)
            held_since = None
    assert len(waits) >= 3
    assert max(waits) <= 1.0 + 1e-9  # no change waits longer than the maximum


def test_buckets_are_per_service_and_nodes_share_one(coalescer: Coalescer, clock: Clock) -> None:
    coalescer.submit(change("EndpointSlice", "web-1", service="web"))
    clock.now = 0.15
    coalescer.submit(change("EndpointSlice", "api-1", service="api"))
    coalescer.submit(change("Node", "n1"))
    coalescer.submit(change("Node", "n2"))
    clock.now = 0.25  # web has been quiet for 0.2 s; api and the nodes have not
    assert [c.key for c in coalescer.take_due(clock.now)] == ["default/web-1"]
    assert coalescer.pending() == 3
    assert coalescer.oldest_age() == pytest.approx(0.1)
    assert sorted(c.key for c in coalescer.take_all()) == ["default/api-1", "n1", "n2"]


def test_prometheus_text_format() -> None:
    text = render(
        [
            Metric.one("x_total", "counter", "Things.\nMore.", 3),
            Metric("y", "gauge", "Per kind.", [({"kind": 'a"b'}, 0.5), ({"kind": "c"}, 2)]),
            Metric("empty", "gauge", "No samples."),
        ]
    )
    assert text == (
        "# HELP x_total Things.\\nMore.\n"
        "# TYPE x_total counter\n"
        "x_total 3\n"
        "# HELP y Per kind.\n"
        "# TYPE y gauge\n"
        'y{kind="a\\"b"} 0.5\n'
        'y{kind="c"} 2\n'
        "# HELP empty No samples.\n"
        "# TYPE empty gauge\n"
    )


REQUIRED = {"CLUSTER_NAME": "c", "EVENT_BUS_NAME": "b", "WRITEBACK_QUEUE_URL": "http://q"}


def test_flags_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POD_NAMESPACE", "albatross")
    monkeypatch.setenv("POD_NAME", "forwarder-0")
    config = _parse([])
    assert config.lease_name == "albatross-forwarder"
    assert config.lease_namespace == "albatross"
    assert config.lease_duration == 15
    assert config.identity.startswith("forwarder-0_")
    assert config.identity != _parse([]).identity  # a restarted process is a new candidate
    assert (config.health_address, config.health_port) == ("0.0.0.0", 8080)  # noqa: S104  # the default under test
    assert config.resync_interval == 600
    assert (config.debounce, config.max_wait) == (0.2, 1.0)
    assert config.namespaces == ()


def test_flags_from_the_environment_and_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        **REQUIRED,
        "WATCH_NAMESPACES": "team-a, team-b,",
        "LEASE_NAME": "l",
        "LEASE_NAMESPACE": "ns",
        "LEASE_DURATION_SECONDS": "30",
        "HEALTH_PORT": "9090",
        "HEALTH_ADDRESS": "127.0.0.1",
        "RESYNC_SECONDS": "60",
        "COALESCE_DEBOUNCE_SECONDS": "0.5",
        "COALESCE_MAX_WAIT_SECONDS": "2",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = _parse([])
    assert config.namespaces == ("team-a", "team-b")
    assert (config.lease_name, config.lease_namespace, config.lease_duration) == ("l", "ns", 30)
    assert (config.health_address, config.health_port) == ("127.0.0.1", 9090)
    assert (config.resync_interval, config.debounce, config.max_wait) == (60, 0.5, 2)
    flags = _parse(["--namespaces", "x", "--health-port", "0", "--lease-duration-seconds", "5", "--pod-name", "p"])
    assert (flags.namespaces, flags.health_port, flags.lease_duration) == (("x",), 0, 5)
    assert flags.identity.startswith("p_")


class Bus:
    """Records each PutEvents batch; while ``hold`` is clear, a call waits for it."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.called = threading.Event()
        self.hold = threading.Event()
        self.hold.set()

    def put_events(self, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803  # boto3's name
        self.called.set()
        assert self.hold.wait(10)
        self.batches.append([e["DetailType"] for e in Entries])
        return {"Entries": [{"EventId": "e"} for _ in Entries]}


def detail(name: str, size: int = 0) -> dict[str, Any]:
    return {"kind": name, "key": name, "pad": "x" * size}


def test_the_sender_keeps_the_order_when_an_entry_does_not_fit_the_batch(clock: Clock) -> None:
    bus = Bus()
    sender = Sender(events_client=bus, bus_name="b", clock=clock)
    for name in ("a", "b", "c", "d"):
        sender.submit(detail(name, 100_000))  # two fit in a batch (256 KB)
    assert not sender.alive()
    sender.start()
    assert sender.alive()
    sender.stop()  # sends everything queued first
    assert not sender.alive()
    assert bus.batches == [["a", "b"], ["c", "d"]]
    assert (sender.sent, sender.pending(), sender.oldest_age()) == (4, 0, 0.0)


def test_the_sender_reports_the_age_of_the_oldest_entry_not_yet_accepted(clock: Clock) -> None:
    bus = Bus()
    bus.hold.clear()  # EventBridge answers slowly
    sender = Sender(events_client=bus, bus_name="b", clock=clock)
    clock.now = 10.0
    sender.submit(detail("first"))
    clock.now = 12.0
    assert sender.oldest_age() == 2.0
    sender.start()
    assert bus.called.wait(10)  # "first" is in flight now
    clock.now = 13.0
    sender.submit(detail("second"))
    clock.now = 17.0
    assert (sender.pending(), sender.oldest_age()) == (2, 7.0)  # in flight counts until accepted
    bus.hold.set()
    sender.stop()
    assert (sender.sent, sender.pending(), sender.oldest_age()) == (2, 0, 0.0)
