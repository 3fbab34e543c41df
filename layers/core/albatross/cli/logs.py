"""``albatross logs``: one IngressGroup's reconcile history, from CloudWatch Logs and the
state machines' execution histories, merged in time order.

The functions log JSON through Powertools; a line belongs to a group when its ``group``
is the group, or its ``groups`` list holds it (ingest's lines), or, having neither, its
``correlation_id`` is the group. The server-side filter (FilterLogEvents) is a plain
term pattern on the group name, which AWS and moto both understand; the exact test runs
here. Provision and teardown executions whose input names the group add their start,
failed tasks and end: those started in the window, and those still running however long
ago they started. Warnings and errors are marked (``!``) and coloured on a terminal;
long values are shortened in the table (never errors), whole in ``--output json``.
``--follow`` polls for new lines until interrupted, reading a running execution until
it ends. Reads only; the log groups and state machines come from the stack's outputs.
"""

from __future__ import annotations

import datetime
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from albatross.aws import clients
from albatross.aws.errors import aws_errors
from albatross.cli.stack import UsageError, require
from albatross.store.table import Store

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

# Powertools' own keys, shown as columns or not at all.
_QUIET = {
    "level", "location", "message", "timestamp", "cold_start", "function_name", "function_memory_size",
    "function_arn", "function_request_id", "correlation_id", "xray_trace_id", "sampling_rate", "group",
}  # fmt: skip
_MACHINES = {"ProvisionStateMachineArn": "provision", "TeardownStateMachineArn": "teardown"}
_ERRORS = ("ERROR", "CRITICAL")


@dataclass(frozen=True)
class Entry:
    timestamp: int  # ms since the epoch
    source: str  # ingest, reconcile, step, drift, provision, teardown
    level: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    where: str = ""  # log group and stream, or execution ARN

    @property
    def time(self) -> str:
        at = datetime.datetime.fromtimestamp(self.timestamp / 1000, datetime.UTC)
        return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.timestamp % 1000:03d}Z"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "time": self.time, "error": self.level in _ERRORS}


def parse_since(text: str, now: float) -> int:
    """``90s``, ``15m``, ``1h``, ``2d`` ago, or an ISO 8601 time; ms since the epoch."""
    found = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if found:
        seconds = int(found.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[found.group(2)]
        return int((now - seconds) * 1000)
    try:
        at = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"cannot read the time {text!r}: write 1h, 30m, 2d or 2025-01-31T12:00:00Z") from None
    return int((at if at.tzinfo else at.replace(tzinfo=datetime.UTC)).timestamp() * 1000)


def resolve(outputs: Mapping[str, str], *, ingress: str | None, group: str | None) -> tuple[str, list[str]]:
    """The group (of ``ingress``, or ``group``) and its Ingresses, from the state table."""
    require(outputs, "StateTableName")
    store = Store(outputs["StateTableName"])
    if group is None:
        if ingress is None or "/" not in ingress:
            raise UsageError("name an Ingress as NAMESPACE/NAME, or a group with --group")
        found = [g for g in sorted(store.all_groups()) if ingress in store.members(g)]
        group = found[0] if found else ingress  # an implicit group is named after its Ingress
    return group, sorted(store.members(group))


def _belongs(data: Mapping[str, Any], group: str) -> bool:
    """A line's own ``group`` decides; then ingest's ``groups``; then the correlation id."""
    if data.get("group") is not None:
        return bool(data["group"] == group)
    groups = data.get("groups")
    if isinstance(groups, list):
        return group in groups
    return bool(data.get("correlation_id") == group)


def _source(log_group: str) -> str:
    """``/aws/lambda/<stack>-ReconcileFunction-<suffix>`` → ``reconcile``."""
    name = log_group.rsplit("/", 1)[-1]
    found = re.search(r"([A-Za-z]+)Function", name)
    return found.group(1).lower() if found else name


