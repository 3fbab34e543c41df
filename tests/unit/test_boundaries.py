"""Boundaries a linter does not check: one module makes boto3 clients, one module turns
SDK errors into ours (fault injection raises them on purpose), and no suppression lacks
a reason."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    p
    for folder in ("layers/core/albatross", "forwarder/albatross_forwarder", "functions", "tests", "bench")
    for p in (ROOT / folder).rglob("*.py")
]
CORE = [p for p in SOURCES if "layers/core" in str(p)]


def mentions(pattern: str, files: list[Path]) -> set[str]:
    regex = re.compile(pattern)
    return {str(p.relative_to(ROOT)) for p in files if regex.search(p.read_text())}


def test_clients_are_made_in_one_module() -> None:
    assert mentions(r"boto3\.client\(|session\.client\(|_session\.client\(", CORE) == {
        "layers/core/albatross/aws/clients.py"
    }


def test_sdk_errors_are_classified_in_one_module() -> None:
    assert mentions(r"\bClientError\b", CORE) == {
        "layers/core/albatross/aws/errors.py",
        "layers/core/albatross/local/faults.py",  # raises the real shape, on purpose
    }


def test_every_suppression_says_why() -> None:
    bare = []
    for path in SOURCES:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = re.search(r"#\s*(noqa(?::\s*[A-Z0-9, ]+)?|type:\s*ignore\[[^\]]+\])(.*)$", line)
            if match and not match.group(2).strip().startswith("#"):
                bare.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert bare == []
