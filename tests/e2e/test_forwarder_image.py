"""The forwarder as its image runs it: from .venv-forwarder, which holds exactly
forwarder/requirements.lock and the files forwarder/Dockerfile copies, installed the same
way on the image's Python (`make venv-forwarder`; `make test` builds it first), never from
the dev venv. That forwarder serves an Ingress end to end against the API double and moto;
everything it imports, lazily too, imports there; the venv holds the lock's packages and
ours and nothing else, and pip finds them consistent."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from albatross.aws import clients
from albatross.local.demo import ingress_gone, ingress_hostname
from albatross.local.system import local_system
from tests.e2e.test_slice import NAME, NS, apply
from tests.k8s_typing import must
from tests.lockfile import FORWARDER_LOCK, normalize, pins

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-forwarder"
# in the lock only to build our two packages; the image and the venv drop it after
BUILD_ONLY = {"setuptools"}
# the packages albatross_forwarder defers (albatross_forwarder/__init__.py, lazy.py): at
# least these must be found deferred, and then initialise
DEFERRED = {"kubernetes", "kubernetes.config", "kubernetes.utils"}


def _version(pyproject: Path) -> str:
    return str(tomllib.loads(pyproject.read_text())["project"]["version"])


@pytest.fixture(scope="module")
def python() -> Path:
    path = VENV / "bin" / "python"
    if not path.exists():
        pytest.fail(f"{VENV.name} is missing: `make venv-forwarder` builds it from the lock (`make test` does)")
    return path


def _run(python: Path, script: str) -> Any:
    """``script`` in the venv's interpreter, isolated (-I: no working directory, PYTHONPATH
    or user site on its path); what it prints, as JSON."""
    out = subprocess.run(  # noqa: S603  # the venv's interpreter, our own script
        [str(python), "-I", "-c", script], capture_output=True, text=True, timeout=90, check=False
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


IMPORTS = """
import json, pkgutil, sys
import albatross_forwarder.main  # all the forwarder imports on start
import kubernetes.config.kube_config  # imported outside a pod only (kube.configuration)

def hook(module):
    found = vars(module).get("__getattr__")
    return found if getattr(found, "__qualname__", "").startswith("defer_init.") else None

deferred = sorted(name for name, module in list(sys.modules.items()) if hook(module))
for name in deferred:  # any attribute it has not got runs the real __init__
    getattr(sys.modules[name], "_albatross_probe", None)
still = [name for name in deferred if hook(sys.modules[name])]

import boto3
for service in ("events", "sqs", "s3", "secretsmanager"):  # main.py's clients
    boto3.client(service, region_name="us-east-1")

import albatross
names = ("albatross_forwarder", "albatross", "kubernetes", "boto3", "botocore", "urllib3")
print(json.dumps({
    "deferred": deferred,
    "still": still,
    "files": {name: sys.modules[name].__file__ for name in names},
    "core": sorted(m.name for m in pkgutil.iter_modules(albatross.__path__)),
}))
"""


def test_everything_the_forwarder_imports_is_in_the_venv(python: Path) -> None:
    found = _run(python, IMPORTS)
    assert set(found["deferred"]) >= DEFERRED
    assert found["still"] == []
    for name, file in found["files"].items():
        assert Path(file).resolve().is_relative_to(VENV.resolve()), f"{name} from {file}"
    assert found["core"] == ["contract"]  # of the core, the contract module alone


def test_the_venv_holds_the_lock_and_our_two_packages_and_pip_finds_them_consistent(python: Path) -> None:
    installed = _run(
        python,
        "import json, importlib.metadata as m;"
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))",
    )
    expected = {name: v for name, v in pins(FORWARDER_LOCK).items() if name not in BUILD_ONLY}
    expected |= {
        "albatross": _version(ROOT / "layers" / "core" / "pyproject.toml"),
        "albatross-forwarder": _version(ROOT / "forwarder" / "pyproject.toml"),
    }
    # pip: the venv's own (for `pip check`); the image removes it
    assert {normalize(name): v for name, v in installed.items() if normalize(name) != "pip"} == expected
    check = subprocess.run(  # noqa: S603  # the venv's interpreter, fixed arguments
        [str(python), "-I", "-m", "pip", "check"], capture_output=True, text=True, timeout=90, check=False
    )
    assert (check.returncode, check.stdout.strip()) == (0, "No broken requirements found."), check.stderr


def test_the_locked_forwarder_gives_an_ingress_its_alb_and_lets_it_go(
    python: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # nothing of this checkout on the forwarder's path: `python -m` puts the working
    # directory first
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    with local_system(ROOT, work_dir=tmp_path / "system", forwarder_python=str(python)) as system:
        assert system.forwarder.args == [str(python), "-m", "albatross_forwarder"]
        net = k8s.NetworkingV1Api(system.api())
        apply(system, ROOT / "examples/2048/2048.yaml")
        finalizers = system.wait_for(
            "the finalizer", lambda: must(net.read_namespaced_ingress(NAME, NS).metadata).finalizers
        )
        # the finalizer LBC puts on an Ingress of no explicit group (an explicit one gets group.ingress.k8s.aws/NAME)
        assert finalizers == ["ingress.k8s.aws/resources"]
        hostname = system.wait_for("the Ingress address", lambda: ingress_hostname(system, NS, NAME))
        [lb] = clients.elbv2().describe_load_balancers()["LoadBalancers"]
        assert lb["DNSName"] == hostname
        assert lb["Scheme"] == "internet-facing"  # alb.ingress.kubernetes.io/scheme in the example

        net.delete_namespaced_ingress(NAME, NS)
        system.wait_for("the Ingress to be released", lambda: ingress_gone(system, NS, NAME))
        assert clients.elbv2().describe_load_balancers()["LoadBalancers"] == []
        assert system.forwarder.poll() is None  # still serving
