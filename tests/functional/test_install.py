"""``albatross install`` and ``uninstall``, offline.

* The dry run prints exactly the block README.md shows (``ALBATROSS_UPDATE_DOCS=1``
  rewrites that block from what the command prints), with no AWS credentials at all.
* The real path against the local cloud (moto with the template's resources; its outputs
  come from the deployment, as moto's CloudFormation does not hold the stack, through
  ``--outputs``): ``sam deploy`` with the right arguments (a stand-in records them), the
  overlay renders with the real ``kubectl kustomize`` into a ConfigMap the forwarder reads
  as the stack's bus, queue, bucket and region, the Pod Identity association (an EKS
  double at the botocore boundary: moto has none), again idempotently, refused against
  another role, skipped for IRSA (which annotates the ServiceAccount), and another
  namespace moves the RBAC subjects too.
* Uninstall refuses while a load balancer of the cluster exists, names its Ingresses, and
  with ``--force`` says what becomes of it; with none it removes the forwarder, the
  association, the claim-check objects and the stack, in that order.

The README's deploy sequence, run against the whole local system, is
tests/functional/test_readme_deploy.py.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from albatross.aws import clients
from albatross.cli.main import main
from albatross.local.cloud import LocalCloud, local_cloud
from albatross.local.system import make_vpc
from albatross.store.table import Store
from albatross_forwarder import main as forwarder
from tests.functional.deploy_tools import EksDouble, Tools, checkout, eks_double, standins

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MARKER = "<!-- the output of the command above, written by tests/functional/test_install.py -->"
UPDATE = os.environ.get("ALBATROSS_UPDATE_DOCS") == "1"
CLUSTER = "my-cluster"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/albatross-forwarder"


def readme_dry_run() -> tuple[str, str, tuple[int, int]]:
    """The dry-run command README.md shows, the output block after it, and where that
    block's text sits in the file."""
    text = README.read_text()
    at = text.index(MARKER)
    command = re.findall(r"```sh\n(.*?)```", text[:at], re.S)[-1].strip()
    block = re.compile(r"```\n(.*?)```", re.S).search(text, at)
    assert block is not None, f"no output block after {MARKER}"
    return command, block.group(1), block.span(1)


