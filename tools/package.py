"""Build what AWS runs: the layer and the functions of ``template.yaml``, laid out as
``sam build`` lays them out, for one Lambda architecture.

``python tools/package.py --arch arm64 --out .aws-sam/build`` writes:

- ``<out>/CoreLayer/python/``: the layer's pinned dependencies (``layers/core/requirements.txt``,
  a lock with hashes), installed as wheels for the target platform and Python, plus the
  ``albatross`` package without ``albatross.cli`` and ``albatross.local`` (they need the
  ``[local]`` extra; Lambda never imports them);
- ``<out>/<Function>/``: each function's ``CodeUri`` folder;
- ``<out>/template.yaml``: the template with ``CodeUri``/``ContentUri`` pointing at those
  folders and the architecture set to ``--arch``; ``sam deploy`` picks it up from there.

Unlike ``sam build``, it also drops the botocore service models the code never loads
and the Powertools utilities the handlers never import (the layer would be three times
larger), and compiles bytecode with the runtime's Python
(``/opt`` is read-only on Lambda: without ``.pyc`` every cold start compiles every module).
The interpreter named by the template's ``Runtime`` is used when this machine has it;
otherwise the build stops, unless ``--any-python`` says the running one may stand in.
Needs the package index (pip downloads the wheels); run by ``make package``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
# Never in the layer: the CLI and the offline system (the `[local]` extra).
LOCAL_ONLY = ("cli", "local")  # under albatross/
# What pip and setuptools leave that Lambda never reads.
JUNK = ("__pycache__", "*.egg-info", "*.pyc")
# The parts of Powertools the handlers use (Logger, Metrics, the LambdaContext type) and
# what those import (the package's __init__ imports the tracing module; the Logger reads
# correlation ids with jmespath_utils); the rest (event handlers, parser models, batch
# processing, event data classes, idempotency …) is more than a third of the zipped layer.
# The artifact test imports every module kept here, so a part that needs a dropped one
# fails it.
POWERTOOLS_KEEP = (
    "exceptions", "logging", "metrics", "middleware_factory", "shared", "tracing", "warnings",
    "utilities/jmespath_utils", "utilities/typing",
)  # fmt: skip


class _Loader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (``!Ref`` …) as plain values."""


_Loader.add_multi_constructor(
    "!", lambda loader, _suffix, node: loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None
)


def load_template(text: str) -> dict[str, Any]:
    loaded = yaml.load(text, Loader=_Loader)  # noqa: S506  # a SafeLoader subclass
    return dict(loaded)


def layer_services() -> list[str]:
    """The botocore service models the shipped code loads (albatross.aws.clients)."""
    sys.path.insert(0, str(ROOT / "layers/core"))
    from albatross.aws.clients import LAYER_SERVICES

    return sorted(LAYER_SERVICES)


