"""Logs Insights for the local AWS, where moto (5.2.5) falls short.

moto serves StartQuery and GetQueryResults, but its engine knows only ``fields``,
``sort`` and ``limit`` over the ``@`` fields: it ignores ``filter`` and finds no field
of a JSON log line. It has no saved queries at all (PutQueryDefinition,
DescribeQueryDefinitions, DeleteQueryDefinition). While :func:`served` is active the moto
server of this process answers both: saved queries are kept in memory, and queries run
on :func:`run_query`, a small engine that discovers the fields of JSON log lines (nested
keys as ``a.b``, list items as ``a.0``, as Insights does; the whole value under its own
name too) and understands ``fields``, ``filter`` (``=``, ``!=``, ``in [...]``, ``not in``,
``like "text"`` or ``like /regex/``, joined by ``and``/``or``, no parentheses), ``sort``
and ``limit``. Anything else (``stats``, ``parse``, ``dedup``, ...) is refused with a
MalformedQueryException that says the local engine lacks it. Patched into moto's server
side (as :mod:`albatross.local.lambdas` patches Lambda), so every process that reaches
the server, a CLI in another terminal included, sees it.
"""

from __future__ import annotations

import datetime
import json
import re
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import moto.logs.models as moto_logs
from moto.core.exceptions import JsonRESTError
from moto.logs.responses import LogsResponse


