"""DynamoDB access for the state store (layout in the package docstring)."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from albatross.aws import clients
from albatross.aws.errors import ConditionFailed, Retryable, aws_errors
from albatross.store import registered
from albatross.store.registered import Registered

STATE_SK = "#state"
_TARGETS = "targets:"  # state item attributes: targets:<target group id> → digest
_BOUND = "bound#"  # bound#<target group ARN>: the TargetGroupBindings that hold a user's target group
_TRACKED = "tracked#"  # items of a group's partition: tracked#<target group id> → targets this cluster registered
_NET = "net#"  # items of a group's partition: net#<target group id> → its backend rule record
_OWNED = "ownedLoadBalancers"  # state item attribute: the ARNs of the load balancers the group made or adopted
_HELD = "held#"  # held#<physical id> / grp#<group>: the group's stack index holds that resource
_MADE = "made:"  # state item attributes: made:<physical id> → {"id": resource id, "at": when recorded}
_FAILED = "failedRuns"  # state item attribute: failed executions in a row, and when the last one failed
# state item attributes: when a reconcile was requested and not started yet, on any lane
# (the bulk lane's coalescing mark) and on the urgent lane (ADR 0017)
_REQUESTED, _URGENT = "requested", "urgentRequested"
_DIRTY_URGENT = "dirtyUrgent"  # a user's change came while the group's execution ran (ADR 0017)
Lane = Literal["urgent", "bulk"]
# state item attributes: the reconcile that holds the group (its request id) and until
# when (epoch seconds): one reconcile of a group at a time across the work queues (ADR 0017)
_LEASE, _LEASE_UNTIL = "lease", "leaseUntil"
TOMBSTONE_SECONDS = 15 * 24 * 3600
_SINGLE_SK = "#"
_SINGLE_PARTITION = ("IngressClass", "IngressClassParams", "Node")
RESYNC_PK = "forwarder#resync"
HOLD_PK = "forwarder#held"  # sk: a group whose reconciles wait for the forwarder's next Resync
MARK_PK = "forwarder#mark"  # sk: the kind
# How long a sync hold holds (albatross.controller.ingest). A live forwarder sends its
# first Resync as soon as its lists are sent (seconds; minutes for thousands of objects)
# and one every 10 minutes after (RESYNC_SECONDS): a hold older than that was left by a
# forwarder that stopped first.
HOLD_SECONDS = 600.0
AWAIT_PK = "forwarder#awaited"  # sk: <Kind>/<key> a Resync listed that ingest had not stored yet
# The sync hold's markers on items the hot path writes anyway, so that an ingest with no
# adoption in progress reads neither partition above: a held group's state item carries
# when it was held (its request is refused while it does), an awaited object's stored
# snapshot the version awaited (its next write returns it).
_HELD_AT = "heldAt"
_HELD_URGENT = "heldUrgent"  # a user's change waits in the held group (ADR 0017)
_AWAITED = "awaited"


class Awaited(NamedTuple):
    """An object a Resync listed that ingest had not stored (at that version)."""

    rv: int  # the version the Resync listed (0: not said)
    service: str | None  # an EndpointSlice's Service (namespace/name), when known


def snapshot_key(kind: str, key: str, obj: Mapping[str, Any] | None = None) -> tuple[str, str]:
    if kind in _SINGLE_PARTITION:  # cluster-scoped, read whole: one partition, one query
        return f"obj#{kind}", key
    if kind == "EndpointSlice":
        namespace, _, name = key.partition("/")
        labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
        service = labels.get("kubernetes.io/service-name", "")
        return f"obj#EndpointSlice#{namespace}/{service}", name
    return f"obj#{kind}#{key}", _SINGLE_SK


def _uid(obj: Mapping[str, Any]) -> str | None:
    meta = obj.get("metadata")
    uid = meta.get("uid") if isinstance(meta, Mapping) else None
    return uid if isinstance(uid, str) and uid else None


def _created(obj: Mapping[str, Any]) -> datetime.datetime | None:
    meta = obj.get("metadata")
    stamp = meta.get("creationTimestamp") if isinstance(meta, Mapping) else None
    if not isinstance(stamp, str):
        return None
    try:
        made = datetime.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return made if made.tzinfo is not None else made.replace(tzinfo=datetime.UTC)


def _index_load_balancers(index: Mapping[str, Any]) -> set[str]:
    """The load balancer ARNs a stack index (JSON form) holds."""
    ids = index.get("ids") if isinstance(index, Mapping) else None
    return {str(p) for p in (ids or {}).values() if ":loadbalancer/" in str(p)} if isinstance(ids, Mapping) else set()


def _index_ids(index: Mapping[str, Any]) -> set[str]:
    """Every physical id a stack index (JSON form) holds: load balancers, target groups,
    security groups."""
    ids = index.get("ids") if isinstance(index, Mapping) else None
    return {str(p) for p in ids.values() if p} if isinstance(ids, Mapping) else set()


def _load_balancers_of(item: Mapping[str, Any]) -> frozenset[str]:
    """The load balancers of a state item's stack index, if it has one."""
    return (
        frozenset(_index_load_balancers(json.loads(item["stackIndex"]["S"]))) if "stackIndex" in item else frozenset()
    )


def _made(value: Mapping[str, Any]) -> Made:
    fields = value.get("M") or {}
    return Made(rid=str(fields.get("id", {}).get("S", "")), at=float(fields.get("at", {}).get("N", "0")))


