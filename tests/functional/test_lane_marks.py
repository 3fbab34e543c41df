"""Coalescing per lane (docs/adr/0017-a-lane-for-user-changes.md) on moto: a group with
an urgent request pending is not asked again on either lane; a group with only a bulk
request pending is asked on the urgent lane (the user's change would otherwise wait
behind the bulk backlog, coalesced into a request 190 records back at create-300). A
mark left by a lost message stops holding after ``stale_after``, on either lane. And
ingest asks for a user's change on the urgent lane: an Ingress created without an
address (or made again under its name), its spec or annotations changed, it deleted
(ADR 0017's list); its status or other metadata (what Albatross writes back) asks for
nothing, as LBC's Ingress event filter."""

from __future__ import annotations

import json
from typing import Any

import pytest

from albatross.aws import clients
from albatross.contract import ObjectChange
from albatross.controller import queues
from albatross.controller.ingest import apply_change
from albatross.controller.settings import Settings
from albatross.store.table import Store
from tests.functional.stack import make, state_table

GROUP = "shop/web"


def _drain(url: str) -> list[dict[str, Any]]:
    bodies = []
    while found := clients.sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in found:
            bodies.append(json.loads(m["Body"]))
            clients.sqs().delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return bodies


def _groups(url: str) -> list[str]:
    return sorted(b["group"] for b in _drain(url))


@pytest.fixture
def lanes(moto_endpoint: str) -> tuple[Store, str, str]:
    return state_table(), make("WorkQueue"), make("UrgentWorkQueue")


def test_an_urgent_request_is_not_coalesced_into_a_pending_bulk_one(lanes: tuple[Store, str, str]) -> None:
    store, work, urgent = lanes
    # bulk: coalesced as before, twenty events for a group cost one request
    assert queues.request(work, store, {GROUP}, cause="e1") == {GROUP}
    assert queues.request(work, store, {GROUP}, cause="e2") == set()
    # a user's change is asked for on its own lane: the pending bulk request does not hold it
    assert queues.request(urgent, store, {GROUP}, cause="e3", urgent=True) == {GROUP}
    # ... but a pending urgent request holds both lanes
    assert queues.request(urgent, store, {GROUP}, cause="e4", urgent=True) == set()
    assert queues.request(work, store, {GROUP}, cause="e5") == set()
    assert _groups(work) == [GROUP]
    assert _groups(urgent) == [GROUP]

    store.take_request(GROUP)  # a reconcile starts: what changes from here on asks again
    assert queues.request(urgent, store, {GROUP}, cause="e6", urgent=True) == {GROUP}
    assert queues.request(work, store, {GROUP}, cause="e7") == set()  # the urgent one covers it
    store.take_request(GROUP)
    assert queues.request(work, store, {GROUP}, cause="e8") == {GROUP}
    assert _groups(urgent) == [GROUP]
    assert _groups(work) == [GROUP]


def test_a_stale_urgent_mark_does_not_hold(lanes: tuple[Store, str, str]) -> None:
    store, _, _ = lanes
    assert store.request_unless_held(GROUP, now=1000.0, stale_after=900, held_after=None, urgent=True) == "requested"
    assert store.request_unless_held(GROUP, now=1100.0, stale_after=900, held_after=None, urgent=True) == "pending"
    assert store.request_unless_held(GROUP, now=1100.0, stale_after=900, held_after=None) == "pending"
    # its message lost: after stale_after, either lane asks again
    assert store.request_unless_held(GROUP, now=2000.0, stale_after=900, held_after=None, urgent=True) == "requested"
    assert store.request_unless_held(GROUP, now=3000.0, stale_after=900, held_after=None) == "requested"


