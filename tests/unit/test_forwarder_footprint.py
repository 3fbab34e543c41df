"""What the forwarder keeps per watched object, counted (not timed, no RSS): a watcher
remembers each object it sent as one compressed ``bytes`` from which the delete stub
comes back whole; an Ingress's Services are a tuple, and a Service stays needed while
any Ingress needs it; and a list waits for the sender's backlog instead of queueing
every object it reads (issue 16: 100,000 watched objects in 128 MiB)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from kubernetes.client import Configuration

from albatross.aws import clients
from albatross.contract import ObjectChange
from albatross.local.kube import KINDS, ApiError, KubeDouble, kube_double
from albatross_forwarder.kube import Kube, Stream
from albatross_forwarder.main import Config, Forwarder
from albatross_forwarder.watch import Seen, Watcher

A = "alb.ingress.kubernetes.io/"


def ingress(i: int, *, services: tuple[str, ...] = ("web",)) -> dict[str, Any]:
    """An Ingress as the API server lists it, with the annotations LBC users write."""
    paths = [
        {"path": f"/{s}", "pathType": "Prefix", "backend": {"service": {"name": s, "port": {"number": 80}}}}
        for s in services
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": f"app-{i:05}",
            "namespace": f"team-{i % 20:02}",
            "uid": f"6c1f0e4a-{i:04x}-4b7e-9d41-{i:012x}",
            "resourceVersion": str(1000 + i),
            "generation": 1,
            "labels": {"app.kubernetes.io/name": f"app-{i:05}", "team": f"team-{i % 20:02}"},
            "annotations": {
                f"{A}scheme": "internet-facing",
                f"{A}target-type": "ip",
                f"{A}healthcheck-path": "/healthz",
                f"{A}listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]',
                f"{A}certificate-arn": f"arn:aws:acm:us-east-1:123456789012:certificate/{i:08}-0000-4000-8000-0",
                f"{A}group.name": f"shop-{i % 50}",
            },
        },
        "spec": {"ingressClassName": "alb", "rules": [{"host": f"app-{i}.example.com", "http": {"paths": paths}}]},
    }


class Pages:
    """A source listing ``items`` in pages; never watched here."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def list(self, *, limit: int, cont: str | None = None) -> Mapping[str, Any]:
        start = int(cont or 0)
        end = start + limit
        more = {"continue": str(end)} if end < len(self.items) else {}
        # each page parsed afresh, as from the wire: the watcher must copy what it keeps
        page = json.loads(json.dumps(self.items[start:end]))
        return {"metadata": {"resourceVersion": "5000", **more}, "items": page}

    def watch(self, *, rv: str, timeout: int) -> Stream:
        raise AssertionError("not watched here")


