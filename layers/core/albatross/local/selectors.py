"""Label and field selectors for the Kubernetes API double (:mod:`albatross.local.kube`),
as the API server reads them on a list or a watch.

* **Label selectors** (``labelSelector``): requirements separated by commas, each
  ``key``, ``!key``, ``key=value``, ``key==value``, ``key!=value``, ``key in (a,b)``,
  ``key notin (a,b)``, ``key>N`` or ``key<N``. ``!=`` and ``notin`` match an object
  without the label, as the API server's do.
* **Field selectors** (``fieldSelector``): terms ``field=value``, ``field==value`` or
  ``field!=value`` separated by commas, with ``\\`` escaping ``,``, ``=`` and ``\\`` in
  a value. Each kind takes only the fields its API server registers (every kind
  ``metadata.name`` and ``metadata.namespace``; Events their ``involvedObject.*``,
  ``reason``, ``reportingComponent``, ``source`` and ``type``; Pods ``spec.nodeName``,
  ``status.phase`` and the rest of :data:`FIELDS`): another field is the API server's
  400 BadRequest, "field label not supported: FIELD".

A selector that does not parse is a :class:`SelectorError`; the double answers it with
400 BadRequest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class SelectorError(ValueError):
    """A selector that does not parse, or names a field its kind does not support."""


def _get(obj: Mapping[str, Any], path: str) -> Any:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _text(path: str) -> Callable[[Mapping[str, Any]], str]:
    def read(obj: Mapping[str, Any]) -> str:
        value = _get(obj, path)
        if isinstance(value, bool):  # Go prints booleans lower-case
            return "true" if value else "false"
        return "" if value is None else str(value)

    return read


def _pod_ips(obj: Mapping[str, Any]) -> str:
    ips = _get(obj, "status.podIPs") or []
    return ",".join(str(p.get("ip", "")) for p in ips if isinstance(p, Mapping))


def _source(obj: Mapping[str, Any]) -> str:
    # the API server's "source" field is source.component, falling back on the reporting
    # controller (JSON reportingComponent) for Events written through events.k8s.io
    return str(_get(obj, "source.component") or obj.get("reportingComponent") or "")


_COMMON: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "metadata.name": _text("metadata.name"),
    "metadata.namespace": _text("metadata.namespace"),
}
# The fields each kind's API server supports beyond metadata.name and metadata.namespace
# (the field label conversions registered for core/v1 and the other groups served).
FIELDS: dict[str, dict[str, Callable[[Mapping[str, Any]], str]]] = {
    "Event": {
        **{
            f"involvedObject.{f}": _text(f"involvedObject.{f}")
            for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
        },
        "reason": _text("reason"),
        "reportingComponent": _text("reportingComponent"),
        "source": _source,
        "type": _text("type"),
    },
    "Pod": {
        "spec.nodeName": _text("spec.nodeName"),
        "spec.restartPolicy": _text("spec.restartPolicy"),
        "spec.schedulerName": _text("spec.schedulerName"),
        "spec.serviceAccountName": _text("spec.serviceAccountName"),
        "spec.hostNetwork": lambda o: "true" if _get(o, "spec.hostNetwork") else "false",
        "status.phase": _text("status.phase"),
        "status.podIP": _text("status.podIP"),
        "status.podIPs": _pod_ips,
        "status.nominatedNodeName": _text("status.nominatedNodeName"),
    },
    "Namespace": {"status.phase": _text("status.phase")},
    "Node": {"spec.unschedulable": lambda o: "true" if _get(o, "spec.unschedulable") else "false"},
    "Secret": {"type": _text("type")},
    "Service": {"spec.clusterIP": _text("spec.clusterIP"), "spec.type": _text("spec.type")},
}


@dataclass(frozen=True)
class Selector:
    """A parsed label and field selector; matches everything when both are empty."""

    labels: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (key, operator, values)
    fields: tuple[tuple[Callable[[Mapping[str, Any]], str], bool, str], ...] = ()  # (read, equal, value)

    def __bool__(self) -> bool:
        return bool(self.labels or self.fields)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        labels = _get(obj, "metadata.labels") or {}
        for key, op, values in self.labels:
            if not _label_matches(labels, key, op, values):
                return False
        return all((read(obj) == value) == equal for read, equal, value in self.fields)


def _label_matches(labels: Mapping[str, Any], key: str, op: str, values: tuple[str, ...]) -> bool:
    present = key in labels
    value = str(labels.get(key, ""))
    if op == "exists":
        return present
    if op == "!":
        return not present
    if op == "in":
        return present and value in values
    if op == "notin":
        return not present or value not in values
    if op in (">", "<"):
        try:
            number = int(value)
        except ValueError:
            return False
        return present and (number > int(values[0]) if op == ">" else number < int(values[0]))
    raise AssertionError(op)  # parse() makes no other operator


def parse(kind: str, *, labels: str = "", fields: str = "") -> Selector:
    """The selector of a list or watch of ``kind`` from its query's ``labelSelector`` and
    ``fieldSelector``."""
    return Selector(labels=_parse_labels(labels), fields=_parse_fields(kind, fields))


def _split(text: str) -> list[str]:
    """Requirements separated by commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"^(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_COMPARE = re.compile(rf"^(?P<key>{_KEY})\s*(?P<op>==|!=|=|>|<)\s*(?P<value>{_VALUE})$")
_EXISTS = re.compile(rf"^(?P<not>!?)\s*(?P<key>{_KEY})$")


def _parse_labels(text: str) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    out: list[tuple[str, str, tuple[str, ...]]] = []
    for part in _split(text):
        if found := _SET.match(part):
            values = tuple(v.strip() for v in found["values"].split(","))
            if not all(re.fullmatch(_VALUE, v) for v in values):
                raise SelectorError(f"unable to parse requirement: invalid label value in {part!r}")
            out.append((found["key"], found["op"], values))
        elif found := _COMPARE.match(part):
            op, value = found["op"], found["value"]
            if op in (">", "<"):
                if not re.fullmatch(r"-?[0-9]+", value):
                    raise SelectorError(f"unable to parse requirement: for '{op}', an integer value is required")
                out.append((found["key"], op, (value,)))
            else:
                out.append((found["key"], "notin" if op == "!=" else "in", (value,)))
        elif found := _EXISTS.match(part):
            out.append((found["key"], "!" if found["not"] else "exists", ()))
        else:
            raise SelectorError(f"unable to parse requirement: {part!r}")
    return tuple(out)


def _terms(text: str) -> list[str]:
    """Field selector terms: commas split them unless escaped."""
    terms, current, escaped = [], "", False
    for char in text:
        if escaped:
            current += "\\" + char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(current)
            current = ""
        else:
            current += char
    if escaped:
        raise SelectorError(f"invalid field selector: {text!r}: a trailing backslash")
    terms.append(current)
    return [t for t in terms if t]


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _parse_fields(kind: str, text: str) -> tuple[tuple[Callable[[Mapping[str, Any]], str], bool, str], ...]:
    known = _COMMON | FIELDS.get(kind, {})
    out = []
    for term in _terms(text):
        found = re.match(r"^(?P<field>[^=!\\]+)(?P<op>==|!=|=)(?P<value>.*)$", term)
        if found is None or "=" in re.sub(r"\\.", "", found["value"]):
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        field = found["field"].strip()
        if field not in known:
            raise SelectorError(f"field label not supported: {field}")
        out.append((known[field], found["op"] != "!=", _unescape(found["value"])))
    return tuple(out)
