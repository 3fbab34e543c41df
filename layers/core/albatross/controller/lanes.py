"""Which lane a change's reconcile goes on (docs/adr/0017-a-lane-for-user-changes.md).

The urgent lane is for what a user just did to an Ingress: created it (and nothing has
given it an address yet), changed its spec or annotations, or deleted it (asked for its
deletion: with Albatross's finalizer on it, a delete is first an update that sets
``deletionTimestamp``). Everything else is bulk: the Resync and the adoption it drives
(an Ingress stored for the first time that already has an address), a held group's
release, Services, EndpointSlices, pods, nodes, IngressClasses, the drift sweep, an
execution's follow-up, and an Ingress's own status or metadata otherwise (what
Albatross writes itself: its address, its finalizer).

Pure: the decision reads the change and the stored version it replaced, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INGRESS = "Ingress"


def _served(obj: Mapping[str, Any]) -> bool:
    """The Ingress has a load balancer address: something made its stack."""
    status = obj.get("status")
    balancer = status.get("loadBalancer") if isinstance(status, Mapping) else None
    return isinstance(balancer, Mapping) and bool(balancer.get("ingress"))


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _deleting(obj: Mapping[str, Any]) -> bool:
    return bool(_meta(obj).get("deletionTimestamp"))


def _what_the_user_wrote(obj: Mapping[str, Any]) -> tuple[Any, Any]:
    return obj.get("spec"), _meta(obj).get("annotations") or {}


def urgent(*, kind: str, deleted: bool, obj: Mapping[str, Any], previous: Mapping[str, Any] | None) -> bool:
    """Whether the reconcile this change asks for goes on the urgent lane. ``previous``:
    the stored version the change replaced (None: none was stored, or a tombstone);
    ``deleted``: the change is the object's delete."""
    if kind != INGRESS:
        return False
    if deleted:
        return True
    if previous is None:
        return not _served(obj) or _deleting(obj)
    if _deleting(obj) and not _deleting(previous):
        return True
    return _what_the_user_wrote(obj) != _what_the_user_wrote(previous)
