"""README.md's "Five-minute tour", run as written.

Terminal 1 is bash running the section's first block (``albatross local up``) in a
folder laid out as the repository (its files linked, ``.albatross-local`` its own);
terminal 2 is bash running each later block in the same folder, with what the first of
them sourced (the same terminal). ``albatross`` is the venv's, ``kubectl`` the real one.
Each line of a block's shown output must be a line of what it printed (tests/doc_blocks.py:
times, counts, addresses, hashes and ids aside). Between blocks the test waits as a
reader does: for the group to settle before ``status``, for the scaled targets before the
last ``status``. Then ``albatross local down``, which the tour's end names, stops terminal 1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.doc_blocks import Block, missing, section_blocks
from tests.e2e.test_local_up import until

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TOUR = "## Five-minute tour"
BASH = shutil.which("bash") or "/bin/bash"
KEY = "game-2048/game-2048"


def shows(block: Block, printed: str) -> None:
    assert block.shown is not None, block.commands
    lacking = missing(block.shown, printed)
    assert not lacking, f"{block.commands}printed:\n{printed}\nlacks:\n" + "\n".join(lacking)


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A folder that is the repository to ``albatross local up`` (it reads the template,
    the functions and the examples from where it runs), with its own state folder."""
    for entry in ROOT.iterdir():
        if not entry.name.startswith("."):
            (tmp_path / entry.name).symlink_to(entry)
    return tmp_path


@pytest.mark.timeout(360)  # the system starts, builds a load balancer and scales: minutes on a loaded machine
def test_the_tour_runs_as_written(repository: Path) -> None:
    start, apply, show_status, show_logs, scale, healthy = section_blocks(README, TOUR)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for name in ("AWS_ENDPOINT_URL", "KUBECONFIG", "ALBATROSS_OUTPUTS"):
        env.pop(name, None)  # a new terminal: only what the env file sets
    banner = repository / "terminal-1.out"
    with banner.open("w") as out:
        terminal_1 = subprocess.Popen(  # noqa: S603  # the README's block, in bash
            [BASH, "-euo", "pipefail", "-c", start.commands],
            cwd=repository,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: whatever the block starts goes with it
        )
    sourced = ""

    def terminal_2(block: Block) -> str:
        done = subprocess.run(  # noqa: S603  # the README's block, in bash
            [BASH, "-euo", "pipefail", "-c", sourced + block.commands],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            cwd=repository,
            env=env,
        )
        assert done.returncode == 0, f"{block.commands}\n{done.stdout}{done.stderr}"
        return done.stdout

    def group() -> dict[str, Any]:
        [found] = json.loads(terminal_2(Block(TOUR, -1, "albatross status --output json\n", None)))["groups"]
        return dict(found)

    def targets() -> list[str]:
        return [t["state"] for tg in group()["targetGroups"] for t in tg["targets"]]

    try:
        until("the system to be ready", lambda: terminal_1.poll() is not None or "ready in" in banner.read_text(), 120)
        assert terminal_1.poll() is None, banner.read_text()
        shows(start, banner.read_text())

        shows(apply, terminal_2(apply))  # it waits for the address itself (kubectl wait)
        sourced = "".join(line + "\n" for line in apply.commands.splitlines() if line.startswith("source "))
        assert sourced, "the tour's second block sources the env file"

        def settled() -> bool:
            found = group()
            last = found["lastReconcile"] or {}
            ended = last.get("result") in ("applied by execution", "unchanged")  # (README says when each)
            done = ended and not any(found["pending"].values())
            return done and targets() == ["healthy"] * 3

        until("the group to settle", settled, 120)
        shows(show_status, terminal_2(show_status))
        shows(show_logs, terminal_2(show_logs))

        shows(scale, terminal_2(scale))
        until("five healthy targets", lambda: targets() == ["healthy"] * 5, 120)
        shows(healthy, terminal_2(healthy))

        stopped = terminal_2(Block(TOUR, -1, "albatross local down\n", None))
        assert stopped == f"stopped albatross local up (pid {banner_pid(banner)})\n"
        assert terminal_1.wait(timeout=60) == 0
    finally:
        if terminal_1.poll() is None:
            os.killpg(terminal_1.pid, signal.SIGTERM)  # as closing terminal 1 would
            terminal_1.wait(timeout=30)
    assert not (repository / ".albatross-local" / "up.json").exists()


def banner_pid(banner: Path) -> str:
    """The pid ``local up`` says it runs as (``ready in …s (pid N)``)."""
    text = banner.read_text()
    return text[text.index("(pid ") + len("(pid ") :].split(")", 1)[0]
