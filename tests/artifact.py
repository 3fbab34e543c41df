"""Where the built artifact is: the folder ``make test`` packages for this machine's
architecture (``make package-smoke``), or ``ALBATROSS_BUILD``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("ALBATROSS_BUILD") or ROOT / ".aws-sam/smoke")


def built() -> Path:
    """The build folder; a missing build fails the test (``make test`` always makes one)."""
    if not (BUILD / "albatross-build.json").is_file():
        pytest.fail(f"no built artifact at {BUILD}: run `make package-smoke` (make test does)")
    return BUILD


def manifest() -> dict[str, Any]:
    data = json.loads((built() / "albatross-build.json").read_text())
    assert isinstance(data, dict)
    return data
