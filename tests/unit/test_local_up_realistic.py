"""``albatross local up --realistic`` asks for the realistic local AWS; without the flag
the local AWS is moto as it is (the realistic mode is opt-in)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from albatross.cli.main import main
from albatross.local import up


@pytest.mark.parametrize(("flag", "realistic"), [([], False), (["--realistic"], True)])
def test_local_up_passes_the_realistic_flag(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, flag: list[str], realistic: bool
) -> None:
    asked: list[dict[str, Any]] = []

    def fake_up(root: Path, folder: Path, **options: Any) -> None:
        asked.append(options)

    monkeypatch.setattr(up, "up", fake_up)
    assert main(["local", "up", "--dir", str(tmp_path), *flag]) == 0
    [options] = asked
    assert options["realistic"] is realistic
