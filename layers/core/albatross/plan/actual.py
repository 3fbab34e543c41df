"""What exists in AWS for one stack, in the model's property shapes (ARNs, not refs),
and the stack index kept between reconciles. One actual resource's shape is the kinds'
(:class:`albatross.kinds.base.ActualResource`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from albatross.kinds.base import ActualResource

__all__ = ["Actual", "ActualResource", "StackIndex"]


@dataclass(frozen=True)
class Actual:
    resources: tuple[ActualResource, ...] = ()

    def of_type(self, type_: str) -> list[ActualResource]:
        return [r for r in self.resources if r.type == type_]


@dataclass(frozen=True)
class StackIndex:
    """What the last successful apply left: the physical id of each load balancer,
    target group and security group by resource id (so the next reconcile reads them by
    ARN instead of searching by tags), and the digest of each desired resource as it was
    applied (so the properties that cost a read of their own, such as security group
    rules, attributes and SNI certificates, are read only when the desired resource
    changed). What each target group's registrations are is kept apart (the state
    item's ``targets:<rid>`` attributes).

    ``dns`` (load balancer id → its DNS name) and ``backend`` (the cluster's shared
    backend security group the apply used, "" for none) are what a reconcile that finds
    nothing changed reports and builds with, so that it calls no AWS API at all
    (:func:`albatross.controller.reconcile.reconcile`); an index without ``dns`` (saved
    before they were kept) never lets it skip the reads."""

    ids: Mapping[str, str]
    applied: Mapping[str, str]
    dns: Mapping[str, str] | None = None
    backend: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ids": dict(sorted(self.ids.items())), "applied": dict(sorted(self.applied.items()))}
        if self.dns is not None:  # only when known: older readers and indexes stay as they were
            out["dns"] = dict(sorted(self.dns.items()))
        if self.backend:
            out["backend"] = self.backend
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StackIndex:
        dns = data.get("dns")
        return cls(
            ids=dict(data.get("ids") or {}),
            applied=dict(data.get("applied") or {}),
            dns=dict(dns) if isinstance(dns, Mapping) else None,
            backend=str(data.get("backend") or ""),
        )
