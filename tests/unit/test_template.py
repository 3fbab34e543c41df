"""template.yaml is the single source of infrastructure facts: what the code reads from
the environment is set there, every handler it names exists, and the state machines'
substitutions are all provided."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from albatross.controller.settings import Settings
from albatross.local.template import load, translate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load(ROOT / "template.yaml")


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def test_the_template_translates() -> None:
    out = translate(ROOT / "template.yaml", {"ClusterName": "c", "VpcId": "vpc-0123"})
    types = {r["Type"] for r in out.template["Resources"].values()}
    assert {
        "AWS::Lambda::Function",
        "AWS::StepFunctions::StateMachine",
        "AWS::Events::Rule",
        "AWS::Lambda::EventSourceMapping",
    } <= types


def test_every_handler_exists(template: dict[str, Any]) -> None:
    for name, fn in functions(template).items():
        module, _, attr = fn["Properties"]["Handler"].rpartition(".")
        source = (ROOT / fn["Properties"]["CodeUri"] / f"{module}.py").read_text()
        assert f"def {attr}(" in source, name


def test_settings_read_only_variables_the_template_sets(template: dict[str, Any]) -> None:
    common = set(template["Globals"]["Function"]["Environment"]["Variables"])
    reconcile = common | set(template["Resources"]["ReconcileFunction"]["Properties"]["Environment"]["Variables"])
    import inspect

    read = set(re.findall(r'env(?:\.get\(|\[)"([A-Z_]+)"', inspect.getsource(Settings.from_env)))
    assert read - {"AWS_REGION", "AWS_DEFAULT_REGION"} <= reconcile


def test_state_machine_substitutions_are_provided(template: dict[str, Any]) -> None:
    machines = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::StateMachine"}
    assert machines
    for name, machine in machines.items():
        text = (ROOT / machine["Properties"]["DefinitionUri"]).read_text()
        wanted = set(re.findall(r"\$\{(\w+)\}", text))
        assert wanted == set(machine["Properties"]["DefinitionSubstitutions"]), name
        json.loads(text)


def test_runtime_and_architecture(template: dict[str, Any]) -> None:
    assert template["Globals"]["Function"]["Runtime"] == "python3.12"
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"]
