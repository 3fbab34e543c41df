"""Two helpers that let strictly typed tests use the official Kubernetes client, whose
models declare every field optional and whose request bodies are models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def must(value: T | None) -> T:
    """The value, asserting the API returned it."""
    assert value is not None
    return value


def body(obj: Mapping[str, Any]) -> Any:
    """A plain dict as a request body (the client serialises dicts as they are)."""
    return dict(obj)
