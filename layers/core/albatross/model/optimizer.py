"""LBC's rule optimizer, per listener: a redirect rule that would send a request back to
this very listener (every redirect field unset, a ``#{...}`` placeholder, or the rule's
own value) is dropped, and so is every later rule that an earlier redirect rule, matching
on host and path only, already catches. This is what makes the common
``actions.ssl-redirect`` pattern work on a listener group with HTTP and HTTPS.

A host or path condition holds plain values (wildcards) or regular expressions
(``RegexValues``). The two are never compared with each other: a redirect rule on a
regular expression catches only a later rule on the very same regular expressions (LBC
reads plain values only, so there a regex rule looks like a catch-all and the rules
after it are dropped).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Rule = tuple[list[dict[str, Any]], list[dict[str, Any]], Any, Any]
_CONFIG = {"host-header": "HostHeaderConfig", "path-pattern": "PathPatternConfig"}


class _Match:
    """What a rule's host-header or path-pattern conditions match: plain values and
    regular expressions."""

    def __init__(self, plain: frozenset[str], regex: frozenset[str]) -> None:
        self.plain = plain
        self.regex = regex

    def within(self, outer: _Match) -> bool:
        """Whether every request this matches is matched by ``outer``, as far as that can
        be told without reading regular expressions: each value is one of ``outer``'s of
        the same kind."""
        return bool(self.plain or self.regex) and self.plain <= outer.plain and self.regex <= outer.regex


def _match(conditions: Sequence[Mapping[str, Any]], field: str) -> _Match | None:
    """The rule's conditions on ``field``; None when it has none."""
    found = [c.get(_CONFIG[field]) or {} for c in conditions if c.get("Field") == field]
    if not found:
        return None
    plain = frozenset(str(v) for config in found for v in config.get("Values") or ())
    regex = frozenset(str(v) for config in found for v in config.get("RegexValues") or ())
    return _Match(plain, regex)


def _single(match: _Match | None) -> str | None:
    """The one plain value of a condition (what a redirect to "the rule's own" host or
    path would be), else None."""
    if match is None or match.regex or len(match.plain) != 1:
        return None
    return next(iter(match.plain))


def _loops(rule: Rule, port: int, protocol: str) -> bool:
    redirect = (rule[1][-1].get("RedirectConfig") or {}) if rule[1] else {}
    own = {
        "Host": _single(_match(rule[0], "host-header")),
        "Path": _single(_match(rule[0], "path-pattern")),
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
    if any(c.get("Field") not in _CONFIG for c in outer[0]):
        return False
    outer_hosts, inner_hosts = _match(outer[0], "host-header"), _match(inner[0], "host-header")
    if outer_hosts is not None and (inner_hosts is None or not inner_hosts.within(outer_hosts)):
        return False
    outer_paths, inner_paths = _match(outer[0], "path-pattern"), _match(inner[0], "path-pattern")
    if outer_paths is None or "/*" in outer_paths.plain:
        return True
    return inner_paths is not None and inner_paths.within(outer_paths)


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