def stub_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What a delete event of a vanished object carries (the contract's stub): apiVersion,
    kind, and the metadata that names and selects it."""
    meta = obj["metadata"]
    keep = ("name", "namespace", "labels", "annotations", "uid")
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": {k: meta[k] for k in keep}}


def test_a_watcher_keeps_one_compressed_bytes_per_object_and_the_delete_stub_comes_back_whole() -> None:
    objects = [ingress(i) for i in range(300)]
    sent: list[ObjectChange] = []
    source = Pages(objects)
    watcher = Watcher(kind="Ingress", source=source, cluster="c", emit=sent.append)
    watcher.relist()
    assert len(sent) == len(watcher.seen) == 300
    # one bytes per object, nothing that holds the object's dicts
    assert all(type(v) is Seen for v in watcher.seen.values())
    kept = sum(len(v) for v in watcher.seen.values())
    stubs = sum(len(json.dumps(stub_of(o), separators=(",", ":"))) for o in objects)
    # digest (16) + resourceVersion + the stub: a quarter of the stub's JSON at most
    assert kept <= stubs // 4, (kept, stubs)

    # the list no longer has 7 of them: each delete carries its full stub, as before
    gone = {o["metadata"]["name"] for o in objects[::43]}
    source.items = [o for o in objects if o["metadata"]["name"] not in gone]
    sent.clear()
    watcher.relist()
    deletes = {c.object["metadata"]["name"]: c for c in sent if c.action == "delete"}
    assert set(deletes) == gone
    assert len(sent) == len(gone)
    for o in objects[::43]:
        change = deletes[o["metadata"]["name"]]
        assert change.object == stub_of(o)
        assert change.resource_version == "5000"
    assert len(watcher.seen) == 300 - len(gone)


def test_a_list_waits_while_the_sender_holds_more_than_the_backlog_allows() -> None:
    delivered = iter(range(10_000))
    queued = {"n": 0}
    at_emit: list[int] = []

    def emit(_: ObjectChange) -> None:
        at_emit.append(queued["n"])
        queued["n"] += 1

    def backlog() -> int:
        # each look finds one entry more delivered, as the sender drains meanwhile
        if queued["n"] and next(delivered) % 3 == 0:
            queued["n"] -= 1
        return queued["n"]

    watcher = Watcher(
        kind="Ingress",
        source=Pages([ingress(i) for i in range(40)]),
        cluster="c",
        emit=emit,
        backlog=backlog,
        max_backlog=4,
    )
    watcher.relist()
    assert len(at_emit) == 40
    assert max(at_emit) <= 4  # never more queued than allowed when the next object is handled


def test_a_stopped_watcher_waits_for_no_backlog() -> None:
    watcher = Watcher(
        kind="Ingress",
        source=Pages([ingress(1)]),
        cluster="c",
        emit=lambda _: None,
        backlog=lambda: 10**6,
        max_backlog=1,
    )
    watcher.stop()
    watcher.relist()  # returns: the stop ends the wait, and a stopped watcher sends nothing
    assert watcher.seen == {}


INGRESSES = next(k for k in KINDS if k.kind == "Ingress")


@pytest.fixture
def double() -> Iterator[KubeDouble]:
    with kube_double() as made:
        yield made


def forwarder(double: KubeDouble) -> Forwarder:
    """A forwarder with its real Kubernetes client on the API double; its AWS clients on
    an address nothing answers (what is counted here sends nothing: a send would fail)."""
    config = Configuration()
    config.host = double.url
    return Forwarder(
        Config(cluster="c", event_bus="bus", writeback_queue_url="q"),
        kube=Kube(config),
        events_client=clients.events(),
        sqs_client=clients.sqs(),
    )


def test_an_ingress_keeps_its_services_as_a_tuple_and_a_shared_service_stays_needed(double: KubeDouble) -> None:
    f = forwarder(double)
    services = next(w for w in f.watchers if w.kind == "Service")

    def needed(name: str) -> bool:
        return services.wanted({"metadata": {"namespace": "team-01", "name": name}})

    def live(obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` written to the cluster, as the watch then hands it over."""
        meta = obj["metadata"]
        try:
            current = double.cluster.get(INGRESSES, meta["namespace"], meta["name"])
        except ApiError:
            return double.cluster.create(INGRESSES, meta["namespace"], obj)
        meta["resourceVersion"] = current["metadata"]["resourceVersion"]
        meta["finalizers"] = current["metadata"].get("finalizers", [])  # an update keeps them, as kubectl's
        return double.cluster.update(INGRESSES, meta["namespace"], meta["name"], obj, status=False)

    a, b = ingress(1, services=("web", "api")), ingress(21, services=("web",))  # both in team-01
    f._on_ingress(live(a))
    f._on_ingress(live(b))
    assert f.references == {"team-01/app-00001": ("team-01/api", "team-01/web"), "team-01/app-00021": ("team-01/web",)}
    assert needed("web")
    assert needed("api")
    assert not needed("db")
    assert double.cluster.get(INGRESSES, "team-01", "app-00001")["metadata"]["finalizers"]  # the real path ran

    f._forget_ingress("team-01/app-00001")
    assert needed("web")
    assert not needed("api")
    f._on_ingress(live(ingress(21, services=("db",))))  # b moved from web to db
    assert needed("db")
    assert not needed("web")
    f._forget_ingress("team-01/app-00021")
    assert f.references == {}
    assert not f.referenced
