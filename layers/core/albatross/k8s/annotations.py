"""Parsing of ``alb.ingress.kubernetes.io/*`` annotations, one typed getter per value shape.

Every getter returns ``default`` when the annotation is absent and raises
:class:`AnnotationError` naming the annotation and the value when it is malformed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from albatross.k8s.errors import AnnotationError

PREFIX = "alb.ingress.kubernetes.io/"


class Annotations:
    """The annotations of one object, read through the ALB prefix."""

    def __init__(self, raw: Mapping[str, str] | None) -> None:
        self._raw = dict(raw or {})

    def under(self, other: Annotations) -> Annotations:
        """These annotations with ``other``'s on top (a Service's win over its Ingress's)."""
        return Annotations({**self._raw, **other._raw})

    def raw(self, name: str) -> str | None:
        value = self._raw.get(PREFIX + name)
        return None if value is None else value.strip()

    def string(self, name: str, default: str | None = None) -> str | None:
        value = self.raw(name)
        if value is None:
            return default
        if not value:
            raise AnnotationError(PREFIX + name, value, "must not be empty")
        return value

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.raw(name)
        if value is None:
            return default
        if value not in allowed:
            raise AnnotationError(PREFIX + name, value, f"must be one of {', '.join(allowed)}")
        return value

    def integer(self, name: str, *, default: int, low: int, high: int) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value, 10)
        except ValueError:
            raise AnnotationError(PREFIX + name, value, "must be an integer") from None
        if not low <= number <= high:
            raise AnnotationError(PREFIX + name, value, f"must be between {low} and {high}")
        return number

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if value.lower() not in ("true", "false"):
            raise AnnotationError(PREFIX + name, value, "must be true or false")
        return value.lower() == "true"

    def string_list(self, name: str) -> list[str] | None:
        """``s1,s2,s3`` (blank items dropped); None when absent."""
        value = self.raw(name)
        if value is None:
            return None
        items = [item.strip() for item in value.split(",") if item.strip()]
        if not items:
            raise AnnotationError(PREFIX + name, value, "must list at least one value")
        return items

    def string_map(self, name: str) -> dict[str, str] | None:
        """``k1=v1,k2=v2``; None when absent."""
        value = self.raw(name)
        if value is None:
            return None
        out: dict[str, str] = {}
        for item in (i.strip() for i in value.split(",")):
            if not item:
                continue
            key, sep, val = item.partition("=")
            if not sep or not key.strip():
                raise AnnotationError(PREFIX + name, value, f"`{item}` is not key=value")
            out[key.strip()] = val.strip()
        return out

    def json(self, name: str) -> Any:
        """Parsed JSON; None when absent."""
        value = self.raw(name)
        if value is None:
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as e:
            raise AnnotationError(PREFIX + name, value, f"is not valid JSON ({e.msg})") from None

    def prefixed(self, prefix: str) -> dict[str, str]:
        """Every annotation ``<PREFIX><prefix><name>``, by name (``actions.``, ``conditions.``)."""
        head = PREFIX + prefix
        return {k[len(head) :]: v for k, v in self._raw.items() if k.startswith(head)}
