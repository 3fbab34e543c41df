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
    item's ``targets:<rid>`` attributes)."""

    ids: Mapping[str, str]
    applied: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"ids": dict(sorted(self.ids.items())), "applied": dict(sorted(self.applied.items()))}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StackIndex:
        return cls(ids=dict(data.get("ids") or {}), applied=dict(data.get("applied") or {}))
