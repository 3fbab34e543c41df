"""The CloudWatch dashboard shows every result a reconcile can end with: the reconcile
function counts each one as ``Reconcile_<result>``, and a result missing from the
dashboard (a refused teardown, say) is one an operator never sees."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from albatross.controller import reconcile
from albatross.local.template import load

ROOT = Path(__file__).resolve().parents[2]


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
    body = load(ROOT / "template.yaml")["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
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
    body = load(ROOT / "template.yaml")["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    alone = [w for w in widgets if [m[1] for m in w["properties"].get("metrics", [])] == ["Reconcile_refused"]]
    assert len(alone) == 1
    assert alone[0]["properties"]["stat"] == "Sum"
