"""docs/migrating-from-lbc.md, run as written against the offline system.

The starting point is a cluster as LBC leaves it: LBC's Helm chart's IngressClass
``alb`` and IngressClassParams ``alb``, the 2048 example applied, and in moto the stack
LBC made for it, with LBC's names and tags (Albatross's own builder and applier make it:
tests/unit/test_names.py holds those names to LBC's formulas), LBC's shared backend
security group ``k8s-traffic-<cluster>-<hash>`` attached to the load balancer, and the
Ingress carrying LBC's finalizer and the load balancer's address. LBC's backend rule is
on the nodes' security group (the pods' addresses sit on a node ENI in it): from the
shared group, described ``elbv2.k8s.aws/targetGroupBinding=shared``, LBC's networking
manager's range over the pods' port. No forwarder runs.

Then every command block of the page, in order:

* the review (``printf``, the real ``kubectl get`` against the API double, ``albatross
  plan`` against moto) prints exactly the block the page shows;
* stopping LBC and the second half of the rollback: the API double serves no webhook
  configurations, no scale subresource and no Helm, so these lines run against
  stand-in ``kubectl`` and ``helm`` that record them (what is checked is that they are
  the page's lines, verbatim, and well-formed for the tools);
* the install (in this process, with the stand-in ``sam`` and ``kubectl``, the EKS
  double giving the cluster the local API double's endpoint, which is kubectl's context,
  and a rollout that starts the local forwarder): LBC's load balancer is adopted, same
  ARN, same address, the shared backend security group kept on it and LBC's backend
  rule standing for Albatross's: the adoption makes no mutating ELB or EC2 call;
* the check: ``albatross status`` shows LBC's load balancer, the plan prints ``no
  changes``, the Ingress keeps its address;
* the rollback's ``albatross uninstall --force`` leaves the load balancer and the
  Ingress's finalizer in place;
* removing LBC for good: the two annotations land on the double's IngressClass and
  IngressClassParams (real ``kubectl``); ``helm uninstall`` is recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from albatross.aws import applier, clients
from albatross.aws import discovery as aws
from albatross.aws.calls import CallCounter
from albatross.cli.main import main
from albatross.cli.plan import load_objects, plan_offline
from albatross.local import manifests
from albatross.local.demo import ingress_hostname
from albatross.local.system import LocalSystem, local_system
from albatross.model.config import ControllerConfig
from albatross.model.discovery import Discovery
from albatross.model.stack import Stack
from albatross.plan.actual import Actual
from albatross.plan.planner import plan
from tests.e2e.test_backend_rules import PODS, inbound, node_network
from tests.functional.deploy_tools import Rollout, Tools, checkout, eks_double, standins

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "migrating-from-lbc.md"
CLUSTER = "my-cluster"  # the page's
KUBECTL = shutil.which("kubectl") or "kubectl"  # it carries kustomize; the deploy tests need it too
BASH = shutil.which("bash") or "/bin/bash"
NS, NAME = "game-2048", "game-2048"
# LBC's Helm chart (values ingressClass: alb, ingressClassParams.create: true,
# createIngressClassResource: true): the class names its params
LBC_CLASS = [
    {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "IngressClassParams",
        "metadata": {"name": "alb"},
        "spec": {},
    },
    {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": "alb"},
        "spec": {
            "controller": "ingress.k8s.aws/alb",
            "parameters": {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": "alb"},
        },
    },
]


def blocks() -> list[tuple[str, str | None]]:
    """Each ``sh`` block of the page (list items indent theirs), with the plain block that
    follows it, if any."""
    found: list[tuple[str, str | None]] = []
    lines = DOC.read_text().splitlines()
    i = 0
    while i < len(lines):
        fence = lines[i].strip()
        if fence in ("```sh", "```"):
            indent = len(lines[i]) - len(lines[i].lstrip())
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            body = "".join(line[indent:] + "\n" for line in lines[i + 1 : end])
            if fence == "```sh":
                found.append((body, None))
            elif found and found[-1][1] is None:
                found[-1] = (found[-1][0], body)
            i = end
        i += 1
    return found


def until(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out waiting for {what}")


@pytest.fixture
def system(tmp_path: Path) -> Iterator[LocalSystem]:
    with local_system(ROOT, cluster=CLUSTER, work_dir=tmp_path / "local") as running:
        running.stop_forwarder()  # LBC's cluster: no Albatross yet
        yield running


def lbc_made_it(system: LocalSystem, kubeconfig: Path, folder: Path) -> dict[str, str]:
    """The stack LBC would have made for what the cluster holds; its physical ids."""
    kinds = "ingress,service,ingressclass,ingressclassparams"
    listed = subprocess.run(  # noqa: S603  # kubectl against the local double, fixed arguments
        [KUBECTL, "--kubeconfig", str(kubeconfig), "get", kinds, "-A", "-o", "yaml"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (folder / "objects.yaml").write_text(listed.stdout)
    config = ControllerConfig(cluster=CLUSTER, vpc_id=system.vpc_id)
    found = plan_offline(
        load_objects([folder / "objects.yaml"]),
        config,
        Discovery(),
        discovery_for=lambda *_: aws.discover(vpc_id=system.vpc_id),
    )
    [desired] = [Stack.from_json(s) for s in found["stacks"]]
    physical: dict[str, str] = {}
    for step in plan(desired, Actual()):
        applier.apply(step, physical)
    # LBC's shared backend security group (pkg/networking/backend_sg_provider.go), on the load balancer
    backend = clients.ec2().create_security_group(
        GroupName=f"k8s-traffic-mycluster-{hashlib.sha256(CLUSTER.encode()).hexdigest()[:10]}",
        Description="[k8s] Shared Backend SecurityGroup for LoadBalancer",
        VpcId=system.vpc_id,
        TagSpecifications=[
            {
                "ResourceType": "security-group",
                "Tags": [
                    {"Key": "elbv2.k8s.aws/cluster", "Value": CLUSTER},
                    {"Key": "elbv2.k8s.aws/resource", "Value": "backend-sg"},
                ],
            }
        ],
    )["GroupId"]
    clients.elbv2().set_security_groups(
        LoadBalancerArn=physical["LoadBalancer"], SecurityGroups=[physical["ManagedLBSecurityGroup"], backend]
    )
    physical["backend"] = backend
    # LBC's backend rule on the nodes' security group: from the shared group, over the
    # pods' port (80: the 2048 Service's targetPort), with LBC's description
    nodes, _ = node_network(system)
    rule: list[Any] = [
        {
            "IpProtocol": "tcp",
            "FromPort": 80,
            "ToPort": 80,
            "UserIdGroupPairs": [{"GroupId": backend, "Description": "elbv2.k8s.aws/targetGroupBinding=shared"}],
        }
    ]
    clients.ec2().authorize_security_group_ingress(GroupId=nodes, IpPermissions=rule)
    physical["nodes"] = nodes
    # LBC's TargetGroupBinding registered the pods (ip mode: each pod's address, its port)
    [tg] = [arn for rid, arn in physical.items() if rid.startswith(f"{NS}/")]
    clients.elbv2().register_targets(TargetGroupArn=tg, Targets=[{"Id": ip, "Port": 80} for ip in sorted(PODS)])
    # the Ingress as LBC leaves it: its finalizer and the load balancer's address
    dns = clients.elbv2().describe_load_balancers(LoadBalancerArns=[physical["LoadBalancer"]])["LoadBalancers"][0]
    ingresses = k8s.NetworkingV1Api(system.api())
    ingresses.patch_namespaced_ingress(NAME, NS, {"metadata": {"finalizers": ["ingress.k8s.aws/resources"]}})
    status = {"status": {"loadBalancer": {"ingress": [{"hostname": dns["DNSName"]}]}}}
    ingresses.patch_namespaced_ingress_status(NAME, NS, status)
    physical["dns"] = dns["DNSName"]
    return physical


def security_groups(arn: str) -> list[str]:
    return list(clients.elbv2().describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]["SecurityGroups"])


def test_the_migration_page_runs_as_written(
    system: LocalSystem, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = tmp_path / "local" / "kubeconfig"
    manifests.apply(system.kube.url, LBC_CLASS)
    manifests.apply(system.kube.url, manifests.documents([ROOT / "examples/2048/2048.yaml"]))
    lbc = lbc_made_it(system, kubeconfig, tmp_path)

    repo = checkout(tmp_path / "repo")
    monkeypatch.chdir(repo)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(system.cloud.deployment.outputs))
    ours = standins(tmp_path / "bin")  # sam, kubectl: what install and uninstall run
    theirs = standins(tmp_path / "lbc-bin", ("kubectl", "helm"))  # the LBC side the double cannot serve
    helm_only = standins(tmp_path / "helm-bin", ("helm",))
    path = os.environ["PATH"]
    for key, value in ours.env(path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ALBATROSS_OUTPUTS", str(outputs))
    monkeypatch.setenv("STANDIN_OUTPUTS", str(outputs))  # the stack sam deploy keeps in moto
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    # the local forwarder keeps its Lease in default (no pod namespace); its pod is this host
    monkeypatch.setenv("STANDIN_LEASE_NAMESPACE", "default")
    monkeypatch.setenv("STANDIN_PODS", json.dumps({socket.gethostname(): None}))
    monkeypatch.setenv("CLUSTER", CLUSTER)
    monkeypatch.setenv("VPC_ID", system.vpc_id)

    def shell(block: str, tools: Tools | None = None) -> str:
        done = subprocess.run(  # noqa: S603  # the page's block, in bash, stand-ins first on PATH where named
            [BASH, "-euo", "pipefail", "-c", block],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, **(tools.env(real) if tools else {"PATH": real})},
        )
        assert done.returncode == 0, f"{block}\n{done.stdout}{done.stderr}"
        return done.stdout

    def albatross(line: str) -> str:
        argv = shlex.split(line)
        assert argv[0] == "albatross"
        code = main(argv[1:])
        found = capsys.readouterr()
        assert code == 0, f"{line}\n{found.out}{found.err}"
        return found.out

    venv = str(Path(sys.executable).parent)
    real = f"{venv}:{path}"
    [review, stop, install, check, rollback, for_good] = blocks()

    # 1. review: nothing to change
    assert shell(review[0]) == review[1]

    # 3. stop LBC (recorded: webhook configurations, scale)
    shell(stop[0], theirs)
    assert [shlex.join(["kubectl", *r["argv"]]) for r in theirs.runs()] == stop[0].strip().splitlines()

    # 4. install: LBC's load balancer adopted as it is, the shared group kept
    lbc_rules = inbound(lbc["nodes"])
    counter = CallCounter()
    with eks_double() as eks, Rollout(system, ours) as rollout:
        eks.clusters[CLUSTER] = system.vpc_id
        eks.endpoints[CLUSTER] = system.kube.url  # kubectl's context is the cluster
        [line] = install[0].strip().splitlines()
        assert "reached ingest" in albatross(line)
        assert rollout.restarts == 1

        def settled() -> bool:
            [group] = json.loads(albatross("albatross status --output json"))["groups"]
            return bool(group["lastReconcile"]) and not any(group["pending"].values())

        until("the adopting reconcile to settle", settled)
        calls = counter.snapshot()
        counter.close()
        assert CallCounter.mutating(calls) == 0, calls
        assert sorted(security_groups(lbc["LoadBalancer"])) == sorted([lbc["ManagedLBSecurityGroup"], lbc["backend"]])
        assert inbound(lbc["nodes"]) == lbc_rules  # LBC's rule stands for Albatross's: none made, none revoked

        # check
        lines = check[0].strip().splitlines()
        shown = albatross(lines[0])
        assert f"load balancer  {lbc['LoadBalancer'].split('/')[-2]}  active  {lbc['dns']}" in shown, shown
        assert shell(lines[1]) == "no changes\n"
        assert shell(lines[2]).splitlines()[1].split() == [NS, NAME, lbc["dns"]]
        assert ingress_hostname(system, NS, NAME) == lbc["dns"]
        # nothing LBC made was replaced: every one of its ARNs still answers
        elbv2 = clients.elbv2()
        [tg] = [arn for rid, arn in lbc.items() if rid.startswith(f"{NS}/")]
        assert elbv2.describe_target_groups(TargetGroupArns=[tg])["TargetGroups"]
        assert elbv2.describe_listeners(ListenerArns=[lbc["80"]])["Listeners"]
        assert elbv2.describe_rules(RuleArns=[lbc["80:1"]])["Rules"]

        # roll back: Albatross goes, the load balancer stays for LBC
        [uninstall, restore] = rollback[0].strip().splitlines()
        albatross(uninstall)
        shell(restore, theirs)
    assert [r["argv"] for r in theirs.runs("helm")] == [
        ["get", "manifest", "aws-load-balancer-controller", "-n", "kube-system"]
    ]
    assert theirs.runs("kubectl")[-1]["argv"] == ["apply", "-f", "-"]
    assert clients.elbv2().describe_load_balancers(LoadBalancerArns=[lbc["LoadBalancer"]])["LoadBalancers"]
    ingress = k8s.NetworkingV1Api(system.api()).read_namespaced_ingress(NAME, NS)
    assert ingress.metadata is not None
    assert ingress.metadata.finalizers == ["ingress.k8s.aws/resources"]
    changed = [(r["tool"], r["argv"][0]) for r in ours.runs() if r["argv"][0] in ("deploy", "apply", "delete")]
    assert changed == [("sam", "deploy"), ("kubectl", "apply"), ("kubectl", "delete"), ("sam", "delete")]

    # remove LBC for good: the chart's class and params kept, the release uninstalled
    shell(for_good[0], helm_only)
    for plural in ("ingressclasses", "ingressclassparams"):
        group = "networking.k8s.io/v1" if plural == "ingressclasses" else "elbv2.k8s.aws/v1beta1"
        found = json.loads(
            subprocess.run(  # noqa: S603  # kubectl from PATH against the local double
                [KUBECTL, "get", "--raw", f"/apis/{group}/{plural}/alb"],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout
        )
        assert found["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert [r["argv"] for r in helm_only.runs()] == [["uninstall", "aws-load-balancer-controller", "-n", "kube-system"]]