def find_python(version: str) -> str | None:
    """An interpreter of ``version`` ("3.12") on this machine: on PATH, or under pyenv."""
    candidates = [shutil.which(f"python{version}") or ""]
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates += sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"), reverse=True)
    for candidate in filter(None, candidates):
        probe = subprocess.run(  # noqa: S603  # an interpreter path we found, fixed arguments
            [candidate, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def _copy(src: Path, dst: Path, *, skip: Iterable[str] = ()) -> None:
    skipped = tuple(skip)

    def ignore(folder: str, names: list[str]) -> set[str]:
        rel = Path(folder).relative_to(src)
        out = set(shutil.ignore_patterns(*JUNK)(folder, names))
        out |= {n for n in names if (rel / n).as_posix() in skipped}
        return out

    shutil.copytree(src, dst, ignore=ignore, dirs_exist_ok=True)


def install_layer(*, python: str, arch: str, version: str, lock: Path, target: Path) -> None:
    """pip, for the target platform: binary wheels only. The lock pins everything with
    hashes, so pip's hash-checking mode refuses anything it does not name."""
    subprocess.run(  # noqa: S603  # our interpreter, our lock file
        [
            python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
            "--requirement", str(lock), "--only-binary=:all:",
            "--platform", PLATFORMS[arch], "--implementation", "cp", "--python-version", version,
            "--target", str(target),
        ],
        check=True,
    )  # fmt: skip


def trim_botocore(site: Path, keep: Iterable[str]) -> int:
    """Drop the service models nothing loads; returns how many went."""
    data = site / "botocore" / "data"
    if not data.is_dir():  # a layer that leaves botocore to the runtime (not ours)
        return 0
    wanted = set(keep)
    gone = 0
    for folder in data.iterdir():
        if folder.is_dir() and folder.name not in wanted:
            shutil.rmtree(folder)
            gone += 1
    for examples in data.glob("*/*/examples-1.json"):  # read only to write docstrings
        examples.unlink()
    missing = sorted(wanted - {f.name for f in data.iterdir() if f.is_dir()})
    if missing:
        raise SystemExit(f"botocore has no model for {missing}")
    return gone


def trim_powertools(site: Path, keep: Iterable[str] = POWERTOOLS_KEEP) -> list[str]:
    """Drop the Powertools packages outside ``keep``; returns what went."""
    root = site / "aws_lambda_powertools"
    kept = set(keep)
    gone: list[str] = []
    for parent in (root, root / "utilities"):
        for folder in sorted(p for p in parent.iterdir() if p.is_dir() and p.name != "__pycache__"):
            name = folder.relative_to(root).as_posix()
            if name not in kept and name != "utilities":
                shutil.rmtree(folder)
                gone.append(name)
    return gone


def compile_tree(*, python: str, folder: Path, runs_at: str) -> None:
    """``.pyc`` for the runtime's Python, checked against nothing (the artifact never changes)."""
    subprocess.run(  # noqa: S603  # our interpreter, our folder
        [
            python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
            "-s", str(folder), "-p", runs_at, str(folder),
        ],
        check=True,
    )  # fmt: skip


def rewrite_template(text: str, *, uris: dict[str, str], arch: str, up: str) -> str:
    """Point each CodeUri/ContentUri at its build folder and set the architecture, keeping
    the rest of the file (comments included) as it is."""
    for source, logical in uris.items():
        pattern = re.compile(rf"^(\s*(?:CodeUri|ContentUri):\s*){re.escape(source)}\s*$", re.MULTILINE)
        text, count = pattern.subn(rf"\g<1>{logical}", text)
        if count != 1:
            raise SystemExit(f"{source}: expected one CodeUri/ContentUri line, found {count}")
    # Files the template names and nothing builds stay where they are, as sam build
    # points at them: relative to the build folder's template.
    text = re.sub(r"^(\s*DefinitionUri:\s*)(?![a-z0-9]+://)(\S+)\s*$", rf"\g<1>{up}/\g<2>", text, flags=re.MULTILINE)
    text = re.sub(r"(Architectures:\s*)\[\w+\]", rf"\g<1>[{arch}]", text)
    return re.sub(r"(BuildArchitecture:\s*)\w+", rf"\g<1>{arch}", text)


def package(*, out: Path, arch: str, any_python: bool = False) -> dict[str, Any]:
    template_path = ROOT / "template.yaml"
    template = load_template(template_path.read_text())
    runtime = str(template["Globals"]["Function"]["Runtime"])  # "python3.12"
    version = runtime.removeprefix("python")
    python = find_python(version)
    if python is None:
        if not any_python:
            raise SystemExit(f"no Python {version} here (the template's {runtime}); --any-python builds with this one")
        python = sys.executable
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if out.exists():
        if any(out.iterdir()) and not (out / "albatross-build.json").is_file():
            raise SystemExit(f"{out} holds something other than a build of ours: not replacing it")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    uris: dict[str, str] = {}
    for logical, resource in template["Resources"].items():
        props = resource.get("Properties") or {}
        if resource["Type"] == "AWS::Serverless::Function":
            source = str(props["CodeUri"])
            _copy(ROOT / source, out / logical)
            compile_tree(python=python, folder=out / logical, runs_at="/var/task")
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            source = str(props["ContentUri"])
            site = out / logical / "python"
            install_layer(
                python=python, arch=arch, version=version, lock=ROOT / source / "requirements.txt", target=site
            )
            _copy(ROOT / source / "albatross", site / "albatross", skip=LOCAL_ONLY)
            trim_botocore(site, layer_services())
            trim_powertools(site)
            compile_tree(python=python, folder=site, runs_at="/opt/python")
        else:
            continue
        uris[source] = logical
    (out / "template.yaml").write_text(
        rewrite_template(template_path.read_text(), uris=uris, arch=arch, up=os.path.relpath(ROOT, out.resolve()))
    )
    manifest = {"arch": arch, "python": version, "interpreter": python, "runtime": runtime}
    (out / "albatross-build.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="arm64", help="Lambda architecture")
    parser.add_argument("--out", type=Path, default=ROOT / ".aws-sam/build", help="build folder")
    parser.add_argument("--any-python", action="store_true", help="build with this Python when the runtime's is absent")
    args = parser.parse_args(argv)
    built = package(out=args.out, arch=args.arch, any_python=args.any_python)
    print(f"built {args.out} for {built['runtime']}/{built['arch']} with {built['interpreter']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
