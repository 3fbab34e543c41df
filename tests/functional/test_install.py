"""``albatross install`` and ``uninstall``, offline.

* The dry run prints exactly the block README.md shows (``ALBATROSS_UPDATE_DOCS=1``
  rewrites that block from what the command prints), with no AWS credentials at all.
* The real path against the local cloud (moto with the template's resources): the
  stand-in ``sam deploy`` records its arguments and keeps a stack of that name in moto's
  CloudFormation with the deployment's outputs (tests/functional/standin.py), which
  install and uninstall read as they would AWS's. The overlay renders with the real
  ``kubectl kustomize`` into a ConfigMap the forwarder reads as the stack's bus, queue,
  bucket and region; the Pod Identity association (an EKS double at the botocore
  boundary: moto has none) is made, again idempotently, refused against another role,
  skipped for IRSA.
* What install refuses before anything changes: kubectl's context on another cluster (the
  real ``kubectl config view`` against a kubeconfig naming the EKS double's endpoints), a
  ``--namespace`` that does not exist, a stack of another cluster, an overlay file it did
  not write. Another namespace is the user's: the overlay drops the base's Namespace and
  moves the RBAC subjects; uninstall refuses an overlay that would delete a Namespace it
  did not create. Switching from IRSA back to Pod Identity empties the stack's
  ForwarderRoleArn (sam deploy would keep it otherwise).
* The wait, on an injected clock: the rollout, then a Resync recorded at or after the
  Lease holder took the Lease, where the holder is a pod of the rollout (not terminating).
* Uninstall refuses while a load balancer of the cluster exists (also one the tagging API
  has not listed yet), an IngressGroup has members or an execution runs, names them, and
  with ``--force`` says what becomes of them; with none it removes the forwarder, the
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

from albatross.aws import clients, discovery
from albatross.cli import install as install_module
from albatross.cli.main import main
from albatross.local.cloud import LocalCloud, local_cloud
from albatross.local.system import make_vpc
from albatross.store.table import Store
from albatross_forwarder import main as forwarder
from tests.functional.deploy_tools import EksDouble, Tools, checkout, eks_double, endpoint_of, kubeconfig, standins

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MARKER = "<!-- the output of the command above, written by tests/functional/test_install.py -->"
UPDATE = os.environ.get("ALBATROSS_UPDATE_DOCS") == "1"
CLUSTER = "my-cluster"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/albatross-forwarder"
# SAM CLI takes an empty parameter value only quoted: Key="" (Key= is refused)
EMPTY_ROLE = 'ForwarderRoleArn=""'


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
        EMPTY_ROLE,
    ]
    commands = [line for line in lines if line.split(" ")[0] in ("aws", "kubectl", "sam")]
    # the context is checked first, the stack before it is deployed, the rollout after apply
    assert commands[:2] == [
        f"aws eks describe-cluster --name {CLUSTER} --query cluster.endpoint --output text --region us-east-1",
        "kubectl config view --minify -o 'jsonpath={.clusters[0].cluster.server}'",
    ]
    assert commands[2] == "aws cloudformation describe-stacks --stack-name albatross --region us-east-1"
    assert commands[3].startswith("sam deploy ")
    at = commands.index(f"kubectl apply -k deploy/overlays/{CLUSTER}")
    assert commands[at + 1] == "kubectl rollout status deploy/albatross-forwarder -n albatross --timeout=300s"


def test_dry_runs_without_vpc_and_of_uninstall(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.chdir(ROOT / "docs")  # a subfolder: paths stay the repository root's
    assert main(["uninstall", "--cluster", CLUSTER, "--dry-run"]) == 0, capsys.readouterr().err
    lines = capsys.readouterr().out.splitlines()
    commands = [line for line in lines if line.split(" ")[0] in ("aws", "kubectl", "sam")]
    assert commands == [
        f"aws eks describe-cluster --name {CLUSTER} --query cluster.endpoint --output text",
        "kubectl config view --minify -o 'jsonpath={.clusters[0].cluster.server}'",
        "aws cloudformation describe-stacks --stack-name albatross",
        "aws resourcegroupstaggingapi get-resources --tag-filters Key=elbv2.k8s.aws/cluster,Values=my-cluster "
        "--resource-type-filters elasticloadbalancing:loadbalancer",
        "aws elbv2 describe-load-balancers --query \"LoadBalancers[?VpcId=='<VpcId of the stack>'].LoadBalancerArn\"",
        "aws elbv2 describe-tags --resource-arns '<each of those, 20 at a time>'",
        "aws dynamodb scan --table-name '<StateTableName from the stack outputs>' --filter-expression "
        "'begins_with(pk, :g) AND begins_with(sk, :i)' --expression-attribute-values "
        '\'{":g":{"S":"grp#"},":i":{"S":"ing#"}}\'',
        "aws stepfunctions list-executions --state-machine-arn '<ProvisionStateMachineArn from the stack outputs>' "
        "--status-filter RUNNING",
        "aws stepfunctions list-executions --state-machine-arn '<TeardownStateMachineArn from the stack outputs>' "
        "--status-filter RUNNING",
        f"kubectl kustomize deploy/overlays/{CLUSTER}",
        f"kubectl delete -k deploy/overlays/{CLUSTER} --ignore-not-found",
        f"aws eks delete-pod-identity-association --cluster-name {CLUSTER} --association-id '<the association of "
        "albatross/albatross-forwarder with <ForwarderRoleArn from the stack outputs>>'",
        "aws s3 rm 's3://<PayloadBucketName from the stack outputs>' --recursive",
        "sam delete --stack-name albatross --no-prompts",
    ]


def test_a_dry_run_shows_how_the_vpc_is_found_and_the_context_checked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.chdir(ROOT)
    argv = ["install", "--cluster", CLUSTER, "--context", "prod", "--namespace", "kube-system", "--dry-run"]
    assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert f"aws eks describe-cluster --name {CLUSTER} --query cluster.resourcesVpcConfig.vpcId --output text" in lines
    assert "'VpcId=<vpcId from aws eks describe-cluster>'" in out
    assert "images:" not in out  # no --image: the base's reference stays
    # every kubectl line names the context; the namespace is checked, not made
    kubectl = [line for line in lines if line.startswith("kubectl")]
    assert kubectl
    assert all(line.startswith("kubectl --context prod ") for line in kubectl), kubectl
    assert "kubectl --context prod get namespace kube-system -o name" in lines
    assert (
        """- patch: '{"$patch":"delete","apiVersion":"v1","kind":"Namespace","metadata":{"name":"albatross"}}'"""
        in lines
    )


# --- the real path ---------------------------------------------------------------------


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    with local_cloud(root=ROOT, parameters=lambda: {"ClusterName": CLUSTER, "VpcId": make_vpc(CLUSTER)}) as running:
        yield running


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Tools:
    made = standins(tmp_path / "bin")
    for key, value in made.env(os.environ["PATH"]).items():
        monkeypatch.setenv(key, value)
    # kubectl's current context is the cluster, as aws eks update-kubeconfig leaves it
    servers = {CLUSTER: endpoint_of(CLUSTER), "other": endpoint_of("other")}
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "kubeconfig", servers, current=CLUSTER)))
    return made


@pytest.fixture
def outputs(cloud: LocalCloud, tools: Tools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The deployment's outputs, which the stand-in sam deploy gives the stack it keeps."""
    found = dict(cloud.deployment.outputs)
    (tmp_path / "outputs.json").write_text(json.dumps(found))
    monkeypatch.setenv("STANDIN_OUTPUTS", str(tmp_path / "outputs.json"))
    return found


