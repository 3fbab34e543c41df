"""When the cluster's resourceVersions go back (an etcd restore, a cluster made again
under the same name), ingest is not blinded by what it stored before: another object
made later under the same name wins whatever its version, and a Resync sent after the
one that set a kind's mark, whose ``asOf`` is below that mark, re-baselines the kind.
The old guarantees hold: an older version of the same object loses, and a late Resync
tombstones nothing newer than what its watch had seen."""

from __future__ import annotations

import time
from typing import Any

from albatross.aws import clients
from albatross.contract import ObjectChange, Resync
from albatross.controller.ingest import apply_change, apply_resync
from albatross.controller.settings import Settings
from albatross.store.table import Store
from tests.functional import stack
from tests.functional.test_store import table


def settings(work_queue_url: str = "") -> Settings:
    return stack.settings(work_queue_url=work_queue_url)


def ingress(*, uid: str, created: str, rv: int, path: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": uid,
            "creationTimestamp": created,
            "resourceVersion": str(rv),
        },
        "spec": {
            "ingressClassName": "alb",
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": path,
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    }
                }
            ],
        },
    }


def change(obj: dict[str, Any], action: str = "upsert", kind: str = "Ingress") -> ObjectChange:
    meta = obj["metadata"]
    return ObjectChange(
        cluster="c1",
        kind=kind,
        action="delete" if action == "delete" else "upsert",
        key=f"{meta['namespace']}/{meta['name']}",
        resource_version=meta["resourceVersion"],
        object=obj,
    )


def path_of(store: Store) -> str | None:
    found = store.get_objects("Ingress", ["shop/web"]).get("shop/web")
    return None if found is None else str(found["spec"]["rules"][0]["http"]["paths"][0]["path"])


def test_another_object_made_later_under_the_same_name_wins_whatever_its_version(moto_endpoint: str) -> None:
    """A cluster made again under the same name starts its resourceVersions low: its
    Ingress (another uid, made later) is taken; the old cluster's late events lose even
    at higher versions; the new object's own older versions lose as always."""
    store = table()
    queue = clients.sqs().create_queue(QueueName="work")["QueueUrl"]
    config = settings(queue)
    old = {"uid": "u-old", "created": "2025-01-01T00:00:00Z"}
    new = {"uid": "u-new", "created": "2026-03-01T09:30:00Z"}
    assert apply_change(change(ingress(**old, rv=9000, path="/old")), settings=config, store=store, event_id="e1")

    assert apply_change(change(ingress(**new, rv=12, path="/new")), settings=config, store=store, event_id="e2") == {
        "shop/web"
    }
    assert path_of(store) == "/new"
    # the same object's older version still loses (EventBridge reorders)
    assert not apply_change(change(ingress(**new, rv=11, path="/older")), settings=config, store=store, event_id="e3")
    # late events of the old cluster's object lose, however high their versions
    late_delete = change(ingress(**old, rv=9001, path="/old"), "delete")
    assert not apply_change(late_delete, settings=config, store=store, event_id="e4")
    assert not apply_change(change(ingress(**old, rv=8999, path="/old")), settings=config, store=store, event_id="e5")
    assert path_of(store) == "/new"
    # and the new object's later change and its deletion land
    assert apply_change(change(ingress(**new, rv=14, path="/v2")), settings=config, store=store, event_id="e6")
    assert path_of(store) == "/v2"
    gone = change(ingress(**new, rv=15, path="/v2"), "delete")
    assert apply_change(gone, settings=config, store=store, event_id="e7") == {"shop/web"}
    assert path_of(store) is None


def test_an_object_made_again_in_the_same_cluster_keeps_the_order_of_versions(moto_endpoint: str) -> None:
    """Deleted and made again under its name within one cluster: the old object's late
    upsert loses to the new one (it is older by version and by creation)."""
    store = table()
    queue = clients.sqs().create_queue(QueueName="work")["QueueUrl"]
    config = settings(queue)
    first = {"uid": "u-1", "created": "2026-03-01T09:30:00Z"}
    second = {"uid": "u-2", "created": "2026-03-01T09:31:00Z"}
    assert apply_change(change(ingress(**second, rv=31, path="/second")), settings=config, store=store, event_id="e1")
    assert not apply_change(change(ingress(**first, rv=20, path="/first")), settings=config, store=store, event_id="e2")
    assert path_of(store) == "/second"


def service(name: str, rv: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "shop", "uid": f"u-{name}", "resourceVersion": str(rv)}}


def put(store: Store, name: str, rv: int, *, deleted: bool = False) -> None:
    assert store.put_snapshot(kind="Service", key=f"shop/{name}", rv=rv, obj=service(name, rv), deleted=deleted)[0]


