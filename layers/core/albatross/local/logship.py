"""Each local Lambda invocation's log lines, put in CloudWatch Logs as Lambda does.

In AWS a function's output lands in ``/aws/lambda/<function>``, one stream per execution
environment, between ``START``/``END``/``REPORT`` lines, with the runtime's ``[ERROR]``
line when the handler raises. Locally every handler runs in this one process, so while
:func:`shipping` is active a handler on the root logger collects the records emitted in
the invoking thread during an invocation (a context variable marks it), formats them
with that function's Powertools formatter (the same JSON, correlation id included) and,
when the invocation ends, puts them into a new stream of the function's log group (one
stream per invocation). ``albatross logs`` then reads them as it would in AWS.

The core logs through Powertools child loggers. In Lambda their parent is the function's
logger (named by ``POWERTOOLS_SERVICE_NAME``), which sets their level; one process has
no such parent, so while shipping the stand-in parent gets the functions' log level.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from albatross.aws import clients
from albatross.aws.errors import NotFound, aws_errors

if TYPE_CHECKING:
    from mypy_boto3_logs.type_defs import InputLogEventTypeDef

STAND_IN_PARENT = "service_undefined"  # Powertools' service name when none is set

log = logging.getLogger("albatross.local.logship")


@dataclass
class Invocation:
    function: str
    request_id: str
    formatter: logging.Formatter | None = None  # the function's Powertools formatter, once loaded
    started: float = field(default_factory=time.time)
    lines: list[tuple[int, str]] = field(default_factory=list)

    def add(self, message: str, at: float | None = None) -> None:
        self.lines.append((int((at if at is not None else time.time()) * 1000), message))

    def failed(self, error: BaseException) -> None:
        """The Python runtime's line for an exception the handler let out."""
        trace = "".join(traceback.format_exception(error)).rstrip()
        self.add(f"[ERROR] {type(error).__name__}: {error}\n{trace}")


_current: contextvars.ContextVar[Invocation | None] = contextvars.ContextVar("albatross_invocation", default=None)
_active = threading.Event()


class _Collector(logging.Handler):
    def filter(self, record: logging.LogRecord) -> bool:
        # Powertools puts a filter on every root handler that drops its loggers' records
        # (so they print once); collecting them here is no duplicate, so no filter applies.
        return True

    def emit(self, record: logging.LogRecord) -> None:
        run = _current.get()
        if run is None:
            return
        plain = json.dumps({"level": record.levelname, "message": record.getMessage(), "logger": record.name})
        try:
            text = run.formatter.format(record) if run.formatter else plain
        except Exception:  # noqa: BLE001  # a record that cannot be formatted still says something
            text = plain
        run.add(text, record.created)


@contextmanager
def shipping(level: str) -> Iterator[None]:
    """Collect and ship invocations' log lines while active."""
    collector = _Collector()
    # Powertools child loggers take the level in the environment when their module is
    # first imported: in one process that is the first system's. Give the parent and
    # every child already made this system's level, and put theirs back afterwards.
    family = [STAND_IN_PARENT] + [
        name for name in list(logging.root.manager.loggerDict) if name.startswith(STAND_IN_PARENT + ".")
    ]
    saved = {name: logging.getLogger(name).level for name in family}
    for name in family:
        logging.getLogger(name).setLevel(level)
    logging.getLogger().addHandler(collector)
    _active.set()
    try:
        yield
    finally:
        _active.clear()
        logging.getLogger().removeHandler(collector)
        for name, was in saved.items():
            logging.getLogger(name).setLevel(was)


@contextmanager
def invocation(function: str, request_id: str) -> Iterator[Invocation]:
    """Mark one invocation in this thread; its lines are shipped when it ends."""
    run = Invocation(function=function, request_id=request_id)
    run.add(f"START RequestId: {request_id} Version: $LATEST", run.started)
    token = _current.set(run)
    try:
        yield run
    finally:
        _current.reset(token)
        took = (time.time() - run.started) * 1000
        run.add(f"END RequestId: {request_id}")
        run.add(f"REPORT RequestId: {request_id}\tDuration: {took:.2f} ms")
        if _active.is_set():
            _ship(run)


def stream_name(run: Invocation) -> str:
    day = time.strftime("%Y/%m/%d", time.gmtime(run.started))
    return f"{day}/[$LATEST]{run.request_id.replace('-', '')}"


def _ship(run: Invocation) -> None:
    group, stream = f"/aws/lambda/{run.function}", stream_name(run)
    try:
        logs = clients.logs()
        try:
            with aws_errors():
                logs.create_log_stream(logGroupName=group, logStreamName=stream)
        except NotFound:
            with aws_errors():  # Lambda makes the group when the template made none
                logs.create_log_group(logGroupName=group)
                logs.create_log_stream(logGroupName=group, logStreamName=stream)
        events: list[InputLogEventTypeDef] = [
            {"timestamp": at, "message": text} for at, text in sorted(run.lines, key=lambda line: line[0])
        ]
        with aws_errors():
            logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    except Exception:  # a lost log line must never fail the invocation
        log.exception("could not ship the log lines of %s %s", run.function, run.request_id)