@pytest.fixture
def eks(cloud: LocalCloud) -> Iterator[EksDouble]:
    with eks_double() as double:
        double.clusters[CLUSTER] = cloud.deployment.environment["VPC_ID"]
        yield double


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    made = checkout(tmp_path / "repo")
    monkeypatch.chdir(made)
    return made


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


def parameters(stack: str = "albatross") -> dict[str, str]:
    found = clients.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in found["Parameters"]}


def test_install_deploys_writes_the_overlay_associates_and_applies(
    outputs: dict[str, str],
    tools: Tools,
    eks: EksDouble,
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    vpc = eks.clusters[CLUSTER]
    # a sourced `albatross local up` env file names other outputs: install reads its own stack's
    monkeypatch.setenv("ALBATROSS_OUTPUTS", "/nonexistent/outputs.json")
    argv = ["install", "--cluster", CLUSTER, "--image", f"{IMAGE}:0.1.0"]

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
            EMPTY_ROLE,
        ],
        "cwd": str(repo),
    }
    assert parameters() == {"ClusterName": CLUSTER, "VpcId": vpc, "IngressClass": "alb", "ForwarderRoleArn": ""}
    assert [r["argv"] for r in tools.runs("kubectl")] == [
        ["config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"],
        ["apply", "-k", f"deploy/overlays/{CLUSTER}"],
    ]
    assert all(r["cwd"] == str(repo) for r in tools.runs())
    assert f"  {endpoint_of(CLUSTER)}" in out.splitlines()
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
    # the forwarder's own namespace: the base's Namespace, restricted Pod Security and all
    assert one(docs, "Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"

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
    again = run([*argv[:3], "--vpc-id", vpc, "--image", f"{IMAGE}@{digest}", "--wait", "0"], capsys)
    assert f"  already associated ({association.id})" in again.splitlines()
    assert "  deployed for cluster my-cluster: sam deploy updates it" in again.splitlines()
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


def test_install_for_irsa_in_an_existing_namespace_and_back(
    outputs: dict[str, str],
    tools: Tools,
    eks: EksDouble,
    repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    role = "arn:aws:iam::123456789012:role/albatross-forwarder-irsa"
    overlay = tmp_path / "overlays" / "ops"
    argv = ["install", "--cluster", CLUSTER, "--vpc-id", "vpc-1", "--namespace", "ops", "--overlay", str(overlay)]

    # a namespace that is not the forwarder's own must exist: install does not make it
    assert run([*argv, "--forwarder-role-arn", role, "--wait", "0"], capsys, code=1) == (
        f"albatross install: no namespace ops in cluster {CLUSTER} (kubectl get namespace ops -o name: Error from "
        'server (NotFound): namespaces "ops" not found): create it first, or leave out --namespace for the '
        "forwarder's own, albatross"
    )
    assert tools.runs("sam") == []  # refused before anything changed
    monkeypatch.setenv("STANDIN_NAMESPACES", "ops")
    run([*argv, "--forwarder-role-arn", role, "--wait", "0"], capsys)

    [deploy] = tools.runs("sam")
    assert deploy["argv"][-1] == f"ForwarderRoleArn={role}"
    assert parameters()["ForwarderRoleArn"] == role
    assert {name for name, _ in eks.calls} == {"DescribeCluster"}  # the context; no association (IRSA)
    assert tools.runs("kubectl")[-1]["argv"] == ["apply", "-k", str(overlay)]
    docs = rendered(overlay)
    # the base's IRSA component annotates the ServiceAccount; the role's ConfigMap is not applied
    assert one(docs, "ServiceAccount")["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": role}
    assert one(docs, "ConfigMap")["metadata"]["name"].startswith("albatross-forwarder-config-")
    # the namespace is the user's: no Namespace object (no Pod Security labels put on it,
    # nothing for kubectl delete -k to delete), every object in it, the bindings' subjects too
    assert [d for d in docs if d["kind"] == "Namespace"] == []
    for doc in docs:
        if doc["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            assert [s["namespace"] for s in doc["subjects"]] == ["ops"], doc["metadata"]["name"]
        elif doc["kind"] != "ClusterRole":
            assert doc["metadata"]["namespace"] == "ops", doc["kind"]

    # back to EKS Pod Identity: the stack's ForwarderRoleArn is emptied (sam deploy keeps a
    # parameter's previous value when it is not given), the stack's role associated
    out = run([*argv, "--wait", "0"], capsys)
    assert tools.runs("sam")[-1]["argv"][-1] == EMPTY_ROLE
    assert parameters()["ForwarderRoleArn"] == ""
    [association] = eks.associations.values()
    assert (association.namespace, association.role) == ("ops", outputs["ForwarderRoleArn"])
    assert not (overlay / "forwarder-role.yaml").exists()
    assert f"  removed {overlay / 'forwarder-role.yaml'} (no --forwarder-role-arn: EKS Pod Identity)" in out
    assert "annotations" not in one(rendered(overlay), "ServiceAccount")["metadata"]

    # uninstall deletes what install made there, and no Namespace
    ran = len(tools.runs())
    uninstall = ["uninstall", "--cluster", CLUSTER, "--namespace", "ops", "--overlay", str(overlay)]
    out = run(uninstall, capsys)
    assert [r["argv"][:2] for r in tools.runs()[ran:]] == [
        ["config", "view"],
        ["kustomize", str(overlay)],
        ["delete", "-k"],
        ["delete", "--stack-name"],
    ]
    assert "namespace/ops deleted" not in out
    assert eks.associations == {}


def test_uninstall_never_deletes_a_namespace_it_did_not_create(
    outputs: dict[str, str],
    tools: Tools,
    eks: EksDouble,
    repo: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(["install", "--cluster", CLUSTER, "--wait", "0"], capsys)
    # an overlay as install wrote it before it dropped the base's Namespace: kustomize's
    # namespace: renames that Namespace to kube-system
    overlay = repo / "deploy" / "overlays" / CLUSTER / "kustomization.yaml"
    overlay.write_text(overlay.read_text().replace("namespace: albatross", "namespace: kube-system"))
    ran = len(tools.runs())
    assert run(["uninstall", "--cluster", CLUSTER, "--namespace", "kube-system"], capsys, code=1) == (
        f"albatross uninstall: deploy/overlays/{CLUSTER} holds the Namespace kube-system, which albatross install "
        "did not create: kubectl delete -k would delete it and everything in it. Run albatross install again (it "
        "rewrites the overlay without it), or remove it from the overlay"
    )
    assert [r["argv"][0] for r in tools.runs()[ran:]] == ["config", "kustomize"]  # nothing deleted


def test_install_and_uninstall_refuse_another_clusters_context(
    outputs: dict[str, str],
    tools: Tools,
    eks: EksDouble,
    repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    servers = {CLUSTER: endpoint_of(CLUSTER), "other": endpoint_of("other")}
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "kubeconfig", servers, current="other")))
    argv = ["install", "--cluster", CLUSTER, "--wait", "0"]
    refused = (
        f"kubectl's current context is not cluster {CLUSTER}: kubectl talks to {endpoint_of('other')}, EKS says "
        f"{CLUSTER} is {endpoint_of(CLUSTER)}; run aws eks update-kubeconfig --name {CLUSTER} (or pass --context)"
    )
    assert run(argv, capsys, code=1) == f"albatross install: {refused}"
    assert run(["uninstall", "--cluster", CLUSTER], capsys, code=1) == f"albatross uninstall: {refused}"
    assert tools.runs("sam") == []
    assert [r["argv"][0] for r in tools.runs("kubectl")] == ["config", "config"]  # nothing applied or deleted

    # --context: the cluster's own, for every kubectl call
    run([*argv, "--context", CLUSTER], capsys)
    assert len(tools.runs("sam")) == 1
    calls = tools.runs("kubectl")[2:]
    assert [r["argv"][:3] for r in calls] == [
        ["--context", CLUSTER, "config"],
        ["--context", CLUSTER, "apply"],
    ]
    assert run([*argv, "--context", "nowhere"], capsys, code=1).startswith(
        "albatross install: kubectl --context nowhere config view --minify -o "
        "'jsonpath={.clusters[0].cluster.server}' failed: error: "
    )


def test_a_second_cluster_cannot_take_over_the_first_clusters_stack(
    outputs: dict[str, str],
    tools: Tools,
    eks: EksDouble,
    repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(["install", "--cluster", CLUSTER, "--wait", "0"], capsys)
    eks.clusters["other"] = "vpc-2"
    servers = {CLUSTER: endpoint_of(CLUSTER), "other": endpoint_of("other")}
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "kubeconfig", servers, current="other")))
    refused = (
        f"stack albatross serves cluster {CLUSTER}, not other: pass --stack-name albatross-other (one stack per "
        "cluster; every albatross command for this cluster then takes that --stack-name)"
    )
    assert run(["install", "--cluster", "other", "--wait", "0"], capsys, code=1) == f"albatross install: {refused}"
    assert len(tools.runs("sam")) == 1  # the first install's: sam deploy never ran for the other cluster
    assert parameters()["ClusterName"] == CLUSTER
    assert run(["uninstall", "--cluster", "other"], capsys, code=1) == f"albatross uninstall: {refused}"
    assert [r["argv"][0] for r in tools.runs("sam")] == ["deploy"]

    # its own stack
    run(["install", "--cluster", "other", "--stack-name", "albatross-other", "--wait", "0"], capsys)
    assert parameters("albatross-other")["ClusterName"] == "other"
    assert parameters()["ClusterName"] == CLUSTER


