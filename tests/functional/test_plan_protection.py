"""``albatross plan`` (live) shows a teardown the reconcile would refuse for deletion
protection, in LBC's words.

LBC (``pkg/ingress/model_build_task``, and its model builder test "deletion_protection is
enabled, cannot delete the ingress: hello-ingress"): when an Ingress being deleted states
``deletion_protection.enabled=true``, the build fails with that message and nothing is
deleted. The manifests here are what ``kubectl get ingress -o yaml`` shows of a
terminating Ingress (``deletionTimestamp`` and the finalizer set)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from albatross.aws import applier, clients, discovery
from albatross.aws.calls import CallCounter
from albatross.cli.main import main
from albatross.cli.plan import load_objects, plan_offline, run_live
from albatross.local.system import make_vpc
from albatross.model.config import ControllerConfig
from albatross.model.stack import Stack
from albatross.plan.actual import Actual
from albatross.plan.planner import plan

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = "prod"
STACK = "game-2048/game-2048"
ATTRIBUTES = "alb.ingress.kubernetes.io/load-balancer-attributes"
LBC_MESSAGE = "deletion_protection is enabled, cannot delete the ingress: game-2048"


def example() -> list[dict[str, Any]]:
    return [copy.deepcopy(o) for o in load_objects([ROOT / "examples/2048/2048.yaml"])]


def ingress(objects: list[dict[str, Any]]) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == "Ingress"]
    return found


def build(vpc: str) -> str:
    """The 2048 stack in moto, its load balancer with deletion protection on (the
    annotation said so while the Ingress lived); returns the load balancer's name."""
    objects = example()
    ingress(objects)["metadata"]["annotations"][ATTRIBUTES] = "deletion_protection.enabled=true"
    config = ControllerConfig(cluster=CLUSTER, vpc_id=vpc)
    [stack] = plan_offline(objects, config, discovery.discover(vpc_id=vpc))["stacks"]
    physical: dict[str, str] = {}
    for step in plan(Stack.from_json(stack), Actual()):
        applier.apply(step, physical)
    [lb] = clients.elbv2().describe_load_balancers()["LoadBalancers"]
    attributes = clients.elbv2().describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])
    assert {"Key": "deletion_protection.enabled", "Value": "true"} in attributes["Attributes"]
    return str(lb["LoadBalancerName"])


def deleting(tmp_path: Path, *, annotation: str | None, extra: list[dict[str, Any]] | None = None) -> Path:
    """The manifests with the Ingress terminating, stating ``annotation`` (None: nothing)."""
    objects = example()
    meta = ingress(objects)["metadata"]
    meta["deletionTimestamp"] = "2026-12-06T18:00:00Z"
    meta["finalizers"] = ["ingress.k8s.aws/resources"]
    if annotation is not None:
        meta["annotations"][ATTRIBUTES] = annotation
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump_all([*objects, *(extra or [])]))
    return path


def live_plan(tmp_path: Path, manifests: Path, *, status: int) -> tuple[dict[str, Any], str]:
    """The live plan of the manifests, as JSON and as the table; ``status`` is the exit
    status README.md's table gives it (1 for a plan with a step the reconcile would refuse)."""
    config = write_config(tmp_path)
    counter = CallCounter()
    try:
        found, text = run_live(files=[manifests], config_path=config, output="json")
        assert found == status, text
        found, table = run_live(files=[manifests], config_path=config, output="table")
        assert found == status, table
    finally:
        counter.close()
    assert CallCounter.mutating(counter.snapshot()) == 0  # a plan changes nothing
    return json.loads(text), table


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(f"clusterName: {CLUSTER}\nvpcId: {discovery_vpc()}\n")
    return config


def discovery_vpc() -> str:
    [vpc] = [v["VpcId"] for v in clients.ec2().describe_vpcs()["Vpcs"] if not v.get("IsDefault")]
    return str(vpc)


def test_a_deleted_ingress_stating_protection_shows_its_teardown_refused(moto_endpoint: str, tmp_path: Path) -> None:
    build(make_vpc(CLUSTER))
    document, table = live_plan(tmp_path, deleting(tmp_path, annotation="deletion_protection.enabled=true"), status=1)
    ops = {(s["op"], s["type"].rsplit("::", 1)[-1]) for s in document["steps"]}
    assert ("delete", "LoadBalancer") in ops  # the teardown is planned ...
    assert all(s.get("refused") for s in document["steps"])  # ... and none of it would run
    [refusal] = document["refused"]
    assert refusal["stack"] == STACK
    assert refusal["reason"] == "FailedBuildModel"
    assert refusal["message"] == f"Failed build model due to {LBC_MESSAGE}"
    assert "deletion_protection.enabled=false" in refusal["release"]
    assert f"refused {STACK}: Failed build model due to {LBC_MESSAGE}; to let it go, " in table
    assert "(refused: deletion protection)" in table.splitlines()[0]


