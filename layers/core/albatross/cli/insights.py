"""``albatross logs --insights NAME``: run one of the stack's saved Logs Insights queries.

The template saves them as ``albatross-<cluster>/<name>``; NAME is either. With an
Ingress or ``--group``, the query is narrowed to that group first (``filter
correlation_id = ... or group = ...``). The query runs with StartQuery and is polled
with GetQueryResults until it completes, showing progress on stderr.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from albatross.aws import clients
from albatross.aws.errors import aws_errors
from albatross.cli.stack import CliError, require

_DONE = ("Complete", "Failed", "Cancelled", "Timeout", "Unknown")


def definition(outputs: Mapping[str, str], name: str) -> dict[str, Any]:
    require(outputs, "ClusterName")
    prefix = f"albatross-{outputs['ClusterName']}/"
    with aws_errors():
        found = clients.logs().describe_query_definitions(queryDefinitionNamePrefix=prefix)["queryDefinitions"]
    for saved in found:
        if saved.get("name") in (name, prefix + name):
            return dict(saved)
    names = ", ".join(str(d.get("name", "")).removeprefix(prefix) for d in found) or "none"
    raise CliError(f"no saved query {name!r}; the stack has: {names}")


def run(
    outputs: Mapping[str, str],
    *,
    name: str,
    group: str | None,
    since: int,
    progress: Callable[[str], None],
    timeout: float = 120.0,
) -> dict[str, Any]:
    saved = definition(outputs, name)
    query = str(saved["queryString"])
    if group is not None:
        query = f'filter correlation_id = "{group}" or group = "{group}" | {query}'
    logs = clients.logs()
    started = time.monotonic()
    with aws_errors():
        query_id = logs.start_query(
            logGroupNames=list(saved.get("logGroupNames") or []),
            startTime=since // 1000,
            endTime=int(time.time()) + 1,
            queryString=query,
        )["queryId"]
    while True:
        with aws_errors():
            found = logs.get_query_results(queryId=query_id)
        status = str(found.get("status"))
        if status in _DONE:
            break
        if time.monotonic() - started > timeout:
            raise CliError(f"query {query_id} still {status} after {timeout:.0f}s: narrow --since and run it again")
        progress(f"query {status.lower()}... {time.monotonic() - started:.0f}s")
        time.sleep(1.0)
    if status != "Complete":
        raise CliError(f"query {saved['name']} ended {status}: see it in the CloudWatch Logs Insights console")
    rows = [{str(f["field"]): str(f["value"]) for f in row if f["field"] != "@ptr"} for row in found["results"]]
    return {"query": saved["name"], "queryString": query, "logGroups": saved.get("logGroupNames") or [], "rows": rows}


def table(result: Mapping[str, Any]) -> str:
    rows: list[dict[str, str]] = result["rows"]
    if not rows:
        return f"{result['query']}: no rows"
    named = re.search(r"(?:^|\|)\s*fields\s+([^|]+)", str(result["queryString"]))
    columns = [c.strip() for c in named.group(1).split(",")] if named else []
    columns = [c for c in columns if any(c in r for r in rows)]  # the query's order; empty ones left out
    for row in rows:
        columns += [c for c in row if c not in columns]
    widths = {c: min(60, max(len(c), *(len(r.get(c, "")) for r in rows))) for c in columns[:-1]}
    lines = ["  ".join(c.ljust(widths.get(c, 0)) for c in columns).rstrip()]
    for row in rows:
        cells = [row.get(c, "").replace("\n", " ") for c in columns]
        lines.append("  ".join(v.ljust(widths.get(c, 0)) for c, v in zip(columns, cells, strict=True)).rstrip())
    return "\n".join([f"{result['query']}: {len(rows)} rows", *lines])


def as_json(result: Mapping[str, Any]) -> str:
    return json.dumps(dict(result), indent=2, sort_keys=True)