def _identity(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object's uid and creation time as item attributes (the time in one fixed form,
    so the table compares it as a string), when it has both."""
    uid, made = _uid(obj), _created(obj)
    if uid is None or made is None:
        return {}
    return {"uid": {"S": uid}, "created": {"S": made.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}}


def replaces(new: Mapping[str, Any], stored: Mapping[str, Any]) -> bool:
    """Whether ``new`` is another object than ``stored`` under the same key, made after
    it: the uids differ and its creationTimestamp is later. A uid alone cannot say which
    of two is newer (an object deleted and made again under its name: a late event of the
    deleted one must still lose); the API server's creation times can. Objects without a
    uid or a creation time (Secret references, trimmed Nodes) are judged by
    resourceVersion alone."""
    new_uid, stored_uid = _uid(new), _uid(stored)
    if new_uid is None or stored_uid is None or new_uid == stored_uid:
        return False
    made, was = _created(new), _created(stored)
    return made is not None and was is not None and made > was


class Made(NamedTuple):
    """A resource Albatross made for a group: its resource id in the model, and when it
    was recorded (epoch seconds)."""

    rid: str
    at: float


class FailedRuns(NamedTuple):
    """The group's executions that failed in a row (0: the last one succeeded), and when
    the last of them failed (epoch seconds)."""

    runs: int = 0
    last: float = 0.0


@dataclass(frozen=True)
class GroupState:
    model: Mapping[str, Any] | None = None
    leaving: tuple[Mapping[str, str], ...] = ()
    execution: str | None = None
    dirty: bool = False
    index: Mapping[str, Any] | None = None  # a StackIndex in JSON form
    targets: Mapping[str, str] = field(default_factory=dict)  # target group id → digest of its registered targets
    last: Mapping[str, Any] | None = None  # the last reconcile: at, result, duration_ms, steps, errors
    requested: bool = False  # a reconcile is requested and not started
    # The load balancers (ARNs) Albatross made or adopted for this group: the only ones
    # it may delete (see albatross.plan.planner.set_aside). Every one the stack index has
    # held, and every one a provision made, even when the index was forgotten since.
    owned: frozenset[str] = frozenset()
    # Physical id → what Albatross made under it (load balancers, target groups, security
    # groups, listeners, rules), from the moment the create call answered until it deleted
    # it: discovery reads these by id, as the tag search may not list them yet.
    made: Mapping[str, Made] = field(default_factory=dict)
    failed: FailedRuns = field(default_factory=FailedRuns)

    @property
    def managed(self) -> bool:
        """Albatross has applied a model for this group (its stack is Albatross's)."""
        return self.model is not None or self.index is not None


class StoredSnapshot(NamedTuple):
    rv: int
    deleted: bool
    obj: Mapping[str, Any]
    at: float  # when it was stored (0: before this was recorded)


def _key_of(body: Mapping[str, Any]) -> str:
    meta = body.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else str(meta["name"])


class SnapshotWrite(NamedTuple):
    applied: bool
    previous: Mapping[str, Any] | None
    redelivered: bool = False
    # the version a Resync awaits of this object (ingest's sync hold), marked on the
    # stored item it replaced: the hot path learns it from its own write, reading nothing
    awaited: int | None = None


class Store:
    """Typed operations on the table; the client comes from :mod:`albatross.aws.clients`."""

    def __init__(self, table: str) -> None:
        self.table = table

    # --- snapshots ---------------------------------------------------------------------

    def put_snapshot(self, *, kind: str, key: str, rv: int, obj: Mapping[str, Any], deleted: bool) -> SnapshotWrite:
        """Store if ``rv`` is newer than what is stored, or if ``obj`` is another, later
        made object under the same key (:func:`replaces`); returns (applied, previous
        body), and whether this was a redelivery of a change whose enqueue had failed."""
        pk, sk = snapshot_key(kind, key, obj)
        item: dict[str, Any] = {
            "pk": {"S": pk},
            "sk": {"S": sk},
            "rv": {"N": str(rv)},
            "deleted": {"BOOL": deleted},
            "body": {"S": json.dumps(obj, separators=(",", ":"), sort_keys=True)},
            "at": {"N": f"{time.time():.3f}"},  # when stored (a re-baseline judges only what came before it)
            **_identity(obj),
        }
        if deleted:
            # A tombstone outlives anything that could still bring an older version back
            # (a redriven dead letter: 14 days), then DynamoDB's TTL removes it.
            item["expires"] = {"N": str(int(time.time()) + TOMBSTONE_SECONDS)}
        # Newer always wins. At the same resourceVersion, a deletion wins over the live
        # version (a Resync, or the forwarder no longer needing the object, deletes at the
        # version it last saw) and the live version wins back over such a tombstone (the
        # object is needed again, unchanged).
        newer = "(attribute_not_exists(pk) OR rv < :rv OR (rv = :rv AND deleted <> :d))"
        newer_values: dict[str, Any] = {":rv": {"N": str(rv)}, ":d": {"BOOL": deleted}}
        if "created" in item:
            # ... but never a change of an object made before the stored one (another
            # uid), whatever its version: a late event of the old cluster, after one made
            # again under the same name.
            newer += " AND NOT (attribute_exists(created) AND uid <> :uid AND created > :made)"
            newer_values |= {":uid": item["uid"], ":made": item["created"]}
        condition, values = newer, newer_values
        for _ in range(3):  # a write that races ours is judged again, a bounded number of times
            try:
                with aws_errors():
                    old = clients.dynamodb().put_item(
                        TableName=self.table,
                        Item=item,
                        ConditionExpression=condition,
                        ExpressionAttributeValues=values,
                        ReturnValues="ALL_OLD",
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    )
            except ConditionFailed as e:
                stored = getattr(e.__cause__, "response", {}).get("Item") or {}
                if stored.get("pending", {}).get("BOOL") and stored.get("rv", {}).get("N") == str(rv):
                    # this very change was stored, but what had to follow it failed (the
                    # enqueue): a redelivery finishes the job, with the previous body kept
                    prev = stored.get("prev", {}).get("S")
                    return SnapshotWrite(True, json.loads(prev) if prev else None, redelivered=True)
                if condition == newer and "body" in stored and replaces(obj, json.loads(stored["body"]["S"])):
                    # Another object under this key, made after the stored one: its
                    # resourceVersion is of a sequence that went back (a cluster made
                    # again under the same name, an etcd restore): it wins whatever its
                    # version, if what is stored is still what was judged.
                    condition = "rv = :seen AND deleted = :was"
                    values = {":seen": stored["rv"], ":was": stored["deleted"]}
                    continue
                if condition == newer:
                    return SnapshotWrite(False, None)
                condition, values = newer, newer_values  # what was judged changed meanwhile: judge again
                continue
            attrs = old.get("Attributes") or {}
            awaited = int(attrs[_AWAITED]["N"]) if _AWAITED in attrs else None
            if not attrs or attrs.get("deleted", {}).get("BOOL"):
                return SnapshotWrite(True, None, awaited=awaited)
            return SnapshotWrite(True, json.loads(attrs["body"]["S"]), awaited=awaited)
        return SnapshotWrite(False, None)

    def mark_pending(self, *, kind: str, key: str, rv: int, obj: Mapping[str, Any], previous: Any) -> None:
        """The change at ``rv`` was stored but what follows it (the enqueue) failed: say
        so on the snapshot, with the body it replaced, so a redelivery of the same change
        is not dropped as a duplicate."""
        pk, sk = snapshot_key(kind, key, obj)
        values: dict[str, Any] = {":t": {"BOOL": True}, ":rv": {"N": str(rv)}}
        update = "SET pending = :t"
        if previous is not None:
            update += ", prev = :p"
            values[":p"] = {"S": json.dumps(previous, separators=(",", ":"), sort_keys=True)}
        try:
            with aws_errors():
                clients.dynamodb().update_item(
                    TableName=self.table,
                    Key={"pk": {"S": pk}, "sk": {"S": sk}},
                    UpdateExpression=update,
                    ConditionExpression="rv = :rv",
                    ExpressionAttributeValues=values,
                )
        except ConditionFailed:
            pass  # a newer change is stored already: it carries the work forward

    def settle(self, *, kind: str, key: str, rv: int, obj: Mapping[str, Any]) -> None:
        """A redelivered change finished what its first delivery could not."""
        pk, sk = snapshot_key(kind, key, obj)
        self._update_if(pk, sk, "REMOVE pending, prev", condition="rv = :rv", values={":rv": {"N": str(rv)}})

    # --- re-baselining: when the cluster's resourceVersions went back ------------------------

    def snapshots_above(self, kind: str, rv: int) -> dict[str, StoredSnapshot]:
        """Every snapshot of a kind stored at a resourceVersion above ``rv``, tombstones
        too, by key."""
        values = {":rv": {"N": str(rv)}}
        if kind in _SINGLE_PARTITION:
            kwargs: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :pk",
                "FilterExpression": "rv > :rv",
                "ExpressionAttributeValues": {":pk": {"S": f"obj#{kind}"}, **values},
                "ConsistentRead": True,
            }
        else:
            kwargs = {
                "TableName": self.table,
                "FilterExpression": "begins_with(pk, :p) AND rv > :rv",
                "ExpressionAttributeValues": {":p": {"S": f"obj#{kind}#"}, **values},
                "ConsistentRead": True,
            }
        out: dict[str, StoredSnapshot] = {}
        db = clients.dynamodb()
        with aws_errors():
            pages = (
                db.get_paginator("query").paginate(**kwargs)
                if kind in _SINGLE_PARTITION
                else db.get_paginator("scan").paginate(**kwargs)
            )
            for page in pages:
                for item in page.get("Items", []):
                    body = json.loads(item["body"]["S"])
                    key = item["sk"]["S"] if kind in _SINGLE_PARTITION else _key_of(body)
                    out[key] = StoredSnapshot(
                        rv=int(item["rv"]["N"]),
                        deleted=bool(item.get("deleted", {}).get("BOOL")),
                        obj=body,
                        at=float(item["at"]["N"]) if "at" in item else 0.0,
                    )
        return out

    def rebase(self, *, kind: str, key: str, obj: Mapping[str, Any], seen: int, deleted: bool) -> bool:
        """Store a snapshot again at resourceVersion 0, live or as a tombstone: whatever
        version of the cluster's new sequence comes next is newer. Only if it is still at
        ``seen`` (a change stored meanwhile is the newer word); returns whether it was."""
        pk, sk = snapshot_key(kind, key, obj)
        item: dict[str, Any] = {
            "pk": {"S": pk},
            "sk": {"S": sk},
            "rv": {"N": "0"},
            "deleted": {"BOOL": deleted},
            "body": {"S": json.dumps(obj, separators=(",", ":"), sort_keys=True)},
            "at": {"N": f"{time.time():.3f}"},  # when stored (a re-baseline judges only what came before it)
            **_identity(obj),
        }
        if deleted:
            item["expires"] = {"N": str(int(time.time()) + TOMBSTONE_SECONDS)}
        try:
            with aws_errors():
                clients.dynamodb().put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression="rv = :seen",
                    ExpressionAttributeValues={":seen": {"N": str(seen)}},
                )
        except ConditionFailed:
            return False
        return True

    def claim_mark(
        self, kind: str, *, rv: int, sent: float, event_id: str, bootstrap: int = 0
    ) -> tuple[bool, int | None]:
        """Record where a Resync says the watch of ``kind`` stood (``rv``, its ``asOf``),
        if it was sent after the Resync that set the mark; returns (whether it was, the
        mark it is to be judged against). The first mark of a kind is ``rv`` raised to
        ``bootstrap`` (the newest version stored) and judges nothing yet. The delivery of a
        Resync that set the mark already (a retry) gets the mark it was judged against."""
        key = {"pk": {"S": MARK_PK}, "sk": {"S": kind}}
        with aws_errors():
            found = clients.dynamodb().get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        if found is not None and found["event"]["S"] == event_id:
            return True, int(found["prior"]["N"]) if "prior" in found else None
        if found is not None and float(found["sent"]["N"]) >= sent:
            return False, int(found["rv"]["N"])  # sent before the mark's Resync: a late one
        prior = int(found["rv"]["N"]) if found is not None else None
        item: dict[str, Any] = {
            **key,
            "rv": {"N": str(rv if prior is not None else max(rv, bootstrap))},
            "sent": {"N": repr(sent)},
            "event": {"S": event_id},
        }
        if prior is not None:
            item["prior"] = {"N": str(prior)}
        try:
            with aws_errors():
                clients.dynamodb().put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(pk) OR sent < :t",
                    ExpressionAttributeValues={":t": {"N": repr(sent)}},
                )
        except ConditionFailed:
            return False, prior  # a Resync sent later set it meanwhile
        return True, prior

    def get_objects(self, kind: str, keys: Iterable[str]) -> dict[str, Mapping[str, Any]]:
        """Live (not deleted) snapshots of ``kind`` by key."""
        wanted = sorted(set(keys))
        out: dict[str, Mapping[str, Any]] = {}
        for i in range(0, len(wanted), 100):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [
                        {"pk": {"S": snapshot_key(kind, k)[0]}, "sk": {"S": snapshot_key(kind, k)[1]}}
                        for k in wanted[i : i + 100]
                    ],
                    "ConsistentRead": True,  # what ingest just stored is what reconcile reads
                }
            }
            while request:
                with aws_errors():
                    resp = clients.dynamodb().batch_get_item(RequestItems=request)
                for item in resp.get("Responses", {}).get(self.table, []):
                    if not item.get("deleted", {}).get("BOOL"):
                        body = json.loads(item["body"]["S"])
                        meta = body.get("metadata") or {}
                        ns = meta.get("namespace")
                        out[f"{ns}/{meta['name']}" if ns else meta["name"]] = body
                request = dict(resp.get("UnprocessedKeys") or {})
        return out

    def _query(self, pk: str, prefix: str = "") -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk" + (" AND begins_with(sk, :p)" if prefix else ""),
            "ConsistentRead": True,
            "ExpressionAttributeValues": {":pk": {"S": pk}, **({":p": {"S": prefix}} if prefix else {})},
        }
        with aws_errors():
            for page in clients.dynamodb().get_paginator("query").paginate(**kwargs):
                items.extend(page.get("Items", []))
        return items

    def endpoint_slices(self, service_key: str) -> list[Mapping[str, Any]]:
        items = self._query(f"obj#EndpointSlice#{service_key}")
        return [json.loads(i["body"]["S"]) for i in items if not i.get("deleted", {}).get("BOOL")]

    def nodes(self) -> list[Mapping[str, Any]]:
        return self._cluster_scoped("Node")

    def ingress_classes(self) -> list[Mapping[str, Any]]:
        return self._cluster_scoped("IngressClass")

    def class_params(self) -> list[Mapping[str, Any]]:
        return self._cluster_scoped("IngressClassParams")

    def _cluster_scoped(self, kind: str) -> list[Mapping[str, Any]]:
        items = self._query(f"obj#{kind}")
        return [json.loads(i["body"]["S"]) for i in items if not i.get("deleted", {}).get("BOOL")]

    def live_snapshots(self, kind: str) -> dict[str, tuple[int, Mapping[str, Any]]]:
        """Every live snapshot of a kind: key → (resourceVersion, object), for Resync."""
        out: dict[str, tuple[int, Mapping[str, Any]]] = {}
        if kind in _SINGLE_PARTITION:
            for item in self._query(f"obj#{kind}"):
                if not item.get("deleted", {}).get("BOOL"):
                    out[item["sk"]["S"]] = (int(item["rv"]["N"]), json.loads(item["body"]["S"]))
            return out
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "begins_with(pk, :p) AND deleted = :f",
            "ExpressionAttributeValues": {":p": {"S": f"obj#{kind}#"}, ":f": {"BOOL": False}},
        }
        with aws_errors():
            for page in clients.dynamodb().get_paginator("scan").paginate(**kwargs):
                for item in page.get("Items", []):
                    body = json.loads(item["body"]["S"])
                    meta = body.get("metadata") or {}
                    ns = meta.get("namespace")
                    out[f"{ns}/{meta['name']}" if ns else meta["name"]] = (int(item["rv"]["N"]), body)
        return out

    def gone_versions(self, kind: str) -> dict[str, int]:
        """Every tombstone of a (namespaced) kind: key → the version it was deleted at."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "begins_with(pk, :p) AND deleted = :t",
            "ExpressionAttributeValues": {":p": {"S": f"obj#{kind}#"}, ":t": {"BOOL": True}},
        }
        out: dict[str, int] = {}
        with aws_errors():
            for page in clients.dynamodb().get_paginator("scan").paginate(**kwargs):
                for item in page.get("Items", []):
                    out[_key_of(json.loads(item["body"]["S"]))] = int(item["rv"]["N"])
        return out

    # --- the forwarder's Resync ----------------------------------------------------------

    def record_resync(self, *, event_id: str, at: float, sent: float | None = None) -> bool:
        """Ingest applied a Resync: the proof that a forwarder reaches it. ``sent``: when
        the forwarder sent it (the event's time), if known. Only forward: a Resync sent
        before the one recorded (late, or redriven from the dead-letter queue) leaves the
        record as it is (what :meth:`last_resync_sent` vouches for never goes back);
        returns whether this one was recorded."""
        item = {"pk": {"S": RESYNC_PK}, "sk": {"S": _SINGLE_SK}, "event": {"S": event_id}, "at": {"N": f"{at:.3f}"}}
        if sent is None:
            with aws_errors():
                clients.dynamodb().put_item(TableName=self.table, Item=item)
            return True
        try:
            with aws_errors():
                clients.dynamodb().put_item(
                    TableName=self.table,
                    Item={**item, "sent": {"N": f"{sent:.3f}"}},
                    ConditionExpression="attribute_not_exists(#sent) OR #sent <= :sent",
                    ExpressionAttributeNames={"#sent": "sent"},
                    ExpressionAttributeValues={":sent": {"N": f"{sent:.3f}"}},
                )
        except ConditionFailed:
            return False
        return True

    def last_resync_sent(self) -> float | None:
        """When the forwarder sent the last Resync ingest applied (None: none yet, or
        recorded without it): every change sent before then reached ingest, or was asked
        for again."""
        item = self._resync_item()
        return float(item["sent"]["N"]) if item and "sent" in item else None

    def _resync_item(self) -> dict[str, Any] | None:
        """The record of the last Resync ingest applied (one consistent read)."""
        with aws_errors():
            item: dict[str, Any] | None = (
                clients.dynamodb()
                .get_item(
                    TableName=self.table, Key={"pk": {"S": RESYNC_PK}, "sk": {"S": _SINGLE_SK}}, ConsistentRead=True
                )
                .get("Item")
            )
        return item

    def hold_groups(self, groups: Iterable[str], *, at: float, sent: float | None = None) -> None:
        """Hold these groups' reconciles until the forwarder's next Resync (ingest's
        sync hold): the mark on each group's state item (its requests are refused while
        it holds, :meth:`request_unless_held`) and one item each in the hold partition,
        the index the releases read. ``sent``: when the change that held it was sent (a
        Resync sent before it does not cover it). The index first: a mark no release
        knows of would refuse the group's requests until the hold's time is over."""
        for group in sorted(set(groups)):
            self._put(
                HOLD_PK, group, at={"N": f"{at:.3f}"}, **({"sent": {"N": f"{sent:.3f}"}} if sent is not None else {})
            )
            with aws_errors():
                clients.dynamodb().update_item(
                    TableName=self.table,
                    Key={"pk": {"S": f"grp#{group}"}, "sk": {"S": STATE_SK}},
                    UpdateExpression="SET #held = :at",
                    ExpressionAttributeNames={"#held": _HELD_AT},
                    ExpressionAttributeValues={":at": {"N": f"{at:.3f}"}},
                )

    def held_groups(self, *, now: float, hold_for: float) -> set[str]:
        """The groups held less than ``hold_for`` seconds ago (an older hold no longer holds)."""
        return set(self.holds(now=now, hold_for=hold_for))

    def holds(self, *, now: float, hold_for: float) -> dict[str, float | None]:
        """The groups held less than ``hold_for`` seconds ago → when the change that held
        each was sent (None: not known)."""
        return {
            item["sk"]["S"]: float(item["sent"]["N"]) if "sent" in item else None
            for item in self._query(HOLD_PK)
            if float(item["at"]["N"]) > now - hold_for
        }

    def mark_held_urgent(self, groups: Iterable[str]) -> None:
        """A user's change waits in these held groups: their release asks for them on the
        urgent lane (ADR 0017). A group no longer held is left as it is."""
        for group in sorted(set(groups)):
            self._update_state_if(
                group,
                "SET #urgent = :t",
                condition="attribute_exists(#held)",
                names={"#held": _HELD_AT, "#urgent": _HELD_URGENT},
                values={":t": {"BOOL": True}},
            )

    def unhold(self, groups: Iterable[str]) -> set[str]:
        """Take the hold mark off these groups' state items, before their reconcile is
        requested (:meth:`release_groups` ends the hold after it: a crash in between
        leaves them in the index, for the next release); returns those a user's change
        waited in (:meth:`mark_held_urgent`)."""
        urgent: set[str] = set()
        for group in sorted(set(groups)):
            old = self._update_state_if(
                group,
                "REMOVE #held, #urgent",
                condition="attribute_exists(#held)",  # no state item made for none
                names={"#held": _HELD_AT, "#urgent": _HELD_URGENT},
            )
            if old is not None and _HELD_URGENT in old:
                urgent.add(group)
        return urgent

    def _update_state_if(
        self,
        group: str,
        update: str,
        *,
        condition: str,
        names: Mapping[str, str],
        values: Mapping[str, Any] | None = None,
    ) -> Mapping[str, Any] | None:
        """:meth:`_update_if` on the group's state item."""
        return self._update_if(f"grp#{group}", STATE_SK, update, condition=condition, names=names, values=values)

    def _update_if(
        self,
        pk: str,
        sk: str,
        update: str,
        *,
        condition: str,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> Mapping[str, Any] | None:
        """Update the item if ``condition`` holds: the attributes the update changed, as
        they were (None: the condition did not hold, nothing changed)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ReturnValues": "UPDATED_OLD",
        }
        if names:
            kwargs["ExpressionAttributeNames"] = dict(names)
        if values:
            kwargs["ExpressionAttributeValues"] = dict(values)
        try:
            with aws_errors():
                answer = clients.dynamodb().update_item(**kwargs)
        except ConditionFailed:
            return None
        return dict(answer.get("Attributes", {}))

    def release_groups(self, groups: Iterable[str] | None = None) -> set[str]:
        """End the hold of ``groups`` (None: of every held group, old holds too); returns
        the groups that were held."""
        held = {item["sk"]["S"] for item in self._query(HOLD_PK)}
        released = held if groups is None else held & set(groups)
        self.unhold(released)
        for group in sorted(released):
            self._delete(HOLD_PK, group)
        return released

    def await_objects(self, listed: Mapping[str, Awaited], *, at: float) -> None:
        """Record objects (``<Kind>/<key>`` → what is awaited of it) a Resync listed that
        were not stored yet (at that version): the held groups wait for them (ingest's
        sync hold)."""
        for key, what in sorted(listed.items()):
            service = {"service": {"S": what.service}} if what.service else {}
            self._put(AWAIT_PK, key, at={"N": f"{at:.3f}"}, rv={"N": str(what.rv)}, **service)

    def mark_awaited(self, *, kind: str, key: str, obj: Mapping[str, Any], rv: int) -> None:
        """Mark the stored (older) snapshot of an awaited object with the version awaited:
        the write that replaces it returns the mark (:attr:`SnapshotWrite.awaited`)."""
        pk, sk = snapshot_key(kind, key, obj)
        self._update_if(
            pk,
            sk,
            "SET #awaited = :rv",
            condition="attribute_exists(pk) AND rv < :rv",  # stored meanwhile: nothing to mark
            names={"#awaited": _AWAITED},
            values={":rv": {"N": str(rv)}},
        )

    def arrived(self, keys: Iterable[str]) -> set[str]:
        """Of ``keys``, the awaited ones, no longer awaited; returns them."""
        found = set(self.awaited_items(now=0, hold_for=float("inf"))) & set(keys)
        for key in sorted(found):
            self._delete(AWAIT_PK, key)
        return found

    def awaited(self, *, now: float, hold_for: float) -> set[str]:
        """The objects awaited for less than ``hold_for`` seconds."""
        return set(self.awaited_items(now=now, hold_for=hold_for))

    def awaited_items(self, *, now: float, hold_for: float) -> dict[str, Awaited]:
        """The objects awaited for less than ``hold_for`` seconds, with what is awaited."""
        return {
            item["sk"]["S"]: Awaited(int(item.get("rv", {}).get("N", "0")), item.get("service", {}).get("S"))
            for item in self._query(AWAIT_PK)
            if float(item["at"]["N"]) > now - hold_for
        }

    def last_resync(self) -> tuple[str, float] | None:
        """(event id, when ingest applied it) of the last Resync, if any."""
        item = self._resync_item()
        return (item["event"]["S"], float(item["at"]["N"])) if item else None

    # --- groups ------------------------------------------------------------------------

    def _put(self, pk: str, sk: str, **attrs: dict[str, Any]) -> None:
        with aws_errors():
            clients.dynamodb().put_item(TableName=self.table, Item={"pk": {"S": pk}, "sk": {"S": sk}, **attrs})

    def _delete(self, pk: str, sk: str) -> None:
        with aws_errors():
            clients.dynamodb().delete_item(TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}})

    def add_member(self, group: str, ingress: str) -> None:
        """Record membership, keeping what the item already holds (its last good version)."""
        with aws_errors():
            clients.dynamodb().update_item(
                TableName=self.table,
                Key={"pk": {"S": f"grp#{group}"}, "sk": {"S": f"ing#{ingress}"}},
                UpdateExpression="SET joined = :t",
                ExpressionAttributeValues={":t": {"BOOL": True}},
            )

    def remove_member(self, group: str, ingress: str) -> None:
        self._delete(f"grp#{group}", f"ing#{ingress}")

    def members(self, group: str) -> list[str]:
        return list(self.member_records(group))

    def member_records(self, group: str) -> dict[str, Mapping[str, Any] | None]:
        """Each member's key → its last version that built without error (or None)."""
        return {
            i["sk"]["S"][4:]: json.loads(i["good"]["S"]) if "good" in i else None
            for i in self._query(f"grp#{group}", "ing#")
        }

    def set_last_good(self, group: str, ingress: str, obj: Mapping[str, Any]) -> None:
        with aws_errors():
            clients.dynamodb().update_item(
                TableName=self.table,
                Key={"pk": {"S": f"grp#{group}"}, "sk": {"S": f"ing#{ingress}"}},
                UpdateExpression="SET good = :g",
                ExpressionAttributeValues={":g": {"S": json.dumps(obj, sort_keys=True, separators=(",", ":"))}},
            )

    def all_groups(self, namespace: str | None = None) -> set[str]:
        """Every group with a member (in ``namespace``, when given). A scan: for the rare
        IngressClass, IngressClassParams and Namespace label changes only."""
        out: set[str] = set()
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "begins_with(pk, :g) AND begins_with(sk, :i)",
            "ExpressionAttributeValues": {
                ":g": {"S": "grp#"},
                ":i": {"S": f"ing#{namespace}/" if namespace is not None else "ing#"},
            },
            "ProjectionExpression": "pk",
        }
        with aws_errors():
            for page in clients.dynamodb().get_paginator("scan").paginate(**kwargs):
                out.update(i["pk"]["S"][4:] for i in page.get("Items", []))
        return out

    def set_refs(self, group: str, services: Iterable[str]) -> None:
        for svc in services:
            self._put(f"ref#{svc}", f"grp#{group}")

    def groups_for_service(self, service: str) -> list[str]:
        return [i["sk"]["S"][4:] for i in self._query(f"ref#{service}", "grp#")]

    def group_state(self, group: str) -> GroupState:
        with aws_errors():
            item = (
                clients.dynamodb()
                .get_item(
                    TableName=self.table, Key={"pk": {"S": f"grp#{group}"}, "sk": {"S": STATE_SK}}, ConsistentRead=True
                )
                .get("Item")
            )
        if not item:
            return GroupState()
        return GroupState(
            model=json.loads(item["model"]["S"]) if "model" in item else None,
            leaving=tuple(json.loads(item["leaving"]["S"])) if "leaving" in item else (),
            execution=item["execution"]["S"] if "execution" in item else None,
            dirty=bool(item.get("dirty", {}).get("BOOL")),
            index=json.loads(item["stackIndex"]["S"]) if "stackIndex" in item else None,
            targets={k[len(_TARGETS) :]: v["S"] for k, v in item.items() if k.startswith(_TARGETS)},
            last=json.loads(item["lastReconcile"]["S"]) if "lastReconcile" in item else None,
            requested="requested" in item,
            owned=frozenset(item.get(_OWNED, {}).get("SS", ())) | _load_balancers_of(item),
            made={k[len(_MADE) :]: _made(v) for k, v in item.items() if k.startswith(_MADE)},
            failed=FailedRuns(int(item[_FAILED]["M"]["runs"]["N"]), float(item[_FAILED]["M"]["last"]["N"]))
            if _FAILED in item
            else FailedRuns(),
        )

    def record_outcome(self, group: str, outcome: Mapping[str, Any]) -> None:
        """The last reconcile's result (when, result, duration, steps, errors), for
        ``albatross status``."""
        with aws_errors():
            clients.dynamodb().update_item(
                TableName=self.table,
                Key={"pk": {"S": f"grp#{group}"}, "sk": {"S": STATE_SK}},
                UpdateExpression="SET lastReconcile = :o",
                ExpressionAttributeValues={":o": {"S": json.dumps(outcome, sort_keys=True)}},
            )

    def set_target_digests(
        self, group: str, digests: Mapping[str, str], *, known: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Record what each target group's registrations now are (one attribute per target
        group, so the targets fast path and reconcile never overwrite each other's); with
        ``known`` (the digests read before), only those that changed. Returns what it wrote."""
        digests = {r: d for r, d in digests.items() if known is None or known.get(r) != d}
        if not digests:
            return digests
        names = {f"#t{i}": _TARGETS + rid for i, rid in enumerate(sorted(digests))}
        values = {f":t{i}": {"S": digests[rid]} for i, rid in enumerate(sorted(digests))}
        with aws_errors():
            clients.dynamodb().update_item(
                TableName=self.table,
                Key={"pk": {"S": f"grp#{group}"}, "sk": {"S": STATE_SK}},
                UpdateExpression="SET " + ", ".join(f"#t{i} = :t{i}" for i in range(len(digests))),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        return digests

    def save_index(self, group: str, index: Mapping[str, Any] | None) -> None:
        """Record the stack index after a successful apply (None: forget it, so the next
        reconcile searches by tags). Its load balancers stay recorded as the group's when
        it is forgotten (:attr:`GroupState.owned`), and so does which group holds each
        resource it names (:meth:`groups_holding`)."""
        key = {"pk": {"S": f"grp#{group}"}, "sk": {"S": STATE_SK}}
        with aws_errors():
            if index is None:
                clients.dynamodb().update_item(TableName=self.table, Key=key, UpdateExpression="REMOVE stackIndex")
                return
            values: dict[str, Any] = {":i": {"S": json.dumps(index, sort_keys=True)}}
            update = "SET stackIndex = :i"
            arns = _index_load_balancers(index)
            if arns:
                update += f" ADD {_OWNED} :o"
                values[":o"] = {"SS": sorted(arns)}
            old = clients.dynamodb().update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression=update,
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_OLD",
            )
        before = old.get("Attributes", {}).get("stackIndex", {}).get("S")
        self._hold(group, _index_ids(index), _index_ids(json.loads(before)) if before else set())

    def own_load_balancers(self, group: str, arns: Iterable[str]) -> None:
        """Record load balancers Albatross made (or adopted by name) for the group, the
        moment it has their ARNs: only recorded ones are ever deleted."""
        wanted = sorted(set(arns))
        if not wanted:
            return
        with aws_errors():
            clients.dynamodb().update_item(
                TableName=self.table,
                Key={"pk": {"S": f"grp#{group}"}, "sk": {"S": STATE_SK}},
                UpdateExpression=f"ADD {_OWNED} :o",
                ExpressionAttributeValues={":o": {"SS": wanted}},
            )

    def record_made(self, group: str, made: Mapping[str, str], *, at: float) -> None:
        """Record resources Albatross just made for the group (physical id → resource id),
        the moment their ids are known: discovery reads them by id from then on, whether
        or not the tag search lists them yet. Load balancers among them are the group's
        (:meth:`own_load_balancers`), in the same write."""
        if not made:
            return
        ordered = sorted(made)
        names = {f"#m{i}": _MADE + physical for i, physical in enumerate(ordered)}
        values: dict[str, Any] = {
            f":m{i}": {"M": {"id": {"S": made[physical]}, "at": {"N": f"{at:.3f}"}}}
            for i, physical in enumerate(ordered)
        }
        update = "SET " + ", ".join(f"#m{i} = :m{i}" for i in range(len(ordered)))
        load_balancers = sorted(p for p in ordered if ":loadbalancer/" in p)
        if load_balancers:
            update += f" ADD {_OWNED} :o"
            values[":o"] = {"SS": load_balancers}
        with aws_errors():
            clients.dynamodb().update_item(
                TableName=self.table,
                Key={"pk": {"S": f"grp#{group}"}, "sk": {"S": STATE_SK}},
                UpdateExpression=update,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )

    def forget_made(self, group: str, physical_ids: Iterable[str]) -> None:
        """Albatross deleted these (or they are gone): nothing to read by id any more."""
        ordered = sorted(set(physical_ids))
        if not ordered:
            return
        with aws_errors():
            clients.dynamodb().update_item(
                TableName=self.table,
                Key={"pk": {"S": f"grp#{group}"}, "sk": {"S": STATE_SK}},
                UpdateExpression="REMOVE " + ", ".join(f"#m{i}" for i in range(len(ordered))),
                ExpressionAttributeNames={f"#m{i}": _MADE + physical for i, physical in enumerate(ordered)},
            )

    def count_failure(self, group: str, *, now: float, window: float) -> int:
        """One more execution of the group failed; returns how many failed in a row, this
        one included. A streak whose last failure is more than ``window`` seconds old is
        over: this failure starts a new one. :meth:`release` with ``succeeded`` ends it."""
        before = self.group_state(group).failed
        runs = before.runs + 1 if before.runs and now - before.last <= window else 1
        with aws_errors():
            clients.dynamodb().update_item(
                TableName=self.table,
                Key={"pk": {"S": f"grp#{group}"}, "sk": {"S": STATE_SK}},
                UpdateExpression=f"SET {_FAILED} = :f",
                ExpressionAttributeValues={":f": {"M": {"runs": {"N": str(runs)}, "last": {"N": f"{now:.3f}"}}}},
            )
        return runs

    def save_model(self, group: str, *, model: Mapping[str, Any] | None, leaving: Iterable[Mapping[str, str]]) -> None:
        values: dict[str, Any] = {
            ":m": {"S": json.dumps(model, sort_keys=True)},
            ":l": {"S": json.dumps(list(leaving), sort_keys=True)},
        }
        with aws_errors():
            clients.dynamodb().update_item(
                TableName=self.table,
                Key={"pk": {"S": f"grp#{group}"}, "sk": {"S": STATE_SK}},
                UpdateExpression="SET model = :m, leaving = :l",
                ExpressionAttributeValues=values,
            )

    def group_naming(self, text: str) -> str | None:
        """A group whose stored model names ``text`` as a JSON string (a security group id,
        say), or None. A scan, stopped at the first match: only for the rare question
        whether the cluster's shared backend group is still needed, asked once AWS shows
        no use of it (:func:`albatross.controller.networking.release_backend_group`)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "sk = :s AND contains(#m, :t)",
            "ExpressionAttributeNames": {"#m": "model"},
            "ExpressionAttributeValues": {":s": {"S": STATE_SK}, ":t": {"S": json.dumps(text)}},
            "ProjectionExpression": "pk",
            "ConsistentRead": True,
        }
        with aws_errors():
            for page in clients.dynamodb().get_paginator("scan").paginate(**kwargs):
                for item in page.get("Items", []):
                    return str(item["pk"]["S"])[4:]
        return None

    def set_execution(self, group: str, execution: str | None) -> None:
        """The group's running execution (None: none runs); either way a dirty mark's lane
        left by an execution that ended without its release is dropped with it."""
        key = {"pk": {"S": f"grp#{group}"}, "sk": {"S": STATE_SK}}
        with aws_errors():
            if execution is None:
                clients.dynamodb().update_item(
                    TableName=self.table, Key=key, UpdateExpression=f"REMOVE execution, {_DIRTY_URGENT}"
                )
            else:
                clients.dynamodb().update_item(
                    TableName=self.table,
                    Key=key,
                    UpdateExpression=f"SET execution = :e, dirty = :f REMOVE {_DIRTY_URGENT}",
                    ExpressionAttributeValues={":e": {"S": execution}, ":f": {"BOOL": False}},
                )

    def request(self, group: str, *, now: float, stale_after: float) -> bool:
        """Mark the group as having a reconcile requested; False when one already is (and
        was marked less than ``stale_after`` seconds ago: the queue still holds it)."""
        return self.request_unless_held(group, now=now, stale_after=stale_after, held_after=None) == "requested"

    def request_unless_held(
        self, group: str, *, now: float, stale_after: float, held_after: float | None, urgent: bool = False
    ) -> Literal["requested", "pending", "held"]:
        """:meth:`request`, refused (``held``) while the group is held since after
        ``held_after`` (ingest's sync hold; None: holds are not looked at). One
        conditional write: the hold is judged on the item the request writes anyway.

        ``urgent``: on the urgent lane (ADR 0017), judged by its own mark: a group with
        only a bulk request pending is asked again; the mark it writes is both lanes', so
        a bulk request is not asked while an urgent one is pending."""
        mark = _URGENT if urgent else _REQUESTED
        condition = f"(attribute_not_exists({mark}) OR {mark} < :stale)"
        values: dict[str, Any] = {":now": {"N": repr(now)}, ":stale": {"N": repr(now - stale_after)}}
        if held_after is not None:
            condition += f" AND (attribute_not_exists({_HELD_AT}) OR {_HELD_AT} <= :held)"
            values[":held"] = {"N": f"{held_after:.3f}"}
        try:
            with aws_errors():
                clients.dynamodb().update_item(
                    TableName=self.table,
                    Key={"pk": {"S": f"grp#{group}"}, "sk": {"S": STATE_SK}},
                    UpdateExpression=f"SET {_REQUESTED} = :now" + (f", {_URGENT} = :now" if urgent else ""),
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ConditionFailed as e:
            old = getattr(e.__cause__, "response", {}).get("Item") or {}
            held = float(old[_HELD_AT]["N"]) if _HELD_AT in old else None
            return "held" if held_after is not None and held is not None and held > held_after else "pending"
        return "requested"

    def take_request(self, group: str) -> None:
        """A reconcile starts: what changes from here on asks for another one (on either
        lane: a request pending on the other is satisfied by this reconcile too)."""
        with aws_errors():
            clients.dynamodb().update_item(
                TableName=self.table,
                Key={"pk": {"S": f"grp#{group}"}, "sk": {"S": STATE_SK}},
                UpdateExpression=f"REMOVE {_REQUESTED}, {_URGENT}",
            )

    def release(
        self, group: str, *, succeeded: bool = False, expected: str | None = None
    ) -> tuple[str | None, Lane | None]:
        """End the group's execution and take its dirty mark, in one write; returns (the
        execution that ran, the lane the group was marked dirty on meanwhile, None: not
        marked; urgent when a user's change was among what marked it). ``succeeded``:
        the execution finished its work, which ends a streak of failed ones. ``expected``:
        release only while that execution is the group's (another run may hold it by
        now); returns (None, None) when it is not."""
        values: dict[str, Any] = {":f": {"BOOL": False}}
        condition: dict[str, Any] = {}
        if expected is not None:
            condition = {"ConditionExpression": "execution = :x"}
            values[":x"] = {"S": expected}
        try:
            with aws_errors():
                old = (
                    clients.dynamodb()
                    .update_item(
                        TableName=self.table,
                        Key={"pk": {"S": f"grp#{group}"}, "sk": {"S": STATE_SK}},
                        UpdateExpression=f"REMOVE execution, {_DIRTY_URGENT}"
                        + (f", {_FAILED}" if succeeded else "")
                        + " SET dirty = :f",
                        ExpressionAttributeValues=values,
                        ReturnValues="UPDATED_OLD",
                        **condition,
                    )
                    .get("Attributes", {})
                )
        except ConditionFailed:
            return None, None
        execution = old.get("execution", {}).get("S")
        if not old.get("dirty", {}).get("BOOL"):
            return execution, None
        return execution, "urgent" if old.get(_DIRTY_URGENT, {}).get("BOOL") else "bulk"

    def mark_dirty(self, group: str, *, urgent: bool = False) -> None:
        """A request came while the group's execution runs: :meth:`release` asks for it
        again. ``urgent``: the request was a user's change (ADR 0017): asked for again on
        the urgent lane, whatever else marked it."""
        with aws_errors():
            clients.dynamodb().update_item(
                TableName=self.table,
                Key={"pk": {"S": f"grp#{group}"}, "sk": {"S": STATE_SK}},
                UpdateExpression="SET dirty = :d" + (f", {_DIRTY_URGENT} = :d" if urgent else ""),
                ExpressionAttributeValues={":d": {"BOOL": True}},
            )

    # --- one reconcile of a group at a time, across the work queues (ADR 0017) ----------

    def lease(self, group: str, *, holder: str, now: float, seconds: float) -> float:
        """Take the group's lease for ``holder`` (a reconcile's request id) until ``now +
        seconds``: one conditional write on its state item. Returns 0 when taken (or
        already ``holder``'s: a redelivery of the request that took it), else the seconds
        left of the lease another reconcile holds. A lease whose time is over (its
        invocation crashed) is taken over."""
        try:
            with aws_errors():
                clients.dynamodb().update_item(
                    TableName=self.table,
                    Key={"pk": {"S": f"grp#{group}"}, "sk": {"S": STATE_SK}},
                    UpdateExpression="SET #lease = :me, #until = :until",
                    ConditionExpression="attribute_not_exists(#until) OR #until <= :now OR #lease = :me",
                    ExpressionAttributeNames={"#lease": _LEASE, "#until": _LEASE_UNTIL},
                    ExpressionAttributeValues={
                        ":me": {"S": holder},
                        ":now": {"N": f"{now:.3f}"},
                        ":until": {"N": f"{now + seconds:.3f}"},
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ConditionFailed as e:
            old = getattr(e.__cause__, "response", {}).get("Item") or {}
            until = float(old[_LEASE_UNTIL]["N"]) if _LEASE_UNTIL in old else now + seconds
            return max(until - now, 0.001)  # held: never 0, which says taken
        return 0.0

    def release_lease(self, group: str, *, holder: str) -> None:
        """Give the group's lease back, if ``holder`` still holds it."""
        # not held by ``holder`` (taken over after its time, or never taken): not ours to give back
        self._update_state_if(
            group,
            "REMOVE #lease, #until",
            condition="#lease = :me",
            names={"#lease": _LEASE, "#until": _LEASE_UNTIL},
            values={":me": {"S": holder}},
        )

    # --- which groups hold a resource (AWS's events about changes made by others) ------------

    def _hold(self, group: str, held: set[str], before: set[str]) -> None:
        """Record that the group's stack index holds each of ``held`` (one item each, so
        an event naming one finds its group with one query); forget those of ``before``
        it no longer holds."""
        requests: list[dict[str, Any]] = [
            {"PutRequest": {"Item": {"pk": {"S": _HELD + p}, "sk": {"S": f"grp#{group}"}}}} for p in sorted(held)
        ]
        requests += [
            {"DeleteRequest": {"Key": {"pk": {"S": _HELD + p}, "sk": {"S": f"grp#{group}"}}}}
            for p in sorted(before - held)
        ]
        db = clients.dynamodb()
        for i in range(0, len(requests), 25):  # BatchWriteItem's limit
            pending: dict[str, Any] = {self.table: requests[i : i + 25]}
            for attempt in range(5):
                with aws_errors():
                    pending = dict(db.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {})
                if not pending:
                    break
                time.sleep(0.05 * 2**attempt)  # what DynamoDB could not take now (throughput): again, later
            if pending:
                raise Retryable(f"DynamoDB left {len(pending.get(self.table, []))} holder item(s) unwritten")

    def groups_holding(self, physical_id: str) -> set[str]:
        """The groups whose stack index holds a resource (a load balancer or target group
        ARN, a security group id), as recorded when each index was saved."""
        return {i["sk"]["S"][4:] for i in self._query(_HELD + physical_id, "grp#")}

    def groups_needing_rules_on(self, security_group: str) -> set[str]:
        """The groups whose target groups need backend rules on a security group (the
        owners of its ``sgrules#`` items, ``<group>|<target group id>``)."""
        return {i["sk"]["S"].partition("|")[0] for i in self._query(f"sgrules#{security_group}")}

    # --- backend security group rules ---------------------------------------------------

    def networking(self, group: str, rid: str) -> dict[str, Any]:
        """What a target group's targets need of security groups (see
        :mod:`albatross.controller.networking`); empty when nothing was recorded."""
        with aws_errors():
            item = (
                clients.dynamodb()
                .get_item(
                    TableName=self.table,
                    Key={"pk": {"S": f"grp#{group}"}, "sk": {"S": _NET + rid}},
                    ConsistentRead=True,
                )
                .get("Item")
            )
        return dict(json.loads(item["record"]["S"])) if item else {}

    def networking_records(self, group: str) -> dict[str, dict[str, Any]]:
        return {i["sk"]["S"][len(_NET) :]: json.loads(i["record"]["S"]) for i in self._query(f"grp#{group}", _NET)}

    def save_networking(self, group: str, *, rid: str, record: Mapping[str, Any] | None) -> None:
        if record is None:
            self._delete(f"grp#{group}", _NET + rid)
        else:
            self._put(f"grp#{group}", _NET + rid, record={"S": json.dumps(record, sort_keys=True)})

    def tracked_targets(self, group: str, rid: str) -> set[tuple[str, int]] | None:
        """The targets this cluster registered in a target group other clusters register
        in too (LBC's multi-cluster target groups, which LBC keeps in a ConfigMap per
        binding); None: nothing recorded yet."""
        with aws_errors():
            item = (
                clients.dynamodb()
                .get_item(
                    TableName=self.table,
                    Key={"pk": {"S": f"grp#{group}"}, "sk": {"S": f"{_TRACKED}{rid}"}},
                    ConsistentRead=True,
                )
                .get("Item")
            )
        return {(str(i), int(p)) for i, p in json.loads(item["targets"]["S"])} if item else None

    def track_targets(self, group: str, rid: str, targets: Iterable[tuple[str, int]] | None) -> None:
        """Record (None: forget) the targets this cluster registered in ``rid``."""
        if targets is None:
            self._delete(f"grp#{group}", f"{_TRACKED}{rid}")
            return
        self._put(f"grp#{group}", f"{_TRACKED}{rid}", targets={"S": json.dumps(sorted(targets))})

    def claim_target_group(self, arn: str, group: str, *, shared: bool) -> str | None:
        """Claim a user's target group for the binding of sync group ``group``; returns
        the group of a binding that holds it already (None: claimed). A binding that owns
        its target group holds it alone, as LBC's validator allows one binding per target
        group; bindings of a shared (multi-cluster) target group hold it together."""
        key = {"pk": {"S": f"{_BOUND}{arn}"}, "sk": {"S": _SINGLE_SK}}
        try:
            with aws_errors():
                if shared:
                    clients.dynamodb().update_item(
                        TableName=self.table,
                        Key=key,
                        UpdateExpression="ADD sharedBy :gs REMOVE soleHolder",
                        ConditionExpression="attribute_not_exists(soleHolder) OR soleHolder = :g",
                        ExpressionAttributeValues={":g": {"S": group}, ":gs": {"SS": [group]}},
                    )
                else:
                    clients.dynamodb().update_item(
                        TableName=self.table,
                        Key=key,
                        UpdateExpression="SET soleHolder = :g REMOVE sharedBy",
                        ConditionExpression="(attribute_not_exists(soleHolder) OR soleHolder = :g) AND "
                        "(attribute_not_exists(sharedBy) OR (size(sharedBy) = :one AND contains(sharedBy, :g)))",
                        ExpressionAttributeValues={":g": {"S": group}, ":one": {"N": "1"}},
                    )
        except ConditionFailed:
            with aws_errors():
                item = clients.dynamodb().get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item") or {}
            holders = {item.get("soleHolder", {}).get("S", "")} | set(item.get("sharedBy", {}).get("SS", []))
            # another binding holds it ("" only if it let go meanwhile: the next sync claims it)
            return next((h for h in sorted(holders) if h and h != group), "")
        return None

    def release_target_group(self, arn: str, group: str) -> None:
        """Give up ``group``'s claim on a user's target group (either kind)."""
        key = {"pk": {"S": f"{_BOUND}{arn}"}, "sk": {"S": _SINGLE_SK}}
        with aws_errors():
            clients.dynamodb().update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression="DELETE sharedBy :gs",
                ExpressionAttributeValues={":gs": {"SS": [group]}},
            )
        try:
            with aws_errors():
                clients.dynamodb().update_item(
                    TableName=self.table,
                    Key=key,
                    UpdateExpression="REMOVE soleHolder",
                    ConditionExpression="soleHolder = :g",
                    ExpressionAttributeValues={":g": {"S": group}},
                )
        except ConditionFailed:
            pass  # not this group's

    def set_rule_needs(self, security_group: str, *, owner: str, rules: list[tuple[str, int, str]]) -> None:
        """Record the rules ``owner`` (a group's target group) needs on a security group
        (none: forget it)."""
        if rules:
            self._put(f"sgrules#{security_group}", owner, rules={"S": json.dumps(sorted(rules))})
        else:
            self._delete(f"sgrules#{security_group}", owner)

    def rule_needs(self, security_group: str) -> set[tuple[str, int, str]]:
        """The rules any target group of any group needs on a security group."""
        return {
            (str(p), int(port), str(source))
            for item in self._query(f"sgrules#{security_group}")
            for p, port, source in json.loads(item["rules"]["S"])
        }

    # --- what Albatross last registered in each target group (ADR 0019) ------------------

    def registered_targets(self, group: str) -> dict[str, Registered]:
        """Target group id → the record of what the group's syncs last registered in it."""
        return {
            item["sk"]["S"][len(registered.PREFIX) :]: registered.of_item(item)
            for item in self._query(f"grp#{group}", registered.PREFIX)
        }

    def save_registered(
        self, group: str, rid: str, *, arn: str, targets: Iterable[tuple[str, int]], version: int | None
    ) -> bool:
        """Record the targets now registered in ``rid`` (``arn``), if the record is still at
        ``version`` (None: there was none). False: another sync wrote it meanwhile, and the
        record is deleted, since neither write knows what AWS holds now."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Item": {
                "pk": {"S": f"grp#{group}"},
                "sk": {"S": registered.PREFIX + rid},
                "arn": {"S": arn},
                "n": {"N": str(max(version or 0, 0) + 1)},
                **registered.encode(targets),
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        if version is not None:
            kwargs["ConditionExpression"] = "#n = :n"
            kwargs["ExpressionAttributeNames"] = {"#n": "n"}
            kwargs["ExpressionAttributeValues"] = {":n": {"N": str(version)}}
        try:
            with aws_errors():
                clients.dynamodb().put_item(**kwargs)
        except ConditionFailed:
            self.forget_registered(group, rid)
            return False
        return True

    def forget_registered(self, group: str, rid: str) -> None:
        """No record for ``rid``: its next sync reads what is registered."""
        self._delete(f"grp#{group}", registered.PREFIX + rid)
