"""Ingest's answer to a Resync that carries versions (issue 14, item 8), against moto's
DynamoDB and SQS: every listed object stored older than the forwarder last sent it, as a
tombstone, or not at all lost a change on its way, and is asked for again on the
write-back queue (at most RESEND_MAX_KEYS a message); nothing else is. A late Resync,
or one of an older forwarder (no versions), asks for nothing; a re-baselining one asks
for what it stored again at version 0."""

from __future__ import annotations

import time
from typing import Any

from albatross.aws import clients
from albatross.contract import RESEND_MAX_KEYS, Resync, WriteBack, parse_writeback
from albatross.controller.ingest import apply_resync
from albatross.controller.settings import Settings
from albatross.store.table import Store
from tests.functional import stack
from tests.functional.test_store import table


def queues() -> Settings:
    sqs = clients.sqs()
    work = sqs.create_queue(QueueName="work.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    writeback = sqs.create_queue(QueueName="writeback")["QueueUrl"]
    return stack.settings(work_queue_url=work, writeback_queue_url=writeback)


def put(store: Store, kind: str, key: str, rv: int, *, deleted: bool = False) -> None:
    namespace, _, name = key.rpartition("/")
    meta: dict[str, Any] = {"name": name, "resourceVersion": str(rv)}
    if namespace:
        meta["namespace"] = namespace
    assert store.put_snapshot(kind=kind, key=key, rv=rv, obj={"metadata": meta}, deleted=deleted).applied


def asked(settings: Settings) -> list[WriteBack]:
    """Every write-back message on the queue (taken off it)."""
    sqs, found = clients.sqs(), []
    while messages := sqs.receive_message(QueueUrl=settings.writeback_queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        for m in messages:
            found.append(parse_writeback(m["Body"]))
            sqs.delete_message(QueueUrl=settings.writeback_queue_url, ReceiptHandle=m["ReceiptHandle"])
    return found


def named(messages: list[WriteBack]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in messages:
        assert (m.type, m.cluster) == ("resend", "c1")
        for kind, keys in m.objects.items():
            out.setdefault(kind, []).extend(keys)
    return {kind: sorted(keys) for kind, keys in out.items()}


def resync(keys: dict[str, dict[str, str]], as_of: str = "100", **extra: Any) -> Resync:
    return Resync(
        cluster="c1",
        keys={kind: sorted(versions) for kind, versions in keys.items()},
        as_of=dict.fromkeys(keys, as_of),
        versions=keys,
        **extra,
    )


def test_objects_stored_older_than_sent_as_tombstones_or_not_at_all_are_asked_for_again(moto_endpoint: str) -> None:
    store, settings = table(), queues()
    put(store, "Service", "shop/current", 50)  # what was sent last is stored
    put(store, "Service", "shop/behind", 30)  # its change at 70 was lost
    put(store, "Service", "shop/ahead", 90)  # stored after the Resync's keys were read
    put(store, "Service", "shop/deleted-then", 60, deleted=True)  # its re-creation at 80 was lost
    put(store, "Node", "node-a", 40)  # cluster-scoped kinds too
    put(store, "Service", "shop/unlisted", 20)  # gone from the cluster: tombstoned, not asked for
    listed = resync(
        {
            "Service": {
                "shop/current": "50",
                "shop/behind": "70",
                "shop/ahead": "85",
                "shop/deleted-then": "80",
                "shop/never-stored": "75",  # its creation was lost
                "other/out-of-scope": "1",  # not the forwarder's to send (another namespace)
            },
            "Node": {"node-a": "41"},
        },
        namespaces=("shop",),
    )
    apply_resync(listed, settings=settings, store=store, event_id="r1", sent=time.time())
    assert named(asked(settings)) == {
        "Node": ["node-a"],
        "Service": ["shop/behind", "shop/deleted-then", "shop/never-stored"],
    }
    assert "shop/unlisted" not in store.live_snapshots("Service")

    # once they are stored at what was sent, the next Resync asks for nothing
    for key, rv in (("shop/behind", 70), ("shop/deleted-then", 80), ("shop/never-stored", 75)):
        put(store, "Service", key, rv)
    put(store, "Node", "node-a", 41)
    apply_resync(listed, settings=settings, store=store, event_id="r2", sent=time.time())
    assert asked(settings) == []


def test_many_stale_objects_are_asked_for_in_messages_of_at_most_the_cap(moto_endpoint: str) -> None:
    store, settings = table(), queues()
    lost = {f"shop/web-{i:03}": str(i + 1) for i in range(2 * RESEND_MAX_KEYS + 30)}
    apply_resync(resync({"EndpointSlice": lost}), settings=settings, store=store, event_id="r1", sent=time.time())
    messages = asked(settings)
    assert sorted(sum(len(k) for k in m.objects.values()) for m in messages) == [30, RESEND_MAX_KEYS, RESEND_MAX_KEYS]
    assert named(messages) == {"EndpointSlice": sorted(lost)}


def test_a_late_resync_or_one_without_versions_asks_for_nothing(moto_endpoint: str) -> None:
    """A Resync sent before the one that set the mark (retried, redriven from the dead
    letter queue) lists what the newer one judged already; an older forwarder's Resync
    has no versions to compare."""
    store, settings = table(), queues()
    put(store, "Ingress", "shop/web", 10)
    sent = time.time()
    apply_resync(resync({"Ingress": {"shop/web": "10"}}), settings=settings, store=store, event_id="r1", sent=sent)
    late = resync({"Ingress": {"shop/web": "12"}}, as_of="90")
    apply_resync(late, settings=settings, store=store, event_id="late", sent=sent - 600)
    older = Resync(cluster="c1", keys={"Ingress": ["shop/web", "shop/new"]}, as_of={"Ingress": "200"})
    apply_resync(older, settings=settings, store=store, event_id="r2", sent=time.time())
    assert asked(settings) == []


def test_a_re_baselining_resync_asks_for_what_it_stored_again_at_version_0(moto_endpoint: str) -> None:
    """After an etcd restore what ingest holds above the Resync's asOf is stored again at
    version 0: its content is of the sequence that no longer counts, so the forwarder is
    asked for the restored one."""
    store, settings = table(), queues()
    put(store, "Service", "shop/kept", 900)
    put(store, "Service", "shop/old", 40)
    first = resync({"Service": {"shop/kept": "900", "shop/old": "40"}}, as_of="1000")
    apply_resync(first, settings=settings, store=store, event_id="r1", sent=time.time())
    assert asked(settings) == []
    restored = resync({"Service": {"shop/kept": "110", "shop/old": "40"}}, as_of="120")
    apply_resync(restored, settings=settings, store=store, event_id="r2", sent=time.time())
    assert named(asked(settings)) == {"Service": ["shop/kept"]}
    assert store.live_snapshots("Service")["shop/kept"][0] == 0