def test_the_readme_shows_what_install_dry_run_prints(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    command, shown, span = readme_dry_run()
    argv = shlex.split(command)
    assert argv[:2] == ["albatross", "install"]
    assert "--dry-run" in argv
    # no credentials and no endpoint that answers: any AWS call would fail the command
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    monkeypatch.chdir(ROOT)
    before = sorted(p for p in (ROOT / "deploy").rglob("*"))
    assert main(argv[1:]) == 0, capsys.readouterr().err
    printed = capsys.readouterr()
    assert printed.err == ""
    assert sorted(p for p in (ROOT / "deploy").rglob("*")) == before  # nothing written
    if UPDATE and printed.out != shown:
        text = README.read_text()
        README.write_text(text[: span[0]] + printed.out + text[span[1] :])
        return
    assert printed.out == shown, "README.md's dry-run block is stale: rerun with ALBATROSS_UPDATE_DOCS=1"
    # what the block promises, checked against the tools' own syntax
    lines = printed.out.splitlines()
    sam = next(shlex.split(line) for line in lines if line.startswith("sam deploy"))
    assert sam[sam.index("--template-file") + 1] == ".aws-sam/build/template.yaml"
    assert sam[sam.index("--parameter-overrides") + 1 :] == [
        f"ClusterName={CLUSTER}",
        "VpcId=vpc-0123456789abcdef0",
        "IngressClass=alb",
    ]
    assert f"kubectl apply -k deploy/overlays/{CLUSTER}" in lines


def test_dry_runs_without_vpc_and_of_uninstall(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.chdir(ROOT / "docs")  # a subfolder: paths stay the repository root's
    assert main(["uninstall", "--cluster", CLUSTER, "--dry-run"]) == 0, capsys.readouterr().err
    lines = capsys.readouterr().out.splitlines()
    commands = [line for line in lines if line.split(" ")[0] in ("aws", "kubectl", "sam")]
    assert commands == [
        "aws cloudformation describe-stacks --stack-name albatross",
        "aws resourcegroupstaggingapi get-resources --tag-filters Key=elbv2.k8s.aws/cluster,Values=my-cluster "
        "--resource-type-filters elasticloadbalancing:loadbalancer",
        f"kubectl delete -k deploy/overlays/{CLUSTER} --ignore-not-found",
        f"aws eks delete-pod-identity-association --cluster-name {CLUSTER} --association-id '<the association of "
        "albatross/albatross-forwarder with <ForwarderRoleArn from the stack outputs>>'",
        "aws s3 rm 's3://<PayloadBucketName from the stack outputs>' --recursive",
        "sam delete --stack-name albatross --no-prompts",
    ]


def test_a_dry_run_without_vpc_shows_how_it_is_found(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.chdir(ROOT)
    assert main(["install", "--cluster", CLUSTER, "--dry-run"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert f"aws eks describe-cluster --name {CLUSTER} --query cluster.resourcesVpcConfig.vpcId --output text" in out
    assert "'VpcId=<vpcId from aws eks describe-cluster>'" in out
    assert "images:" not in out  # no --image: the base's reference stays


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    with local_cloud(root=ROOT, parameters=lambda: {"ClusterName": CLUSTER, "VpcId": make_vpc(CLUSTER)}) as running:
        yield running


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Tools:
    made = standins(tmp_path / "bin")
    for key, value in made.env(os.environ["PATH"]).items():
        monkeypatch.setenv(key, value)
    return made


@pytest.fixture
def eks() -> Iterator[EksDouble]:
    with eks_double() as double:
        yield double


def rendered(overlay: Path) -> list[dict[str, Any]]:
    done = subprocess.run(  # noqa: S603  # kubectl from PATH (the real one), a local overlay: nothing contacted
        [os.environ["REAL_KUBECTL"], "kustomize", str(overlay)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [d for d in docs if d["kind"] == kind]
    return found


def run(argv: list[str], capsys: pytest.CaptureFixture[str], code: int = 0) -> str:
    assert main(argv) == code, capsys.readouterr()
    found = capsys.readouterr()
    if code:
        assert found.err.count("\n") == 1, found.err
        return found.err.strip()
    return found.out


def test_install_deploys_writes_the_overlay_associates_and_applies(
    cloud: LocalCloud,
    tools: Tools,
    eks: EksDouble,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    outputs = cloud.deployment.outputs
    vpc = cloud.deployment.environment["VPC_ID"]
    eks.clusters[CLUSTER] = vpc
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    repo = checkout(tmp_path / "repo")
    monkeypatch.chdir(repo)
    argv = ["install", "--cluster", CLUSTER, "--image", f"{IMAGE}:0.1.0", "--outputs", str(tmp_path / "outputs.json")]

    out = run([*argv, "--wait", "0"], capsys)

    [deploy] = tools.runs("sam")
    assert deploy == {
        "tool": "sam",
        "argv": [
            "deploy",
            "--template-file",
            ".aws-sam/build/template.yaml",
            "--stack-name",
            "albatross",  # samconfig.toml's
            "--capabilities",
            "CAPABILITY_IAM",
            "--resolve-s3",
            "--no-confirm-changeset",
            "--no-fail-on-empty-changeset",
            "--parameter-overrides",
            f"ClusterName={CLUSTER}",
            f"VpcId={vpc}",  # from EKS DescribeCluster
            "IngressClass=alb",
        ],
        "cwd": str(repo),
    }
    [apply] = tools.runs("kubectl")
    assert apply["argv"] == ["apply", "-k", f"deploy/overlays/{CLUSTER}"]
    assert apply["cwd"] == str(repo)
    assert "  deployment.apps/albatross-forwarder created" in out.splitlines()

    # the overlay: the stack's outputs become the settings the forwarder reads
    docs = rendered(repo / "deploy" / "overlays" / CLUSTER)
    data = one(docs, "ConfigMap")["data"]
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    config = forwarder._parse([])
    assert config.cluster == CLUSTER
    assert config.ingress_class == "alb"
    assert data["AWS_REGION"] == "us-east-1"
    # ... and they name what the stack made
    bus = clients.events().describe_event_bus(Name=config.event_bus)
    assert bus["Arn"] == outputs["EventBusArn"]
    assert clients.sqs().get_queue_attributes(QueueUrl=config.writeback_queue_url, AttributeNames=["QueueArn"])
    clients.s3().head_bucket(Bucket=config.bucket)
    # the stack's values replace the base's; every other setting keeps the base's value
    base = dict(
        line.split("=", 1)
        for line in (ROOT / "forwarder/deploy/forwarder.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    from_stack = {
        "CLUSTER_NAME": CLUSTER,
        "EVENT_BUS_NAME": outputs["EventBusName"],
        "WRITEBACK_QUEUE_URL": outputs["WritebackQueueUrl"],
        "PAYLOAD_BUCKET": outputs["PayloadBucketName"],
        "AWS_REGION": "us-east-1",
        "INGRESS_CLASS": "alb",
    }
    assert data == {**base, **from_stack}
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"{IMAGE}:0.1.0"
    assert "annotations" not in one(docs, "ServiceAccount")["metadata"]  # Pod Identity, not IRSA

    # the association: the base's ServiceAccount runs as the stack's role
    [association] = eks.associations.values()
    assert (association.cluster, association.namespace, association.service_account, association.role) == (
        CLUSTER,
        "albatross",
        "albatross-forwarder",
        outputs["ForwarderRoleArn"],
    )

    # again: the same association stands; a digest pins the image
    digest = "sha256:" + "ab" * 32
    again = run([*argv[:3], "--vpc-id", vpc, "--image", f"{IMAGE}@{digest}", *argv[5:], "--wait", "0"], capsys)
    assert f"  already associated ({association.id})" in again.splitlines()
    assert list(eks.associations) == [association.id]
    container = one(rendered(repo / "deploy" / "overlays" / CLUSTER), "Deployment")["spec"]["template"]["spec"]
    assert container["containers"][0]["image"] == f"{IMAGE}@{digest}"

    # an association with another role is not ours to replace
    association.role = "arn:aws:iam::123456789012:role/someone-else"
    assert run([*argv, "--wait", "0"], capsys, code=1) == (
        f"albatross install: the ServiceAccount albatross/albatross-forwarder of cluster {CLUSTER} is associated "
        f"with role arn:aws:iam::123456789012:role/someone-else, not the stack's {outputs['ForwarderRoleArn']}: "
        f"delete that association (aws eks delete-pod-identity-association --cluster-name {CLUSTER} "
        f"--association-id {association.id}) and run install again"
    )


def test_install_for_irsa_in_another_namespace(
    cloud: LocalCloud,
    tools: Tools,
    eks: EksDouble,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "outputs.json").write_text(json.dumps(cloud.deployment.outputs))
    repo = checkout(tmp_path / "repo")
    monkeypatch.chdir(repo)
    role = "arn:aws:iam::123456789012:role/albatross-forwarder-irsa"
    overlay = tmp_path / "overlays" / "ops"
    argv = ["install", "--cluster", CLUSTER, "--vpc-id", "vpc-1", "--namespace", "ops", "--forwarder-role-arn", role]
    run([*argv, "--overlay", str(overlay), "--outputs", str(tmp_path / "outputs.json"), "--wait", "0"], capsys)

    [deploy] = tools.runs("sam")
    assert deploy["argv"][-1] == f"ForwarderRoleArn={role}"
    assert eks.calls == []  # no DescribeCluster (--vpc-id), no association (IRSA)
    assert tools.runs("kubectl")[0]["argv"] == ["apply", "-k", str(overlay)]
    docs = rendered(overlay)
    # the base's IRSA component annotates the ServiceAccount; the role's ConfigMap is not applied
    assert one(docs, "ServiceAccount")["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": role}
    assert one(docs, "ConfigMap")["metadata"]["name"].startswith("albatross-forwarder-config-")
    assert one(docs, "Namespace")["metadata"]["name"] == "ops"
    for doc in docs:
        if doc["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            assert [s["namespace"] for s in doc["subjects"]] == ["ops"], doc["metadata"]["name"]
        elif doc["kind"] not in ("Namespace", "ClusterRole"):
            assert doc["metadata"]["namespace"] == "ops", doc["kind"]


def test_install_says_when_no_resync_arrives(
    cloud: LocalCloud,
    tools: Tools,
    eks: EksDouble,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No forwarder runs here (kubectl is a stand-in), so nothing can reach ingest."""
    eks.clusters[CLUSTER] = "vpc-1"
    (tmp_path / "outputs.json").write_text(json.dumps(cloud.deployment.outputs))
    monkeypatch.chdir(checkout(tmp_path / "repo"))
    argv = ["install", "--cluster", CLUSTER, "--outputs", str(tmp_path / "outputs.json"), "--wait", "1"]
    assert run(argv, capsys, code=1) == (
        "albatross install: no Resync reached ingest within 1 s of kubectl apply: see kubectl -n albatross get "
        "pods and kubectl -n albatross logs deploy/albatross-forwarder (pods started before their Pod Identity "
        "association took effect need kubectl -n albatross rollout restart deploy/albatross-forwarder), then "
        "albatross redrive --dry-run"
    )
    # a stack of another cluster is refused before anything reaches the cluster
    other = ["install", "--cluster", "other", "--outputs", str(tmp_path / "outputs.json"), "--vpc-id", "vpc-1"]
    assert run(other, capsys, code=1) == (
        f"albatross install: stack albatross serves cluster {CLUSTER}, not other: pass --stack-name (one stack "
        "per cluster)"
    )
    assert len(tools.runs("kubectl")) == 1
    # an install that changes nothing in the cluster: the forwarder that sent the last
    # Resync runs on, so install reports that one instead of waiting for the next
    Store(cloud.deployment.outputs["StateTableName"]).record_resync(event_id="e-1", at=1767225600.0)
    monkeypatch.setenv("STANDIN_UNCHANGED", "1")
    out = run([*argv[:-1], "300"], capsys)
    assert "  the forwarder did not change; its last Resync reached ingest at 2026-01-01T00:00:00Z" in out.splitlines()


def test_install_needs_the_packaged_template(
    tools: Tools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = checkout(tmp_path / "repo")
    (repo / ".aws-sam/build/template.yaml").unlink()
    monkeypatch.chdir(repo)
    assert run(["install", "--cluster", CLUSTER, "--vpc-id", "vpc-1"], capsys, code=1) == (
        "albatross install: no .aws-sam/build/template.yaml: run make package first (README, Deploy to AWS)"
    )
    with pytest.raises(SystemExit) as usage:
        main(["install", "--cluster", CLUSTER, "--image", "registry/albatross-forwarder@latest"])
    assert usage.value.code == 2
    assert tools.runs() == []


# --- uninstall ----------------------------------------------------------------------------


def _tagged_load_balancer(vpc: str, group: str) -> str:
    subnets = [s["SubnetId"] for s in clients.ec2().describe_subnets()["Subnets"] if s["VpcId"] == vpc][:2]
    tags: list[Any] = [
        {"Key": "elbv2.k8s.aws/cluster", "Value": CLUSTER},
        {"Key": "ingress.k8s.aws/stack", "Value": group},
        {"Key": "ingress.k8s.aws/resource", "Value": "LoadBalancer"},
    ]
    made = clients.elbv2().create_load_balancer(Name="k8s-game2048-game2048-84ef32d818", Subnets=subnets, Tags=tags)
    return str(made["LoadBalancers"][0]["LoadBalancerArn"])


def test_uninstall_refuses_while_a_load_balancer_exists(
    cloud: LocalCloud,
    tools: Tools,
    eks: EksDouble,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    outputs = cloud.deployment.outputs
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    repo = checkout(tmp_path / "repo")
    monkeypatch.chdir(repo)
    eks.clusters[CLUSTER] = cloud.deployment.environment["VPC_ID"]
    run(["install", "--cluster", CLUSTER, "--outputs", str(tmp_path / "outputs.json"), "--wait", "0"], capsys)
    group = "game-2048/game-2048"
    Store(outputs["StateTableName"]).add_member(group, group)
    arn = _tagged_load_balancer(cloud.deployment.environment["VPC_ID"], group)
    clients.s3().put_object(Bucket=outputs["PayloadBucketName"], Key="objects/a", Body=b"{}")
    argv = ["uninstall", "--cluster", CLUSTER, "--outputs", str(tmp_path / "outputs.json")]
    done_before = len(tools.runs())

    assert run(argv, capsys, code=1) == (
        f"albatross uninstall: 1 load balancer of cluster {CLUSTER} still exists: k8s-game2048-game2048-84ef32d818 "
        "(IngressGroup game-2048/game-2048: Ingress game-2048/game-2048). Delete those Ingresses (kubectl delete "
        "ingress -n NAMESPACE NAME) and wait until albatross status lists no load balancer, or pass --force to "
        "leave them behind, unmanaged"
    )
    assert len(tools.runs()) == done_before  # nothing ran
    assert len(eks.associations) == 1

    # the Ingress goes, its load balancer with it: uninstall proceeds, in order
    clients.elbv2().delete_load_balancer(LoadBalancerArn=arn)
    out = run(argv, capsys)
    ran = [r["argv"] for r in tools.runs()[done_before:]]
    assert ran == [
        ["delete", "-k", f"deploy/overlays/{CLUSTER}", "--ignore-not-found"],
        ["delete", "--stack-name", "albatross", "--no-prompts"],
    ]
    assert eks.associations == {}
    assert clients.s3().list_objects_v2(Bucket=outputs["PayloadBucketName"]).get("KeyCount") == 0
    assert "  1 object removed" in out.splitlines()
    assert f"the state table {outputs['StateTableName']} stays (DeletionPolicy: Retain)" in out


def test_uninstall_with_force_says_what_becomes_of_the_load_balancers(
    cloud: LocalCloud,
    tools: Tools,
    eks: EksDouble,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    outputs = cloud.deployment.outputs
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    monkeypatch.chdir(checkout(tmp_path / "repo"))
    eks.clusters[CLUSTER] = "vpc-1"
    overlay = Path("deploy/overlays") / CLUSTER
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text("resources: [../../../forwarder/deploy]\n")
    arn = _tagged_load_balancer(cloud.deployment.environment["VPC_ID"], "shop")
    out = run(["uninstall", "--cluster", CLUSTER, "--outputs", str(tmp_path / "outputs.json"), "--force"], capsys)
    assert (
        "  --force: k8s-game2048-game2048-84ef32d818 (IngressGroup shop: no Ingress left) stays. Nothing manages "
        f"it once the stack is gone: it keeps serving, keeps its tags (elbv2.k8s.aws/cluster={CLUSTER}, "
        "ingress.k8s.aws/stack) and its target groups and security groups, so Albatross or LBC installed later "
        "for this cluster adopts it as it is. Its Ingresses keep their finalizers: deleting one waits until such "
        "a controller runs (or until you remove the finalizer by hand, which leaves the load balancer to you)"
    ) in out.splitlines()
    assert [r["argv"][0] for r in tools.runs()] == ["delete", "delete"]  # kubectl, then sam
    assert "  none" in out.splitlines()  # no association to remove
    assert clients.elbv2().describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"]