def resync(as_of: str, *names: str) -> Resync:
    return Resync(cluster="c1", keys={"Service": [f"shop/{n}" for n in names]}, as_of={"Service": as_of})


def stored(name: str) -> tuple[int, bool]:
    """The stored snapshot's resourceVersion and whether it is a tombstone."""
    key = {"pk": {"S": f"obj#Service#shop/{name}"}, "sk": {"S": "#"}}
    item = clients.dynamodb().get_item(TableName="state", Key=key)["Item"]
    return int(item["rv"]["N"]), bool(item["deleted"]["BOOL"])


def send(store: Store, name: str, rv: int, action: str = "upsert") -> bool:
    """Ingest a change of a Service; whether it was stored."""
    apply_change(change(service(name, rv), action, "Service"), settings=settings(), store=store, event_id=f"{name}{rv}")
    return stored(name) == (rv, action == "delete")


def test_a_resync_below_the_mark_re_baselines_the_kind(moto_endpoint: str) -> None:
    """An etcd restore: the Resync sent after it says the watch stood at 120, below the
    mark (1000) of the Resync before. Its view wins over what was stored before it was
    sent: what it does not list goes, whatever its version; what it lists, live or
    tombstone, takes any later version."""
    store = table()
    config = settings()
    put(store, "kept", 900)  # changed after the backup: its stored version is above the restored cluster's
    put(store, "lost", 950)  # made after the backup: the restored cluster has no such Service
    put(store, "back", 960, deleted=True)  # deleted after the backup: the restored cluster has it again
    put(store, "old", 40)  # deleted since, unseen
    apply_resync(resync("1000", "kept", "lost", "old"), settings=config, store=store, event_id="r1", sent=time.time())
    assert set(store.live_snapshots("Service")) == {"shop/kept", "shop/lost", "shop/old"}

    restored = resync("120", "kept", "back")
    sent = time.time()
    apply_resync(restored, settings=config, store=store, event_id="r2", sent=sent)
    assert set(store.live_snapshots("Service")) == {"shop/kept"}

    # later changes compare against the new baseline, not the lost versions
    assert send(store, "kept", 130)
    assert send(store, "back", 50)
    assert set(store.live_snapshots("Service")) == {"shop/kept", "shop/back"}
    assert not send(store, "kept", 125)  # an older version of the same object still loses

    # a retried delivery of the re-baselining Resync takes nothing stored since it was sent
    put(store, "made-since", 140)
    apply_resync(restored, settings=config, store=store, event_id="r2", sent=sent)
    assert set(store.live_snapshots("Service")) == {"shop/kept", "shop/back", "shop/made-since"}
    assert not send(store, "kept", 125)
    assert send(store, "kept", 131, "delete")
    assert set(store.live_snapshots("Service")) == {"shop/back", "shop/made-since"}


def test_a_late_resync_re_baselines_nothing(moto_endpoint: str) -> None:
    """A Resync sent before the one that set the mark (retried, or redriven from the dead
    letter queue days later) has a lower asOf too; it is judged only by what its watch
    had seen. A kind the forwarder could not list ("0") judges nothing."""
    store = table()
    config = settings()
    put(store, "a", 900)
    put(store, "b", 990)
    sent = time.time()
    apply_resync(resync("1000", "a", "b"), settings=config, store=store, event_id="r1", sent=sent)
    put(store, "fresh", 1005)  # made after r1
    apply_resync(resync("800"), settings=config, store=store, event_id="late", sent=sent - 600)
    assert set(store.live_snapshots("Service")) == {"shop/a", "shop/b", "shop/fresh"}
    apply_resync(resync("0"), settings=config, store=store, event_id="unlisted", sent=time.time())
    assert set(store.live_snapshots("Service")) == {"shop/a", "shop/b", "shop/fresh"}
    assert not send(store, "b", 980)  # versions still count


def test_the_first_mark_is_raised_to_what_is_stored(moto_endpoint: str) -> None:
    """Upgrading an installation already blinded (its store holds versions above the
    cluster's): the first Resync only sets the mark, at the newest version stored; the
    next one sent re-baselines."""
    store = table()
    config = settings()
    put(store, "kept", 5000)
    apply_resync(resync("300", "kept"), settings=config, store=store, event_id="r1", sent=time.time())
    assert not send(store, "kept", 310)  # one Resync is no proof: a change may overtake it
    apply_resync(resync("320", "kept"), settings=config, store=store, event_id="r2", sent=time.time())
    assert send(store, "kept", 330)
