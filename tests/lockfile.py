"""The pinned requirement files the image tests compare, read as pip reads them:
forwarder/requirements.lock (uv's hashed lock, one requirement per logical line continued
with backslashes) and requirements-dev.txt (what the dev venv, and so the tests, run)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORWARDER_LOCK = ROOT / "forwarder" / "requirements.lock"
DEV_REQUIREMENTS = ROOT / "requirements-dev.txt"

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;]+)$")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})\b")


def normalize(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Requirement:
    line: str  # the logical line, continuations joined
    name: str | None  # normalized; None where the line is not `name==version`
    version: str | None
    hashes: tuple[str, ...]


def logical_lines(text: str) -> list[str]:
    """Requirement lines with their continuations joined; comment and blank lines dropped."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        current = f"{current} {stripped}".strip()
        if current.endswith("\\"):
            current = current[:-1].rstrip()
            continue
        lines.append(current)
        current = ""
    if current:
        lines.append(current)
    return lines


def requirements(text: str) -> list[Requirement]:
    found: list[Requirement] = []
    for line in logical_lines(text):
        head = line.split(" #", 1)[0].partition("--hash")[0]
        spec = head.split(";", 1)[0].strip()  # an environment marker may follow
        pin = _PIN.match(spec)
        found.append(
            Requirement(
                line=line,
                name=normalize(pin["name"]) if pin else None,
                version=pin["version"] if pin else None,
                hashes=tuple(_HASH.findall(line)),
            )
        )
    return found


def pins(path: Path) -> dict[str, str]:
    """Normalized name → version, for every `name==version` line of ``path``."""
    return {r.name: r.version for r in requirements(path.read_text()) if r.name and r.version}
