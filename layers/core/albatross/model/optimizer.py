"""LBC's rule optimizer, per listener: a redirect rule that would send a request back to
this very listener (every redirect field unset, a ``#{...}`` placeholder, or the rule's
own value) is dropped, and so is every later rule that an earlier redirect rule, matching
on host and path only, already catches. This is what makes the common
``actions.ssl-redirect`` pattern work on a listener group with HTTP and HTTPS."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Rule = tuple[list[dict[str, Any]], list[dict[str, Any]], Any, Any]


def _values(conditions: Sequence[Mapping[str, Any]], field: str) -> list[str] | None:
    for cond in conditions:
        if cond.get("Field") == field:
            config = cond.get("HostHeaderConfig" if field == "host-header" else "PathPatternConfig") or {}
            return [str(v) for v in config.get("Values") or ()]
    return None


def _loops(rule: Rule, port: int, protocol: str) -> bool:
    redirect = (rule[1][-1].get("RedirectConfig") or {}) if rule[1] else {}
    hosts, paths = _values(rule[0], "host-header"), _values(rule[0], "path-pattern")
    own = {
        "Host": hosts[0] if hosts and len(hosts) == 1 else None,
        "Path": paths[0] if paths and len(paths) == 1 else None,
        "Port": str(port),
        "Protocol": protocol,
        "Query": None,
    }
    for key, value in own.items():
        given = redirect.get(key)
        if given is not None and not str(given).startswith("#{") and str(given) != value:
            return False
    return True


def _covers(outer: Rule, inner: Rule) -> bool:
    """Whether every request ``inner`` matches is matched by ``outer`` (host and path only)."""
    if any(c.get("Field") not in ("host-header", "path-pattern") for c in outer[0]):
        return False
    outer_hosts, inner_hosts = _values(outer[0], "host-header"), _values(inner[0], "host-header")
    if outer_hosts is not None and (inner_hosts is None or not set(inner_hosts) <= set(outer_hosts)):
        return False
    outer_paths, inner_paths = _values(outer[0], "path-pattern"), _values(inner[0], "path-pattern")
    if outer_paths is None or "/*" in outer_paths:
        return True
    return inner_paths is not None and set(inner_paths) <= set(outer_paths)


def optimize(rules: Sequence[Rule], *, port: int, protocol: str) -> list[Rule]:
    kept: list[Rule] = []
    redirects: list[Rule] = []
    for rule in rules:
        is_redirect = bool(rule[1]) and rule[1][-1].get("Type") == "redirect"
        if is_redirect and _loops(rule, port, protocol):
            continue
        if any(_covers(r, rule) for r in redirects):
            continue
        kept.append(rule)
        if is_redirect:
            redirects.append(rule)
    return kept