def _log_entry(event: Mapping[str, Any], log_group: str, group: str) -> Entry | None:
    message = str(event.get("message", ""))
    source = _source(log_group)
    try:
        data = json.loads(message) if message.startswith("{") else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        if group not in message:
            return None
        level = "ERROR" if message.startswith("[ERROR]") else "INFO"
        return Entry(int(event["timestamp"]), source, level, message.strip(), where=log_group)
    if not _belongs(data, group):
        return None
    return Entry(
        timestamp=int(event["timestamp"]),
        source=source,
        level=str(data.get("level", "INFO")),
        message=str(data.get("message", "")),
        # a line's own "service" (a Kubernetes Service) replaces Powertools' (the function's)
        fields={
            k: v
            for k, v in data.items()
            if k not in _QUIET and not (k == "service" and str(v).startswith("albatross-"))
        },
        where=f"{log_group} {event.get('logStreamName', '')}".strip(),
    )


def log_entries(log_groups: list[str], *, group: str, since: int, until: int | None = None) -> list[Entry]:
    logs = clients.logs()
    out: list[Entry] = []
    for log_group in log_groups:
        params: dict[str, Any] = {"logGroupName": log_group, "startTime": since, "filterPattern": f'"{group}"'}
        if until is not None:
            params["endTime"] = until
        with aws_errors():
            for page in logs.get_paginator("filter_log_events").paginate(**params):
                out += [e for e in (_log_entry(ev, log_group, group) for ev in page.get("events", [])) if e]
    return out


def _execution_entry(event: Mapping[str, Any], source: str, arn: str) -> Entry | None:
    kind = str(event["type"])
    at = int(event["timestamp"].timestamp() * 1000)
    name = arn.rsplit(":", 1)[-1]
    if kind == "ExecutionStarted":
        return Entry(at, source, "INFO", "execution started", {"execution": name}, arn)
    if kind == "ExecutionSucceeded":
        return Entry(at, source, "INFO", "execution succeeded", {"execution": name}, arn)
    details = next((v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)), {})
    if kind in ("TaskFailed", "LambdaFunctionFailed", "TaskTimedOut"):
        fields = {"error": details.get("error", ""), "cause": _cause(details.get("cause", ""))}
        return Entry(at, source, "WARNING", "task failed", fields, arn)
    if kind in ("ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"):
        fields = {"execution": name, "error": details.get("error", ""), "cause": _cause(details.get("cause", ""))}
        return Entry(at, source, "ERROR", f"execution {kind.removeprefix('Execution').lower()}", fields, arn)
    return None


def _cause(cause: str) -> str:
    """A Lambda error's JSON cause → ``Type: message``."""
    try:
        data = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(data, dict) and "errorMessage" in data:
        return f"{data.get('errorType', 'Error')}: {data['errorMessage']}"
    return cause


def _listed(sfn: SFNClient, machine: str, since: int) -> list[str]:
    """Executions started since ``since`` (the list is newest first: stop there), and
    those still running however long ago they started."""
    found: list[str] = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine):
        recent = [e for e in page["executions"] if e["startDate"].timestamp() * 1000 >= since]
        found += [e["executionArn"] for e in recent]
        if len(recent) < len(page["executions"]):
            break
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine, statusFilter="RUNNING"):
        found += [e["executionArn"] for e in page["executions"]]
    return found


def execution_entries(
    outputs: Mapping[str, str], *, group: str, since: int, seen: dict[str, list[Entry] | None] | None = None
) -> list[Entry]:
    """The entries of the group's executions that started since ``since`` or still run.

    ``seen`` carries what one poll learnt to the next: a finished execution's entries (or
    ``[]`` for another group's), which never change, and ``None`` for one still running,
    read again until it ends even when it no longer lists (it started before ``since``).
    """
    sfn = clients.sfn()
    seen = {} if seen is None else seen
    machines = {outputs[key]: source for key, source in _MACHINES.items() if key in outputs}
    out: list[Entry] = []
    with aws_errors():
        listed = [arn for machine in machines for arn in _listed(sfn, machine, since)]
        for arn in dict.fromkeys([*listed, *(a for a, v in seen.items() if v is None)]):
            known = seen.get(arn)
            if known is not None:
                out += known
                continue
            described = sfn.describe_execution(executionArn=arn)
            if json.loads(described.get("input") or "{}").get("group") != group:
                seen[arn] = []
                continue
            source = machines[described["stateMachineArn"]]
            pages = sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
            found = [e for p in pages for ev in p["events"] if (e := _execution_entry(ev, source, arn))]
            seen[arn] = None if described["status"] == "RUNNING" else found
            out += found
    return out


