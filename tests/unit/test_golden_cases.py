"""Golden cases for the model builder: every annotation and IngressClassParams field it
reads, single Ingresses and groups, results and errors, each as a small patch to one base.

- ``golden/base.yaml``: the shared input (``config``, ``discovery``, ``objects``);
  ``golden/base.json``: its whole output.
- ``golden/cases/<case>.yaml``: ``description``; ``patch``: JSON merge patches (RFC 7386)
  by object, keyed ``Kind/namespace/name`` (``Kind/name`` for cluster-scoped objects; a
  ``null`` patch removes the object; lists are replaced whole); optional ``objects``
  (appended), ``config`` and ``discovery`` (merge patches over the base's).
- ``golden/cases/<case>.json``: how the case's output differs from the base output
  (:func:`diff_output` says how the difference is written).

Outputs are what ``albatross plan --offline --output json`` prints, through the function
behind the command (:func:`albatross.cli.plan.run`). The command assembles each group's
build with the reconcile's own function (:mod:`albatross.model.assemble`, failed members'
fallback included), so these cases pin production's path. After an intended change, regenerate
and review the diff of the JSON files::

    ALBATROSS_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_golden_cases.py
"""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from albatross.cli.plan import run
from albatross.local.kube import merge_patch  # RFC 7386, as the API double applies it
from albatross.model.names import TAG_RESOURCE, TAG_STACK
from tests.helpers import json_diff

GOLDEN = Path(__file__).parent / "golden"
CASES = GOLDEN / "cases"
UPDATE = os.environ.get("ALBATROSS_UPDATE_GOLDEN") == "1"
CASE_NAMES = sorted(p.stem for p in CASES.glob("*.yaml"))


