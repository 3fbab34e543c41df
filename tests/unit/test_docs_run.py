"""Every command block README.md and docs/operations.md show is run as written by a test.

The registry below names, per section, the test that runs the section's command blocks
and how many there are: a block added to a section, or a section with a block, fails here
until a test runs it (and the count here says so). Each of those tests reads its blocks
from the page by the section's heading, so the heading must appear in it. Also the
reading itself (tests/doc_blocks.py): which block is a command, which output goes with
it, and what a shown output may differ in.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.doc_blocks import Block, command_blocks, missing

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / "docs" / "operations.md"
README = ROOT / "README.md"

# section heading → (the test that runs its command blocks, how many blocks it has)
RUN_BY: dict[str, tuple[str, int]] = {
    "## Reading the state of an Ingress": ("tests/e2e/test_walkthrough.py", 1),
    "## The state of a group from a terminal": ("tests/e2e/test_local_up.py", 1),
    "## Where things land when they fail": ("tests/e2e/test_local_up.py", 1),
    "## Deletion protection": ("tests/e2e/test_deletion_protection.py", 8),
    "## Logs": ("tests/e2e/test_local_up.py", 1),
    "## Replaying the event archive": ("tests/e2e/test_local_up.py", 1),
    "## Walk-through: an Ingress that never gets an address": ("tests/e2e/test_walkthrough.py", 7),
    "## Prometheus alerts for the forwarder": ("tests/unit/test_prometheus_component.py", 1),
}


# README.md's, the same way ("" is above its first section: the two make targets; the
# demo's printout, shown under "## The demo", is checked by the test that runs it)
README_RUN_BY: dict[str, tuple[str, int]] = {
    "": ("tests/e2e/test_slice.py", 1),
    "## Five-minute tour": ("tests/e2e/test_tour.py", 6),
    "## Deploy to AWS": ("tests/functional/test_readme_deploy.py", 5),
    "## Configuration": ("tests/unit/test_plan_offline.py", 1),
}
PAGES = {OPERATIONS: RUN_BY, README: README_RUN_BY}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_command_block_of_a_page_is_run_by_a_test(page: Path) -> None:
    found = Counter(block.section for block in command_blocks(page))
    assert dict(found) == {section: count for section, (_, count) in PAGES[page].items()}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_each_test_reads_its_section_from_the_page(page: Path) -> None:
    for section, (test, _) in PAGES[page].items():
        source = (ROOT / test).read_text()
        assert str(page.relative_to(ROOT)) in source or f'"{page.name}"' in source, test
        assert section in source, (section, test)


def test_the_make_targets_the_readme_opens_with_are_what_ci_and_the_demo_run() -> None:
    """``make test`` is CI's command (.ci/run); ``make demo`` runs ``albatross local demo``,
    whose function test_slice runs and checks against the README's printout."""
    [first] = [block for block in command_blocks(README) if block.section == ""]
    assert [line.split("#")[0].strip() for line in first.commands.splitlines()] == ["make demo", "make test"]
    assert "\nmake test\n" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    demo = makefile[makefile.index("\ndemo:") :].split("\n\n", 1)[0]
    assert demo.rstrip().endswith("albatross local demo"), demo
    assert "run_demo(" in (ROOT / "tests/e2e/test_slice.py").read_text()


def test_commands_and_their_output_are_told_apart(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "intro\n```sh\nbefore any section\n```\n"
        "## One\n\n```sh\necho a\n```\n\nprose\n\n```\na\n```\n\n```yaml\nkind: X\n```\n"
        "```bash\necho b\necho c\n```\n```console\necho d\n```\n```\nd\n```\n"
        "## Two\n```\nnot after a command of this section\n```\n```shell\nls\n```\n"
    )
    assert command_blocks(page) == [
        Block("", 0, "before any section\n", None),
        Block("## One", 0, "echo a\n", "a\n"),
        Block("## One", 1, "echo b\necho c\n", None),
        Block("## One", 2, "echo d\n", "d\n"),
        Block("## Two", 0, "ls\n", None),
    ]


def test_a_shown_output_may_differ_in_times_counts_ids_and_padding_only() -> None:
    printed = (
        "IngressGroup g/a  (g/a)  since 2026-12-06T18:18:48.544Z\n"
        "  2026-12-06T19:18:36.640Z  provision  INFO     execution started  execution=503f6937d7a729ccc9\n"
        "13 lines, 2 errors, 1 warnings\n"
    )
    shown = (
        "IngressGroup g/a  (g/a)  since 2026-11-23T22:35:20.851Z\n"
        "  ...\n"
        "12 lines, 2 errors, 1 warnings\n"
        "  2026-11-23T23:35:16.421Z  provision  INFO        execution started  execution=2b11e5de09a9\n"
    )
    assert missing(shown, printed) == []
    # a word, a name or a missing line is a difference
    assert missing("IngressGroup g/b  (g/b)  since 2026-11-23T22:35:20.851Z\n", printed) == [
        "IngressGroup g/b  (g/b)  since 2026-11-23T22:35:20.851Z"
    ]
    assert missing("13 lines, 2 errors, 1 warning\n", printed) == ["13 lines, 2 errors, 1 warning"]
    assert missing("13 lines\n", printed) == ["13 lines"]  # a whole line, not a part of one
    assert missing("IngressGroup g/a (g/a) since 2026-12-06T18:18:48.544Z\n", printed) != []  # one space is not padding
