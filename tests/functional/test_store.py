"""The state store against moto's DynamoDB: the newest resourceVersion wins, a deletion
leaves a tombstone that expires (the table's TTL attribute), a reconcile request is
marked once until taken."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from albatross.aws import clients
from albatross.aws.errors import AlbatrossError
from albatross.contract import ObjectChange, Resync, parse_detail
from albatross.controller.ingest import apply_change, apply_resync
from albatross.local.template import load
from albatross.store.table import TOMBSTONE_SECONDS
from tests.functional import stack

ROOT = Path(__file__).resolve().parents[2]
table = stack.state_table  # the name other functional tests import from here


def item(kind: str, key: str) -> dict[str, object]:
    found = clients.dynamodb().get_item(TableName="state", Key={"pk": {"S": f"obj#{kind}#{key}"}, "sk": {"S": "#"}})
    return dict(found["Item"])


def test_tombstones_expire_and_older_versions_lose(moto_endpoint: str) -> None:
    store = table()
    obj = {"metadata": {"name": "web", "namespace": "shop", "resourceVersion": "5"}}
    assert store.put_snapshot(kind="Ingress", key="shop/web", rv=5, obj=obj, deleted=False)[0]
    assert "expires" not in item("Ingress", "shop/web")
    assert not store.put_snapshot(kind="Ingress", key="shop/web", rv=4, obj=obj, deleted=False)[0]
    assert store.put_snapshot(kind="Ingress", key="shop/web", rv=6, obj=obj, deleted=True)[0]
    expires = int(str(item("Ingress", "shop/web")["expires"]["N"]))  # type: ignore[index]  # DynamoDB shape
    assert abs(expires - (time.time() + TOMBSTONE_SECONDS)) < 60
    # a late, older upsert does not bring the object back
    assert not store.put_snapshot(kind="Ingress", key="shop/web", rv=5, obj=obj, deleted=False)[0]
    assert store.get_objects("Ingress", ["shop/web"]) == {}
    ttl = load(ROOT / "template.yaml")["Resources"]["StateTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expires", "Enabled": True}


def test_a_reconcile_request_is_marked_once_until_taken(moto_endpoint: str) -> None:
    store = table()
    now = time.time()
    assert store.request("shop/web", now=now, stale_after=900)
    assert not store.request("shop/web", now=now + 1, stale_after=900)
    assert store.request("shop/web", now=now + 901, stale_after=900)  # a lost message does not hold it
    store.take_request("shop/web")
    assert store.request("shop/web", now=now + 902, stale_after=900)


def test_a_tombstone_at_the_version_last_seen_gives_way_to_that_version(moto_endpoint: str) -> None:
    """A Resync, or the forwarder no longer needing an object, deletes at the version it
    last saw; when the object is needed again, unchanged, that version comes back."""
    store = table()
    obj = {"metadata": {"name": "web", "namespace": "shop", "resourceVersion": "7"}}
    assert store.put_snapshot(kind="Service", key="shop/web", rv=7, obj=obj, deleted=False)[0]
    assert store.put_snapshot(kind="Service", key="shop/web", rv=7, obj=obj, deleted=True)[0]
    assert store.get_objects("Service", ["shop/web"]) == {}
    assert not store.put_snapshot(kind="Service", key="shop/web", rv=7, obj=obj, deleted=True)[0]
    assert store.put_snapshot(kind="Service", key="shop/web", rv=7, obj=obj, deleted=False)[0]
    assert "shop/web" in store.get_objects("Service", ["shop/web"])
    assert not store.put_snapshot(kind="Service", key="shop/web", rv=7, obj=obj, deleted=False)[0]  # a duplicate


def test_release_takes_the_dirty_mark_with_the_execution(moto_endpoint: str) -> None:
    store = table()
    store.set_execution("shop/web", "arn:execution:1")
    store.mark_dirty("shop/web")
    assert store.release("shop/web") == ("arn:execution:1", "bulk")
    state = store.group_state("shop/web")
    assert (state.execution, state.dirty) == (None, False)
    assert store.release("shop/web") == (None, None)


def test_a_users_change_during_an_execution_is_released_on_the_urgent_lane(moto_endpoint: str) -> None:
    # ADR 0017: bulk work and a user's edit both mark the group; the release says urgent,
    # and takes that mark too (the next execution's release is bulk again)
    store = table()
    store.set_execution("shop/web", "arn:execution:1")
    store.mark_dirty("shop/web")
    store.mark_dirty("shop/web", urgent=True)
    store.mark_dirty("shop/web")
    assert store.release("shop/web") == ("arn:execution:1", "urgent")
    store.set_execution("shop/web", "arn:execution:2")
    store.mark_dirty("shop/web")
    assert store.release("shop/web") == ("arn:execution:2", "bulk")
    # an execution that ended without its release (aborted): the next one starts clean
    store.set_execution("shop/web", "arn:execution:3")
    store.mark_dirty("shop/web", urgent=True)
    store.set_execution("shop/web", None)  # found ended by the next reconcile
    store.set_execution("shop/web", "arn:execution:4")
    store.mark_dirty("shop/web")
    assert store.release("shop/web") == ("arn:execution:4", "bulk")


def test_a_release_for_one_execution_leaves_a_newer_run_alone(moto_endpoint: str) -> None:
    store = table()
    store.set_execution("shop/web", "arn:execution:new")  # a reconcile started it after the old one ended
    store.mark_dirty("shop/web")
    assert store.release("shop/web", expected="arn:execution:old") == (None, None)
    state = store.group_state("shop/web")
    assert state.execution == "arn:execution:new"  # neither the run nor its dirty mark was taken
    assert store.release("shop/web", expected="arn:execution:new") == ("arn:execution:new", "bulk")
    assert store.group_state("shop/web").execution is None


def test_a_resync_judges_only_what_its_watch_had_seen(moto_endpoint: str) -> None:
    """A Resync lists keys as of where each watch stood (``asOf``): an object stored after
    that (its upsert overtook the Resync, or the Resync was redriven days later) stays;
    one the list left out at an older version goes; namespaces outside the forwarder's
    scope are not its to judge."""
    store = table()
    settings = stack.settings()

    def service(namespace: str, name: str, rv: int) -> None:
        obj = {"metadata": {"name": name, "namespace": namespace, "resourceVersion": str(rv)}}
        assert store.put_snapshot(kind="Service", key=f"{namespace}/{name}", rv=rv, obj=obj, deleted=False)[0]

    service("shop", "listed", 5)
    service("shop", "gone-meanwhile", 3)  # deleted while no forwarder watched
    service("shop", "newer", 9)  # created after the Resync's keys were read
    service("other", "out-of-scope", 2)
    late = Resync(cluster="c1", keys={"Service": ["shop/listed"]}, as_of={"Service": "8"}, namespaces=("shop",))
    assert late == parse_detail(late.to_detail())
    apply_resync(late, settings=settings, store=store, event_id="e1")
    assert set(store.live_snapshots("Service")) == {"shop/listed", "shop/newer", "other/out-of-scope"}

    # a Resync of an older forwarder (no asOf, no scope) judges everything it lists a kind of
    apply_resync(Resync(cluster="c1", keys={"Service": ["shop/listed"]}), settings=settings, store=store, event_id="e2")
    assert set(store.live_snapshots("Service")) == {"shop/listed"}


def test_a_change_whose_enqueue_failed_is_not_dropped_when_delivered_again(moto_endpoint: str) -> None:
    """Stored, then the enqueue failed (SQS refused): the event's retry must enqueue,
    not be dropped as a duplicate of what is stored; after that, duplicates are dropped."""
    store = table()
    sqs = clients.sqs()
    queue = sqs.create_queue(QueueName="work")["QueueUrl"]
    settings = stack.settings(work_queue_url=queue + "-missing")
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "5", "uid": "u1"},
        "spec": {"ingressClassName": "alb", "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}},
    }
    change = ObjectChange(
        cluster="c1", kind="Ingress", action="upsert", key="shop/web", resource_version="5", object=ingress
    )
    with pytest.raises(AlbatrossError):
        apply_change(change, settings=settings, store=store, event_id="e1")
    assert "pending" in item("Ingress", "shop/web")

    delivered_again = dataclasses.replace(settings, work_queue_url=queue)
    assert apply_change(change, settings=delivered_again, store=store, event_id="e1") == {"shop/web"}
    assert "pending" not in item("Ingress", "shop/web")
    waiting = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])
    assert waiting["Attributes"]["ApproximateNumberOfMessages"] == "1"
    store.take_request("shop/web")  # (the reconcile started)
    assert apply_change(change, settings=delivered_again, store=store, event_id="e1") == set()  # a plain duplicate
