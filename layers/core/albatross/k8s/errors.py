"""Errors raised while reading Kubernetes objects; their text goes into Warning Events.
Also the bottom of Albatross's error hierarchy: every failure is one of three kinds
(docs/adr/0010-an-internal-error-never-blames-an-ingress.md):

* :class:`Temporary`: passes by itself (throttling, 5xx, a load balancer not yet
  active); retried, never reported on an object.
* :class:`PermanentUser`: the user's input cannot work (a bad annotation, a malformed
  spec, a quota); a Warning Event on the object, in LBC's words where LBC has them.
* :class:`Internal`: a defect of Albatross's that some input reached; a Warning that
  says it is Albatross's fault, never the object's (:func:`internal`).

AWS's errors (:mod:`albatross.aws.errors`) derive from the first two; a reading or
building boundary turns any other exception into an internal failure.

The views are total: whatever shape an object has, reading it either succeeds or raises
:class:`ObjectError` (the helpers here check each field's JSON type on the way), so that
one object can never stop the reading of the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeGuard, TypeVar

T = TypeVar("T")

# How much of a value a message shows: an annotation may hold 256 KiB, and a Warning
# Event (or the write-back message carrying it) must stay small.
MAX_SHOWN = 200
MAX_REASON = 600


def clip(text: str, limit: int = MAX_SHOWN) -> str:
    """``text``, cut to ``limit`` characters with a note of its length when longer."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


class Temporary(Exception):
    """A failure that passes by itself: a later attempt of the same work may succeed."""


class PermanentUser(Exception):
    """The user's input cannot work as it is; it is reported on the objects it concerns
    and never retried until they change."""


class Internal(Exception):
    """A defect of Albatross's that some input reached: reported as Albatross's fault,
    never as the input's. ``detail`` is ``Type: message`` of the original exception."""

    def __init__(self, cause: Exception) -> None:
        self.cause = cause
        self.detail = internal(cause)
        super().__init__(self.detail)


def internal(e: BaseException) -> str:
    """``Type: message`` of an exception that is a defect of ours (cut to a readable
    length): what an internal failure's Warning shows of it."""
    return clip(f"{type(e).__name__}: {e}", MAX_SHOWN)


class ObjectError(PermanentUser, ValueError):
    """A Kubernetes object is malformed or refers to something that does not fit."""


class AnnotationError(ObjectError):
    """An ``alb.ingress.kubernetes.io/*`` annotation has a value Albatross cannot use. The
    message starts with the reason (LBC's wording where LBC has one), then names the
    annotation and, unless the reason already shows it, the value (both cut to a
    readable length)."""

    def __init__(self, annotation: str, value: str, reason: str) -> None:
        self.annotation = annotation
        self.value = value
        self.reason = reason
        shown = "" if not value or clip(value) in reason else f": `{clip(value)}`"
        super().__init__(f"{clip(reason, MAX_REASON)} (annotation {clip(annotation)}{shown})")


def unexpected(e: Exception) -> str:
    """The reason reported for an exception that reading one object was not expected to
    raise: its type and message, so the Warning says what went wrong (and that it is a
    defect to report), and one object's defect stays that object's error."""
    return clip(f"unexpected {type(e).__name__} (an Albatross defect; please report it): {e}", MAX_REASON)


def show(value: Any) -> str:
    """A value as Go's ``%v`` prints it, as LBC's messages do: lists ``[a b]``, maps
    ``map[k:v]``, booleans ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{show(v)}" for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))) + "]"
    if isinstance(value, (set, frozenset)):
        return show(sorted(value, key=str))
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(show(v) for v in value) + "]"
    return str(value)


def as_mapping(value: Any, where: str) -> Mapping[str, Any]:
    """An object field: absent (None) reads as empty, anything but an object is an error."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ObjectError(f"{where} must be an object")
    return value


def as_list(value: Any, where: str) -> list[Any]:
    """A list field: absent (None) reads as empty, anything but a list is an error."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ObjectError(f"{where} must be a list")
    return value


def as_strings(value: Any, where: str) -> dict[str, str]:
    """A string-to-string map (labels, annotations): absent reads as empty."""
    found = as_mapping(value, where)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in found.items()):
        raise ObjectError(f"{where} must map strings to strings")
    return dict(found)


def text(value: Any, where: str, default: str = "") -> str:
    """A string field (absent reads as ``default``)."""
    if value is None:
        return default
    if not isinstance(value, str):
        raise ObjectError(f"{where} must be a string")
    return value


def integer(value: Any) -> TypeGuard[int]:
    """Whether a JSON value is an integer (JSON's ``true`` is not, though Python's is)."""
    return isinstance(value, int) and not isinstance(value, bool)


def readable(objects: Iterable[Mapping[str, Any]], parse: Callable[[Mapping[str, Any]], T]) -> list[T]:
    """The objects that parse; a malformed one is left out, so whatever refers to it
    reports it as missing (with a clear message) instead of the whole build failing."""
    return partition(objects, parse)[0]


def partition(
    objects: Iterable[Mapping[str, Any]], parse: Callable[[Mapping[str, Any]], T]
) -> tuple[list[T], list[tuple[Mapping[str, Any], str]]]:
    """The objects that parse, and each one that does not with the reason."""
    out: list[T] = []
    bad: list[tuple[Mapping[str, Any], str]] = []
    for obj in objects:
        try:
            out.append(parse(obj))
        except ObjectError as e:
            bad.append((obj, str(e)))
    return out, bad
