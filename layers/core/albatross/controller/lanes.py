"""Which lane a change's reconcile goes on (docs/adr/0017-a-lane-for-user-changes.md).

The urgent lane is for what a user just did to an Ingress: created it (and nothing has
given it an address yet), changed its spec or annotations, or deleted it (asked for its
deletion: with Albatross's finalizer on it, a delete is first an update that sets
``deletionTimestamp``). Everything else is bulk: the Resync and the adoption it drives
(an Ingress stored for the first time that already has an address), a held group's
release, Services, EndpointSlices, pods, nodes, IngressClasses, the drift sweep and an
execution's follow-up. An update of an Ingress's status or other metadata (what
Albatross writes itself: its address, its finalizer) asks for no reconcile at all
(:func:`user_changed`, LBC's filter).

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


def user_changed(obj: Mapping[str, Any], previous: Mapping[str, Any]) -> bool:
    """An Ingress update asks for a reconcile only when it changes what a user writes (its
    spec or annotations) or asks for its deletion, as LBC filters Ingress updates: the
    rest (its status, its finalizers, labels, managed fields) is what controllers write,
    Albatross's own address and finalizer among it, and builds nothing different."""
    if _recreated(obj, previous):
        return True
    return _what_the_user_wrote(obj) != _what_the_user_wrote(previous) or _deleting(obj) != _deleting(previous)


def _recreated(obj: Mapping[str, Any], previous: Mapping[str, Any]) -> bool:
    """Another object of the same name: deleted and made again, its delete not seen (lost
    or behind the create). A new object, whatever it holds."""
    return _meta(obj).get("uid") != _meta(previous).get("uid")


def urgent(*, kind: str, deleted: bool, obj: Mapping[str, Any], previous: Mapping[str, Any] | None) -> bool:
    """Whether the reconcile this change asks for goes on the urgent lane. ``previous``:
    the stored version the change replaced (None: none was stored, or a tombstone);
    ``deleted``: the change is the object's delete."""
    if kind != INGRESS:
        return False
    if deleted:
        return True
    if previous is None or _recreated(obj, previous):
        return not _served(obj) or _deleting(obj)
    if _deleting(obj) and not _deleting(previous):
        return True
    return _what_the_user_wrote(obj) != _what_the_user_wrote(previous)