def test_protection_set_out_of_band_refuses_the_teardown_too(moto_endpoint: str, tmp_path: Path) -> None:
    name = build(make_vpc(CLUSTER))
    document, _ = live_plan(tmp_path, deleting(tmp_path, annotation=None), status=1)
    [refusal] = document["refused"]
    assert refusal["reason"] == "FailedDeployModel"
    assert refusal["message"] == (
        f"Failed deploy model due to load balancer {name} has deletion protection enabled in AWS, "
        "cannot delete the load balancer"
    )
    assert all(s.get("refused") for s in document["steps"])


def test_a_release_stated_on_the_deleted_ingress_lets_the_teardown_through(moto_endpoint: str, tmp_path: Path) -> None:
    build(make_vpc(CLUSTER))
    document, table = live_plan(tmp_path, deleting(tmp_path, annotation="deletion_protection.enabled=false"), status=0)
    assert document["refused"] == []
    assert ("delete", "AWS::ElasticLoadBalancingV2::LoadBalancer") in {(s["op"], s["type"]) for s in document["steps"]}
    assert not any(s.get("refused") for s in document["steps"])
    assert "refused" not in table


def test_ingress_class_params_win_over_the_annotation(moto_endpoint: str, tmp_path: Path) -> None:
    """IngressClassParams ``loadBalancerAttributes`` win over the annotation, as in the
    model: a release stated on the Ingress does not lift protection its class states."""
    build(make_vpc(CLUSTER))
    extra = [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": "alb"},
            "spec": {
                "controller": "ingress.k8s.aws/alb",
                "parameters": {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": "kept"},
            },
        },
        {
            "apiVersion": "elbv2.k8s.aws/v1beta1",
            "kind": "IngressClassParams",
            "metadata": {"name": "kept"},
            "spec": {"loadBalancerAttributes": [{"key": "deletion_protection.enabled", "value": "true"}]},
        },
    ]
    manifests = deleting(tmp_path, annotation="deletion_protection.enabled=false", extra=extra)
    document, _ = live_plan(tmp_path, manifests, status=1)
    [refusal] = document["refused"]
    assert refusal["message"] == f"Failed build model due to {LBC_MESSAGE}"
    assert "IngressClassParams kept" in refusal["release"]


def test_a_teardown_of_a_group_with_nothing_in_aws_plans_nothing(moto_endpoint: str, tmp_path: Path) -> None:
    make_vpc(CLUSTER)
    document, table = live_plan(tmp_path, deleting(tmp_path, annotation="deletion_protection.enabled=true"), status=0)
    assert (document["steps"], document["refused"]) == ([], [])
    assert table == "no changes"


def test_the_command_exits_1_for_a_plan_with_a_refused_step(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """README.md, "Exit status": a ``plan`` with a step the reconcile would refuse exits
    1, the plan still printed; under ``--detailed-exitcode`` too, where 2 would read as
    changes that can be made."""
    build(make_vpc(CLUSTER))
    monkeypatch.delenv("ALBATROSS_OUTPUTS", raising=False)
    manifests = deleting(tmp_path, annotation="deletion_protection.enabled=true")
    command = ["plan", "-f", str(manifests), "--config", str(write_config(tmp_path))]
    assert main(command) == 1
    assert f"refused {STACK}: Failed build model due to {LBC_MESSAGE}" in capsys.readouterr().out
    assert main([*command, "--detailed-exitcode"]) == 1
    assert "(refused: deletion protection)" in capsys.readouterr().out
    assert main([*command, "--detailed-exitcode", "--output", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["refused"] != []

    # released on the Ingress: the same teardown can run, so it is changes (2), not a failure
    released = deleting(tmp_path, annotation="deletion_protection.enabled=false")
    assert main(["plan", "-f", str(released), "--config", str(write_config(tmp_path)), "--detailed-exitcode"]) == 2
    assert "refused" not in capsys.readouterr().out