def test_install_writes_only_over_its_own_overlay(
    outputs: dict[str, str], tools: Tools, eks: EksDouble, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overlay = repo / "deploy" / "overlays" / CLUSTER
    overlay.mkdir(parents=True)
    mine = "resources: [../../../forwarder/deploy]\nnamePrefix: team-\n"
    (overlay / "kustomization.yaml").write_text(mine)
    assert run(["install", "--cluster", CLUSTER, "--wait", "0"], capsys, code=1) == (
        f"albatross install: deploy/overlays/{CLUSTER}/kustomization.yaml exists and albatross install did not "
        "write it: pass --overlay with another folder, or move the file away"
    )
    assert (overlay / "kustomization.yaml").read_text() == mine
    assert tools.runs("sam") == []
    (overlay / "kustomization.yaml").unlink()
    run(["install", "--cluster", CLUSTER, "--wait", "0"], capsys)
    run(["install", "--cluster", CLUSTER, "--wait", "0"], capsys)  # its own: rewritten
    assert len(tools.runs("sam")) == 2


def test_install_needs_the_packaged_template(
    tools: Tools, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".aws-sam/build/template.yaml").unlink()
    assert run(["install", "--cluster", CLUSTER, "--vpc-id", "vpc-1"], capsys, code=1) == (
        "albatross install: no .aws-sam/build/template.yaml: run make package first, or pass --template (README, "
        "Deploy to AWS)"
    )
    assert run(["install", "--cluster", CLUSTER, "--template", "albatross-0.1.0.packaged.yaml"], capsys, code=1) == (
        "albatross install: no albatross-0.1.0.packaged.yaml (--template)"
    )
    with pytest.raises(SystemExit) as usage:
        main(["install", "--cluster", CLUSTER, "--image", "registry/albatross-forwarder@latest"])
    assert usage.value.code == 2
    assert tools.runs() == []


# --- the wait ------------------------------------------------------------------------------


class Clock:
    """install's clock: sleeping moves it on, nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.001)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """install's clock, faked."""
    found = Clock()
    monkeypatch.setattr(install_module, "monotonic", found.monotonic)
    monkeypatch.setattr(install_module, "sleep", found.sleep)
    return found


def _lease(holder: str, acquired: str) -> str:
    spec = {"holderIdentity": holder, "acquireTime": acquired, "renewTime": acquired, "leaseDurationSeconds": 15}
    return json.dumps({"kind": "Lease", "metadata": {"name": "albatross-forwarder"}, "spec": spec})


def test_install_waits_for_a_resync_from_the_rollouts_leader(
    outputs: dict[str, str],
    clock: Clock,
    tools: Tools,
    eks: EksDouble,
    repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No forwarder runs here: the stand-in kubectl answers the Lease and the pods."""
    store = Store(outputs["StateTableName"])
    lease = tmp_path / "lease.json"
    monkeypatch.setenv("STANDIN_LEASE", str(lease))
    argv = ["install", "--cluster", CLUSTER, "--wait", "4"]
    see = "see kubectl -n albatross get pods and kubectl -n albatross logs deploy/albatross-forwarder"

    # no Lease yet: no leader
    assert run(argv, capsys, code=1) == (
        f"albatross install: no pod of the forwarder's rollout holds the Lease albatross/albatross-forwarder within "
        f"4 s of kubectl apply: {see}"
    )
    assert tools.runs("kubectl")[2]["argv"] == [
        "rollout",
        "status",
        "deploy/albatross-forwarder",
        "-n",
        "albatross",
        "--timeout=4s",
    ]
    # the old forwarder, terminating at the end of the rollout, still holds the Lease and
    # its Resync came after it took the Lease: not the new forwarder's
    old, new = "albatross-forwarder-6d5f8b7c9-x2x4q", "albatross-forwarder-7f9c6d5b8-k8s7p"
    lease.write_text(_lease(f"{old}_0a1b2c3d", "2026-01-01T00:00:00.000000Z"))
    monkeypatch.setenv("STANDIN_PODS", json.dumps({old: "2026-01-01T00:05:00Z", new: None}))
    store.record_resync(event_id="e-1", at=1767225610.0)  # 2026-01-01T00:00:10Z
    assert run(argv, capsys, code=1).startswith("albatross install: no pod of the forwarder's rollout holds the Lease")

    # a new pod holds it, but the last Resync is from before it took the Lease
    lease.write_text(_lease(f"{new}_4e5f6a7b", "2026-01-01T00:06:00.250000Z"))
    assert run(argv, capsys, code=1) == (
        f"albatross install: no Resync from the forwarder's leader {new} reached ingest within 4 s of kubectl "
        f"apply: {see} (pods started before their Pod Identity association took effect need kubectl -n albatross "
        "rollout restart deploy/albatross-forwarder), then albatross redrive --dry-run"
    )
    # its Resync, recorded after it took the Lease
    store.record_resync(event_id="e-2", at=1767225960.5)  # 2026-01-01T00:06:00.5Z
    before = clock.now
    out = run(argv, capsys)
    assert clock.now == before  # found at the first look
    assert (
        f"the new forwarder's leader {new} (leading since 2026-01-01T00:06:00Z) sent a Resync (event e-2) that "
        f"reached ingest at 2026-01-01T00:06:00Z, 0.0 s after kubectl apply: Albatross runs for cluster {CLUSTER}. "
        "Next: albatross status"
    ) in out.splitlines()

    # an install that changes nothing: the running leader's last Resync is the answer, at once
    monkeypatch.setenv("STANDIN_UNCHANGED", "1")
    assert "sent a Resync (event e-2) that reached ingest" in run(argv, capsys)
    assert clock.now == before


def test_install_says_it_is_still_waiting_every_15_seconds(
    outputs: dict[str, str],
    clock: Clock,
    tools: Tools,
    eks: EksDouble,
    repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A long wait for the forwarder's Resync is not silent: a line every PROGRESS_SECONDS."""
    monkeypatch.setenv("STANDIN_LEASE", str(tmp_path / "no-lease.json"))  # no leader: it waits it all
    assert main(["install", "--cluster", CLUSTER, "--wait", "40"]) == 1
    waiting = [line for line in capsys.readouterr().out.splitlines() if "still waiting" in line]
    # seconds since kubectl apply: the rollout's wait came first
    after = [
        int(m.group(1))
        for line in waiting
        if (m := re.fullmatch(r"  still waiting after (\d+) s \(kubectl -n albatross get pods\)", line))
    ]
    assert len(after) == len(waiting) == 2, waiting
    assert after[0] >= 15  # one a PROGRESS_SECONDS (15 s) of the wait
    assert after[1] >= 30


def test_install_says_when_the_rollout_does_not_finish(
    outputs: dict[str, str],
    tools: Tools,
    eks: EksDouble,
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STANDIN_ROLLOUT_FAILS", "1")  # kubectl rollout status: past the progress deadline
    assert run(["install", "--cluster", CLUSTER, "--wait", "120"], capsys, code=1) == (
        "albatross install: the forwarder's rollout did not finish within 120 s of kubectl apply: see kubectl -n "
        "albatross get pods and kubectl -n albatross describe deploy/albatross-forwarder"
    )
    # the rollout may take what is left of --wait, never more (install's own steps took some)
    flag = tools.runs("kubectl")[-1]["argv"][-1]
    assert flag.startswith("--timeout=")
    assert flag.endswith("s")
    assert 0 < int(flag.removeprefix("--timeout=").removesuffix("s")) <= 120


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


def _waiting_state_machine() -> str:
    """A state machine whose execution runs until stopped, standing for the provision one."""
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 86400, "End": True}}}
    return str(
        clients.sfn().create_state_machine(
            name="provision-standin",
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/standin",
        )["stateMachineArn"]
    )


