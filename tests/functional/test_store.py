"""The state store against moto's DynamoDB: the newest resourceVersion wins, a deletion
leaves a tombstone that expires (the table's TTL attribute), a reconcile request is
marked once until taken."""

from __future__ import annotations

import time
from pathlib import Path

from albatross.aws import clients
from albatross.local.template import load
from albatross.store.table import TOMBSTONE_SECONDS, Store

ROOT = Path(__file__).resolve().parents[2]


def table() -> Store:
    clients.dynamodb().create_table(
        TableName="state",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    return Store("state")


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
    assert store.release("shop/web") == ("arn:execution:1", True)
    state = store.group_state("shop/web")
    assert (state.execution, state.dirty) == (None, False)
    assert store.release("shop/web") == (None, False)
