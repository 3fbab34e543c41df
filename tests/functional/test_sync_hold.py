"""Ingest's sync hold (issue 16, adopting LBC's stacks with no mutating call), against
moto's DynamoDB and SQS: while a new forwarder's first list is reaching ingest, a group
whose Ingress LBC already serves (it has a load balancer address, ingest never stored it)
is not reconciled from the half of the cluster stored so far; the forwarder's Resync asks
for it once. LBC's own rule is the reference: its controllers reconcile nothing before
their informers' caches have synced (controller-runtime's ``WaitForCacheSync``).

What is held and what is not:

* the members of an LBC group of three and their Service arriving one by one, then the
  Resync: nothing on the work queue until the Resync, then the group once;
* a new Ingress (no address: nothing made for it yet) is reconciled at once, even while
  another group is held; a user's later change to a released group too;
* a served Ingress sent before the last Resync applied (it was on its way when the Resync
  arrived) is not held: the Resync covered it;
* a one-Ingress (implicit) group is held only until the Services its Ingress names are
  stored: its view is whole then (a user's edit to it waits for no Resync);
* a hold older than ``HOLD_SECONDS`` (its forwarder stopped before its Resync) holds no more;
* a hold written just after the covering Resync was applied (the race between two ingest
  invocations) is released by the change that wrote it;
* so is a one-Ingress group's hold written just after its Service was stored;
* a Resync that overtook a member of its own list (EventBridge keeps no order) releases
  nothing: the group goes once the member is stored;
* an endpoint change (the targets fast path) does not reconcile a held group that has
  no stack index yet; released, it does;
* an Ingress sent before the Resync but stored after it (the Resync overtook it) is held
  while that Resync still awaits Ingresses or Services of its lists: its Service may be
  one of them (a one-Ingress group goes once its Service is stored, a group of several
  once the last member awaited is);
* an Ingress's hold is written before the Ingress is stored: a change stored in between
  by a concurrent invocation that asks for every group (an IngressClass) does not
  reconcile it; a stale change of an Ingress (its delete was stored first) holds nothing.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, Literal

import pytest

from albatross.aws import clients
from albatross.contract import ObjectChange, Resync
from albatross.controller import ingest, queues, targets
from albatross.controller.ingest import HOLD_SECONDS, apply_change, apply_resync
from albatross.controller.settings import Settings
from albatross.store.table import Store
from tests.functional.test_store import table

CLUSTER = "c1"
ADDRESS = {"loadBalancer": {"ingress": [{"hostname": "k8s-shop-a1b2c3d4e5-1.us-east-1.elb.amazonaws.com"}]}}


def settings(queue: str) -> Settings:
    return Settings(
        cluster=CLUSTER,
        vpc_id="vpc-1",
        region="us-east-1",
        table="state",
        work_queue_url=queue,
        writeback_queue_url="",
        provision_state_machine="",
        teardown_state_machine="",
    )


def ingress(
    name: str, rv: int, *, group: str | None = None, served: bool = True, path: str | None = None
) -> ObjectChange:
    annotations = {"alb.ingress.kubernetes.io/group.name": group} if group else {}
    obj: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": f"u-{name}",
            "resourceVersion": str(rv),
            "annotations": annotations,
        },
        "spec": {
            "ingressClassName": "alb",
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": path or f"/{name}",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    }
                }
            ],
        },
        **({"status": ADDRESS} if served else {}),
    }
    return ObjectChange(
        cluster=CLUSTER, kind="Ingress", action="upsert", key=f"shop/{name}", resource_version=str(rv), object=obj
    )


def service(rv: int, *, selector: bool = False) -> ObjectChange:
    """The Service shop/web; ``selector``: it selects pods (Kubernetes gives it slices)."""
    spec: dict[str, Any] = {"ports": [{"port": 80, "targetPort": 8080}]}
    if selector:
        spec["selector"] = {"app": "web"}
    obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop", "uid": "u-web", "resourceVersion": str(rv)},
        "spec": spec,
    }
    return ObjectChange(
        cluster=CLUSTER, kind="Service", action="upsert", key="shop/web", resource_version=str(rv), object=obj
    )


SLICE = "shop/web-abcde"


def endpoint_slice(rv: int, *, action: Literal["upsert", "delete"] = "upsert") -> ObjectChange:
    """shop/web's one EndpointSlice, with the pods LBC registered."""
    obj = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "web-abcde",
            "namespace": "shop",
            "uid": "u-web-abcde",
            "resourceVersion": str(rv),
            "labels": {"kubernetes.io/service-name": "web"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.0.1.10"], "conditions": {"ready": True}}],
    }
    return ObjectChange(
        cluster=CLUSTER, kind="EndpointSlice", action=action, key=SLICE, resource_version=str(rv), object=obj
    )