class MalformedQuery(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("MalformedQueryException", message)


Event = tuple[int, str, str, str]  # timestamp (ms), message, log stream, log group
_COMPARISON = re.compile(r"^\s*([\w@.$-]+)\s*(!=|=|not\s+in\b|in\b|like\b)\s*(.+?)\s*$", re.IGNORECASE)


def _split(text: str, separator: str) -> list[str]:
    """Split on ``separator`` (a regex) outside quotes, brackets and /regex/."""
    parts, depth, quote, start, i = [], 0, "", 0, 0
    pattern = re.compile(separator, re.IGNORECASE)
    while i < len(text):
        c = text[i]
        if quote:
            quote = "" if c == quote else quote
        elif c in "\"'/":
            quote = c
        elif c in "[(":
            depth += 1
        elif c in "])":
            depth -= 1
        elif depth == 0 and (found := pattern.match(text, i)):
            parts.append(text[start:i])
            start = i = found.end()
            continue
        i += 1
    return [*parts, text[start:]]


def _literal(text: str) -> Any:
    text = text.strip()
    if text.startswith("["):
        try:
            return [str(v) for v in json.loads(text)]
        except ValueError:
            return [_literal(v) for v in text[1:-1].split(",")]
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _fields(event: Event) -> dict[str, str]:
    at, message, stream, group = event
    when = datetime.datetime.fromtimestamp(at / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    out = {"@timestamp": when, "@message": message, "@logStream": stream, "@log": group}

    def flatten(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            out[prefix] = json.dumps(value)
            for k, v in value.items():
                flatten(f"{prefix}.{k}", v)
        elif isinstance(value, list):
            out[prefix] = json.dumps(value)
            for k, v in enumerate(value):
                flatten(f"{prefix}.{k}", v)
        else:
            out[prefix] = value if isinstance(value, str) else json.dumps(value)

    try:
        parsed = json.loads(message) if message.lstrip().startswith("{") else None
    except ValueError:
        parsed = None
    for key, value in (parsed or {}).items():
        flatten(key, value)
    return out


def _matches(condition: str, row: dict[str, str]) -> bool:
    for alternative in _split(condition, r"\s+or\s+"):
        if all(_compare(part, row) for part in _split(alternative, r"\s+and\s+")):
            return True
    return False


def _compare(text: str, row: dict[str, str]) -> bool:
    found = _COMPARISON.match(text)
    if not found:
        raise MalformedQuery(f"the local Logs Insights engine cannot read the filter {text.strip()!r}")
    name, op, raw = found.group(1), " ".join(found.group(2).lower().split()), found.group(3)
    value = row.get(name)
    if op == "like":
        if raw.startswith("/") and raw.endswith("/"):
            return value is not None and re.search(raw[1:-1], value) is not None
        return value is not None and str(_literal(raw)) in value
    wanted = _literal(raw)
    if op in ("in", "not in"):
        inside = value is not None and value in (wanted if isinstance(wanted, list) else [wanted])
        return inside if op == "in" else not inside
    return (value == str(wanted)) if op == "=" else (value != str(wanted))


def run_query(query: str, events: Iterable[Event]) -> list[dict[str, str]]:
    """Run a Logs Insights query over ``events``; rows hold the query's fields."""
    rows = [_fields(e) for e in events]
    shown: list[str] = ["@timestamp", "@message"]
    order, limit = ("@timestamp", True), 10_000
    for command in (c.strip() for c in _split(query, r"\|")):
        verb, _, rest = command.partition(" ")
        verb = verb.lower()
        if verb == "fields":
            shown = [f.strip() for f in _split(rest, ",") if f.strip()]
        elif verb == "filter":
            rows = [r for r in rows if _matches(rest, r)]
        elif verb == "sort":
            name, _, direction = _split(rest, ",")[0].strip().partition(" ")
            order = (name, direction.strip().lower() != "asc")
        elif verb == "limit":
            limit = int(rest)
        elif verb:
            raise MalformedQuery(f"the local Logs Insights engine has no {verb!r} command (moto has none either)")
    rows.sort(key=lambda r: r.get(order[0], ""), reverse=order[1])
    return [{f: r[f] for f in shown if f in r} for r in rows[:limit]]


def _execute(log_groups: list[Any], query: str, start_time: int, end_time: int) -> list[dict[str, str]]:
    """moto's ``execute_query``, in seconds as StartQuery takes them."""
    events = [
        (e.timestamp, e.message, stream.log_stream_name, group.name)
        for group in log_groups
        for stream in group.streams.values()
        for e in stream.events
        if (not start_time or e.timestamp >= start_time * 1000) and (not end_time or e.timestamp <= end_time * 1000)
    ]
    return [{**row, "@ptr": uuid.uuid4().hex} for row in run_query(query, events)]


_saved: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()


def _put(self: LogsResponse) -> str:
    body = json.loads(self.body or "{}")
    with _lock:
        found = body.get("queryDefinitionId") or str(uuid.uuid4())
        _saved[found] = {
            "queryDefinitionId": found,
            "name": body["name"],
            "queryString": body["queryString"],
            "logGroupNames": list(body.get("logGroupNames") or []),
        }
    return json.dumps({"queryDefinitionId": found})


def _describe(self: LogsResponse) -> str:
    prefix = str(json.loads(self.body or "{}").get("queryDefinitionNamePrefix") or "")
    with _lock:
        found = sorted((d for d in _saved.values() if d["name"].startswith(prefix)), key=lambda d: d["name"])
    return json.dumps({"queryDefinitions": found})


def _delete(self: LogsResponse) -> str:
    with _lock:
        gone = _saved.pop(str(json.loads(self.body or "{}").get("queryDefinitionId")), None)
    return json.dumps({"success": gone is not None})


@contextmanager
def served() -> Iterator[None]:
    """Answer saved queries and run Insights queries on the local engine while active."""
    original = moto_logs.__dict__["execute_query"]
    added = {"put_query_definition": _put, "describe_query_definitions": _describe, "delete_query_definition": _delete}
    # setattr: moto's own names, replaced (the engine) or added (the actions moto lacks) while active
    setattr(moto_logs, "execute_query", _execute)  # noqa: B010  # a module attribute moto does not export
    for name, action in added.items():
        setattr(LogsResponse, name, action)
    try:
        yield
    finally:
        setattr(moto_logs, "execute_query", original)  # noqa: B010  # as above
        for name in added:
            delattr(LogsResponse, name)
        with _lock:
            _saved.clear()
