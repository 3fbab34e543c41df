"""End-to-end fixtures: the whole offline system, as ``make demo`` runs it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from albatross.local.system import LocalSystem, local_system

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def system(tmp_path: Path) -> Iterator[LocalSystem]:
    with local_system(ROOT, work_dir=tmp_path) as running:
        yield running
