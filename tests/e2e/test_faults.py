"""The state machines' Retry and Catch, executed by moto with the real step handler,
against faults moto does not model (injected at the botocore boundary)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import utils

from albatross.aws import clients
from albatross.local.demo import ingress_gone, ingress_hostname, tagged_resources
from albatross.local.faults import Fault, inject
from albatross.local.system import LocalSystem

ROOT = Path(__file__).resolve().parents[2]
NS = NAME = "game-2048"


def statuses(system: LocalSystem, output: str) -> list[str]:
    arn = system.output(output)
    return [e["status"] for e in clients.sfn().list_executions(stateMachineArn=arn)["executions"]]


def warnings(system: LocalSystem) -> list[tuple[str, str]]:
    items = k8s.CoreV1Api(system.api()).list_namespaced_event(NS).items
    return [(str(e.reason), str(e.message)) for e in items if e.type == "Warning"]


@pytest.mark.parametrize(
    ("service", "operation", "code"),
    [
        ("ec2", "DeleteSecurityGroup", "DependencyViolation"),
        ("elasticloadbalancing", "DeleteTargetGroup", "ResourceInUse"),
    ],
)
def test_teardown_retries_what_is_still_in_use(system: LocalSystem, service: str, operation: str, code: str) -> None:
    utils.create_from_yaml(system.api(), str(ROOT / "examples/2048/2048.yaml"))  # type: ignore[no-untyped-call]  # untyped in the client
    system.wait_for("the address", lambda: ingress_hostname(system, NS, NAME))
    in_use = Fault(service=service, operation=operation, code=code, message="it has a dependent object", times=2)
    with inject(in_use):
        k8s.NetworkingV1Api(system.api()).delete_namespaced_ingress(NAME, NS)
        system.wait_for("the Ingress to be released", lambda: ingress_gone(system, NS, NAME))
    assert in_use.raised == 2
    # retried by the state machine until it went through (then, for security groups, the
    # cluster's shared backend group deleted: no load balancer uses it any more)
    assert in_use.calls == 3 + (operation == "DeleteSecurityGroup")
    system.wait_for("teardown to end", lambda: statuses(system, "TeardownStateMachineArn") == ["SUCCEEDED"])
    assert tagged_resources(system.cluster) == []


@pytest.mark.parametrize(
    ("operation", "code"),
    [("CreateLoadBalancer", "TooManyLoadBalancers"), ("CreateTargetGroup", "TooManyTargetGroups")],
)
def test_a_quota_fails_the_execution_with_a_warning(system: LocalSystem, operation: str, code: str) -> None:
    refused = Fault(
        service="elasticloadbalancing", operation=operation, code=code, message="the quota has been reached"
    )
    with inject(refused):
        utils.create_from_yaml(system.api(), str(ROOT / "examples/2048/2048.yaml"))  # type: ignore[no-untyped-call]  # untyped in the client
        system.wait_for("the failed execution", lambda: "FAILED" in statuses(system, "ProvisionStateMachineArn"))
        [(reason, message)] = system.wait_for("the Warning", lambda: warnings(system))
    assert reason == "FailedDeployModel"
    assert code in message
    assert refused.raised == 1  # a user error is never retried
    assert ingress_hostname(system, NS, NAME) is None


def test_a_rule_quota_is_a_warning_and_the_queue_moves_on(system: LocalSystem) -> None:
    utils.create_from_yaml(system.api(), str(ROOT / "examples/2048/2048.yaml"))  # type: ignore[no-untyped-call]  # untyped in the client
    system.wait_for("the address", lambda: ingress_hostname(system, NS, NAME))
    net = k8s.NetworkingV1Api(system.api())
    backend = {"service": {"name": NAME, "port": {"number": 80}}}
    paths = [{"path": "/", "pathType": "Prefix", "backend": backend}]
    quota = Fault(
        service="elasticloadbalancing",
        operation="CreateRule",
        code="TooManyRules",
        message="The maximum number of rules for the listener has been reached",
    )
    with inject(quota):
        net.patch_namespaced_ingress(
            NAME, NS, {"spec": {"rules": [{"http": {"paths": [*paths, {**paths[0], "path": "/new"}]}}]}}
        )
        [(reason, message)] = system.wait_for("the Warning", lambda: warnings(system))
    assert reason == "FailedDeployModel"
    assert "TooManyRules" in message
    assert quota.raised == 1  # not retried: only a new change can help
    # once the listener has room, the next change goes through
    net.patch_namespaced_ingress(
        NAME, NS, {"spec": {"rules": [{"http": {"paths": [*paths, {**paths[0], "path": "/newer"}]}}]}}
    )

    def rules() -> int:
        elbv2 = clients.elbv2()
        [lb] = elbv2.describe_load_balancers()["LoadBalancers"]
        [listener] = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        return sum(1 for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"] if not r["IsDefault"])

    system.wait_for("the new rule", lambda: rules() == 2)
