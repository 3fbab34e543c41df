"""Errors raised while reading Kubernetes objects; their text goes into Warning Events."""

from __future__ import annotations


class ObjectError(ValueError):
    """A Kubernetes object is malformed or refers to something that does not fit."""


class AnnotationError(ObjectError):
    """An ``alb.ingress.kubernetes.io/*`` annotation has a value Albatross cannot use."""

    def __init__(self, annotation: str, value: str, reason: str) -> None:
        self.annotation = annotation
        self.value = value
        self.reason = reason
        super().__init__(f"annotation {annotation}: {reason} (got {value!r})")
