"""README.md's "Deploy to AWS" sequence, run as written: every line of the section's
``sh`` blocks, in order, against the whole local system (moto with the template's
resources, the Kubernetes API double, the forwarder as its own process) for cluster
``my-cluster``, from a checkout whose ``.aws-sam/build`` stands for ``make package``'s.

``albatross`` lines run in this process (``albatross.cli.main``), with the local
system's env file in the environment as ``albatross local up`` writes it
(``ALBATROSS_OUTPUTS``, ``AWS_ENDPOINT_URL``), so install reads the stack's outputs from
the deployment (moto's CloudFormation does not hold the stack). The EKS double answers
DescribeCluster and the Pod Identity association calls. ``sam`` and ``kubectl`` are
stand-ins first on PATH (tests/functional/deploy_tools.py): ``kubectl apply -k``
renders the overlay with the real kustomize, and the test then restarts the local
forwarder, as a rollout would, so install's wait sees a new Resync reach ingest.

What this cannot run: ``make package`` and ``make image ... PUSH=1`` (they download
wheels and push to a registry; the artifact and image tests cover them), ``sam deploy``
and ``sam delete`` (no CloudFormation here: the stand-in records the arguments),
``kubectl get pods`` and ``kubectl logs`` (the API double serves no pods: the stand-in
records them). Those lines must be exactly the ones listed in NOT_RUN.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from albatross.cli.main import main
from albatross.local.system import LocalSystem, local_system
from albatross.store.table import Store
from tests.functional.deploy_tools import Rollout, checkout, eks_double, standins

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = "my-cluster"  # the README's
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/albatross-forwarder"
NOT_RUN = {
    "make package",
    f"make image IMAGE={IMAGE} PUSH=1",
}


def deploy_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Deploy to AWS\n") :]
    section = section[: section.index("\n## ", 1)]
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        lines += [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]
    return lines


@pytest.fixture
def system(tmp_path: Path) -> Iterator[LocalSystem]:
    with local_system(ROOT, cluster=CLUSTER, work_dir=tmp_path / "local") as running:
        yield running


def test_the_readme_deploy_sequence_runs(
    system: LocalSystem, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = deploy_lines()
    assert set(lines) >= NOT_RUN, "the README's deploy section changed: update NOT_RUN"
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(system.cloud.deployment.outputs))
    monkeypatch.setenv("ALBATROSS_OUTPUTS", str(outputs))  # as `source .albatross-local/env` sets it
    tools = standins(tmp_path / "bin")
    for key, value in tools.env(os.environ["PATH"]).items():
        monkeypatch.setenv(key, value)
    repo = checkout(tmp_path / "repo")
    monkeypatch.chdir(repo)
    store = Store(system.output("StateTableName"))
    first = system.wait_for("the first forwarder's Resync", store.last_resync, timeout=60)

    printed: dict[str, str] = {}
    with eks_double() as eks, Rollout(system, tools) as rollout:
        eks.clusters[CLUSTER] = system.vpc_id
        for line in lines:
            if line in NOT_RUN:
                continue
            argv = shlex.split(line)
            if argv[0] == "albatross":
                code = main(argv[1:])
                found = capsys.readouterr()
                assert code == 0, f"{line}\n{found.out}{found.err}"
                printed[line] = printed.get(line, "") + found.out
            else:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603  # the README's line, stand-ins first on PATH
                assert done.returncode == 0, f"{line}\n{done.stderr}"
        associations_after = dict(eks.associations)
        made = [params for name, params in eks.calls if name == "CreatePodIdentityAssociation"]

    installs = [line for line in lines if line.startswith("albatross install") and "--dry-run" not in line]
    assert installs == [f"albatross install --cluster {CLUSTER} --image {IMAGE}:0.1.0"]
    out = printed[installs[0]]
    assert "the forwarder's first Resync reached ingest" in out, out
    assert rollout.restarts == 1
    last = store.last_resync()
    assert last is not None
    assert last != first  # the new forwarder's, not the one before install
    # what ran, in order: the stack, the forwarder (its overlay rendered by the real
    # kustomize), the checks, and at the end the forwarder and the stack removed
    assert [(r["tool"], r["argv"][:2]) for r in tools.runs()] == [
        ("sam", ["deploy", "--template-file"]),
        ("kubectl", ["apply", "-k"]),
        ("kubectl", ["-n", "albatross"]),
        ("kubectl", ["-n", "albatross"]),
        ("kubectl", ["delete", "-k"]),
        ("sam", ["delete", "--stack-name"]),
    ]
    sam = tools.runs("sam")[0]["argv"]
    assert sam[sam.index("--parameter-overrides") + 1 :][:2] == [f"ClusterName={CLUSTER}", f"VpcId={system.vpc_id}"]
    # the association was made, for the stack's role, and uninstall removed it
    assert made == [
        {
            "clusterName": CLUSTER,
            "namespace": "albatross",
            "serviceAccount": "albatross-forwarder",
            "roleArn": system.output("ForwarderRoleArn"),
        }
    ]
    assert associations_after == {}
    assert (repo / "deploy" / "overlays" / CLUSTER / "kustomization.yaml").exists()
