"""Resolve the CloudFormation intrinsic functions a translated template uses (Ref,
Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, Fn::Split) against created resources."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Lookup = Callable[[str, str | None], Any]  # (logical id or parameter, attribute) → value
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


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


def resolve(value: Any, lookup: Lookup) -> Any:
    if isinstance(value, list):
        return [resolve(v, lookup) for v in value]
    if not isinstance(value, Mapping):
        return value
    if len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return lookup(str(arg), None)
        if fn == "Fn::GetAtt":
            return lookup(str(arg[0]), str(arg[1]))
        if fn == "Fn::Join":
            return str(arg[0]).join(str(resolve(v, lookup)) for v in resolve(arg[1], lookup))
        if fn == "Fn::Select":
            return resolve(arg[1], lookup)[int(resolve(arg[0], lookup))]
        if fn == "Fn::Split":
            return str(resolve(arg[1], lookup)).split(str(arg[0]))
        if fn == "Fn::Sub":
            text, names = (arg, {}) if isinstance(arg, str) else (arg[0], resolve(arg[1], lookup))
            return substitute(str(text), names, lookup)
    return {k: resolve(v, lookup) for k, v in value.items()}


def substitute(text: str, names: Mapping[str, Any], lookup: Lookup) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in names:
            return str(names[name])
        logical, _, attribute = name.partition(".")
        return str(lookup(logical, attribute or None))

    return _SUB.sub(one, text)
