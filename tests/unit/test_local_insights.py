"""The local Logs Insights engine (what moto lacks): the template's saved queries run on
structured Powertools lines; what it cannot run is refused, never silently ignored."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from albatross.cli.logs import parse_since
from albatross.cli.stack import CliError
from albatross.local.insights import MalformedQuery, run_query
from albatross.local.template import load

ROOT = Path(__file__).resolve().parents[2]


def line(at: int, level: str, message: str, **extra: object) -> tuple[int, str, str, str]:
    body = {"level": level, "message": message, "service": "albatross-reconcile", **extra}
    return (at, json.dumps(body), "2026/01/01/[$LATEST]abc", "/aws/lambda/albatross-ReconcileFunction")


EVENTS = [
    line(1_000, "INFO", "applying", group="a/x", correlation_id="a/x", step={"op": "create"}),
    line(2_000, "WARNING", "apply refused", group="a/x", correlation_id="a/x", error="CertificateNotFound"),
    line(3_000, "ERROR", "execution failed", group="b/y", correlation_id="b/y", error="boom"),
    (4_000, "START RequestId: 1 Version: $LATEST", "s", "/aws/lambda/albatross-ReconcileFunction"),
]


def saved(name: str) -> str:
    """A saved query's text, from template.yaml (the single source)."""
    return str(load(ROOT / "template.yaml")["Resources"][name]["Properties"]["QueryString"])


def test_why_not_ready_finds_warnings_and_errors_newest_first() -> None:
    rows = run_query(saved("WhyNotReadyQuery"), EVENTS)
    assert [r["message"] for r in rows] == ["execution failed", "apply refused"]
    assert rows[1] == {
        "@timestamp": "1970-01-01 00:00:02.000",
        "service": "albatross-reconcile",
        "level": "WARNING",
        "message": "apply refused",
        "group": "a/x",
        "error": "CertificateNotFound",
    }


def test_a_group_filter_in_front_narrows_it_and_nested_fields_flatten() -> None:
    query = 'filter correlation_id = "a/x" or group = "a/x" | fields @timestamp, step.op, message | sort @timestamp asc'
    rows = run_query(query, EVENTS)
    assert [r["message"] for r in rows] == ["applying", "apply refused"]
    assert rows[0]["step.op"] == "create"
    assert run_query('filter message like /^app/ and level != "INFO" | fields message', EVENTS) == [
        {"message": "apply refused"}
    ]
    assert run_query('filter @message like "START" | limit 1 | fields @logStream', EVENTS) == [{"@logStream": "s"}]


def test_what_the_engine_cannot_run_is_refused() -> None:
    with pytest.raises(MalformedQuery, match=re.escape("no 'stats' command")):
        run_query("stats count(*) by level", EVENTS)
    with pytest.raises(MalformedQuery, match="cannot read the filter"):
        run_query("filter ispresent(error)", EVENTS)


def test_since_takes_durations_and_iso_times() -> None:
    assert parse_since("90s", 1_000.0) == 910_000
    assert parse_since("2h", 10_000.0) == 2_800_000
    assert parse_since("1970-01-01T00:01:00Z", 0.0) == 60_000
    with pytest.raises(CliError, match="write 1h, 30m, 2d"):
        parse_since("yesterday", 0.0)
