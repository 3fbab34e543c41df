"""``albatross replay --from T --to T``: send the event archive's events of a time window
back onto the bus (EventBridge StartReplay), and follow the replay until it ends.

Ingest takes each again: a change it already has (the same or an older resourceVersion)
is dropped as stale, so a replay only restores what the state table lost. The archive
and the bus come from the stack's outputs.

EventBridge reports no count of the events a replay sent, and delivers them to ingest
asynchronously; ingest logs one ``replayed event`` line per replayed event, naming the
replay. Once the replay has ended, the count of those lines is read until it no longer
grows (or ``settle`` seconds pass) and reported as the events that reached ingest.
CloudWatch Logs shows lines seconds to a minute after they are written, so a count of 0
is not believed before ``lag`` seconds: the summary then says the events are not yet
counted, and a count still growing when ``settle`` passes is reported as "at least".
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from albatross.aws import clients
from albatross.aws.errors import aws_errors
from albatross.cli.stack import CliError, UsageError, require

_ENDED = ("COMPLETED", "FAILED", "CANCELLED")
QUIET_SECONDS = 10.0  # a count of events at ingest that has not grown for this long is whole

Counted = Literal["all", "at least", "not yet"]  # how sure the count of events that reached ingest is


def replay(
    outputs: Mapping[str, str],
    *,
    start: int,
    end: int,
    progress: Callable[[str], None],
    interval: float = 2.0,
    timeout: float = 1800.0,
    settle: float = 60.0,
    lag: float = 60.0,
) -> dict[str, Any]:
    """Replay events archived between ``start`` and ``end`` (ms since the epoch); a count
    of 0 events at ingest is not taken as final before ``lag`` seconds (CloudWatch Logs'
    delivery), nor is any count followed longer than ``settle`` seconds."""
    require(outputs, "EventArchiveArn", "EventBusArn")
    if start >= end:
        raise UsageError("--from must be before --to")
    events = clients.events()
    name = f"albatross-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{time.time_ns() % 1000:03d}"
    with aws_errors():
        events.start_replay(
            ReplayName=name,
            EventSourceArn=outputs["EventArchiveArn"],
            EventStartTime=datetime.datetime.fromtimestamp(start / 1000, datetime.UTC),
            EventEndTime=datetime.datetime.fromtimestamp(end / 1000, datetime.UTC),
            Destination={"Arn": outputs["EventBusArn"]},
        )
    started, last = time.monotonic(), ""
    since = int(time.time() * 1000) - 60_000  # ingest's lines of this replay are all later (clock skew aside)
    while True:
        with aws_errors():
            found = events.describe_replay(ReplayName=name)
        state = str(found.get("State"))
        if state in _ENDED:
            break  # the end is the summary's to say, once
        if state != last:
            progress(f"replay {name}: {state.lower()} ({time.monotonic() - started:.0f}s)")
            last = state
        if time.monotonic() - started > timeout:
            raise CliError(
                f"replay {name} still {state} after {timeout:.0f}s: check it with aws events describe-replay"
            )
        time.sleep(interval)
    reached: int | None = None
    counted: Counted = "all"
    if state == "COMPLETED":
        reached, counted = _settled(
            lambda: reached_ingest(outputs, name=name, since=since),
            interval=interval,
            settle=settle,
            lag=lag,
            progress=progress,
        )
    return {
        "replay": name,
        "state": state,
        "reason": found.get("StateReason", ""),
        "seconds": round(time.monotonic() - started, 1),
        "events": reached,
        "counted": counted,
        "from": _iso(start),
        "to": _iso(end),
    }


def _iso(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reached_ingest(outputs: Mapping[str, str], *, name: str, since: int) -> int | None:
    """How many events of replay ``name`` ingest has logged so far (None: the stack
    names no ingest log group)."""
    groups = [g for g in str(outputs.get("LogGroupNames", "")).split(",") if "Ingest" in g]
    if not groups:
        return None
    seen: set[str] = set()
    logs = clients.logs()
    with aws_errors():
        for page in logs.get_paginator("filter_log_events").paginate(
            logGroupName=groups[0], startTime=since, filterPattern=f'"{name}"'
        ):
            for found in page.get("events", []):
                try:
                    line = json.loads(found.get("message", ""))
                except ValueError:
                    continue
                if isinstance(line, dict) and line.get("message") == "replayed event" and line.get("replay") == name:
                    seen.add(str(line.get("correlation_id") or found.get("eventId")))
    return len(seen)


def _settled(
    count: Callable[[], int | None],
    *,
    interval: float,
    settle: float,
    lag: float,
    progress: Callable[[str], None],
    quiet: float = QUIET_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[int | None, Counted]:
    """``count()`` once it has not grown for ``quiet`` seconds, and how sure it is: "all"
    then; "at least" when it still grew as ``settle`` seconds passed. CloudWatch Logs
    shows lines seconds to a minute late, and a replay's events reach ingest over a while:
    two equal reads a poll apart are no answer. A count of 0 does not settle before ``lag``
    seconds: it stays 0 then (or as ``settle`` passes), it is "not yet" counted."""
    began = clock()
    now = count()
    since = began  # when the count last changed
    while now is not None:
        at = clock()
        if at - began >= settle or (now == 0 and at - began >= lag):
            return now, "not yet" if now == 0 else "at least"
        progress(f"waiting for ingest to take the replayed events: {now} so far")
        sleep(interval)
        before, now = now, count()
        if now != before:
            since = clock()
        elif now and clock() - since >= quiet:
            return now, "all"
    return None, "all"


def failure(done: Mapping[str, Any]) -> str | None:
    """Why a replay that did not complete failed the command, and what to do (None: it
    completed)."""
    if done["state"] == "COMPLETED":
        return None
    why = f" ({done['reason']})" if done["reason"] else ""
    return (
        f"replay {done['replay']} ended {done['state']}, not COMPLETED{why}: some events of the window may not have"
        f" been sent again; see aws events describe-replay --replay-name {done['replay']}, then run the replay again"
        " (ingest drops what it already has)"
    )


def summary(done: Mapping[str, Any]) -> str:
    """The one line a replay ends with: its name, how it ended, how long, the window and
    how many events reached ingest (saying so when the count may be incomplete)."""
    line = f"replay {done['replay']} {done['state']} in {done['seconds']}s: events of {done['from']} to {done['to']}"
    events, counted = done.get("events"), done.get("counted", "all")
    if events is not None:
        line += {
            "not yet": "; none counted at ingest yet (CloudWatch Logs may not have delivered its lines)",
            "at least": f"; at least {events} reached ingest (still growing when counting stopped)",
        }.get(counted, f"; {events} reached ingest")
    return line + (f" ({done['reason']})" if done["reason"] else "")
