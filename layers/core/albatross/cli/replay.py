"""``albatross replay --from T --to T``: send the event archive's events of a time window
back onto the bus (EventBridge StartReplay), and follow the replay until it ends.

Ingest takes each again: a change it already has (the same or an older resourceVersion)
is dropped as stale, so a replay only restores what the state table lost. The archive
and the bus come from the stack's outputs.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Mapping
from typing import Any

from albatross.aws import clients
from albatross.aws.errors import aws_errors
from albatross.cli.stack import CliError, UsageError, require

_ENDED = ("COMPLETED", "FAILED", "CANCELLED")


def replay(
    outputs: Mapping[str, str],
    *,
    start: int,
    end: int,
    progress: Callable[[str], None],
    interval: float = 2.0,
    timeout: float = 1800.0,
) -> dict[str, Any]:
    """Replay events archived between ``start`` and ``end`` (ms since the epoch)."""
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
    return {
        "replay": name,
        "state": state,
        "reason": found.get("StateReason", ""),
        "seconds": round(time.monotonic() - started, 1),
        "from": _iso(start),
        "to": _iso(end),
    }


def _iso(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary(done: Mapping[str, Any]) -> str:
    """The one line a replay ends with: its name, how it ended, the window and how long."""
    line = f"replay {done['replay']} {done['state']} in {done['seconds']}s: events of {done['from']} to {done['to']}"
    return line + (f" ({done['reason']})" if done["reason"] else "")
