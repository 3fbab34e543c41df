"""Parsing of ``alb.ingress.kubernetes.io/*`` annotations, one typed getter per value shape.

Every getter returns ``default`` when the annotation is absent and raises
:class:`AnnotationError` naming the annotation and the value when it is malformed.

Numbers are read as LBC reads them (Go's ``strconv``): ASCII digits only. Python's
``int()`` would also take ``"²"``-like or ``"١٢"``-like digits and ``"1_000"``, and
``str.isdigit()`` says yes to ``"²"`` while ``int()`` refuses it. JSON values are read
with a bound on their nesting (:func:`load_json`): ``"[" * 3000`` would otherwise end
in a RecursionError rather than an error naming the annotation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from albatross.k8s.errors import AnnotationError, clip

PREFIX = "alb.ingress.kubernetes.io/"

# LBC's annotation JSON is at most five levels deep (a condition's query-string pairs);
# anything far deeper is not a configuration.
MAX_JSON_DEPTH = 32
# Longest decimal text worth reading: an int64 has 19 digits (plus a sign).
_MAX_DECIMAL_TEXT = 20
_DECIMAL = re.compile(r"[+-]?[0-9]+")
_DIGITS = re.compile(r"[0-9]+")
INT64 = (-(2**63), 2**63 - 1)


def decimal(text: str) -> int | None:
    """The integer Go's ``strconv.Atoi`` reads from ``text`` (an optional sign and ASCII
    digits, within int64), or None."""
    if len(text) > _MAX_DECIMAL_TEXT or not _DECIMAL.fullmatch(text):
        return None
    number = int(text, 10)
    return number if INT64[0] <= number <= INT64[1] else None


def digits(text: str) -> int | None:
    """The number ``text`` spells in ASCII digits only (a port, a count), or None."""
    if len(text) > _MAX_DECIMAL_TEXT or not _DIGITS.fullmatch(text):
        return None
    return int(text, 10)


# Go's strconv.ParseBool: these spellings and no others (not "yes", not "FaLsE", no spaces).
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def parse_bool(text: str) -> bool | None:
    """The boolean Go's ``strconv.ParseBool`` reads from ``text``, or None."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


_UNESCAPED_COMMA = re.compile(r"(?<!\\),")


def split_commas(value: str) -> list[str]:
    """The items of a string list or map annotation, as LBC's parser splits them: at each
    comma not escaped as ``\\,`` (which stands for a comma within an item, a header value's
    ``GET\\,POST`` say), each trimmed, blank ones dropped."""
    items = (item.replace("\\,", ",").strip() for item in _UNESCAPED_COMMA.split(value))
    return [item for item in items if item]


class JSONError(ValueError):
    """A text is not JSON Albatross reads; the message says why."""


def _too_deep(text: str, limit: int) -> bool:
    """Whether arrays and objects nest deeper than ``limit`` (brackets inside strings
    do not count)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def _no_constant(name: str) -> Any:
    raise JSONError(f"{name} is not a JSON number")


def load_json(text: str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` for values from annotations: nesting deeper than ``max_depth``,
    ``NaN``/``Infinity`` (Go's decoder refuses them) and integers too long to read are a
    JSONError with a short reason, never a RecursionError or OverflowError."""
    if _too_deep(text, max_depth):
        raise JSONError(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise JSONError(e.msg) from None
    except JSONError:
        raise
    except (ValueError, RecursionError) as e:  # an integer over Python's digit limit, say
        raise JSONError(str(e).split(";")[0]) from None


class Annotations:
    """The annotations of one object, read through the ALB prefix. Keys and values that
    are not strings (possible only in hand-written manifests) are not annotations."""

    def __init__(self, raw: Mapping[str, str] | None) -> None:
        self._raw = (
            {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str)}
            if isinstance(raw, Mapping)
            else {}
        )

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
        number = decimal(value)
        if number is None:
            raise AnnotationError(PREFIX + name, value, "must be an integer")
        if not low <= number <= high:
            raise AnnotationError(PREFIX + name, value, f"must be between {low} and {high}")
        return number

    def boolean(self, name: str, default: bool) -> bool:
        """Read as LBC reads it (Go's ``strconv.ParseBool``, the value as written)."""
        value = self._raw.get(PREFIX + name)
        if value is None:
            return default
        parsed = parse_bool(value)
        if parsed is None:
            shown = clip(value)
            raise AnnotationError(
                PREFIX + name,
                value,
                f"failed to parse bool annotation, {PREFIX + name}: {shown}: "
                f'strconv.ParseBool: parsing "{shown}": invalid syntax',
            )
        return parsed

    def string_list(self, name: str) -> list[str] | None:
        """``s1,s2,s3`` (blank items dropped, ``\\,`` a comma within an item); None when absent."""
        value = self.raw(name)
        if value is None:
            return None
        items = split_commas(value)
        if not items:
            raise AnnotationError(PREFIX + name, value, "must list at least one value")
        return items

    def string_map(self, name: str) -> dict[str, str] | None:
        """``k1=v1,k2=v2`` (``\\,`` a comma within a value); None when absent."""
        value = self.raw(name)
        if value is None:
            return None
        out: dict[str, str] = {}
        for item in split_commas(value):
            key, sep, val = item.partition("=")
            if not sep or not key.strip():
                raise AnnotationError(PREFIX + name, value, f"`{item}` is not key=value")
            out[key.strip()] = val.strip()
        return out

    def json(self, name: str) -> Any:
        """Parsed JSON (see :func:`load_json`); None when absent."""
        value = self.raw(name)
        if value is None:
            return None
        try:
            return load_json(value)
        except JSONError as e:
            raise AnnotationError(PREFIX + name, value, f"is not valid JSON ({e})") from None

    def prefixed(self, prefix: str) -> dict[str, str]:
        """Every annotation ``<PREFIX><prefix><name>``, by name (``actions.``, ``conditions.``)."""
        head = PREFIX + prefix
        return {k[len(head) :]: v for k, v in self._raw.items() if k.startswith(head)}
