"""The forwarder's runtime against the Kubernetes API double and moto: EndpointSlice
churn is coalesced per Service and its last state delivered; /healthz, /readyz and
/metrics answer over HTTP; the periodic Resync fires; only the namespaces to watch are
forwarded."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

from kubernetes import client as k8s

from albatross_forwarder.main import Forwarder
from tests.functional.forwarding import NS, Bus, Forwarders, create_ingress, wait_for
from tests.k8s_typing import body


def endpoint_slice(addresses: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-1", "namespace": NS, "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [f"10.1.0.{i + 1}"], "conditions": {"ready": True}} for i in range(addresses)],
    }


def get(forwarder: Forwarder, path: str) -> tuple[int, str]:
    assert forwarder.health is not None
    url = f"http://127.0.0.1:{forwarder.health.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # our own server on 127.0.0.1
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def samples(text: str) -> dict[str, float]:
    """``name{labels}`` → value, from the Prometheus text format."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_endpoint_slice_churn_is_coalesced_and_the_last_state_delivered(forwarders: Forwarders) -> None:
    api = forwarders.api()
    discovery = k8s.DiscoveryV1Api(api)
    create_ingress(api, "web")
    discovery.create_namespaced_endpoint_slice(NS, body(endpoint_slice(1)))
    bus = Bus("a")
    # A debounce far longer than one change takes on a loaded machine, and no maximum wait
    # within the burst: what is measured is the coalescing, not the machine's pace. Nor
    # leadership: a lease that a starved process cannot lose (a new term relists and sends).
    forwarder = forwarders.make(bus, debounce=2.0, max_wait=60.0, lease_duration=60)
    wait_for("the first Resync", bus.resyncs)
    wait_for("the slice", lambda: bus.changes("EndpointSlice"))
    before = len(bus.changes("EndpointSlice"))
    for n in range(2, 22):  # a rolling update: 20 changes in quick succession
        discovery.replace_namespaced_endpoint_slice("web-1", NS, body(endpoint_slice(n)))

    def last_state() -> bool:
        slices = bus.changes("EndpointSlice")
        return bool(slices) and len(slices[-1]["object"]["endpoints"]) == 21

    wait_for("the last state", last_state, timeout=30)
    sent = len(bus.changes("EndpointSlice")) - before
    assert sent <= 20 // 4  # far fewer events than changes
    # every change the watch delivered is either sent or counted; a watch that restarts on a
    # loaded machine lists the slice afresh and sees only its state then, not each change
    assert 0 < forwarder.coalescer.coalesced <= 20 - sent
    # nothing stays held (a watch restarted on a loaded machine may hold its relisted
    # slice for one debounce more)
    wait_for("nothing held", lambda: forwarder.coalescer.pending() == 0)


def test_health_readiness_and_metrics_over_http(forwarders: Forwarders) -> None:
    api = forwarders.api()
    create_ingress(api, "web")
    bus_a, bus_b = Bus("a"), Bus("b")
    # the production lease (15 s): a 2 s one can lapse on a loaded machine, and this test
    # is about what each replica reports, not about a takeover
    a = forwarders.make(bus_a, health_port=0, health_address="127.0.0.1", lease_duration=15)
    wait_for("a's Resync", bus_a.resyncs)
    b = forwarders.make(bus_b, health_port=0, health_address="127.0.0.1", lease_duration=15)
    assert get(a, "/healthz") == (200, "ok\n")
    assert get(a, "/readyz") == (200, "leader, synced\n")
    wait_for("b to read the lease", lambda: b.elector.last_contact is not None)
    assert get(b, "/healthz") == (200, "ok\n")
    assert get(b, "/readyz") == (200, f"standby, leader is {a.config.identity}\n")
    assert get(a, "/nothing")[0] == 404

    # every entry on the bus was counted (the Ingress's own finalizer patch may still be
    # on its way as a later upsert: wait for the counter, not for a moment)
    wait_for(
        "the sent counter",
        lambda: samples(get(a, "/metrics")[1])["albatross_forwarder_events_sent_total"] >= len(bus_a.drain()),
    )
    leader = samples(get(a, "/metrics")[1])
    standby = samples(get(b, "/metrics")[1])
    assert leader["albatross_forwarder_is_leader"] == 1
    assert standby["albatross_forwarder_is_leader"] == 0
    assert standby["albatross_forwarder_events_sent_total"] == 0
    assert leader['albatross_forwarder_relists_total{kind="Ingress"}'] >= 1
    assert leader['albatross_forwarder_watched_objects{kind="Ingress"}'] == 1
    assert leader["albatross_forwarder_resyncs_total"] == 1
    for name in (
        "albatross_forwarder_events_failed_total",
        "albatross_forwarder_events_coalesced_total",
        'albatross_forwarder_watch_restarts_total{kind="Node"}',
        "albatross_forwarder_writeback_applied_total",
        "albatross_forwarder_writeback_rejected_total",
        "albatross_forwarder_claim_checks_total",
        'albatross_forwarder_secret_copies_total{result="copied"}',
        'albatross_forwarder_secret_copies_total{result="failed"}',
        "albatross_forwarder_sender_backlog",
        "albatross_forwarder_coalescer_pending",
        "albatross_forwarder_queue_lag_seconds",
        "albatross_forwarder_leadership_acquired_total",
    ):
        assert name in leader, name
    text = get(a, "/metrics")[1]
    assert "# TYPE albatross_forwarder_events_sent_total counter" in text
    assert "# TYPE albatross_forwarder_is_leader gauge" in text

    # a watcher thread that ends while leading is a dead process as far as kubelet cares
    term = a._term
    assert term is not None
    term.watchers[0].stop()
    wait_for("an unhealthy answer", lambda: get(a, "/healthz")[0] == 503)
    assert "forwarder-watch-Ingress" in get(a, "/healthz")[1]


def test_resync_is_sent_periodically(forwarders: Forwarders) -> None:
    create_ingress(forwarders.api(), "web")
    bus = Bus("a")
    forwarders.make(bus, resync_interval=0.5)
    wait_for("three Resyncs", lambda: len(bus.resyncs()) >= 3, timeout=10)
    assert all(r["keys"]["Ingress"] == ["default/web"] for r in bus.resyncs())


def test_only_the_namespaces_to_watch_are_forwarded(forwarders: Forwarders) -> None:
    api = forwarders.api()
    for namespace in ("team-a", "team-b"):
        create_ingress(api, "web", namespace=namespace)
    bus = Bus("a")
    forwarders.make(bus, namespaces=("team-a",), lease_duration=15)  # one term: a 2 s lease can lapse under load
    resync = wait_for("the Resync", bus.resyncs)[0]
    assert resync["keys"]["Ingress"] == ["team-a/web"]
    create_ingress(api, "later", namespace="team-b")
    create_ingress(api, "later", namespace="team-a")
    wait_for("team-a's new Ingress", lambda: any(d["key"] == "team-a/later" for d in bus.changes("Ingress")))
    assert {d["key"] for d in bus.changes("Ingress")} == {"team-a/web", "team-a/later"}
    # Ingresses elsewhere are not touched either (no finalizer)
    other = k8s.NetworkingV1Api(api).read_namespaced_ingress("web", "team-b")
    assert not (other.metadata and other.metadata.finalizers)
