"""The CloudWatch dashboard shows every result a reconcile can end with: the reconcile
function counts each one as ``Reconcile_<result>``, and a result missing from the
dashboard (a refused teardown, say) is one an operator never sees."""

from __future__ import annotations

import ast
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from albatross.controller import reconcile
from albatross.local.template import load

ROOT = Path(__file__).resolve().parents[2]


@cache
def template() -> dict[str, Any]:
    """template.yaml, read once (no caller changes it)."""
    loaded: dict[str, Any] = load(ROOT / "template.yaml")
    return loaded


def _strings(node: ast.expr) -> set[str]:
    """The string constants an expression can take (a literal, or either branch of a
    conditional expression)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _strings(node.body) | _strings(node.orelse)
    raise AssertionError(f"an Outcome's result that is not a literal: {ast.unparse(node)}")


def reconcile_results() -> set[str]:
    """Every ``result`` the reconcile gives an ``Outcome``, read from its source."""
    tree = ast.parse(Path(reconcile.__file__).read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Outcome":
            for keyword in node.keywords:
                if keyword.arg == "result":
                    found |= _strings(keyword.value)
    return found


def dashboard_metrics() -> list[list[Any]]:
    """Every metric line of every widget, with CloudWatch's ``"."`` shorthand filled in
    from the line before (as the console reads it)."""
    body = template()["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    out: list[list[Any]] = []
    for widget in json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]:
        previous: list[Any] = []
        for line in widget["properties"].get("metrics", []):
            if line and line[0] == "...":
                continue  # the line before with another last dimension value: not our namespace
            full = [previous[i] if v == "." and i < len(previous) else v for i, v in enumerate(line)]
            out.append(full)
            previous = full
    return out


def test_the_results_are_read_from_the_reconcile() -> None:
    # the reading itself: results the reconcile is documented to give
    assert {"applied", "unchanged", "started", "failed", "invalid", "busy", "refused"} <= reconcile_results()


def test_every_reconcile_result_is_on_the_dashboard() -> None:
    shown = {
        str(line[1])
        for line in dashboard_metrics()
        if line[0] == "Albatross" and line[2:4] == ["service", "albatross-reconcile"]
    }
    missing = {f"Reconcile_{r}" for r in reconcile_results()} - shown
    assert not missing, missing


def test_refused_plans_have_a_widget_of_their_own() -> None:
    """A refused teardown keeps finalizers until the user acts: it is not one line among
    many on the results graph."""
    body = template()["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    alone = [w for w in widgets if [m[1] for m in w["properties"].get("metrics", [])] == ["Reconcile_refused"]]
    assert len(alone) == 1
    assert alone[0]["properties"]["stat"] == "Sum"


def _widgets() -> list[dict[str, Any]]:
    """The dashboard's widgets with each ``${...}`` left as written (every one sits inside a
    JSON string), so a line names the template resource it shows."""
    body = template()["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets: list[dict[str, Any]] = json.loads(body)["widgets"]
    return widgets


def _resources(*types: str) -> set[str]:
    resources = template()["Resources"]
    return {lid for lid, resource in resources.items() if resource["Type"] in types}


def _dead_letter_queues() -> set[str]:
    """The queues the template names as a dead-letter target: a queue's RedrivePolicy, an
    EventBridge rule's (or a SAM event's) DeadLetterConfig."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("deadLetterTargetArn", "DeadLetterConfig"):
                    arn = value.get("Arn", value) if key == "DeadLetterConfig" else value
                    found.add(
                        arn["Fn::GetAtt"][0] if isinstance(arn["Fn::GetAtt"], list) else arn["Fn::GetAtt"].split(".")[0]
                    )
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(template()["Resources"])
    return found


def _lines(widget: dict[str, Any]) -> set[tuple[str, ...]]:
    return {tuple(str(v) for v in line if not isinstance(v, dict)) for line in widget["properties"].get("metrics", [])}


def test_the_template_is_read_for_its_functions_and_queues() -> None:
    # the reading itself: what the template is documented (docs/architecture.md) to hold
    assert {"IngestFunction", "ReconcileFunction", "StepFunction", "DriftFunction", "AwsEventsFunction"} <= _resources(
        "AWS::Serverless::Function", "AWS::Lambda::Function"
    )
    assert _dead_letter_queues() == {
        "IngestDeadLetterQueue",
        "WorkDeadLetterQueue",
        "UrgentWorkDeadLetterQueue",
        "TargetsDeadLetterQueue",
        "WritebackDeadLetterQueue",
        "AwsEventsDeadLetterQueue",
    }
    assert {"WorkQueue", "UrgentWorkQueue", "TargetsQueue", "WritebackQueue"} <= _resources(
        "AWS::SQS::Queue"
    ) - _dead_letter_queues()


def test_every_function_has_a_widget_of_its_errors_and_throttles() -> None:
    """AWS/Lambda's Errors and Throttles by FunctionName (the ``Ref`` of a function is its
    name): a function added to the template without its widget fails here."""
    missing = []
    for function in sorted(_resources("AWS::Serverless::Function", "AWS::Lambda::Function")):
        wanted = {
            ("AWS/Lambda", "Errors", "FunctionName", f"${{{function}}}"),
            ("AWS/Lambda", "Throttles", "FunctionName", f"${{{function}}}"),
        }
        own = [w for w in _widgets() if _lines(w) == wanted and w["properties"]["stat"] == "Sum"]
        if len(own) != 1:
            missing.append(function)
    assert not missing, missing


def test_every_queue_is_on_the_dashboard() -> None:
    """A dead-letter queue by the messages waiting in it (what its alarm watches), any other
    queue by the age of its oldest message (how far its consumer lags)."""
    shown = set().union(*(_lines(w) for w in _widgets()))
    dead = _dead_letter_queues()
    wanted = {("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f"${{{q}.QueueName}}") for q in dead} | {
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", f"${{{q}.QueueName}}")
        for q in _resources("AWS::SQS::Queue") - dead
    }
    assert not wanted - shown, sorted(wanted - shown)


def test_every_widget_fits_the_grid_without_overlap() -> None:
    """CloudWatch's grid is 24 units wide; two widgets on the same cells hide one another."""
    cells: set[tuple[int, int]] = set()
    for widget in _widgets():
        x, y, width, height = widget["x"], widget["y"], widget["width"], widget["height"]
        assert x + width <= 24, widget["properties"]["title"]
        taken = {(x + i, y + j) for i in range(width) for j in range(height)}
        assert not taken & cells, widget["properties"]["title"]
        cells |= taken