def resync(ingresses: dict[str, int], *, web: bool = True, slices: dict[str, int] | None = None) -> Resync:
    """A Resync listing these Ingresses, (``web``) the Service shop/web at version 5 and
    these EndpointSlices (none: the kind not listed)."""
    services = {"shop/web": "5"} if web else {}
    keys = {"Ingress": sorted(ingresses), "Service": sorted(services)}
    versions = {"Ingress": {k: str(v) for k, v in ingresses.items()}, "Service": services}
    if slices is not None:
        keys["EndpointSlice"] = sorted(slices)
        versions["EndpointSlice"] = {k: str(v) for k, v in slices.items()}
    return Resync(cluster=CLUSTER, keys=keys, versions=versions)


def drain(queue: str) -> list[str]:
    """The groups the work queue was asked to reconcile, in order; the queue emptied."""
    sqs = clients.sqs()
    found: list[str] = []
    while True:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return found
        for message in got:
            found.append(json.loads(message["Body"])["group"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def work(moto_endpoint: str) -> tuple[Store, Settings, str]:
    store = table()
    queue = clients.sqs().create_queue(QueueName="work")["QueueUrl"]
    return store, settings(queue), queue


def test_an_lbc_group_waits_for_the_forwarders_resync_then_reconciles_once(work: tuple[Store, Settings, str]) -> None:
    store, config, queue = work
    start = time.time()
    # an earlier forwarder's Resync (the cluster was empty, or this is a migration)
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    assert drain(queue) == []

    # the new forwarder's first list: LBC's group "shop" of three, then their Service
    members = {"shop/a": 11, "shop/b": 12, "shop/c": 13}
    for n, (key, rv) in enumerate(members.items()):
        change = ingress(key.split("/")[1], rv, group="shop")
        held = apply_change(change, settings=config, store=store, event_id=f"e{n}", sent=start + n)
        assert held == set(), key
    assert apply_change(service(5), settings=config, store=store, event_id="svc", sent=start + 3) == set()
    assert drain(queue) == []  # nothing reconciled from one or two of the three
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == {"shop"}

    # a user creates an Ingress meanwhile: nothing was made for it, it does not wait
    fresh = ingress("new", 14, served=False)
    assert apply_change(fresh, settings=config, store=store, event_id="e-new", sent=start + 4) == {"shop/new"}
    assert drain(queue) == ["shop/new"]

    # the Resync: the held group is asked for once, with all three members stored
    listed = {**members, "shop/new": 14}
    assert apply_resync(resync(listed), settings=config, store=store, event_id="r1", sent=start + 5) == set()
    assert drain(queue) == ["shop"]
    assert set(store.members("shop")) == set(members)
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == set()
    store.take_request("shop")  # its reconcile starts

    # a user's change after it is reconciled at once
    edited = ingress("b", 20, group="shop", path="/b/v2")
    assert apply_change(edited, settings=config, store=store, event_id="e-edit", sent=start + 6) == {"shop"}
    assert drain(queue) == ["shop"]


def test_a_one_ingress_group_is_held_only_until_its_service_is_stored(work: tuple[Store, Settings, str]) -> None:
    store, config, queue = work
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    alone = ingress("alone", 21)  # no group.name: its own group, "shop/alone"
    assert apply_change(alone, settings=config, store=store, event_id="e-alone", sent=start) == set()
    assert drain(queue) == []
    # its Service arrives: nothing else can be missing, the group goes before the Resync
    assert apply_change(service(5), settings=config, store=store, event_id="svc", sent=start + 1) == {"shop/alone"}
    assert drain(queue) == ["shop/alone"]
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == set()
    # another one whose Service is stored already is not held at all
    other = ingress("other", 22)
    assert apply_change(other, settings=config, store=store, event_id="e-other", sent=start + 2) == {"shop/other"}
    assert drain(queue) == ["shop/other"]


def test_an_adopted_ingress_whose_services_are_stored_writes_no_hold(work: tuple[Store, Settings, str]) -> None:
    """The adoption's common case: the first list's Service and slices are stored, then
    each of its Ingresses (served, never stored) comes: nothing is left to wait for, so no
    hold is written, refused and taken back; the group is asked for at once."""
    store, config, queue = work
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    apply_change(service(5, selector=True), settings=config, store=store, event_id="svc", sent=start + 1)
    apply_change(endpoint_slice(6), settings=config, store=store, event_id="eps", sent=start + 2)
    writes: list[str] = []

    def hold_write(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in ("PutItem", "UpdateItem", "DeleteItem"):
            touched = str(params.get("Key", params.get("Item", {})).get("pk", {}).get("S", ""))
            text = str(params.get("UpdateExpression", ""))
            if touched.startswith("forwarder#held") or "heldAt" in str(params.get("ExpressionAttributeNames", {})):
                writes.append(f"{model.name} {touched} {text}")

    clients.add_hook("provide-client-params.dynamodb.*", hold_write, unique_id="test-hold-writes")
    try:
        adopted = ingress("alone", 21)  # served (LBC's address), its own group "shop/alone"
        assert apply_change(adopted, settings=config, store=store, event_id="e-alone", sent=start + 3) == {"shop/alone"}
    finally:
        clients.remove_hook("test-hold-writes")
    assert writes == []
    assert drain(queue) == ["shop/alone"]
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == set()


def test_a_served_ingress_sent_before_the_last_resync_is_not_held(work: tuple[Store, Settings, str]) -> None:
    store, config, queue = work
    start = time.time()
    assert apply_change(service(5), settings=config, store=store, event_id="svc", sent=start - 2) == set()
    apply_resync(resync({"shop/late": 30}), settings=config, store=store, event_id="r1", sent=start)
    # its change was sent a moment before the Resync and arrives after it (the bus keeps no order)
    late = ingress("late", 30)
    assert apply_change(late, settings=config, store=store, event_id="e-late", sent=start - 1) == {"shop/late"}
    assert drain(queue) == ["shop/late"]


def test_a_hold_left_by_a_forwarder_that_stopped_holds_no_more(work: tuple[Store, Settings, str]) -> None:
    store, config, queue = work
    store.hold_groups({"shop"}, at=time.time() - HOLD_SECONDS - 1)
    change = ingress("a", 40, group="shop", served=False)
    assert apply_change(change, settings=config, store=store, event_id="e-a", sent=time.time()) == {"shop"}
    assert drain(queue) == ["shop"]


def test_a_hold_written_after_the_covering_resync_releases_itself(
    work: tuple[Store, Settings, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, config, queue = work
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    hold = store.hold_groups

    def resync_in_between(groups: Any, *, at: float, sent: float | None = None) -> None:
        # another ingest invocation applies the Resync (reading no hold) just before this
        # one writes its hold
        monkeypatch.setattr(store, "hold_groups", hold)
        apply_resync(resync({"shop/a": 50}), settings=config, store=store, event_id="r1", sent=start + 1)
        hold(groups, at=at, sent=sent)

    monkeypatch.setattr(store, "hold_groups", resync_in_between)
    assert apply_change(service(5), settings=config, store=store, event_id="svc", sent=start - 1) == set()
    change = ingress("a", 50, group="shop")
    assert apply_change(change, settings=config, store=store, event_id="e-a", sent=start) == {"shop"}
    assert drain(queue) == ["shop"]
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == set()
    assert ingest.HOLD_SECONDS == HOLD_SECONDS


def test_a_hold_written_after_its_service_was_stored_releases_itself(
    work: tuple[Store, Settings, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ingest invocations at once (EventBridge invokes concurrently): the Service is
    stored, and its invocation reads the holds, between the Ingress's check of its
    Services and the write of its hold."""
    store, config, queue = work
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    hold = store.hold_groups
    released: list[set[str]] = []

    def service_in_between(groups: Any, *, at: float, sent: float | None = None) -> None:
        monkeypatch.setattr(store, "hold_groups", hold)
        released.append(apply_change(service(5), settings=config, store=store, event_id="svc", sent=start + 1))
        hold(groups, at=at, sent=sent)

    monkeypatch.setattr(store, "hold_groups", service_in_between)
    alone = ingress("alone", 60)
    assert apply_change(alone, settings=config, store=store, event_id="e-alone", sent=start) == {"shop/alone"}
    assert released == [set()]  # the Service's invocation found no hold to release
    assert drain(queue) == ["shop/alone"]
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == set()


def test_a_resync_that_overtook_a_member_holds_the_group_until_the_member_is_stored(
    work: tuple[Store, Settings, str],
) -> None:
    store, config, queue = work
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    members = {"shop/a": 11, "shop/b": 12, "shop/c": 13}
    for n, key in enumerate(["shop/a", "shop/b"]):
        change = ingress(key.split("/")[1], members[key], group="shop")
        assert apply_change(change, settings=config, store=store, event_id=f"e{n}", sent=start + n) == set()
    assert apply_change(service(5), settings=config, store=store, event_id="svc", sent=start + 3) == set()
    # the Resync arrives while c's change, sent before it, is still on its way
    assert apply_resync(resync(members), settings=config, store=store, event_id="r1", sent=start + 5) == set()
    assert drain(queue) == []  # not reconciled from two of its three members
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == {"shop"}
    late = ingress("c", 13, group="shop")
    assert apply_change(late, settings=config, store=store, event_id="e2", sent=start + 2) == {"shop"}
    assert drain(queue) == ["shop"]
    assert set(store.members("shop")) == set(members)
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == set()
    assert store.awaited(now=time.time(), hold_for=HOLD_SECONDS) == set()


def test_an_endpoint_change_does_not_reconcile_a_held_group(work: tuple[Store, Settings, str]) -> None:
    store, config, queue = work
    store.hold_groups({"shop"}, at=time.time())
    assert targets.sync_service(settings=config, store=store, group="shop", service="shop/web", cause="eps") == 0
    assert drain(queue) == []
    store.release_groups({"shop"})
    assert targets.sync_service(settings=config, store=store, group="shop", service="shop/web", cause="eps") == -1
    assert drain(queue) == ["shop"]


def test_an_ingress_the_resync_overtook_waits_for_its_service_the_resync_awaits(
    work: tuple[Store, Settings, str],
) -> None:
    """The forwarder sent the Ingress, its Service, then its Resync; the bus delivered
    the Resync first, then the Ingress, then the Service. Reconciled before its Service
    is stored, its rule would answer a fixed 503 and its target group be deleted (LBC's
    tolerated missing Service), then made again once the Service arrived."""
    store, config, queue = work
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    assert (
        apply_resync(resync({"shop/alone": 70}), settings=config, store=store, event_id="r1", sent=start + 2) == set()
    )
    assert store.awaited(now=time.time(), hold_for=HOLD_SECONDS) == {"Ingress/shop/alone", "Service/shop/web"}
    alone = ingress("alone", 70)
    assert apply_change(alone, settings=config, store=store, event_id="e-alone", sent=start) == set()
    assert drain(queue) == []  # not from an Ingress without its Service
    assert apply_change(service(5), settings=config, store=store, event_id="svc", sent=start + 1) == {"shop/alone"}
    assert drain(queue) == ["shop/alone"]
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == set()
    assert store.awaited(now=time.time(), hold_for=HOLD_SECONDS) == set()


def test_a_group_the_resync_overtook_whole_waits_for_its_last_member(work: tuple[Store, Settings, str]) -> None:
    store, config, queue = work
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    assert apply_change(service(5), settings=config, store=store, event_id="svc", sent=start) == set()
    members = {"shop/a": 11, "shop/b": 12}
    assert apply_resync(resync(members), settings=config, store=store, event_id="r1", sent=start + 5) == set()
    first = ingress("a", 11, group="shop")
    assert apply_change(first, settings=config, store=store, event_id="e-a", sent=start + 1) == set()
    assert drain(queue) == []  # not from one of its two members
    last = ingress("b", 12, group="shop")
    assert apply_change(last, settings=config, store=store, event_id="e-b", sent=start + 2) == {"shop"}
    assert drain(queue) == ["shop"]
    assert set(store.members("shop")) == set(members)
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == set()


def ingress_class(rv: int) -> ObjectChange:
    obj = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": "alb", "uid": "u-alb", "resourceVersion": str(rv)},
        "spec": {"controller": "ingress.k8s.aws/alb"},
    }
    return ObjectChange(
        cluster=CLUSTER, kind="IngressClass", action="upsert", key="alb", resource_version=str(rv), object=obj
    )


def test_a_class_stored_while_an_ingress_is_being_stored_does_not_reconcile_its_group(
    work: tuple[Store, Settings, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Traced in scale-adopt-100: the forwarder's IngressClass, delivered at once with the
    first Ingresses, asked for every stored group, one whose Ingress was stored and its
    hold not yet written among them: reconciled before its Service arrived, its rule was
    pointed at a 503 and its target group deleted, then made again."""
    store, config, queue = work
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    add_member = store.add_member
    classes: list[set[str]] = []

    def class_in_between(group: str, key: str) -> None:
        # the Ingress is stored; its membership is written, its hold not decided yet
        monkeypatch.setattr(store, "add_member", add_member)
        add_member(group, key)
        classes.append(apply_change(ingress_class(3), settings=config, store=store, event_id="cls", sent=start))

    monkeypatch.setattr(store, "add_member", class_in_between)
    alone = ingress("alone", 80)
    assert apply_change(alone, settings=config, store=store, event_id="e-alone", sent=start) == set()
    assert classes == [set()]  # the class's invocation found it held
    assert drain(queue) == []
    assert apply_change(service(5), settings=config, store=store, event_id="svc", sent=start + 1) == {"shop/alone"}
    assert drain(queue) == ["shop/alone"]
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == set()


def test_a_stale_change_after_its_ingress_was_deleted_holds_nothing(work: tuple[Store, Settings, str]) -> None:
    store, config, _queue = work
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    update = ingress("a", 11, group="shop")
    gone = ObjectChange(
        cluster=CLUSTER, kind="Ingress", action="delete", key="shop/a", resource_version="12", object=update.object
    )
    apply_change(gone, settings=config, store=store, event_id="e-gone", sent=start + 1)
    # the update sent before the delete arrives after it (the bus keeps no order): dropped
    assert apply_change(update, settings=config, store=store, event_id="e-a", sent=start) == set()
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == set()


def test_a_resync_that_deletes_a_member_of_a_held_group_does_not_reconcile_it_half_listed(
    work: tuple[Store, Settings, str],
) -> None:
    """The Resync's own tombstones ask for the groups they touch: a held group among them
    still waits for the members the Resync listed and ingest has not stored yet."""
    store, config, queue = work
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    apply_change(service(5), settings=config, store=store, event_id="svc", sent=start - 59)
    apply_change(ingress("c", 9, group="shop"), settings=config, store=store, event_id="e-c", sent=start - 58)
    drain(queue)
    assert (
        apply_change(ingress("a", 11, group="shop"), settings=config, store=store, event_id="e-a", sent=start + 1)
        == set()
    )
    # c is gone from the cluster (not listed: tombstoned), b is listed and still on its way
    apply_resync(resync({"shop/a": 11, "shop/b": 12}), settings=config, store=store, event_id="r1", sent=start + 5)
    assert drain(queue) == []
    assert apply_change(
        ingress("b", 12, group="shop"), settings=config, store=store, event_id="e-b", sent=start + 2
    ) == {"shop"}
    assert drain(queue) == ["shop"]


# --- the slices of a held group's Services (issue 16: the Services ahead, with their slices) --


def test_a_one_ingress_group_waits_for_its_services_slices_too(work: tuple[Store, Settings, str]) -> None:
    """The forwarder's first list sends a Service right before its slices; EventBridge
    delivers them in no order. Reconciled once its Service is stored and before its
    slice is, the adopted group would compute no targets: every pod LBC registered
    deregistered, then registered again when the slice arrives (scale-adopt-100 made
    102 such calls with the Services sent ahead without their slices). Asked for only
    once the slice is stored, its targets are what LBC registered: 0 Register or
    DeregisterTargets calls."""
    store, config, queue = work
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    alone = ingress("alone", 21)
    assert apply_change(alone, settings=config, store=store, event_id="e-alone", sent=start) == set()
    web = service(5, selector=True)
    assert apply_change(web, settings=config, store=store, event_id="svc", sent=start + 1) == set()
    assert drain(queue) == []  # a Service without its slices: not yet
    assert apply_change(endpoint_slice(6), settings=config, store=store, event_id="eps", sent=start + 2) == {
        "shop/alone"
    }
    assert drain(queue) == ["shop/alone"]
    assert [e["addresses"] for s in store.endpoint_slices("shop/web") for e in s["endpoints"]] == [["10.0.1.10"]]
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == set()


def test_a_resync_that_overtook_a_slice_holds_the_group_until_it_is_stored(work: tuple[Store, Settings, str]) -> None:
    store, config, queue = work
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    members = {"shop/a": 11, "shop/b": 12}
    for n, key in enumerate(members):
        change = ingress(key.split("/")[1], members[key], group="shop")
        assert apply_change(change, settings=config, store=store, event_id=f"e{n}", sent=start + n) == set()
    assert (
        apply_change(service(5, selector=True), settings=config, store=store, event_id="svc", sent=start + 2) == set()
    )
    # the Resync arrives while the slice, sent before it, is on its way
    listed = resync(members, slices={SLICE: 6})
    assert apply_resync(listed, settings=config, store=store, event_id="r1", sent=start + 5) == set()
    assert drain(queue) == []
    assert store.awaited(now=time.time(), hold_for=HOLD_SECONDS) == {f"EndpointSlice/{SLICE}"}
    apply_change(endpoint_slice(6), settings=config, store=store, event_id="eps", sent=start + 3)
    assert drain(queue) == ["shop"]
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == set()


# --- the gaps found in review -----------------------------------------------------------


def test_an_older_version_than_the_resync_listed_keeps_it_awaited(work: tuple[Store, Settings, str]) -> None:
    """b is stored at 10, the Resync lists it at 12; 11, sent before 12, arrives late and
    is stored: 12 is still awaited, and its arrival (an update of a stored object, which
    reads no awaited item unless its snapshot is marked) is the last one."""
    store, config, queue = work
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    apply_change(service(5), settings=config, store=store, event_id="svc", sent=start - 59)
    apply_change(ingress("b", 10, group="shop"), settings=config, store=store, event_id="e-b10", sent=start - 58)
    apply_change(ingress("a", 11, group="shop"), settings=config, store=store, event_id="e-a", sent=start + 1)
    drain(queue)
    apply_resync(resync({"shop/a": 11, "shop/b": 12}), settings=config, store=store, event_id="r1", sent=start + 5)
    assert store.awaited(now=time.time(), hold_for=HOLD_SECONDS) == {"Ingress/shop/b"}
    apply_change(ingress("b", 11, group="shop"), settings=config, store=store, event_id="e-b11", sent=start + 2)
    assert drain(queue) == []
    assert store.awaited(now=time.time(), hold_for=HOLD_SECONDS) == {"Ingress/shop/b"}
    apply_change(ingress("b", 12, group="shop"), settings=config, store=store, event_id="e-b12", sent=start + 3)
    assert drain(queue) == ["shop"]
    assert store.awaited(now=time.time(), hold_for=HOLD_SECONDS) == set()


def test_a_listed_member_deleted_before_the_resync_arrived_is_not_awaited(work: tuple[Store, Settings, str]) -> None:
    """c was listed, then deleted; its delete (sent after the Resync) arrived first, and
    its upsert, if it comes, is dropped as stale: awaited, it held the group for 10
    minutes."""
    store, config, queue = work
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    apply_change(service(5), settings=config, store=store, event_id="svc", sent=start - 59)
    for n, (name, rv) in enumerate((("a", 11), ("b", 12))):
        apply_change(ingress(name, rv, group="shop"), settings=config, store=store, event_id=f"e{n}", sent=start + n)
    upsert = ingress("c", 13, group="shop")
    gone = ObjectChange(
        cluster=CLUSTER, kind="Ingress", action="delete", key="shop/c", resource_version="14", object=upsert.object
    )
    apply_change(gone, settings=config, store=store, event_id="e-gone", sent=start + 6)
    assert drain(queue) == []
    apply_resync(
        resync({"shop/a": 11, "shop/b": 12, "shop/c": 13}), settings=config, store=store, event_id="r1", sent=start + 5
    )
    assert store.awaited(now=time.time(), hold_for=HOLD_SECONDS) == set()
    assert drain(queue) == ["shop"]
    assert apply_change(upsert, settings=config, store=store, event_id="e-c", sent=start + 2) == set()  # stale


def test_a_change_ingest_refuses_is_no_longer_awaited(work: tuple[Store, Settings, str]) -> None:
    store, config, queue = work
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    apply_change(ingress("a", 11, group="shop"), settings=config, store=store, event_id="e-a", sent=start)
    apply_resync(resync({"shop/a": 11}), settings=config, store=store, event_id="r1", sent=start + 5)
    assert store.awaited(now=time.time(), hold_for=HOLD_SECONDS) == {"Service/shop/web"}
    # the Service's event fails the contract (the handler dead-letters it): it never will be stored
    malformed = {"schemaVersion": "2", "cluster": CLUSTER, "kind": "Service", "key": "shop/web", "object": []}
    assert ingest.refused(malformed, settings=config, store=store, cause="bad") == {"shop"}
    assert drain(queue) == ["shop"]
    assert store.awaited(now=time.time(), hold_for=HOLD_SECONDS) == set()


def test_the_last_arrival_releases_only_what_its_resync_covers(work: tuple[Store, Settings, str]) -> None:
    """A group held by a change sent after the Resync (a newer forwarder's list) waits for
    the Resync that covers it, not for the last object an older one awaited."""
    store, config, queue = work
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    apply_change(service(5), settings=config, store=store, event_id="svc", sent=start - 59)
    apply_change(ingress("a", 11, group="shop"), settings=config, store=store, event_id="e-a", sent=start + 1)
    apply_resync(resync({"shop/a": 11, "shop/b": 12}), settings=config, store=store, event_id="r1", sent=start + 5)
    later = ingress("x", 30, group="later")
    assert apply_change(later, settings=config, store=store, event_id="e-x", sent=start + 10) == set()
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == {"shop", "later"}
    # b, the last object r1 awaited
    assert apply_change(
        ingress("b", 12, group="shop"), settings=config, store=store, event_id="e-b", sent=start + 2
    ) == {"shop"}
    assert drain(queue) == ["shop"]
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == {"later"}
    apply_resync(
        resync({"shop/a": 11, "shop/b": 12, "shop/x": 30}),
        settings=config,
        store=store,
        event_id="r2",
        sent=start + 11,
    )
    assert drain(queue) == ["later"]


def test_a_late_resync_never_moves_the_mark_back(work: tuple[Store, Settings, str]) -> None:
    store, config, queue = work
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r2", sent=start + 10)
    # r1, sent before r2, redriven from the dead-letter queue
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r1", sent=start + 5)
    assert store.last_resync_sent() == pytest.approx(start + 10, abs=0.01)
    # a served Ingress sent between the two is covered by r2: not held
    change = ingress("a", 11, group="shop", served=True)
    apply_change(service(5), settings=config, store=store, event_id="svc", sent=start)
    assert apply_change(change, settings=config, store=store, event_id="e-a", sent=start + 7) == {"shop"}
    assert drain(queue) == ["shop"]


class Crash(Exception):
    """The invocation dies (a timeout, the sandbox recycled) at the request."""


def test_a_crash_at_a_services_release_leaves_the_hold_for_the_retry(
    work: tuple[Store, Settings, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, config, queue = work
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    apply_change(ingress("alone", 21), settings=config, store=store, event_id="e-alone", sent=start)
    request = queues.request

    def crash(*args: Any, **kwargs: Any) -> set[str]:
        raise Crash

    monkeypatch.setattr(queues, "request", crash)
    with pytest.raises(Crash):
        apply_change(service(5), settings=config, store=store, event_id="svc", sent=start + 1)
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == {"shop/alone"}  # not lost
    monkeypatch.setattr(queues, "request", request)
    # EventBridge retries the event
    assert apply_change(service(5), settings=config, store=store, event_id="svc", sent=start + 1) == {"shop/alone"}
    assert drain(queue) == ["shop/alone"]
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == set()


def test_a_crash_at_the_last_arrivals_release_leaves_it_for_the_retry(
    work: tuple[Store, Settings, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, config, queue = work
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    apply_change(service(5), settings=config, store=store, event_id="svc", sent=start - 59)
    apply_change(ingress("a", 11, group="shop"), settings=config, store=store, event_id="e-a", sent=start + 1)
    apply_resync(resync({"shop/a": 11, "shop/b": 12}), settings=config, store=store, event_id="r1", sent=start + 5)
    request = queues.request

    def crash(*args: Any, **kwargs: Any) -> set[str]:
        raise Crash

    monkeypatch.setattr(queues, "request", crash)
    last = ingress("b", 12, group="shop")
    with pytest.raises(Crash):
        apply_change(last, settings=config, store=store, event_id="e-b", sent=start + 2)
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == {"shop"}
    monkeypatch.setattr(queues, "request", request)
    assert apply_change(last, settings=config, store=store, event_id="e-b", sent=start + 2) == {"shop"}
    assert drain(queue) == ["shop"]
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == set()
    assert store.awaited(now=time.time(), hold_for=HOLD_SECONDS) == set()


class Reads:
    """Counts the DynamoDB reads of the sync hold's items (the forwarder# partitions)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.client = clients.dynamodb()
        self.seen: list[str] = []
        monkeypatch.setattr(clients, "dynamodb", lambda: self)

    def _note(self, keys: Any) -> None:
        self.seen += [k for k in keys if str(k).startswith("forwarder#")]

    def __getattr__(self, name: str) -> Any:
        call = getattr(self.client, name)
        if name == "get_item":
            return lambda **kw: self._read([kw["Key"]["pk"]["S"]], call, kw)
        if name == "batch_get_item":
            return lambda **kw: self._read(
                [k["pk"]["S"] for r in kw["RequestItems"].values() for k in r["Keys"]], call, kw
            )
        if name == "get_paginator":
            return lambda op: _Pages(self, call(op))
        return call

    def _read(self, keys: list[str], call: Any, kw: dict[str, Any]) -> Any:
        self._note(keys)
        return call(**kw)


class _Pages:
    def __init__(self, reads: Reads, paginator: Any) -> None:
        self.reads, self.paginator = reads, paginator

    def paginate(self, **kw: Any) -> Any:
        values = kw.get("ExpressionAttributeValues") or {}
        self.reads._note(str(v.get("S", "")) for v in values.values())  # a query's pk, a scan's prefix
        return self.paginator.paginate(**kw)


def test_a_steady_state_ingest_reads_nothing_of_the_sync_hold(
    work: tuple[Store, Settings, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No adoption in progress: an update of a stored Ingress, Service or EndpointSlice
    learns that nothing holds its groups from the writes it makes anyway (the request's
    conditional write; the snapshot's own write), and reads no hold or awaited item."""
    store, config, queue = work
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    apply_change(service(5, selector=True), settings=config, store=store, event_id="svc", sent=start - 59)
    apply_change(endpoint_slice(6), settings=config, store=store, event_id="eps", sent=start - 58)
    apply_change(ingress("a", 11, served=False), settings=config, store=store, event_id="e-a", sent=start - 57)
    store.take_request("shop/a")
    drain(queue)
    reads = Reads(monkeypatch)
    apply_change(ingress("a", 12, path="/a/v2"), settings=config, store=store, event_id="e-a2", sent=start)
    apply_change(service(7, selector=True), settings=config, store=store, event_id="svc2", sent=start + 1)
    apply_change(endpoint_slice(8), settings=config, store=store, event_id="eps2", sent=start + 2)
    assert reads.seen == []
    assert drain(queue) == ["shop/a"]  # and the groups were asked for all the same


def test_a_users_edit_to_a_held_group_is_released_on_the_urgent_lane(work: tuple[Store, Settings, str]) -> None:
    """ADR 0017: the hold keeps a user's edit from a half-listed group, but its release
    does not put the edit behind the adoption's backlog on the work queue."""
    store, config, queue = work
    urgent = clients.sqs().create_queue(QueueName="urgent")["QueueUrl"]
    config = dataclasses.replace(config, urgent_work_queue_url=urgent)
    start = time.time()
    apply_resync(resync({}, web=False), settings=config, store=store, event_id="r0", sent=start - 60)
    members = {"shop/a": 11, "shop/b": 12, "shop/c": 13, "shop/d": 14}
    for n, (key, rv) in enumerate(members.items()):
        apply_change(ingress(key.split("/")[1], rv, group="shop"), settings=config, store=store, event_id=f"e{n}")
    apply_change(service(5), settings=config, store=store, event_id="svc", sent=start + 3)
    # LBC's group "other": held too, and nobody edits it
    apply_change(ingress("x", 15, group="other"), settings=config, store=store, event_id="ex", sent=start + 4)
    assert store.held_groups(now=time.time(), hold_for=HOLD_SECONDS) == {"shop", "other"}

    # a user edits shop/b while it is held: nothing is reconciled from a half-listed group
    edited = ingress("b", 20, group="shop", path="/b/v2")
    edited.object["metadata"]["annotations"]["alb.ingress.kubernetes.io/healthcheck-path"] = "/healthz"
    assert apply_change(edited, settings=config, store=store, event_id="edit", sent=start + 5) == set()
    assert drain(queue) == []
    assert drain(urgent) == []

    listed = {**members, "shop/b": 20, "shop/x": 15}
    apply_resync(resync(listed), settings=config, store=store, event_id="r1", sent=start + 6)
    assert drain(urgent) == ["shop"]  # the group the user's edit waited in
    assert drain(queue) == ["other"]  # the adoption's own release stays bulk
