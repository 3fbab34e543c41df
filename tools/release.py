"""Release bookkeeping: the project's one version, kept the same in every file that
carries it, and what the release workflow needs from the repository.

``python tools/release.py bump 0.2.0`` (``make version VERSION=0.2.0``) sets the version
everywhere at once and turns CHANGELOG.md's ``## Unreleased`` into ``## 0.2.0 — <date>``
under a new, empty ``## Unreleased``; ``make version`` then re-renders
deploy/forwarder.yaml, whose image tag follows the kustomization. ``check`` fails unless
every copy agrees (``--tag v0.2.0``: and equals the tag, with a CHANGELOG section for
it); ``notes 0.2.0`` prints that section; ``render --image REF`` prints the forwarder's
manifests with the image set to REF (``kubectl kustomize`` on a temporary overlay).

Standard library only (plus ``kubectl`` for ``render``): the release job runs it before
any install.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEMVER = re.compile(r"\d+\.\d+\.\d+")
CHANGELOG = "CHANGELOG.md"
UNRELEASED = "## Unreleased"
BASE = "forwarder/deploy"


@dataclass(frozen=True)
class Place:
    """One copy of the version: a file and a pattern that matches it exactly once, the
    version being the group ``v``."""

    path: str
    pattern: re.Pattern[str]


PLACES = (
    Place("layers/core/pyproject.toml", re.compile(r'^version = "(?P<v>[^"]*)"$', re.M)),
    Place("forwarder/pyproject.toml", re.compile(r'^version = "(?P<v>[^"]*)"$', re.M)),
    Place("layers/core/albatross/__init__.py", re.compile(r'^__version__ = "(?P<v>[^"]*)"$', re.M)),
    Place("forwarder/deploy/kustomization.yaml", re.compile(r'^\s+newTag: "(?P<v>[^"]*)"$', re.M)),
    Place("template.yaml", re.compile(r'^Metadata:\n  Albatross:\n    Version: "(?P<v>[^"]*)"$', re.M)),
    Place("template.yaml", re.compile(r"^      Description: Albatross (?P<v>\S+) core library", re.M)),
)


class ReleaseError(Exception):
    """Something the release cannot go on with; the message says what and where."""


def _find(text: str, place: Place) -> re.Match[str]:
    found = list(place.pattern.finditer(text))
    if len(found) != 1:
        # never guess which copy is the version: a file whose shape changed needs PLACES updated
        raise ReleaseError(f"{place.path}: {len(found)} matches of {place.pattern.pattern!r}, expected 1")
    return found[0]


def _section(text: str, heading: re.Match[str]) -> str:
    """The text under a CHANGELOG heading, up to the next one."""
    rest = text[heading.end() :]
    end = re.search(r"^## ", rest, re.M)
    return (rest[: end.start()] if end else rest).strip()


def versions(root: Path) -> dict[str, str]:
    """Each place (``path`` or ``path#n`` for a file's n-th) → the version it holds."""
    out: dict[str, str] = {}
    for place in PLACES:
        key = place.path
        n = 1
        while key in out:
            n += 1
            key = f"{place.path}#{n}"
        out[key] = _find((root / place.path).read_text(), place)["v"]
    return out


def current(root: Path) -> str:
    found = versions(root)
    distinct = sorted(set(found.values()))
    if len(distinct) != 1:
        raise ReleaseError("the version differs between files: " + ", ".join(f"{k}={v}" for k, v in found.items()))
    return distinct[0]


def _heading(version: str) -> re.Pattern[str]:
    # "## 0.2.0 — 2025-01-31" (bump writes the date; a bare "## 0.2.0" is accepted too)
    return re.compile(rf"^## {re.escape(version)}(?: — .*)?$", re.M)


def notes(root: Path, version: str) -> str:
    text = (root / CHANGELOG).read_text()
    found = list(_heading(version).finditer(text))
    if len(found) != 1:
        raise ReleaseError(f"{CHANGELOG}: {len(found)} headings for {version}, expected 1")
    body = _section(text, found[0])
    if not body:
        raise ReleaseError(f"{CHANGELOG}: the section for {version} is empty")
    return body + "\n"


def check(root: Path, tag: str | None) -> str:
    version = current(root)
    changelog = (root / CHANGELOG).read_text()
    if tag is None:
        if not re.search(rf"^{UNRELEASED}$", changelog, re.M) and not _heading(version).search(changelog):
            raise ReleaseError(f"{CHANGELOG} has neither '{UNRELEASED}' nor a section for {version}")
        return version
    if tag != f"v{version}":
        raise ReleaseError(f"tag {tag} is not v{version}, the version the files hold: run make version first")
    notes(root, version)  # a release needs its notes
    return version


def bump(root: Path, version: str, date: datetime.date) -> dict[str, str]:
    """Every file's new text (path → text); nothing is written when any place fails."""
    if not SEMVER.fullmatch(version):
        raise ReleaseError(f"{version!r} is not MAJOR.MINOR.PATCH")
    texts: dict[str, str] = {}
    for place in PLACES:
        original = texts.get(place.path) or (root / place.path).read_text()
        start, end = _find(original, place).span("v")
        texts[place.path] = original[:start] + version + original[end:]
    changelog = (root / CHANGELOG).read_text()
    if _heading(version).search(changelog):
        raise ReleaseError(f"{CHANGELOG} already has a section for {version}")
    heading = list(re.finditer(rf"^{UNRELEASED}\n", changelog, re.M))
    if len(heading) != 1:
        raise ReleaseError(f"{CHANGELOG}: {len(heading)} '{UNRELEASED}' headings, expected 1")
    if not _section(changelog, heading[0]):
        raise ReleaseError(f"{CHANGELOG}: nothing under '{UNRELEASED}' to release")
    start, end = heading[0].span()
    texts[CHANGELOG] = changelog[:start] + f"{UNRELEASED}\n\n## {version} — {date.isoformat()}\n" + changelog[end:]
    return texts


def render(root: Path, image: str) -> str:
    """The forwarder's base rendered with its image (``albatross-forwarder``, under
    whatever registry the base names) replaced by ``image``."""
    name, digest, tag = _split_image(image)
    base = root / BASE
    with tempfile.TemporaryDirectory() as overlay:
        # kustomize takes a base only by a path relative to the overlay, and its images:
        # entries match the name the base renders
        lines = [
            "apiVersion: kustomize.config.k8s.io/v1beta1",
            "kind: Kustomization",
            "resources:",
            f"  - {os.path.relpath(base, overlay)}",
            "images:",
            f"  - name: {_forwarder_image_name(_kustomize(base))}",
            f"    newName: {name}",
            f"    digest: {digest}" if digest else f'    newTag: "{tag}"',
        ]
        (Path(overlay) / "kustomization.yaml").write_text("\n".join(lines) + "\n")
        return _kustomize(Path(overlay))


def _kustomize(path: Path) -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise ReleaseError("kubectl is not on PATH: it renders the manifests (kubectl kustomize)")
    out = subprocess.run(  # noqa: S603  # kubectl from PATH on a local folder: nothing contacted
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    if out.returncode != 0:
        raise ReleaseError(f"kubectl kustomize {path} failed:\n{out.stderr}")
    return out.stdout


def _forwarder_image_name(rendered: str) -> str:
    names: set[str] = set()
    for reference in re.findall(r"^\s+(?:- )?image: \"?([^\"\s]+)", rendered, re.M):
        name = reference.partition("@")[0]
        if ":" in name.rsplit("/", 1)[-1]:
            name = name.rpartition(":")[0]
        if name.rsplit("/", 1)[-1] == "albatross-forwarder":
            names.add(name)
    if len(names) != 1:
        raise ReleaseError(f"{BASE} renders {len(names)} albatross-forwarder image names, expected 1: {sorted(names)}")
    return names.pop()


def _split_image(image: str) -> tuple[str, str | None, str | None]:
    name, _, digest = image.partition("@")
    tag = None
    if ":" in name.rsplit("/", 1)[-1]:
        name, _, tag = name.rpartition(":")
    if digest and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise ReleaseError(f"{image}: the digest is not sha256:<64 hex digits>")
    if not digest and not tag:
        raise ReleaseError(f"{image}: name a digest (@sha256:...) or a tag")
    return name, digest or None, tag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/release.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (default: this one)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_bump = sub.add_parser("bump", help="set the version everywhere and date the CHANGELOG's Unreleased section")
    p_bump.add_argument("version")
    p_bump.add_argument(
        "--date", type=datetime.date.fromisoformat, default=None, help="YYYY-MM-DD (default: today, UTC)"
    )
    p_check = sub.add_parser("check", help="every copy of the version agrees (and matches --tag)")
    p_check.add_argument("--tag", help="the release tag, vX.Y.Z")
    p_notes = sub.add_parser("notes", help="print the CHANGELOG section of a version")
    p_notes.add_argument("version")
    p_render = sub.add_parser("render", help="print the forwarder's manifests with the image set")
    p_render.add_argument("--image", required=True, help="REGISTRY/NAME@sha256:... or REGISTRY/NAME:TAG")
    args = parser.parse_args(argv)
    root: Path = args.root
    try:
        if args.command == "bump":
            date = args.date or datetime.datetime.now(datetime.UTC).date()
            before = current_or_none(root)
            for path, text in bump(root, args.version, date).items():
                (root / path).write_text(text)
            print(f"{before or 'mixed versions'} → {args.version}; {CHANGELOG}: ## {args.version} — {date}")
        elif args.command == "check":
            print(check(root, args.tag))
        elif args.command == "notes":
            sys.stdout.write(notes(root, args.version))
        else:
            sys.stdout.write(render(root, args.image))
    except ReleaseError as e:
        print(f"release: {e}", file=sys.stderr)
        return 1
    return 0


def current_or_none(root: Path) -> str | None:
    try:
        return current(root)
    except ReleaseError:
        return None


if __name__ == "__main__":
    sys.exit(main())
