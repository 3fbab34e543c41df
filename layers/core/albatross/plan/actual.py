"""What exists in AWS for one stack, in the model's property shapes (ARNs, not refs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ActualResource:
    id: str
    type: str
    physical_id: str
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class Actual:
    resources: tuple[ActualResource, ...] = ()

    def of_type(self, type_: str) -> list[ActualResource]:
        return [r for r in self.resources if r.type == type_]
