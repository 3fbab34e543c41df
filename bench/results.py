"""bench/results.json: one entry per scenario, each benchmark setting its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results.json"


def set_entry(scenario: str, figures: dict[str, Any]) -> None:
    """Set the ``scenario`` entry (``{"scenario": s, s: figures}``), keeping every other."""
    entries: list[dict[str, Any]] = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    entries = [e for e in entries if e.get("scenario") != scenario]
    entries.append({"scenario": scenario, scenario: figures})
    RESULTS.write_text(json.dumps(entries, indent=2) + "\n")
