"""The command blocks of a Markdown page, for the tests that run a doc as written.

A command block is a fenced block in a shell language (``sh``, ``bash``, ``shell``,
``console``); the plain block (a bare fence) that comes after it, before the next command
block, is what it prints, trimmed. :func:`command_blocks` lists a page's command blocks
with the ``## `` section each sits in; :func:`missing` says which lines of a shown output
a real output lacks, with what changes from run to run left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SHELLS = frozenset({"sh", "bash", "shell", "console"})


@dataclass(frozen=True)
class Block:
    section: str  # the "## " heading above it, as written ("" before the first)
    index: int  # its place among the section's command blocks, from 0
    commands: str  # the block's text, lines ending in "\n"
    shown: str | None  # the plain block after it: what it prints, trimmed ("..." lines)


def command_blocks(page: Path) -> list[Block]:
    """Every command block of ``page``, in order."""
    found: list[Block] = []
    section = ""
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = line.rstrip()
        elif line.startswith("```"):
            language = line[3:].strip()
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            body = "".join(f"{text}\n" for text in lines[i + 1 : end])
            if language in SHELLS:
                index = sum(1 for block in found if block.section == section)
                found.append(Block(section, index, body, None))
            elif not language and found and found[-1].section == section and found[-1].shown is None:
                found[-1] = Block(section, found[-1].index, found[-1].commands, body)
            i = end
        i += 1
    return found


def section_blocks(page: Path, section: str) -> list[Block]:
    """The command blocks of one section (its heading as written, ``## `` included)."""
    blocks = [block for block in command_blocks(page) if block.section == section]
    assert blocks, f"no command block under {section!r} in {page}"
    return blocks


# What changes from run to run: a run of hex digits holding a digit (times, counts,
# addresses, hashes, execution ids), and the padding of a table's columns.
_VARYING = re.compile(r"([0-9a-f]*[0-9][0-9a-f]*| {2,})")


def _pattern(line: str) -> re.Pattern[str]:
    parts = _VARYING.split(line.rstrip())
    regex = "".join(
        re.escape(part) if i % 2 == 0 else (" {2,}" if part.startswith(" ") else "[0-9a-f]+")
        for i, part in enumerate(parts)
    )
    return re.compile(regex)


def missing(shown: str, printed: str) -> list[str]:
    """The lines of ``shown`` (a doc's output block; ``...`` lines stand for lines left
    out) that are not a whole line of ``printed``. In any order: lines from different
    sources (a function's log, an execution's history) may swap on a loaded machine."""
    real = [line.rstrip() for line in printed.splitlines()]
    return [
        line
        for line in shown.splitlines()
        if line.strip() != "..." and not any(_pattern(line).fullmatch(text) for text in real)
    ]
