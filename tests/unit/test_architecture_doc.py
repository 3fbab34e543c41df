"""docs/architecture.md stands alone and stays true.

* Every module of the core (``layers/core/albatross``) and of the forwarder
  (``forwarder/albatross_forwarder``) is named on the page, as a dotted name in backticks,
  so a module added without a word there fails here; and every dotted name of ours the
  page gives is a module, or a name a module defines (no stale names).
* It names no path outside the repository and no issue of the tracker: every relative
  link and every ``../`` path resolves to a file of the repository.
* Its "What feeds what" table is the template's wiring: every queue, rule, schedule and
  state machine with what it delivers to, its dead-letter queue and the functions allowed
  to write to it, read from ``template.yaml`` (SAM names an event's rule or schedule by
  the function's logical id and the event's, as the template itself relies on).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from albatross.local.template import load

ROOT = Path(__file__).resolve().parents[2]


@cache
def template() -> dict[str, Any]:
    """template.yaml, read once (no caller changes it)."""
    loaded: dict[str, Any] = load(ROOT / "template.yaml")
    return loaded


DOC = ROOT / "docs" / "architecture.md"
PACKAGES = {
    "albatross": ROOT / "layers" / "core" / "albatross",
    "albatross_forwarder": ROOT / "forwarder" / "albatross_forwarder",
}

Row = tuple[str, str | None, str | None, frozenset[str]]


def modules() -> dict[str, Path]:
    """Every module by its dotted name (a package by its own, ``__main__`` as itself)."""
    found: dict[str, Path] = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def quoted(text: str) -> set[str]:
    return set(re.findall(r"`([^`\s]+)`", text))


def defines(path: Path, name: str) -> bool:
    """Whether the module at ``path`` binds ``name`` at its top level."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            (alias.asname or alias.name) == name for alias in node.names
        ):
            return True
    return False


def test_the_modules_are_read_from_the_tree() -> None:
    # the reading itself: modules the page is about
    found = modules()
    assert {"albatross", "albatross.contract", "albatross.aws.gateway", "albatross_forwarder.__main__"} <= set(found)
    assert "albatross.contract.__init__" not in found
    assert len(found) > 100


def test_every_module_is_named() -> None:
    names = quoted(DOC.read_text())
    missing = sorted(set(modules()) - names)
    assert not missing, missing


def test_every_dotted_name_of_ours_exists() -> None:
    found = modules()
    stale = []
    for name in sorted(quoted(DOC.read_text())):
        if not re.fullmatch(r"albatross(_forwarder)?(\.\w+)*", name) or name in found:
            continue
        parts = name.split(".")
        module = next((".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1) if ".".join(parts[:i]) in found), None)
        if module is None or not defines(found[module], parts[len(module.split("."))]):
            stale.append(name)
    assert not stale, stale


# the pages a user reads (the ADRs are the developers' record, and name the issues they settled)
USER_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", USER_PAGES, ids=lambda page: page.name)
def test_it_names_nothing_outside_the_repository(page: Path) -> None:
    text = page.read_text()
    targets = [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:", t)]
    if page == DOC:  # (the others show kustomizations, whose ../ paths are an overlay's)
        targets += re.findall(r"(?<![\w/.])(\.\./[\w./-]*)", text)
        assert targets  # the reading itself: the page links its ADRs
    outside = []
    for target in targets:
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.is_relative_to(ROOT) or not path.exists():
            outside.append(target)
    assert not outside, outside
    assert not re.search(r"\bissues?\s+#?\d+|orchestration issue|DESIGN\.md", text, re.IGNORECASE)


def _id(value: Any) -> str | None:
    """The logical id a Ref or GetAtt names."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            return str(att[0] if isinstance(att, list) else att.split(".")[0])
    return None


def dead_letters(resources: dict[str, Any]) -> set[str]:
    """The queues named as a dead-letter target: a queue's RedrivePolicy, a rule's (or a
    SAM event's) DeadLetterConfig. People read them (``albatross redrive``), no function."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "deadLetterTargetArn" or (key == "DeadLetterConfig" and "Arn" in value):
                    found.add(str(_id(value["Arn"] if key == "DeadLetterConfig" else value)))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(resources)
    return found


def wiring() -> set[Row]:
    """(source, delivers to, dead letters, written by) of every queue, rule, schedule and
    state machine, from the template."""
    resources: dict[str, Any] = template()["Resources"]
    functions = {lid for lid, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}

    def policies(kind: str, key: str) -> Iterator[tuple[str, str | None]]:
        for function in functions:
            for policy in resources[function]["Properties"].get("Policies", []):
                if isinstance(policy, dict) and kind in policy:
                    yield function, _id(policy[kind][key])

    senders = {(f, q) for f, q in policies("SQSSendMessagePolicy", "QueueName")}
    starters = {(f, m) for f, m in policies("StepFunctionsExecutionPolicy", "StateMachineName")}
    rows: set[Row] = set()
    for function in functions:
        for name, event in resources[function]["Properties"].get("Events", {}).items():
            props = event["Properties"]
            if event["Type"] == "SQS":
                continue  # the queue's row
            dead = _id(props["DeadLetterConfig"]["Arn"]) if "DeadLetterConfig" in props else None
            rows.add((f"{function}{name}", function, dead, frozenset()))
    for lid, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::SQS::Queue" and lid not in dead_letters(resources):
            consumer = next(
                (
                    f
                    for f in functions
                    for e in resources[f]["Properties"].get("Events", {}).values()
                    if e["Type"] == "SQS" and _id(e["Properties"]["Queue"]) == lid
                ),
                None,
            )
            dead = _id(props["RedrivePolicy"]["deadLetterTargetArn"]) if "RedrivePolicy" in props else None
            rows.add((lid, consumer, dead, frozenset(f for f, q in senders if q == lid)))
        elif resource["Type"] == "AWS::Events::Rule":
            for target in props["Targets"]:
                dead = _id(target["DeadLetterConfig"]["Arn"]) if "DeadLetterConfig" in target else None
                rows.add((lid, _id(target["Arn"]), dead, frozenset()))
        elif resource["Type"] == "AWS::Serverless::StateMachine":
            [task] = {_id(v) for v in props.get("DefinitionSubstitutions", {}).values()} & functions
            rows.add((lid, task, None, frozenset(f for f, m in starters if m == lid)))
    return rows


def documented(resources: set[str]) -> set[Row]:
    text = DOC.read_text()
    start = text.index("\n## What feeds what\n")
    section = text[start : text.index("\n## ", start + 1)]
    rows: set[Row] = set()
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith(("| source", "| ---")):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        assert len(cells) == 4, line
        named = [[n for n in re.findall(r"`([^`]+)`", cell) if n in resources] for cell in cells]
        rows.add((named[0][0], next(iter(named[1]), None), next(iter(named[2]), None), frozenset(named[3])))
    return rows


def test_the_wiring_is_read_from_the_template() -> None:
    # the reading itself: what the architecture is built on
    rows = {row[:2] for row in wiring()}
    assert {
        ("WorkQueue", "ReconcileFunction"),
        ("TargetsQueue", "ReconcileFunction"),
        ("IngestFunctionObjectChanges", "IngestFunction"),
        ("WritebackQueue", None),
        ("ProvisionStateMachine", "StepFunction"),
    } <= rows


def test_what_feeds_what_is_the_templates_wiring() -> None:
    resources = set(template()["Resources"])
    resources |= {row[0] for row in wiring()}  # the rules and schedules SAM makes
    assert documented(resources) == wiring()
