"""README.md's "Deploy to AWS" sequence, run as written: every line of the section's
``sh`` blocks, in order, against the whole local system (moto with the template's
resources, the Kubernetes API double, the forwarder as its own process) for cluster
``my-cluster``, from a checkout whose ``.aws-sam/build`` stands for ``make package``'s.

``albatross`` lines run in this process (``albatross.cli.main``) against the local
cloud, whose endpoint is in the environment, with kubectl's context the local API
double (its kubeconfig, and the EKS double gives the cluster that endpoint). The other
lines run in bash, with stand-ins first on PATH (tests/functional/standin.py) for
``sam``, ``kubectl``, ``docker``, ``aws`` and ``gh``: ``sam deploy`` keeps the stack in
the local cloud's CloudFormation, with the deployment's outputs, so install, ``albatross
status`` and uninstall read it as they would AWS's; ``kubectl apply -k`` renders the
overlay with the real kustomize, and each apply restarts the local forwarder, as a
rollout would, which ``kubectl rollout status`` waits for; the Lease is the local
forwarder's own, in the API double. ``make image`` runs the repository's Makefile with
the stand-in docker, so what it asks of docker (a two-platform build, pushed) is checked
after the ECR login the section shows.

What this cannot run: ``make package`` (it downloads wheels; the artifact tests build
the same way). Those lines must be exactly the ones listed in NOT_RUN.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from albatross.cli.main import main
from albatross.local.system import LocalSystem, local_system
from albatross.store.table import Store
from tests.functional.deploy_tools import Rollout, Tools, checkout, eks_double, standins
from tests.functional.standin import ECR_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = "my-cluster"  # the README's
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/albatross-forwarder"
RELEASE = "albatross-0.1.0.packaged.yaml"
NOT_RUN = {"make package"}
BASH = shutil.which("bash") or "/bin/bash"


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


def _lease(system: LocalSystem) -> Any:
    """The local forwarder's Lease (it runs outside a pod: in ``default``)."""
    return k8s.CoordinationV1Api(system.api()).read_namespaced_lease("albatross-forwarder", "default").spec


def _steps(tools: Tools) -> list[tuple[str, ...]]:
    """What the stand-ins ran, without install's polls and make's probe of docker."""
    out = []
    for run in tools.runs():
        argv = run["argv"]
        if argv[:2] in (["get", "lease"], ["get", "pod"], ["buildx", "version"]):
            continue
        out.append((run["tool"], *argv[:2]))
    return out


