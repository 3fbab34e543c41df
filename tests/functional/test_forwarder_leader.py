"""Leader election on a Lease in the Kubernetes API double: one replica of two sends; a
crashed leader is replaced once its Lease expires and what changed while nobody led is
delivered; SIGTERM sends everything queued before releasing the Lease; a leader that
loses the Lease stops at once and starts again from a full list when it wins it back.
The election rules themselves run with injected clocks."""

from __future__ import annotations

import datetime
import json
import threading
import time
from typing import Any

from kubernetes import client as k8s

from albatross.aws import clients
from albatross.local.kube import KubeDouble
from albatross_forwarder.kube import Kube
from albatross_forwarder.leader import LeaderElector
from tests.functional.forwarding import NS, Bus, Forwarders, create_ingress, wait_for
from tests.k8s_typing import body

LEASE = "albatross-forwarder"


def lease_versions(kube: KubeDouble) -> list[dict[str, Any]]:
    """Every version of the Lease the API double stored, oldest first."""
    return [obj["spec"] for _, _, obj in kube.cluster.events_since("leases", NS, 0)]


def read_lease(api: k8s.ApiClient, name: str) -> dict[str, Any]:
    resp: Any = k8s.CoordinationV1Api(api).read_namespaced_lease(name, NS, _preload_content=False)
    lease: dict[str, Any] = json.loads(resp.data)
    return lease


def upserted(bus: Bus, kind: str = "Ingress") -> list[str]:
    return [d["key"] for d in bus.changes(kind) if d["action"] == "upsert"]


def test_only_the_leader_sends(forwarders: Forwarders, kube: KubeDouble) -> None:
    api = forwarders.api()
    create_ingress(api, "web")
    bus_a, bus_b = Bus("a"), Bus("b")
    # a 6 s lease: a 2 s one can lapse on a loaded machine and hand leadership over mid-test
    a, b = forwarders.make(bus_a, lease_duration=6), forwarders.make(bus_b, lease_duration=6)
    wait_for("a leader", lambda: a.elector.leading or b.elector.leading)
    # a few renewals (every 2 s): never two leaders at once
    until = time.monotonic() + 4.5
    while time.monotonic() < until:
        assert not (a.elector.leading and b.elector.leading)
        time.sleep(0.02)
    (leader, leader_bus), (standby, standby_bus) = sorted(
        [(a, bus_a), (b, bus_b)], key=lambda pair: not pair[0].elector.leading
    )
    wait_for("the leader's Resync", leader_bus.resyncs, timeout=30)
    create_ingress(api, "later")
    wait_for("the later Ingress", lambda: "default/later" in upserted(leader_bus))
    assert standby_bus.drain() == []
    assert not standby.elector.leading
    assert lease_versions(kube)[-1]["holderIdentity"] == leader.config.identity
    assert standby.elector.holder == leader.config.identity


def test_a_crashed_leader_is_replaced_and_changes_meanwhile_are_delivered(
    forwarders: Forwarders, kube: KubeDouble
) -> None:
    api = forwarders.api()
    net = k8s.NetworkingV1Api(api)
    for name in ("keep", "gone"):
        create_ingress(api, name)
    bus_a, bus_b = Bus("a"), Bus("b")
    # 6 s: a takeover waits for expiry, and a starved process still renews a term this long
    a = forwarders.make(bus_a, lease_duration=6)
    wait_for("a's Resync", bus_a.resyncs)
    b = forwarders.make(bus_b, lease_duration=6)
    wait_for("b to see the lease", lambda: b.elector.holder == a.config.identity)
    a.stop(release=False)  # as a crash: nobody leads until the Lease expires
    crashed = time.monotonic()
    net.patch_namespaced_ingress("keep", NS, {"metadata": {"labels": {"v": "2"}}})
    net.delete_namespaced_ingress("gone", NS)
    # the cloud side tore it down meanwhile: its finalizer goes and so does the Ingress
    net.patch_namespaced_ingress("gone", NS, [{"op": "remove", "path": "/metadata/finalizers"}])
    create_ingress(api, "during")
    assert not b.elector.leading  # these changes happened while nobody led
    wait_for("b to take over", lambda: b.elector.leading, timeout=30)
    assert time.monotonic() - crashed >= a.config.lease_duration / 2  # it waited for the Lease to expire
    [resync] = wait_for("b's Resync", bus_b.resyncs)
    # the new leader listed everything, the changed one as changed ("during" comes again
    # with the finalizer b adds)
    assert set(upserted(bus_b)) == {"default/during", "default/keep"}
    # once a term (b starved past its renew deadline on a loaded machine leads again, and
    # a new term remembers nothing)
    assert 1 <= upserted(bus_b).count("default/keep") <= b.elector.acquired
    keep = next(d for d in bus_b.changes("Ingress") if d["key"] == "default/keep")
    assert keep["object"]["metadata"]["labels"] == {"v": "2"}
    # the deletion nobody saw reaches the cloud side through the Resync
    assert resync["keys"]["Ingress"] == ["default/during", "default/keep"]
    # and the new leader goes on
    create_ingress(api, "after")
    wait_for("a change after the takeover", lambda: "default/after" in upserted(bus_b))
    assert lease_versions(kube)[-1]["leaseTransitions"] >= 1  # a's Lease became b's


