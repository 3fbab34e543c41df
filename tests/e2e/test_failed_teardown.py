"""A teardown that fails for good (a target group or security group AWS keeps refusing
to delete past the state machine's retries) is told on the deleting Ingress: a Warning
naming the failure, the finalizer kept; and once the cause is gone the reconcile it
requested releases the Ingress, with no drift sweep and nothing done by hand. A member
leaving a live group whose rules AWS refuses to delete in place is warned the same way."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from albatross.aws import clients
from albatross.local.demo import ingress_gone, tagged_resources
from albatross.local.faults import Fault, inject
from albatross.local.system import LocalSystem
from tests.e2e.test_last_good import paths, warnings
from tests.e2e.test_member_failures import start_group
from tests.e2e.test_slice import NAME, NS, events_for, executions, ready_2048
from tests.k8s_typing import must


def deleting_with_finalizer(system: LocalSystem) -> list[str]:
    """The Ingress's finalizers while it is being deleted (none when it is not)."""
    meta = must(k8s.NetworkingV1Api(system.api()).read_namespaced_ingress(NAME, NS).metadata)
    return list(meta.finalizers or []) if meta.deletion_timestamp else []


@pytest.mark.timeout(300)  # the teardown spends its retries (30 scaled to 1 s each) before it fails
@pytest.mark.parametrize(
    ("service", "operation", "code"),
    [
        ("elasticloadbalancing", "DeleteTargetGroup", "ResourceInUse"),
        ("ec2", "DeleteSecurityGroup", "DependencyViolation"),
    ],
)
def test_a_failed_teardown_warns_the_deleting_ingress_and_is_tried_again(
    system: LocalSystem, service: str, operation: str, code: str
) -> None:
    ready_2048(system)
    # far more refusals than the state machine retries: it fails for good
    in_use = Fault(service=service, operation=operation, code=code, message="it has a dependent object", times=10_000)
    with inject(in_use):
        k8s.NetworkingV1Api(system.api()).delete_namespaced_ingress(NAME, NS)
        system.wait_for(
            "the teardown to fail", lambda: executions(system, "TeardownStateMachineArn") == ["FAILED"], timeout=200
        )
        [(_, reason, message)] = system.wait_for(
            "the Warning on the deleting Ingress",
            lambda: [e for e in events_for(system, NS, NAME) if e[0] == "Warning"],
        )
        # while AWS still refuses, nothing can release the Ingress
        assert deleting_with_finalizer(system) == ["ingress.k8s.aws/resources"]
    assert reason == "FailedDeployModel"
    assert f"{code}: it has a dependent object" in message  # AWS's error, as it came
    assert "keeps its finalizer ingress.k8s.aws/resources" in message
    assert "tries again now" in message
    assert in_use.raised == in_use.calls > 30  # the state machine's retries were spent

    # the fault is gone: the reconcile the failure requested finishes the teardown
    system.wait_for("the Ingress released", lambda: ingress_gone(system, NS, NAME), timeout=120)
    assert tagged_resources(system.cluster) == []
    assert clients.elbv2().describe_target_groups()["TargetGroups"] == []


def test_a_leaving_member_whose_rules_aws_refuses_to_delete_in_place_is_warned(system: LocalSystem) -> None:
    net = start_group(system)
    refused = Fault(
        service="elasticloadbalancing",
        operation="DeleteRule",
        code="OperationNotPermitted",  # a refusal retrying does not change: no automatic retry
        message="not now",
        times=10_000,
    )
    with inject(refused):
        net.delete_namespaced_ingress("api", NS)
        [message] = system.wait_for("the Warning on the deleting member", lambda: warnings(system, "api"))
        meta = must(net.read_namespaced_ingress("api", NS).metadata)
        assert meta.deletion_timestamp
        assert meta.finalizers == ["group.ingress.k8s.aws/shop"]
    assert "OperationNotPermitted: not now" in message
    assert "keeps its finalizer group.ingress.k8s.aws/shop" in message
    assert message.endswith(
        "the next edit of the group's Ingresses (their spec or annotations), or the drift sweep, tries again"
    )
    # the live member's Warning is another write-back, delivered on its own: wait for it
    assert system.wait_for("the Warning on the live member", lambda: warnings(system, "web")) == [
        "Failed deploy model due to OperationNotPermitted: not now; "  # no finalizer held
        "the next edit of the group's Ingresses (their spec or annotations), or the drift sweep, tries again"
    ]

    system.dispatcher.fire("DriftFunctionDrift")  # as the message says
    system.wait_for("the member released", lambda: ingress_gone(system, NS, "api"))
    assert paths(system) == [["/web", "/web/*"]]
