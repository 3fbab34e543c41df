"""Errors raised while reading Kubernetes objects; their text goes into Warning Events."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ObjectError(ValueError):
    """A Kubernetes object is malformed or refers to something that does not fit."""


class AnnotationError(ObjectError):
    """An ``alb.ingress.kubernetes.io/*`` annotation has a value Albatross cannot use. The
    message starts with the reason (LBC's wording where LBC has one), then names the
    annotation and, unless the reason already shows it, the value."""

    def __init__(self, annotation: str, value: str, reason: str) -> None:
        self.annotation = annotation
        self.value = value
        self.reason = reason
        shown = "" if not value or value in reason else f": `{value}`"
        super().__init__(f"{reason} (annotation {annotation}{shown})")


def show(value: Any) -> str:
    """A value as Go's ``%v`` prints it, as LBC's messages do: lists ``[a b]``, maps
    ``map[k:v]``, booleans ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{show(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, (set, frozenset)):
        return show(sorted(value))
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(show(v) for v in value) + "]"
    return str(value)


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