def test_the_readme_deploy_sequence_runs(
    system: LocalSystem, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = deploy_lines()
    assert set(lines) >= NOT_RUN, "the README's deploy section changed: update NOT_RUN"
    tools = standins(tmp_path / "bin", ("sam", "kubectl", "docker", "aws", "gh"))
    for key, value in tools.env(os.environ["PATH"]).items():
        monkeypatch.setenv(key, value)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(system.cloud.deployment.outputs))
    monkeypatch.setenv("STANDIN_OUTPUTS", str(outputs))  # what sam deploy's stack outputs
    monkeypatch.delenv("ALBATROSS_OUTPUTS", raising=False)  # status reads the deployed stack
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "local" / "kubeconfig"))
    monkeypatch.setenv("STANDIN_LEASE_NAMESPACE", "default")
    # the local forwarder's pod name is this host's name (its Lease holder identity says so)
    monkeypatch.setenv("STANDIN_PODS", f'{{"{socket.gethostname()}": null}}')
    release = tmp_path / "release"
    release.mkdir()
    shutil.copy(ROOT / "template.yaml", release / RELEASE)  # stands for the packaged template
    monkeypatch.setenv("STANDIN_RELEASE", str(release))
    repo = checkout(tmp_path / "repo")
    monkeypatch.chdir(repo)
    store = Store(system.output("StateTableName"))
    first = system.wait_for("the first forwarder's Resync", store.last_resync, timeout=60)
    holders = [_lease(system).holder_identity]

    printed: dict[str, str] = {}
    reported: list[tuple[str, Any]] = []
    with eks_double() as eks, Rollout(system, tools) as rollout:
        eks.clusters[CLUSTER] = system.vpc_id
        eks.endpoints[CLUSTER] = system.kube.url  # kubectl's current context is the local API double
        for line in lines:
            if line in NOT_RUN:
                continue
            argv = shlex.split(line)
            if argv[0] == "albatross":
                code = main(argv[1:])
                found = capsys.readouterr()
                assert code == 0, f"{line}\n{found.out}{found.err}"
                printed[line] = printed.get(line, "") + found.out
                if argv[1] == "install" and "--dry-run" not in argv:
                    reported.append((line, store.last_resync()))
                    holders.append(_lease(system).holder_identity)
                continue
            done = subprocess.run(  # noqa: S603  # the README's line, stand-ins first on PATH
                [BASH, "-euo", "pipefail", "-c", line],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                cwd=ROOT if argv[0] == "make" else repo,  # the Makefile is the repository's
            )
            assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
        associations_after = dict(eks.associations)
        made = [params for name, params in eks.calls if name == "CreatePodIdentityAssociation"]

    installs = [line for line in lines if line.startswith("albatross install") and "--dry-run" not in line]
    assert installs == [
        f"albatross install --cluster {CLUSTER} --image {IMAGE}:0.1.0",
        f"albatross install --cluster {CLUSTER} --region us-east-1 --template {RELEASE} --image "
        "ghcr.io/example/albatross-forwarder:0.1.0",
    ]
    assert rollout.restarts == 2
    # each install reported the Resync of the forwarder its rollout started: a new Lease
    # holder each time, and the Resync install named is the last ingest recorded
    assert len(set(holders)) == 3, holders
    seen = [first]
    for line, last in reported:
        assert last is not None
        assert last not in seen
        seen.append(last)
        assert f"sent a Resync (event {last[0]}) that reached ingest" in printed[line], printed[line]

    # what ran, in order: the image, the stack and the forwarder twice (checked, deployed,
    # applied, rolled out), the checks, and at the end the forwarder and the stack removed
    install = [
        ("kubectl", "config", "view"),
        ("sam", "deploy", "--template-file"),
        ("kubectl", "apply", "-k"),
        ("kubectl", "rollout", "status"),
    ]
    assert _steps(tools) == [
        ("aws", "ecr", "create-repository"),
        ("aws", "ecr", "get-login-password"),
        ("docker", "login", "--username"),
        ("docker", "buildx", "create"),
        ("docker", "buildx", "build"),
        *install,
        ("gh", "release", "download"),
        *install,
        ("kubectl", "-n", "albatross"),
        ("kubectl", "-n", "albatross"),
        ("kubectl", "config", "view"),
        ("kubectl", "kustomize", f"deploy/overlays/{CLUSTER}"),
        ("kubectl", "delete", "-k"),
        ("sam", "delete", "--stack-name"),
    ]
    # the login took the password aws printed, for the registry make image pushes to
    [login] = [r for r in tools.runs("docker") if r["argv"][0] == "login"]
    assert login["argv"][-1] == IMAGE.split("/")[0]
    assert login["stdin"] == ECR_PASSWORD + "\n"
    [build] = [r["argv"] for r in tools.runs("docker") if r["argv"][:2] == ["buildx", "build"]]
    assert build[build.index("--platform") + 1] == "linux/amd64,linux/arm64"
    assert build[build.index("--tag") + 1] == f"{IMAGE}:0.1.0"
    assert "--push" in build
    # the stack: the built template, then the release's
    deploys = [r["argv"] for r in tools.runs("sam") if r["argv"][0] == "deploy"]
    assert [d[d.index("--template-file") + 1] for d in deploys] == [".aws-sam/build/template.yaml", RELEASE]
    assert deploys[0][deploys[0].index("--parameter-overrides") + 1 :] == [
        f"ClusterName={CLUSTER}",
        f"VpcId={system.vpc_id}",
        "IngressClass=alb",
        'ForwarderRoleArn=""',
    ]
    # the association was made once, for the stack's role, and uninstall removed it
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
