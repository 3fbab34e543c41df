"""Resolve the CloudFormation intrinsic functions a translated template uses (Ref,
Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, Fn::Split, and the condition functions
Fn::If, Fn::Equals, Fn::Not, Fn::And, Fn::Or) against created resources."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Lookup = Callable[[str, str | None], Any]  # (logical id or parameter, attribute) → value
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


class _NoValue:
    """``Ref: AWS::NoValue``: the property is left out."""


NO_VALUE = _NoValue()


def references(value: Any) -> set[str]:
    """Logical ids (and parameters) a value depends on."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        if "Ref" in value and len(value) == 1:
            found.add(str(value["Ref"]))
        elif "Fn::GetAtt" in value and len(value) == 1:
            found.add(str(value["Fn::GetAtt"][0]))
        elif "Fn::Sub" in value and len(value) == 1:
            arg = value["Fn::Sub"]
            text, names = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            found |= {m.split(".")[0] for m in _SUB.findall(text) if m not in names}
            found |= references(names)
        else:
            for v in value.values():
                found |= references(v)
    elif isinstance(value, list):
        for v in value:
            found |= references(v)
    return found


def resolve(value: Any, lookup: Lookup, conditions: Mapping[str, bool] | None = None) -> Any:
    def again(v: Any) -> Any:
        return resolve(v, lookup, conditions)

    if isinstance(value, list):
        return [r for r in (again(v) for v in value) if r is not NO_VALUE]
    if not isinstance(value, Mapping):
        return value
    if len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Fn::If":
            return again(arg[1] if (conditions or {})[str(arg[0])] else arg[2])
        if fn in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"):
            return evaluate(value, lookup, conditions or {})
        if fn == "Ref":
            return lookup(str(arg), None)
        if fn == "Fn::GetAtt":
            return lookup(str(arg[0]), str(arg[1]))
        if fn == "Fn::Join":
            return str(arg[0]).join(str(again(v)) for v in again(arg[1]))
        if fn == "Fn::Select":
            return again(arg[1])[int(again(arg[0]))]
        if fn == "Fn::Split":
            return str(again(arg[1])).split(str(arg[0]))
        if fn == "Fn::Sub":
            text, names = (arg, {}) if isinstance(arg, str) else (arg[0], again(arg[1]))
            return substitute(str(text), names, lookup)
    return {k: r for k, r in ((k, again(v)) for k, v in value.items()) if r is not NO_VALUE}


def evaluate(value: Any, lookup: Lookup, conditions: Mapping[str, bool]) -> bool:
    """A condition expression (from a template's Conditions section, or inline)."""
    ((fn, arg),) = value.items()
    if fn == "Condition":
        return bool(conditions[str(arg)])
    if fn == "Fn::Equals":
        left, right = (resolve(a, lookup, conditions) for a in arg)
        return str(left) == str(right)
    if fn == "Fn::Not":
        return not evaluate(arg[0], lookup, conditions)
    if fn == "Fn::And":
        return all(evaluate(a, lookup, conditions) for a in arg)
    if fn == "Fn::Or":
        return any(evaluate(a, lookup, conditions) for a in arg)
    raise ValueError(f"not a condition: {fn}")


def substitute(text: str, names: Mapping[str, Any], lookup: Lookup) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in names:
            return str(names[name])
        logical, _, attribute = name.partition(".")
        return str(lookup(logical, attribute or None))

    return _SUB.sub(one, text)