def history(
    outputs: Mapping[str, str],
    *,
    group: str,
    since: int,
    until: int | None = None,
    seen: dict[str, list[Entry] | None] | None = None,
    lines_since: int | None = None,
) -> list[Entry]:
    """Log lines since ``lines_since`` (default ``since``) and the executions started
    since ``since`` or still running, in time order; ``seen`` as for :func:`execution_entries`."""
    require(outputs, "LogGroupNames")
    log_groups = outputs["LogGroupNames"].split(",")
    found = log_entries(log_groups, group=group, since=since if lines_since is None else lines_since, until=until)
    executions = execution_entries(outputs, group=group, since=since, seen=seen)
    found += [e for e in executions if until is None or e.timestamp < until]
    return sorted(found, key=lambda e: (e.timestamp, e.source))


def follow(
    outputs: Mapping[str, str],
    *,
    group: str,
    since: int,
    interval: float = 2.0,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[Entry]:
    """Every entry since ``since``, then new ones as they come, until ``stop()``.

    Log lines are read again from a minute back only (they arrive late; older ones are
    deduplicated). Executions keep ``since``: one that started long ago still ends, and
    its failed tasks and end come then; finished ones are not read again."""
    shown: set[tuple[int, str, str, str]] = set()
    seen: dict[str, list[Entry] | None] = {}
    lines_since = since
    while True:
        for entry in history(outputs, group=group, since=since, seen=seen, lines_since=lines_since):
            key = (entry.timestamp, entry.where, entry.message, json.dumps(entry.fields, sort_keys=True, default=str))
            if key not in shown:
                shown.add(key)
                yield entry
        if stop():
            return
        lines_since = max(since, int(time.time() * 1000) - 60_000)
        time.sleep(interval)


_WHOLE = ("error", "errors", "cause", "reason")  # never shortened in the table


def _value(key: str, value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    if key == "execution" and text.startswith("arn:"):
        return text.rsplit(":", 1)[-1]
    return text if key in _WHOLE or len(text) <= 100 else text[:97] + "..."


def line(entry: Entry, *, color: bool) -> str:
    marker = "!" if entry.level in (*_ERRORS, "WARNING") else " "
    fields = "  ".join(f"{k}={_value(k, v)}" for k, v in entry.fields.items() if v not in (None, "", [], {}))
    text = f"{marker} {entry.time}  {entry.source:<9}  {entry.level:<7}  {entry.message}" + (
        f"  {fields}" if fields else ""
    )
    if color and marker == "!":
        return f"\033[{'31' if entry.level in _ERRORS else '33'}m{text}\033[0m"
    return text


def table(entries: list[Entry], *, group: str, members: list[str], since: int, color: bool) -> str:
    since_text = Entry(since, "", "", "").time
    head = f"IngressGroup {group}  ({', '.join(members) or 'no Ingress'})  since {since_text}"
    if not entries:
        return f"{head}\nno log lines for this group: widen --since, or check the name with albatross status"
    errors = sum(e.level in _ERRORS for e in entries)
    warnings = sum(e.level == "WARNING" for e in entries)
    body = [line(e, color=color) for e in entries]
    return "\n".join([head, *body, f"{len(entries)} lines, {errors} errors, {warnings} warnings"])


def as_json(entries: list[Entry], *, group: str, members: list[str], since: int) -> str:
    return json.dumps(
        {
            "group": group,
            "ingresses": members,
            "since": Entry(since, "", "", "").time,
            "entries": [e.to_json() for e in entries],
        },
        indent=2,
        sort_keys=True,
        default=str,
    )
