"""Reading AWS's own events (albatross.controller.aws_events) in the shapes AWS documents
them: Step Functions' "Step Functions Execution Status Change" (executionArn,
stateMachineArn, status, input as a JSON string) and CloudTrail's "AWS API Call via
CloudTrail" (eventSource, eventName, userIdentity with the session issuer of an assumed
role, requestParameters in the API's member names, errorCode on a refused call).

Whatever an event holds, only what is Albatross's and checks out is acted on: another
state machine, an execution under another state machine's name, a refused call, a call
of Albatross's own roles, another region, identifiers of another shape, and values of the
wrong type are all ignored, never an exception."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from albatross.controller.aws_events import (
    EC2_CALLS,
    ELB_CALLS,
    Call,
    call_of,
    ended_execution,
    made_by,
)
from albatross.local.template import load
from tests.helpers import EVENTS

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
PROVISION = "arn:aws:states:us-east-1:123456789012:stateMachine:albatross-ProvisionStateMachine"
TEARDOWN = "arn:aws:states:us-east-1:123456789012:stateMachine:albatross-TeardownStateMachine"
MACHINES = [PROVISION, TEARDOWN]
OURS = frozenset(
    {
        "arn:aws:iam::123456789012:role/albatross-ReconcileFunctionRole",
        "arn:aws:iam::123456789012:role/albatross-StepFunctionRole",
    }
)
ELB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
LB = ELB + "loadbalancer/app/k8s-game2048-game2048-84ef32d818/50dc6c495c0c9188"
LISTENER = LB.replace(":loadbalancer/", ":listener/") + "/f2f7dc8efc522ab2"
RULE = LISTENER.replace(":listener/", ":listener-rule/") + "/9683b2d02a6cabee"
TG = ELB + "targetgroup/k8s-game2048-service2-0123456789/0123456789abcdef"


def sample(name: str) -> dict[str, Any]:
    data = json.loads((EVENTS / "lambda" / f"{name}.json").read_text())
    assert isinstance(data, dict)
    return data


def execution(**changes: Any) -> dict[str, Any]:
    detail: dict[str, Any] = copy.deepcopy(sample("aws-events-execution-aborted")["detail"])
    detail.update(changes)
    return detail


def api_call(name: str = "DeregisterTargets", params: Any = None, **changes: Any) -> dict[str, Any]:
    detail: dict[str, Any] = copy.deepcopy(sample("aws-events-deregister-targets")["detail"])
    detail["eventName"] = name
    if params is not None:
        detail["requestParameters"] = params
    detail.update(changes)
    return detail


def by_role(role: str) -> dict[str, Any]:
    """CloudTrail's userIdentity for a session of ``role`` (a Lambda function's, say)."""
    return {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLE:albatross-ReconcileFunction",
        "arn": f"arn:aws:sts::123456789012:assumed-role/{role.rsplit('/', 1)[-1]}/albatross-ReconcileFunction",
        "accountId": "123456789012",
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role, "accountId": "123456789012"}},
    }


# --- executions -----------------------------------------------------------------------


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT", "ABORTED"])
def test_an_execution_of_ours_that_ended_without_success_is_read(status: str) -> None:
    assert ended_execution(execution(status=status), MACHINES) == execution()["executionArn"]
    teardown = execution(
        stateMachineArn=TEARDOWN,
        executionArn="arn:aws:states:us-east-1:123456789012:execution:albatross-TeardownStateMachine:ab12",
    )
    assert ended_execution({**teardown, "status": status}, MACHINES) == teardown["executionArn"]


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"status": "SUCCEEDED"}, "it succeeded: its finish step reported"),
        ({"status": "RUNNING"}, "it runs"),
        ({"status": ["ABORTED"]}, "a status of another type"),
        ({"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:someone-else"}, "not our machine"),
        ({"stateMachineArn": {"arn": PROVISION}}, "a machine of another type (unhashable)"),
        (
            {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:someone-else:x"},
            "another machine's execution under ours",
        ),
        (
            {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:albatross-TeardownStateMachine:x"},
            "our other machine's execution",
        ),
        (
            {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:albatross-ProvisionStateMachineX:x"},
            "a machine whose name starts like ours",
        ),
        ({"executionArn": PROVISION + ":" + "x" * 3000}, "an ARN too long to be one"),
        ({"executionArn": None}, "no execution"),
        ({"executionArn": 42}, "an execution of another type"),
    ],
)
def test_anything_else_is_not_an_execution_to_report(changes: dict[str, Any], why: str) -> None:
    assert ended_execution(execution(**changes), MACHINES) is None, why


def test_no_state_machine_configured_means_nothing_is_ours() -> None:
    assert ended_execution(execution(), ["", ""]) is None


# --- calls made by others ---------------------------------------------------------------


def test_the_rules_event_names_are_the_calls_the_code_acts_on() -> None:
    """The rule's pattern and the code's lists are one list (the code checks again)."""
    pattern = load(ROOT / "template.yaml")["Resources"]["ChangesByOthersRule"]["Properties"]["EventPattern"]
    assert set(pattern["detail"]["eventName"]) == ELB_CALLS | EC2_CALLS
    assert pattern["detail"]["errorCode"] == [{"exists": False}]
    assert set(pattern["source"]) == {"aws.elasticloadbalancing", "aws.ec2"}


def test_a_call_someone_made_names_the_resources_it_changed() -> None:
    assert call_of(api_call(), roles=OURS, region=REGION) == Call(
        "elasticloadbalancing.amazonaws.com", "DeregisterTargets", (TG,)
    )
    # a listener and a rule are their load balancer's
    for name, params in [
        ("DeleteRule", {"ruleArn": RULE}),
        ("ModifyListener", {"listenerArn": LISTENER, "port": 80}),
        ("CreateRule", {"listenerArn": LISTENER, "priority": 3, "conditions": [], "actions": []}),
        ("SetSecurityGroups", {"loadBalancerArn": LB, "securityGroups": ["sg-0123456789abcdef0"]}),
        ("SetRulePriorities", {"rulePriorities": [{"ruleArn": RULE, "priority": 2}, {"ruleArn": "junk"}]}),
        ("RemoveTags", {"resourceArns": [LB, TG, "arn:aws:s3:::bucket"], "tagKeys": ["ingress.k8s.aws/stack"]}),
    ]:
        found = call_of(api_call(name, params), roles=OURS, region=REGION)
        assert isinstance(found, Call), (name, found)
        assert found.resources == ((LB, TG) if name == "RemoveTags" else (LB,)), name


def test_a_security_group_call_names_its_group() -> None:
    revoke = {
        "groupId": "sg-0123456789abcdef0",
        "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 80, "toPort": 80, "groups": {}}]},
    }
    modify = {"ModifySecurityGroupRulesRequest": {"GroupId": "sg-0fedcba987654321f", "SecurityGroupRule": {}}}
    tags = {"resourcesSet": {"items": [{"resourceId": "sg-0aaaaaaaaaaaaaaaa"}, {"resourceId": "i-0123456789"}]}}
    for name, params, group in [
        ("RevokeSecurityGroupIngress", revoke, "sg-0123456789abcdef0"),
        ("ModifySecurityGroupRules", modify, "sg-0fedcba987654321f"),
        ("DeleteTags", tags, "sg-0aaaaaaaaaaaaaaaa"),
    ]:
        event = api_call(name, params, eventSource="ec2.amazonaws.com")
        assert call_of(event, roles=OURS, region=REGION) == Call("ec2.amazonaws.com", name, (group,))


@pytest.mark.parametrize(
    ("detail", "why"),
    [
        (api_call(errorCode="AccessDenied", errorMessage="no"), "AWS refused the call: nothing changed"),
        (api_call(userIdentity=by_role(sorted(OURS)[0])), "Albatross's own reconcile role"),
        (api_call(userIdentity=by_role(sorted(OURS)[1])), "Albatross's own step role"),
        (api_call(awsRegion="eu-west-1"), "another region's"),
        (api_call("DescribeTargetHealth"), "a read"),
        (api_call("AddTags"), "an addition that takes nothing away"),
        (api_call("DeleteSecurityGroup"), "an EC2 call under ELB's source"),
        (api_call(eventSource="ec2.amazonaws.com"), "an ELB call under EC2's source"),
        (api_call(eventSource="s3.amazonaws.com"), "another service"),
        (api_call(eventName=["DeregisterTargets"]), "a name of another type (unhashable)"),
        (api_call(eventSource={"elb": 1}), "a source of another type (unhashable)"),
        (api_call(params={"targetGroupArn": "arn:aws:s3:::not-a-target-group"}), "not an ELB ARN"),
        (api_call(params={"targetGroupArn": ["list", "of", "things"]}), "an ARN of another type"),
        (api_call(params={"targetGroupArn": TG + "\n" + LB}), "two ARNs in one"),
        (api_call(params={"somethingElse": TG}), "an ARN under a key the call does not have"),
        (api_call(params="targetGroupArn=" + TG), "parameters of another type"),
        (api_call(params={}), "no parameters"),
        (
            api_call(
                "RevokeSecurityGroupIngress",
                {"groupId": "sg-../../etc"},
                eventSource="ec2.amazonaws.com",
            ),
            "not a security group id",
        ),
        (
            api_call(
                "ModifyRule", {"ruleArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app"}
            ),
            "a rule ARN without its load balancer",
        ),
    ],
)
def test_anything_else_is_not_a_change_to_repair(detail: dict[str, Any], why: str) -> None:
    assert isinstance(call_of(detail, roles=OURS, region=REGION), str), why


def test_only_the_session_issuer_says_who_called() -> None:
    """Albatross's role named anywhere but as the session's issuer proves nothing."""
    role = sorted(OURS)[0]
    assert made_by({"userIdentity": by_role(role)}, OURS)
    assert not made_by({"userIdentity": {"type": "IAMUser", "arn": role}}, OURS)
    assert not made_by({"userIdentity": by_role("arn:aws:iam::123456789012:role/admin")}, OURS)
    assert not made_by({"userIdentity": "albatross"}, OURS)
    assert not made_by({"userIdentity": {"sessionContext": {"sessionIssuer": {"arn": [role]}}}}, OURS)


def test_one_call_names_a_bounded_number_of_resources() -> None:
    arns = [TG.replace("0123456789abcdef", f"{i:016x}") for i in range(1000)]
    found = call_of(api_call("RemoveTags", {"resourceArns": arns}), roles=OURS, region=REGION)
    assert isinstance(found, Call)
    assert len(found.resources) == 64


def test_repair_on_cloudtrail_off_leaves_out_the_rule_and_its_grants() -> None:
    from tests.unit.test_iam import deployed, lint

    on = deployed({"ClusterName": "c", "VpcId": "vpc-0123"})
    off = deployed({"ClusterName": "c", "VpcId": "vpc-0123", "RepairOnCloudTrail": "false"})
    for stack, present in ((on, True), (off, False)):
        assert ("ChangesByOthersRule" in stack.resources) is present
        assert ("ChangesByOthersPermission" in stack.resources) is present
        policy = stack.resources["AwsEventsDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]
        assert len(policy["Statement"]) == (2 if present else 1)
        # the execution's rule is there either way
        assert "AwsEventsFunctionExecutionEnded" in stack.resources
    assert [f for p in off.policies for s in p.statements for f in lint(s, trust=p.kind == "trust")] == []
