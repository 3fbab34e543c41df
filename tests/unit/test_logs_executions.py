"""``albatross logs`` and the state machines' executions: one that started before the
window but still runs is shown, and ``--follow`` reads it until it ends, its failed task
and end included; a finished one is read once. Step Functions is an in-memory fake."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from albatross.aws import clients
from albatross.cli import logs

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:albatross-provision"
OUTPUTS = {"LogGroupNames": "/aws/lambda/albatross-ReconcileFunction", "ProvisionStateMachineArn": MACHINE}
NOW = 1_800_000_000_000  # ms
MINUTE = 60_000


def at(ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)


@dataclass
class Execution:
    name: str
    group: str
    started: int
    status: str = "RUNNING"
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def arn(self) -> str:
        return MACHINE.replace(":stateMachine:", ":execution:") + ":" + self.name

    def __post_init__(self) -> None:
        self.events.append({"type": "ExecutionStarted", "timestamp": at(self.started)})

    def fail(self, when: int) -> None:
        cause = json.dumps({"errorType": "UserError", "errorMessage": "CertificateNotFound: nope"})
        self.events.append(
            {
                "type": "TaskFailed",
                "timestamp": at(when),
                "taskFailedEventDetails": {"error": "UserError", "cause": cause},
            }
        )
        details = {"error": "ReconcileFailed", "cause": "a provisioning step failed"}
        self.events.append(
            {"type": "ExecutionFailed", "timestamp": at(when + 1), "executionFailedEventDetails": details}
        )
        self.status = "FAILED"


class Pages:
    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages

    def paginate(self, **_: Any) -> Iterator[dict[str, Any]]:
        yield from self.pages


@dataclass
class FakeSfn:
    """list_executions (newest first, two a page), describe_execution, get_execution_history."""

    executions: list[Execution]
    read: list[str] = field(default_factory=list)  # the executions whose history was read

    def get_paginator(self, name: str) -> Any:
        sfn = self

        class Paginator:
            def paginate(self, **kw: Any) -> Iterator[dict[str, Any]]:
                if name == "get_execution_history":
                    sfn.read.append(kw["executionArn"].rsplit(":", 1)[-1])
                    yield {"events": next(e for e in sfn.executions if e.arn == kw["executionArn"]).events}
                    return
                assert kw["stateMachineArn"] == MACHINE
                found = [e for e in sfn.executions if kw.get("statusFilter") in (None, e.status)]
                found.sort(key=lambda e: -e.started)
                listed = [{"executionArn": e.arn, "startDate": at(e.started), "status": e.status} for e in found]
                for i in range(0, len(listed), 2):
                    yield {"executions": listed[i : i + 2]}

        return Paginator()

    def describe_execution(self, *, executionArn: str) -> dict[str, Any]:  # noqa: N803  # the API's name
        found = next(e for e in self.executions if e.arn == executionArn)
        return {"input": json.dumps({"group": found.group}), "status": found.status, "stateMachineArn": MACHINE}


@pytest.fixture
def sfn(monkeypatch: pytest.MonkeyPatch) -> FakeSfn:
    fake = FakeSfn(
        [
            Execution("long", "a/x", started=NOW - 30 * MINUTE),  # before the window, still running
            Execution("done", "a/x", started=NOW - 40 * MINUTE, status="SUCCEEDED"),  # before it, over
            Execution("other", "b/y", started=NOW - 5 * MINUTE),
            Execution("new", "a/x", started=NOW - 2 * MINUTE, status="SUCCEEDED"),
        ]
    )
    monkeypatch.setattr(clients, "sfn", lambda: fake)
    monkeypatch.setattr(clients, "logs", lambda: type("Logs", (), {"get_paginator": lambda *_: Pages([{}])})())
    return fake


def shown(entries: list[logs.Entry]) -> list[tuple[str, str]]:
    return [(e.where.rsplit(":", 1)[-1], e.message) for e in entries]


def test_history_shows_an_execution_still_running_however_old(sfn: FakeSfn) -> None:
    found = logs.history(OUTPUTS, group="a/x", since=NOW - 10 * MINUTE)
    assert shown(found) == [("long", "execution started"), ("new", "execution started")]


def test_follow_reads_a_running_execution_until_it_ends_and_a_finished_one_once(sfn: FakeSfn) -> None:
    polls = 0

    def stop() -> bool:
        nonlocal polls
        polls += 1
        if polls == 1:  # between the first and second poll, the old execution fails
            sfn.executions[0].fail(NOW + MINUTE)
        return polls == 3

    found = list(logs.follow(OUTPUTS, group="a/x", since=NOW - 10 * MINUTE, interval=0, stop=stop))
    assert shown(found) == [
        ("long", "execution started"),
        ("new", "execution started"),
        ("long", "task failed"),
        ("long", "execution failed"),
    ]
    assert found[2].fields == {"error": "UserError", "cause": "UserError: CertificateNotFound: nope"}
    # each poll reads the running one again, until it is over; the finished ones once
    assert sorted(sfn.read) == ["long", "long", "new"]
