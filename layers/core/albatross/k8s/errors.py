"""Errors raised while reading Kubernetes objects; their text goes into Warning Events."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ObjectError(ValueError):
    """A Kubernetes object is malformed or refers to something that does not fit."""


class AnnotationError(ObjectError):
    """An ``alb.ingress.kubernetes.io/*`` annotation has a value Albatross cannot use."""

    def __init__(self, annotation: str, value: str, reason: str) -> None:
        self.annotation = annotation
        self.value = value
        self.reason = reason
        super().__init__(f"annotation {annotation}: {reason} (got {value!r})")


def readable(objects: Iterable[Mapping[str, Any]], parse: Callable[[Mapping[str, Any]], T]) -> list[T]:
    """The objects that parse; a malformed one is left out, so whatever refers to it
    reports it as missing (with a clear message) instead of the whole build failing."""
    out: list[T] = []
    for obj in objects:
        try:
            out.append(parse(obj))
        except ObjectError:
            continue
    return out