def test_an_urgent_request_that_could_not_be_sent_leaves_no_mark(
    lanes: tuple[Store, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _, urgent = lanes

    def refused(*_: Any, **__: Any) -> None:
        raise RuntimeError("SQS is down")

    with monkeypatch.context() as m:
        m.setattr(queues, "enqueue", refused)
        with pytest.raises(RuntimeError):
            queues.request(urgent, store, {GROUP}, cause="e1", urgent=True)
    assert queues.request(urgent, store, {GROUP}, cause="e2", urgent=True) == {GROUP}  # the retry asks


def _ingress(rv: int, **changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": "u1",
            "resourceVersion": str(rv),
            "annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing"},
        },
        "spec": {"ingressClassName": "alb", "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}},
    }
    obj["metadata"].update(changes.pop("metadata", {}))
    obj.update(changes)
    return obj


def test_ingest_asks_for_a_users_change_on_the_urgent_lane_and_for_nothing_on_a_controllers_write(
    lanes: tuple[Store, str, str],
) -> None:
    store, work, urgent = lanes
    settings = Settings(
        cluster="c1",
        vpc_id="vpc-1",
        region="us-east-1",
        table=store.table,
        work_queue_url=work,
        urgent_work_queue_url=urgent,
        writeback_queue_url="",
        provision_state_machine="",
        teardown_state_machine="",
    )
    served = {"loadBalancer": {"ingress": [{"hostname": "k8s-shop-web.elb.amazonaws.com"}]}}
    rv = 0

    def apply(obj: dict[str, Any] | None = None, *, delete: bool = False) -> tuple[list[str], list[str]]:
        """The change stored (after the reconcile it asked for started), and the groups
        each lane was asked for: (work, urgent)."""
        nonlocal rv
        rv += 1
        body = obj if obj is not None else _ingress(rv)
        body["metadata"]["resourceVersion"] = str(rv)
        change = ObjectChange(
            cluster="c1",
            kind="Ingress",
            action="delete" if delete else "upsert",
            key="shop/web",
            resource_version=str(rv),
            object=body,
        )
        apply_change(change, settings=settings, store=store, event_id=f"e{rv}")
        asked = _groups(work), _groups(urgent)
        for group in {*asked[0], *asked[1]}:
            store.take_request(group)  # its reconcile starts
        return asked

    group = "shop/web"
    assert apply(_ingress(0)) == ([], [group])  # created without an address: a user's change
    # what controllers write asks for nothing, as LBC's Ingress event filter ignores it: its
    # address written back, our finalizer added, a label (only spec, annotations and
    # whether it is being deleted are read)
    assert apply(_ingress(0, status=served)) == ([], [])
    finalized = {"finalizers": ["ingress.k8s.aws/resources"]}
    assert apply(_ingress(0, status=served, metadata=finalized)) == ([], [])
    assert apply(_ingress(0, status=served, metadata={**finalized, "labels": {"team": "a"}})) == ([], [])
    # deleted and made again from the same manifest, its delete not seen (lost, or behind
    # the create): another object, with no address, is a user's creation
    assert apply(_ingress(0, metadata={"uid": "u2"})) == ([], [group])
    assert apply(_ingress(0, status=served, metadata={"uid": "u2"})) == ([], [])
    assert apply(_ingress(0)) == ([], [group])  # and again (uid u1 once more)
    assert apply(_ingress(0, status=served)) == ([], [])
    changed = {"annotations": {"alb.ingress.kubernetes.io/scheme": "internal"}}
    assert apply(_ingress(0, status=served, metadata=changed)) == ([], [group])
    moved = {"ingressClassName": "alb", "rules": [{"host": "shop.example.com"}]}
    assert apply(_ingress(0, status=served, metadata=changed, spec=moved)) == ([], [group])
    deleting = {**changed, "deletionTimestamp": "2026-12-07T00:00:00Z", "finalizers": ["ingress.k8s.aws/resources"]}
    assert apply(_ingress(0, status=served, metadata=deleting, spec=moved)) == ([], [group])
    assert apply(_ingress(0, status=served, metadata=deleting, spec=moved), delete=True) == ([], [group])
