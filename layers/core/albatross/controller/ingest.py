"""Ingest: keep the newest snapshot of each object and ask for the reconciles it affects.

EventBridge neither orders nor deduplicates. A change older than (or as old as) the
stored snapshot is dropped; a ``Resync`` turns snapshots of objects that no longer exist
into tombstones. Every group whose desired state may have changed is enqueued once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from albatross.contract import ObjectChange, Resync
from albatross.controller import queues
from albatross.controller.settings import Settings
from albatross.k8s.ingress import group_key_of
from albatross.k8s.service import SERVICE_NAME_LABEL
from albatross.store.table import Store

logger = Logger(child=True)


def _groups_affected(store: Store, kind: str, obj: Mapping[str, Any], previous: Mapping[str, Any] | None) -> set[str]:
    meta = obj.get("metadata") or {}
    if kind == "Ingress":
        groups = {group_key_of(obj)}
        if previous is not None:
            groups.add(group_key_of(previous))
        return groups
    if kind == "Service":
        return set(store.groups_for_service(f"{meta.get('namespace')}/{meta.get('name')}"))
    if kind in ("IngressClass", "IngressClassParams"):
        return store.all_groups()  # which Ingresses use a class is only known per group
    if kind == "EndpointSlice":
        service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        return set(store.groups_for_service(f"{meta.get('namespace')}/{service}")) if service else set()
    return set()


def apply_change(change: ObjectChange, *, settings: Settings, store: Store, event_id: str) -> set[str]:
    """Store one change; returns the groups enqueued (empty when stale or foreign)."""
    if change.cluster != settings.cluster:
        logger.info("ignoring an event of another cluster", extra={"cluster": change.cluster, "key": change.key})
        return set()
    group = group_key_of(change.object) if change.kind == "Ingress" else None
    applied, previous = store.put_snapshot(
        kind=change.kind,
        key=change.key,
        rv=int(change.resource_version),
        obj=change.object,
        deleted=change.action == "delete",
        group=group,
    )
    if not applied:
        logger.info(
            "dropped a stale change", extra={"kind": change.kind, "key": change.key, "rv": change.resource_version}
        )
        return set()
    if group is not None and change.action == "upsert":
        store.add_member(group, change.key)
    groups = _groups_affected(store, change.kind, change.object, previous)
    if groups:
        queues.enqueue(settings.work_queue_url, groups, cause=event_id)
    logger.info(
        "snapshot stored",
        extra={"kind": change.kind, "key": change.key, "rv": change.resource_version, "groups": sorted(groups)},
    )
    return groups


def apply_resync(resync: Resync, *, settings: Settings, store: Store, event_id: str) -> set[str]:
    """Tombstone every stored object of a listed kind that the cluster no longer has."""
    if resync.cluster != settings.cluster:
        return set()
    groups: set[str] = set()
    for kind, live in resync.keys.items():
        wanted = set(live)
        for key, (rv, obj) in store.live_snapshots(kind).items():
            if key in wanted:
                continue
            applied, previous = store.put_snapshot(kind=kind, key=key, rv=rv + 1, obj=obj, deleted=True)
            if applied:
                groups |= _groups_affected(store, kind, obj, previous)
    if groups:
        queues.enqueue(settings.work_queue_url, groups, cause=event_id)
    logger.info("resync applied", extra={"groups": sorted(groups)})
    return groups