def object_id(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return "/".join([obj["kind"], *([meta["namespace"]] if meta.get("namespace") else []), meta["name"]])


def case_input(case: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The base input with the case's patches applied."""
    patches: dict[str, Any] = case.get("patch") or {}
    unknown = set(patches) - {object_id(o) for o in base["objects"]}
    assert not unknown, f"patch names objects the base does not have: {sorted(unknown)}"
    objects = [
        merge_patch(obj, patches[object_id(obj)]) if object_id(obj) in patches else copy.deepcopy(obj)
        for obj in base["objects"]
        if object_id(obj) not in patches or patches[object_id(obj)] is not None
    ]
    return {
        "config": merge_patch(base["config"], case.get("config") or {}),
        "discovery": merge_patch(base["discovery"], case.get("discovery") or {}),
        "objects": objects + copy.deepcopy(case.get("objects") or []),
    }


def plan(inputs: dict[str, Any], where: Path) -> dict[str, Any]:
    """``albatross plan --offline --output json`` on the inputs (written to ``where``)."""
    config, discovery, objects = where / "config.yaml", where / "discovery.json", where / "objects.yaml"
    config.write_text(yaml.safe_dump(inputs["config"]))
    discovery.write_text(json.dumps(inputs["discovery"]))
    objects.write_text(yaml.safe_dump_all(inputs["objects"]))
    status, text = run(files=[objects], config_path=config, discovery_path=discovery, output="json")
    assert status in (0, 1), text
    result: dict[str, Any] = json.loads(text)
    # README.md, "Exit status": 1 for a plan with an Ingress that cannot be built or an
    # object that cannot be read (the plan still printed), else 0
    assert status == (1 if result["errors"] or result["invalid"] else 0), text
    return result


def _key_values(value: Any) -> dict[str, Any] | None:
    """A ``[{"Key": k, "Value": v}, ...]`` list sorted by key (Tags, Attributes) as a
    ``{k: v}`` map; None for anything else."""
    if (
        isinstance(value, list)
        and value
        and all(isinstance(i, dict) and set(i) == {"Key", "Value"} for i in value)
        and [i["Key"] for i in value] == sorted({i["Key"] for i in value})
    ):
        return {i["Key"]: i["Value"] for i in value}
    return None


def diff_values(old: Any, new: Any) -> Any:
    """Nested objects: only the keys that differ; a changed value is ``{"-": old, "+":
    new}``, an added one ``{"+": new}``, a removed one ``{"-": old}``. Lists are compared
    whole, except two key/value lists (:func:`_key_values`), so that one changed tag
    shows as one change. None when equal."""
    old_map, new_map = _key_values(old), _key_values(new)
    if old_map is not None and new_map is not None:
        old, new = old_map, new_map
    if old == new:
        return None
    if isinstance(old, dict) and isinstance(new, dict):
        out: dict[str, Any] = {}
        for key in sorted(set(old) | set(new)):
            if key not in new:
                out[key] = {"-": old[key]}
            elif key not in old:
                out[key] = {"+": new[key]}
            else:
                changed = diff_values(old[key], new[key])
                if changed is not None:
                    out[key] = changed
        return out
    return {"-": old, "+": new}


def _as(resource: dict[str, Any], *, stack: str, rid: str) -> dict[str, Any]:
    """The resource with its ``ingress.k8s.aws/stack`` and ``ingress.k8s.aws/resource`` tags
    set to ``stack`` and ``rid``: what it would be as that resource of that stack."""
    out = copy.deepcopy(resource)
    for tag in out["properties"].get("Tags") or []:
        if tag["Key"] == TAG_STACK:
            tag["Value"] = stack
        elif tag["Key"] == TAG_RESOURCE:
            tag["Value"] = rid
    return out


def diff_stack(base: dict[str, Any], stack: dict[str, Any]) -> dict[str, Any]:
    """Per resource id: the difference from the base resource of that id; for an id the
    base has not, ``like`` names the base resource of the same type it is compared with; a
    base resource the stack lacks is ``{"removed": true}``. Base resources are taken as if
    they had the stack's id and the resource's id (their tracking tags), so a stack or
    resource id shows only where it really differs."""
    before, after = base["resources"], stack["resources"]
    out: dict[str, Any] = {}
    for rid in sorted(set(before) | set(after)):
        if rid not in after:
            out[rid] = {"removed": True}
            continue
        if rid in before:
            changed = diff_values(_as(before[rid], stack=stack["stack"], rid=rid), after[rid])
            if changed:
                out[rid] = changed
            continue
        like = next((b for b in sorted(before) if before[b]["type"] == after[rid]["type"]), None)
        if like is None:
            out[rid] = {"added": after[rid]}
        else:
            out[rid] = {
                "like": like,
                **(diff_values(_as(before[like], stack=stack["stack"], rid=rid), after[rid]) or {}),
            }
    return out


def diff_output(base: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    """``errors`` as they are (the base has none); ``stacks``: each stack of the output as
    its difference from the base's one stack (:func:`diff_stack`), with ``like`` naming
    that stack when the ids differ. A stack equal to the base's has empty ``resources``."""
    [reference] = base["stacks"]
    stacks = []
    for stack in output["stacks"]:
        entry: dict[str, Any] = {"stack": stack["stack"]}
        if stack["stack"] != reference["stack"]:
            entry["like"] = reference["stack"]
        entry["resources"] = diff_stack(reference, stack)
        stacks.append(entry)
    return {"errors": output["errors"], "stacks": stacks}


def compact_json(value: Any, indent: str = "") -> str:
    """Sorted JSON, two-space indented, with any value that fits in one line of 110
    characters kept on one line: short to read, small to diff."""
    flat = json.dumps(value, sort_keys=True)
    if len(indent) + len(flat) <= 110 or not isinstance(value, (dict, list)) or not value:
        return flat
    inner = indent + "  "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {compact_json(v, inner)}" for k, v in sorted(value.items())]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    return "[\n" + ",\n".join(inner + compact_json(v, inner) for v in value) + "\n" + indent + "]"


def _dump(path: Path, data: Any) -> None:
    path.write_text(compact_json(data) + "\n")


@cache
def _base_input() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((GOLDEN / "base.yaml").read_text())
    return data


@pytest.fixture(scope="module")
def base_output(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return plan(_base_input(), tmp_path_factory.mktemp("base"))


def test_base_output(base_output: dict[str, Any]) -> None:
    path = GOLDEN / "base.json"
    if UPDATE:
        _dump(path, base_output)
    expected = json.loads(path.read_text())
    assert base_output == expected, json_diff(expected, base_output)
    assert base_output["errors"] == []
    assert len(base_output["stacks"]) == 1


@pytest.mark.parametrize("name", CASE_NAMES)
def test_golden_case(name: str, base_output: dict[str, Any], tmp_path: Path) -> None:
    case = yaml.safe_load((CASES / f"{name}.yaml").read_text())
    assert set(case) <= {"description", "patch", "objects", "config", "discovery"}, f"{name}: unknown keys"
    assert case.get("description"), f"{name}: every case says what it shows"
    actual = diff_output(base_output, plan(case_input(case, _base_input()), tmp_path))
    path = CASES / f"{name}.json"
    if UPDATE:
        _dump(path, actual)
    expected = json.loads(path.read_text())
    assert actual == expected, f"{name}: {case['description']}\n" + json_diff(expected, actual)


def test_every_expected_output_has_its_case() -> None:
    orphans = [p for p in CASES.glob("*.json") if p.stem not in CASE_NAMES]
    if UPDATE:
        for path in orphans:
            path.unlink()
    assert not orphans, f"expected outputs without a case: {sorted(p.name for p in orphans)}"


def test_the_diff_shows_changes_only() -> None:
    base = {"properties": {"A": 1, "Tags": [{"Key": "k", "Value": "1"}, {"Key": "z", "Value": "2"}], "L": [1]}}
    new = {"properties": {"A": 1, "Tags": [{"Key": "k", "Value": "3"}, {"Key": "z", "Value": "2"}], "B": True}}
    assert diff_values(base, new) == {
        "properties": {"B": {"+": True}, "L": {"-": [1]}, "Tags": {"k": {"-": "1", "+": "3"}}}
    }
    unsorted = [{"Key": "z", "Value": "2"}, {"Key": "k", "Value": "1"}]
    assert diff_values(base["properties"]["Tags"], unsorted) == {"-": base["properties"]["Tags"], "+": unsorted}