def test_sigterm_sends_everything_queued_then_releases_and_the_standby_takes_over(
    forwarders: Forwarders, kube: KubeDouble
) -> None:
    # PutEvents on a's bus is slow, and Node changes are held 5 s: at SIGTERM both the
    # coalescer and the sender hold entries
    puts: list[datetime.datetime] = []

    def slow(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bus"] = params["Entries"][0].get("EventBusName")
        if context["bus"] == "a":
            time.sleep(0.3)

    def done(context: dict[str, Any], **_: Any) -> None:
        if context.get("bus") == "a":
            puts.append(datetime.datetime.now(datetime.UTC))

    clients.events().meta.events.register("before-parameter-build.events.PutEvents", slow, unique_id="slow")
    clients.events().meta.events.register("after-call.events.PutEvents", done, unique_id="done")
    bus_a, bus_b = Bus("a"), Bus("b")
    # a lease far longer than a standby's retry (a third of it): taking over "at once"
    # (on the release) and "at expiry" stay apart on a loaded machine
    a = forwarders.make(bus_a, lease_duration=30, debounce=5.0, max_wait=10.0)
    wait_for("a's Resync", bus_a.resyncs)
    b = forwarders.make(bus_b, lease_duration=30)
    wait_for("b to see the lease", lambda: b.elector.holder == a.config.identity)
    core = k8s.CoreV1Api(forwarders.api())
    names = [f"node-{i}" for i in range(12)]
    for name in names:
        core.create_node(body({"metadata": {"name": name}, "spec": {}}))
    wait_for("the nodes held by the coalescer", lambda: a.coalescer.pending() == len(names))
    a.stop()
    assert sorted(upserted(bus_a, "Node")) == sorted(names)
    released = next(v for v in lease_versions(kube) if not v["holderIdentity"])
    release_time = datetime.datetime.fromisoformat(released["renewTime"])
    assert puts
    assert max(puts) <= release_time  # every PutEvents returned before the release
    wait_for("b to take over", lambda: b.elector.leading, timeout=60)
    # on the release: before a's last renewal would have expired (the Lease's own record)
    last = max(
        datetime.datetime.fromisoformat(v["renewTime"])
        for v in lease_versions(kube)
        if v["holderIdentity"] == a.config.identity
    )
    taken = next(v for v in lease_versions(kube) if v["holderIdentity"] == b.config.identity)
    assert datetime.datetime.fromisoformat(taken["acquireTime"]) < last + datetime.timedelta(seconds=30)
    wait_for("b's Resync", bus_b.resyncs)
    assert set(upserted(bus_b, "Node")) == set(names)  # a starved b may lead twice: a set


def test_a_leader_that_loses_the_lease_stops_and_relists_when_it_wins_it_back(
    forwarders: Forwarders, kube: KubeDouble
) -> None:
    api = forwarders.api()
    create_ingress(api, "web")
    bus = Bus("a")
    # a lease long enough that the intruder's cannot lapse between the checks below on a
    # loaded machine (the default 2 s of these tests could)
    a = forwarders.make(bus, lease_duration=6)
    wait_for("a's Resync", bus.resyncs)
    # another holder writes the Lease (a replica whose clock runs ahead, say)
    leases = k8s.CoordinationV1Api(api)

    def intrude() -> bool:
        lease = read_lease(api, LEASE)
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lease["spec"].update(holderIdentity="intruder", renewTime=now)
        try:
            leases.replace_namespaced_lease(LEASE, NS, body(lease))
        except k8s.ApiException as e:
            if e.status == 409:  # a renewed in between: read it again
                return False
            raise
        return True

    wait_for("the intruder's write", intrude)
    wait_for("a to step down", lambda: not a.elector.leading, timeout=20)
    sent_before = upserted(bus).count("default/web")
    assert not a.readyz()[1].startswith("leader")
    create_ingress(api, "late")
    time.sleep(0.5)
    assert not a.elector.leading  # the intruder's Lease has not expired yet
    assert "default/late" not in upserted(bus)  # a replica that does not lead sends nothing
    # the intruder never renews: a takes the Lease back and lists everything again
    wait_for("a to lead again", lambda: a.elector.leading, timeout=30)
    wait_for("the late Ingress", lambda: "default/late" in upserted(bus))
    # at least: a process starved past its renew deadline on a loaded machine steps down
    # and relists once more (each term sends its Resync and everything it lists)
    wait_for("a second Resync", lambda: len(bus.resyncs()) >= 2)
    assert a.elector.acquired >= 2
    assert upserted(bus).count("default/web") >= sent_before + 1  # a new term remembers nothing


# --- the election rules, with injected clocks -------------------------------------------


class Clocks:
    def __init__(self) -> None:
        self.wall = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
        self.mono = 1000.0

    def advance(self, seconds: float) -> None:
        self.wall += datetime.timedelta(seconds=seconds)
        self.mono += seconds


def elector(api: k8s.ApiClient, clocks: Clocks, identity: str, log: list[str] | None = None) -> LeaderElector:
    record = log if log is not None else []
    return LeaderElector(
        kube=Kube(api.configuration),
        namespace=NS,
        name="rules",
        identity=identity,
        duration=9,
        on_started=lambda: record.append("started"),
        on_stopped=lambda: record.append("stopped"),
        now=lambda: clocks.wall,
        monotonic=lambda: clocks.mono,
    )


def test_lease_expiry_and_renewal(api: k8s.ApiClient) -> None:
    clocks = Clocks()
    a, b = elector(api, clocks, "a"), elector(api, clocks, "b")
    assert a.try_acquire_or_renew()  # absent: created
    assert not b.try_acquire_or_renew()  # held and fresh
    clocks.advance(6)
    assert a.try_acquire_or_renew()  # renewed
    clocks.advance(6)
    assert not b.try_acquire_or_renew()  # b sees the renewal: still a's
    clocks.advance(3.5)
    assert not b.try_acquire_or_renew()  # past renewTime + duration by the wall clock, but
    clocks.advance(6)  # expiry is judged only by how long b has seen the Lease unchanged
    assert b.try_acquire_or_renew()  # 9.5 s unchanged: expired
    assert not a.try_acquire_or_renew()
    assert a.holder == "b"
    # clocks that disagree change nothing: a holder whose clock runs ahead writes a
    # renewTime in the future, a standby whose clock runs ahead sees a fresh one as old;
    # the Lease changes hands only once it has not changed for a whole duration
    clocks.wall += datetime.timedelta(hours=1)
    assert b.try_acquire_or_renew()
    assert not a.try_acquire_or_renew()
    clocks.wall -= datetime.timedelta(hours=1)
    assert not a.try_acquire_or_renew()
    clocks.mono += 9.5
    assert a.try_acquire_or_renew()
    spec = read_lease(api, "rules")["spec"]
    assert spec["leaseTransitions"] == 2
    assert spec["holderIdentity"] == "a"


def test_of_candidates_racing_for_an_expired_lease_one_wins(api: k8s.ApiClient) -> None:
    clocks = Clocks()
    assert elector(api, clocks, "old").try_acquire_or_renew()
    candidates = [elector(api, clocks, f"c{i}") for i in range(6)]
    assert not any(c.try_acquire_or_renew() for c in candidates)  # each sees it held
    clocks.advance(60)
    start = threading.Barrier(len(candidates))
    won: list[str] = []

    def race(c: LeaderElector) -> None:
        start.wait()
        if c.try_acquire_or_renew():
            won.append(c.identity)

    threads = [threading.Thread(target=race, args=(c,)) for c in candidates]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(won) == 1
    assert read_lease(api, "rules")["spec"]["holderIdentity"] == won[0]


def test_a_leader_steps_down_when_it_cannot_renew_in_time(api: k8s.ApiClient, kube: KubeDouble) -> None:
    clocks = Clocks()
    log: list[str] = []
    a = elector(api, clocks, "a", log)
    a.step()
    assert log == ["started"]
    kube.inject(*[503] * 10)  # the API server is unreachable for a while
    clocks.advance(3)
    a.step()
    clocks.advance(2.9)
    a.step()
    assert log == ["started"]  # 5.9 s without renewal: within the 6 s deadline
    clocks.advance(0.2)
    a.step()
    assert log == ["started", "stopped"]  # past the deadline: stops before anyone else may take over
    kube.server.faults.clear()
    a.step()  # the Lease is still its own: it leads again, as a new term
    assert a.leading
    assert log == ["started", "stopped", "started"]


def test_a_standby_is_ready_and_reports_the_leader(forwarders: Forwarders) -> None:
    bus_a, bus_b = Bus("a"), Bus("b")
    # no takeover in this test: the production lease, which a starved process still renews
    a = forwarders.make(bus_a, lease_duration=15)
    wait_for("a's Resync", bus_a.resyncs)
    b = forwarders.make(bus_b, lease_duration=15)
    wait_for("b ready", lambda: b.readyz()[0])
    assert b.readyz() == (True, f"standby, leader is {a.config.identity}")
    assert a.readyz() == (True, "leader, synced")
