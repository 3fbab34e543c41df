"""Parsing of ``alb.ingress.kubernetes.io/*`` annotations, one typed getter per value shape.

Every getter returns ``default`` when the annotation is absent and raises
:class:`AnnotationError` naming the annotation and the value when it is malformed.
"""

from __future__ import annotations

from collections.abc import Mapping

from albatross.k8s.errors import AnnotationError

PREFIX = "alb.ingress.kubernetes.io/"


class Annotations:
    """The annotations of one object, read through the ALB prefix."""

    def __init__(self, raw: Mapping[str, str] | None) -> None:
        self._raw = dict(raw or {})

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