def test_uninstall_refuses_while_the_cluster_is_in_use(
    outputs: dict[str, str],
    tools: Tools,
    eks: EksDouble,
    repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    machine = _waiting_state_machine()
    (tmp_path / "outputs.json").write_text(json.dumps({**outputs, "ProvisionStateMachineArn": machine}))
    run(["install", "--cluster", CLUSTER, "--wait", "0"], capsys)
    store = Store(outputs["StateTableName"])
    vpc = eks.clusters[CLUSTER]
    group = "game-2048/game-2048"
    store.add_member(group, group)
    arn = _tagged_load_balancer(vpc, group)
    clients.s3().put_object(Bucket=outputs["PayloadBucketName"], Key="objects/a", Body=b"{}")
    argv = ["uninstall", "--cluster", CLUSTER]
    done_before = len(tools.runs())
    advice = (
        ". Delete those Ingresses (kubectl delete ingress -n NAMESPACE NAME) and wait until albatross status lists "
        "no IngressGroup, or pass --force to leave them behind, unmanaged"
    )

    assert run(argv, capsys, code=1) == (
        f"albatross uninstall: cluster {CLUSTER} is still in use: load balancer k8s-game2048-game2048-84ef32d818 "
        f"(IngressGroup game-2048/game-2048: Ingress game-2048/game-2048){advice}"
    )
    # the tagging API has not listed the load balancer yet: elbv2 itself has it, in the stack's VPC
    monkeypatch.setattr(discovery, "load_balancers", lambda cluster: {})
    assert run(argv, capsys, code=1).startswith(
        f"albatross uninstall: cluster {CLUSTER} is still in use: load balancer k8s-game2048-game2048-84ef32d818 "
        "(IngressGroup game-2048/game-2048: Ingress game-2048/game-2048)."
    )
    # no load balancer yet, but a group with a member, and a provision running
    clients.elbv2().delete_load_balancer(LoadBalancerArn=arn)
    execution = clients.sfn().start_execution(stateMachineArn=machine, name="shop-1")["executionArn"]
    assert run(argv, capsys, code=1) == (
        f"albatross uninstall: cluster {CLUSTER} is still in use: IngressGroup game-2048/game-2048 (Ingress "
        f"game-2048/game-2048; no load balancer yet); provision execution shop-1 running{advice}"
    )
    assert len(tools.runs()) == done_before + 3  # each time the context only: nothing ran
    assert len(eks.associations) == 1

    # the Ingress goes, the execution ends: uninstall proceeds, in order
    store.remove_member(group, group)
    clients.sfn().stop_execution(executionArn=execution)
    out = run(argv, capsys)
    ran = [r["argv"] for r in tools.runs()[done_before + 3 :]]
    assert ran == [
        ["config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"],
        ["kustomize", f"deploy/overlays/{CLUSTER}"],
        ["delete", "-k", f"deploy/overlays/{CLUSTER}", "--ignore-not-found"],
        ["delete", "--stack-name", "albatross", "--no-prompts"],
    ]
    assert "  namespace/albatross deleted" in out.splitlines()  # the forwarder's own
    assert eks.associations == {}
    assert clients.s3().list_objects_v2(Bucket=outputs["PayloadBucketName"]).get("KeyCount") == 0
    assert "  1 object removed" in out.splitlines()
    assert f"the state table {outputs['StateTableName']} stays (DeletionPolicy: Retain)" in out
    # the stack is gone: nothing left to uninstall
    assert run(argv, capsys, code=1) == "albatross uninstall: stack albatross not found in us-east-1: pass " + (
        "--stack-name (and --region)"
    )


def test_uninstall_with_force_says_what_becomes_of_the_load_balancers(
    outputs: dict[str, str],
    tools: Tools,
    eks: EksDouble,
    repo: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(["install", "--cluster", CLUSTER, "--vpc-id", eks.clusters[CLUSTER], "--wait", "0"], capsys)
    eks.associations.clear()  # none to remove
    arn = _tagged_load_balancer(eks.clusters[CLUSTER], "shop")
    ran = len(tools.runs())
    out = run(["uninstall", "--cluster", CLUSTER, "--force"], capsys)
    lines = out.splitlines()
    assert (
        "  --force: load balancer k8s-game2048-game2048-84ef32d818 (IngressGroup shop: no Ingress left) stays" in lines
    )
    assert (
        "  Nothing manages them once the stack is gone. A load balancer keeps serving, keeps its tags "
        f"(elbv2.k8s.aws/cluster={CLUSTER}, ingress.k8s.aws/stack), its target groups and security groups, so "
        "Albatross or LBC installed later for this cluster adopts it as it is. The Ingresses keep their finalizers: "
        "deleting one waits until such a controller runs (or until you remove the finalizer by hand, which leaves "
        "the load balancer to you). A running execution stops with the stack, part done"
    ) in lines
    assert [r["argv"][0] for r in tools.runs()[ran:]] == ["config", "kustomize", "delete", "delete"]
    assert "  none" in lines  # no association to remove
    assert clients.elbv2().describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"]
