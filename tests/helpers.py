"""Test helpers: the one loader for stored events and schemas, and golden-file diffs."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"


def load_event(name: str, version: str = "v1") -> dict[str, Any]:
    data = json.loads((EVENTS / version / f"{name}.json").read_text())
    assert isinstance(data, dict)
    return data


def event_names(version: str = "v1") -> list[str]:
    return sorted(p.stem for p in (EVENTS / version).glob("*.json"))


def load_schema(name: str) -> dict[str, Any]:
    data = json.loads((EVENTS / "schema" / f"{name}.json").read_text())
    assert isinstance(data, dict)
    return data


def json_diff(expected: Any, actual: Any) -> str:
    """A unified diff of two JSON values, for assertion messages."""
    a = json.dumps(expected, indent=2, sort_keys=True).splitlines()
    b = json.dumps(actual, indent=2, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(a, b, "expected", "actual", lineterm=""))
