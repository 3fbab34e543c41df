"""Reading what a user wrote, on either side: never raise on a shape the API server lets
through, and read annotation JSON as LBC's decoder does.

Annotation values are strings the API server does not parse: one may hold anything.
:func:`annotation_json` gives the JSON in one or None; :func:`mapping` and :func:`listed`
read a value of the wrong shape as empty. LBC decodes annotation JSON with Go's
``encoding/json``, which matches an object's keys to its struct fields without regard to
case: ``"forwardconfig"`` and ``"ForwardConfig"`` are both ``forwardConfig``.
:func:`field` finds a field that way, so the forwarder and the model agree with LBC (and
with each other) on what an annotation says. Standard library only: the forwarder image
ships this package alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Annotation values are strings of at most 256 KiB (the API server's limit for all of an
# object's annotations together); a longer one cannot come from a cluster.
MAX_ANNOTATION_BYTES = 256 * 1024


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def listed(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def annotation_json(value: Any) -> Any:
    """The JSON an annotation holds, or None when it holds none a reader could use: not a
    string, longer than any annotation can be, not JSON, or nested deeper than the
    parser goes (RecursionError, which is not a ValueError). Callers check the shape."""
    if not isinstance(value, str) or len(value) > MAX_ANNOTATION_BYTES:
        return None
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return None


# Go's encoding/json folds a key before looking it up among the (folded) field names:
# ASCII letters to upper case, any other character to the smallest of its Unicode
# simple case folding orbit. Of non-ASCII characters, only two fold into ASCII: LATIN
# SMALL LETTER LONG S (into "S") and KELVIN SIGN (into "K"); every other one stays
# non-ASCII, so it never matches a field name, all of which are ASCII here.
_INTO_ASCII = {"\u017f": "S", "\u212a": "K"}


def fold(key: str) -> str:
    """``key`` folded as Go's ``encoding/json`` folds an object key it compares with ASCII
    field names: two keys name the same field when their folds are equal."""
    return "".join(c.upper() if c < "\x80" else _INTO_ASCII.get(c, c) for c in key)


def fields(obj: Any, name: str) -> list[Any]:
    """The values of every key of ``obj`` that Go's decoder would take for the field
    ``name`` (an ASCII name), in the object's order; none when ``obj`` is not a JSON
    object."""
    if not isinstance(obj, Mapping):
        return []
    wanted = fold(name)
    return [v for k, v in obj.items() if isinstance(k, str) and len(k) == len(name) and fold(k) == wanted]


def field(obj: Any, name: str) -> Any:
    """The value Go's decoder gives the field ``name`` of ``obj``: that of the last key
    naming it (each one decoded overwrites the one before), or None when none does or
    ``obj`` is not a JSON object. (For a field that is itself an object, Go decodes a
    repeated key into the object already there, merging the two; such a duplicate is
    read here as the last one alone.)"""
    found = fields(obj, name)
    return found[-1] if found else None
