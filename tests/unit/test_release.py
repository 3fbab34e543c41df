"""One version everywhere: the distributions, the core package, the forwarder image tag
(kustomization and rendered manifest), the template's Metadata and layer Description all
hold the same version, and CHANGELOG.md has an Unreleased section or one for it. Each
file is read here with its own format's parser, apart from tools/release.py, which is
run (on a copy of the files) to show that it bumps them all together, dates the
CHANGELOG, refuses what would leave them inconsistent, and renders the release manifests.
"""

from __future__ import annotations

import ast
import datetime
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from albatross.local.template import load

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / "tools" / "release.py"
# every file that carries the version, and CHANGELOG.md
FILES = (
    "layers/core/pyproject.toml",
    "forwarder/pyproject.toml",
    "layers/core/albatross/__init__.py",
    "forwarder/deploy/kustomization.yaml",
    "template.yaml",
    "CHANGELOG.md",
)


def _package_version(root: Path) -> str:
    # read, not imported: an imported albatross is the installed one, wherever it is
    tree = ast.parse((root / "layers/core/albatross/__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__version__"]:
            assert isinstance(node.value, ast.Constant)
            return str(node.value.value)
    raise AssertionError("albatross/__init__.py assigns no __version__")


def _image_tag(root: Path) -> str:
    kustomization = yaml.safe_load((root / "forwarder/deploy/kustomization.yaml").read_text())
    (entry,) = [i for i in kustomization["images"] if i["name"] == "albatross-forwarder"]
    return str(entry["newTag"])


def versions(root: Path) -> dict[str, str]:
    template = load(root / "template.yaml")
    layer = template["Resources"]["CoreLayer"]["Properties"]["Description"]
    in_layer = re.findall(r"\b\d+\.\d+\.\d+\b", layer)
    return {
        "albatross distribution": tomllib.loads((root / "layers/core/pyproject.toml").read_text())["project"][
            "version"
        ],
        "albatross-forwarder distribution": tomllib.loads((root / "forwarder/pyproject.toml").read_text())["project"][
            "version"
        ],
        "albatross.__version__": _package_version(root),
        "forwarder image tag": _image_tag(root),
        "template Metadata": str(template["Metadata"]["Albatross"]["Version"]),
        "layer Description": in_layer[0] if len(in_layer) == 1 else f"{len(in_layer)} versions in {layer!r}",
    }


def headings(root: Path) -> list[str]:
    return re.findall(r"^## (.+)$", (root / "CHANGELOG.md").read_text(), re.M)


def section(root: Path, heading: str) -> str:
    text = (root / "CHANGELOG.md").read_text()
    start = text.index(f"## {heading}\n") + len(f"## {heading}\n")
    end = text.find("\n## ", start)
    return text[start : end if end >= 0 else len(text)].strip()


def release(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  # this interpreter running the repository's own script
        [sys.executable, str(RELEASE), "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for name in FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    # right after a release the real Unreleased section is empty: give the copy's an entry
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text(changelog.read_text().replace("## Unreleased\n", "## Unreleased\n\n- An entry.\n", 1))
    return tmp_path


def snapshot(root: Path) -> dict[str, str]:
    return {name: (root / name).read_text() for name in FILES}


def test_every_copy_of_the_version_agrees() -> None:
    found = versions(ROOT)
    assert len(set(found.values())) == 1, found
    (version,) = set(found.values())
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)


def test_the_rendered_manifest_runs_the_versions_image() -> None:
    (version,) = set(versions(ROOT).values())
    images = re.findall(r"^\s+image: (\S+)$", (ROOT / "deploy/forwarder.yaml").read_text(), re.M)
    assert images
    assert all(image.endswith(f"albatross-forwarder:{version}") for image in images), images


def test_the_changelog_has_an_unreleased_section_or_one_for_the_version() -> None:
    (version,) = set(versions(ROOT).values())
    found = headings(ROOT)
    assert "Unreleased" in found or any(h == version or h.startswith(f"{version} — ") for h in found), found


def test_bump_sets_every_copy_and_dates_the_unreleased_section(copy: Path) -> None:
    before = snapshot(copy)
    unreleased = section(copy, "Unreleased")
    assert unreleased
    out = release(copy, "bump", "9.8.7", "--date", "2030-01-02")
    assert out.returncode == 0, out.stderr
    assert set(versions(copy).values()) == {"9.8.7"}
    # a new, empty Unreleased on top, the released section under it, the rest as it was
    assert headings(copy)[:2] == ["Unreleased", "9.8.7 — 2030-01-02"]
    assert section(copy, "Unreleased") == ""
    assert section(copy, "9.8.7 — 2030-01-02") == unreleased
    assert headings(copy)[2:] == headings(ROOT)[1:]
    # nothing else in the files moved: each differs from its old self by the version alone
    old = set(versions(ROOT).values()).pop()
    for name in FILES[:-1]:
        assert (copy / name).read_text() == before[name].replace(f'"{old}"', '"9.8.7"').replace(
            f"Albatross {old} ", "Albatross 9.8.7 "
        ), name


def test_the_tag_check_and_the_notes_after_a_bump(copy: Path) -> None:
    unreleased = section(copy, "Unreleased")
    assert release(copy, "bump", "9.8.7", "--date", "2030-01-02").returncode == 0
    ok = release(copy, "check", "--tag", "v9.8.7")
    assert (ok.returncode, ok.stdout.strip()) == (0, "9.8.7"), ok.stderr
    wrong = release(copy, "check", "--tag", "v9.8.8")
    assert wrong.returncode != 0
    assert "v9.8.8" in wrong.stderr
    notes = release(copy, "notes", "9.8.7")
    assert (notes.returncode, notes.stdout.strip()) == (0, unreleased)


def test_bump_defaults_to_todays_date(copy: Path) -> None:
    before = datetime.datetime.now(datetime.UTC).date()
    assert release(copy, "bump", "9.8.7").returncode == 0
    after = datetime.datetime.now(datetime.UTC).date()
    dated = headings(copy)[1]
    assert dated in {f"9.8.7 — {before.isoformat()}", f"9.8.7 — {after.isoformat()}"}


@pytest.mark.parametrize("version", ["1.2", "v1.2.3", "1.2.3rc1", ""])
def test_bump_refuses_a_version_that_is_not_major_minor_patch(copy: Path, version: str) -> None:
    before = snapshot(copy)
    assert release(copy, "bump", version).returncode != 0
    assert snapshot(copy) == before


def test_bump_refuses_to_release_an_empty_unreleased_section_and_writes_nothing(copy: Path) -> None:
    assert release(copy, "bump", "9.8.7").returncode == 0
    before = snapshot(copy)
    again = release(copy, "bump", "9.8.8")
    assert again.returncode != 0
    assert "nothing under" in again.stderr
    assert snapshot(copy) == before


def test_check_names_the_file_that_disagrees(copy: Path) -> None:
    path = copy / "forwarder/pyproject.toml"
    path.write_text(re.sub(r'^version = ".*"$', 'version = "0.0.1"', path.read_text(), count=1, flags=re.M))
    out = release(copy, "check")
    assert out.returncode != 0
    assert "forwarder/pyproject.toml=0.0.1" in out.stderr


def _kubectl() -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not on PATH: it renders forwarder/deploy (kubectl kustomize)", pytrace=False)
    return kubectl


def test_render_sets_the_image_and_changes_nothing_else() -> None:
    image = "ghcr.io/acme/albatross-forwarder@sha256:" + "0123456789abcdef" * 4
    out = release(ROOT, "render", "--image", image)
    assert out.returncode == 0, out.stderr
    base = subprocess.run(  # noqa: S603  # kubectl from PATH on the local base: nothing contacted
        [_kubectl(), "kustomize", str(ROOT / "forwarder/deploy")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    rendered: list[dict[str, Any]] = [d for d in yaml.safe_load_all(out.stdout) if d]
    expected: list[dict[str, Any]] = [d for d in yaml.safe_load_all(base) if d]
    (deployment,) = [d for d in expected if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] != image
    container["image"] = image
    assert rendered == expected


@pytest.mark.parametrize("image", ["ghcr.io/acme/albatross-forwarder", "ghcr.io/acme/albatross-forwarder@sha256:00"])
def test_render_refuses_an_image_without_a_tag_or_a_full_digest(image: str) -> None:
    out = release(ROOT, "render", "--image", image)
    assert out.returncode != 0
    assert image in out.stderr
