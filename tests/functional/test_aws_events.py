"""AWS's own events against the state table, the queues and Step Functions of moto
(albatross.controller.aws_events): an execution of ours that ended without reporting is
reported once, as the state machine's ReportFailure would have; a change someone else
made reaches the groups whose stack index holds what changed, fresh. Crafted events
(another state machine, another machine's execution under ours, an execution still
running, one the group no longer runs, a foreign ARN, Albatross's own call) change
nothing: not the state item, not a queue."""

from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from albatross.aws import clients
from albatross.controller.aws_events import handle
from albatross.controller.events import BusEvent
from tests.functional import stack

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events" / "lambda"
GROUP = "shop/web"
ROLES = frozenset({"arn:aws:iam::123456789012:role/albatross-ReconcileFunctionRole"})
WAIT = json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}})
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/k8s-shop-web-0123456789/0123456789abcdef"
LB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/k8s-shop-web-0123456789/50dc6c495c0c9188"


def sample(name: str) -> dict[str, Any]:
    data = json.loads((EVENTS / f"{name}.json").read_text())
    assert isinstance(data, dict)
    return copy.deepcopy(data)


class Cloud:
    """The table, the work and write-back queues, and three state machines (ours two,
    someone else's one) whose executions wait until stopped."""

    def __init__(self) -> None:
        self.store = stack.state_table()
        sqs = clients.sqs()
        self.work = sqs.create_queue(QueueName="work.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        self.writeback = sqs.create_queue(QueueName="writeback")["QueueUrl"]
        role = "arn:aws:iam::123456789012:role/states"
        sfn = clients.sfn()
        self.provision, self.teardown, self.foreign = (
            sfn.create_state_machine(name=name, definition=WAIT, roleArn=role)["stateMachineArn"]
            for name in ("albatross-ProvisionStateMachine", "albatross-TeardownStateMachine", "someone-else")
        )
        self.settings = stack.settings(
            work_queue_url=self.work,
            writeback_queue_url=self.writeback,
            provision_state_machine=self.provision,
            teardown_state_machine=self.teardown,
        )

    def run(self, machine: str, group: str = GROUP, *, stop: bool = True) -> str:
        """An execution of ``machine`` for ``group``, stopped (ABORTED) unless told."""
        sfn = clients.sfn()
        # named: moto's executing backend (when a test before in this worker turned it on)
        # names an unnamed execution "None", so a second one would already exist
        arn = sfn.start_execution(stateMachineArn=machine, name=uuid.uuid4().hex, input=json.dumps({"group": group}))[
            "executionArn"
        ]
        if stop:
            sfn.stop_execution(executionArn=arn)
            # moto's executing backend (if a test before set it) ends it in a thread of its
            # own: poll until it has (the test's timeout bounds a hang)
            while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                time.sleep(0.05)
        return str(arn)

    def handle(self, raw: dict[str, Any]) -> dict[str, Any]:
        return handle(BusEvent.of(raw), settings=self.settings, store=self.store, roles=ROLES).to_json()

    def drain(self, url: str) -> list[dict[str, Any]]:
        """Every message the queue holds now (received and deleted)."""
        out: list[dict[str, Any]] = []
        sqs = clients.sqs()
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages"):
            for message in batch:
                out.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return out

    def state_item(self) -> dict[str, Any]:
        key = {"pk": {"S": f"grp#{GROUP}"}, "sk": {"S": "#state"}}
        return dict(clients.dynamodb().get_item(TableName="state", Key=key).get("Item") or {})


def ended(arn: str, machine: str, status: str = "ABORTED") -> dict[str, Any]:
    """Step Functions' event for an execution that ended (the sample, pointed at it)."""
    event = sample("aws-events-execution-aborted")
    event["resources"] = [arn]
    event["detail"].update(executionArn=arn, stateMachineArn=machine, status=status)
    return event


def member(cloud: Cloud) -> None:
    """One Ingress in the group, stored as ingest stores it."""
    obj = {"metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "resourceVersion": "5"}}
    assert cloud.store.put_snapshot(kind="Ingress", key=GROUP, rv=5, obj=obj, deleted=False)[0]
    cloud.store.add_member(GROUP, GROUP)


@pytest.fixture
def cloud(moto_endpoint: str) -> Cloud:
    return Cloud()


def test_an_execution_that_ended_without_reporting_is_reported_once(cloud: Cloud) -> None:
    member(cloud)
    arn = cloud.run(cloud.provision)
    cloud.store.set_execution(GROUP, arn)

    outcome = cloud.handle(ended(arn, cloud.provision))
    assert outcome["action"] == "reported"
    assert cloud.store.group_state(GROUP).execution is None  # released
    [warning] = cloud.drain(cloud.writeback)
    assert (warning["ingress"], warning["reason"]) == (GROUP, "FailedDeployModel")
    assert "ExecutionAborted" in warning["message"]
    assert [m["group"] for m in cloud.drain(cloud.work)] == [GROUP]  # reconciled again at once

    # EventBridge delivers at least once: the same event again changes nothing
    assert cloud.handle(ended(arn, cloud.provision))["action"] == "ignored"
    assert cloud.drain(cloud.writeback) == []
    assert cloud.drain(cloud.work) == []


def test_crafted_execution_events_change_nothing(cloud: Cloud) -> None:
    member(cloud)
    ours = cloud.run(cloud.provision)
    cloud.store.set_execution(GROUP, ours)
    foreign = cloud.run(cloud.foreign)
    running = cloud.run(cloud.teardown, stop=False)
    newer = cloud.run(cloud.provision)
    before = cloud.state_item()
    crafted = [
        ended(foreign, cloud.foreign),  # another state machine
        ended(foreign, cloud.provision),  # its execution, said to be ours
        ended(ours, cloud.foreign),  # ours, said to be another machine's
        ended(running, cloud.teardown),  # said to have ended, still running
        ended(ours.replace(ours.rsplit(":", 1)[1], "no-such-execution"), cloud.provision),
        ended(ours, cloud.provision, status="SUCCEEDED"),  # its finish step reported
        ended(newer, cloud.provision),  # ended, but the group runs another one
        {**ended(ours, cloud.provision), "detail": {**ended(ours, cloud.provision)["detail"], "executionArn": [ours]}},
        {**ended(ours, cloud.provision), "detail-type": "Something Else"},
    ]
    for event in crafted:
        assert cloud.handle(event)["action"] == "ignored", event["detail"]
    assert cloud.state_item() == before
    assert cloud.drain(cloud.writeback) == []
    assert cloud.drain(cloud.work) == []


def deregistered(arn: str, **changes: Any) -> dict[str, Any]:
    event = sample("aws-events-deregister-targets")
    event["detail"]["requestParameters"]["targetGroupArn"] = arn
    event["detail"].update(changes)
    return event


def test_a_change_by_someone_else_reaches_the_groups_holding_it_fresh(cloud: Cloud) -> None:
    index = {"ids": {"LoadBalancer": LB, "web:80": TG, "ManagedLBSecurityGroup": "sg-0123456789abcdef0"}}
    cloud.store.save_index(GROUP, index)
    assert cloud.store.groups_holding(TG) == {GROUP}

    assert cloud.handle(deregistered(TG)) == {"action": "reconcile", "reason": "DeregisterTargets", "groups": [GROUP]}
    assert cloud.drain(cloud.work) == [{"group": GROUP, "fresh": True}]

    # a listener's rule is its load balancer's
    rule = LB.replace(":loadbalancer/", ":listener-rule/") + "/f2f7dc8efc522ab2/9683b2d02a6cabee"
    event = deregistered(TG, eventName="DeleteRule", requestParameters={"ruleArn": rule})
    assert cloud.handle(event)["groups"] == [GROUP]
    assert cloud.drain(cloud.work) == [{"group": GROUP, "fresh": True}]

    # a new index: what it no longer holds is no longer the group's; forgetting it keeps them
    other = TG.replace("0123456789abcdef", "fedcba9876543210")
    cloud.store.save_index(GROUP, {"ids": {**index, "web:80": other}})
    assert (cloud.store.groups_holding(TG), cloud.store.groups_holding(other)) == (set(), {GROUP})
    cloud.store.save_index(GROUP, None)
    assert cloud.store.groups_holding(other) == {GROUP}


def test_a_backend_rule_taken_away_reaches_the_groups_needing_it(cloud: Cloud) -> None:
    """The nodes' security group is in no stack index: its backend rules' needs say whose
    it is. Someone adding a rule there takes nothing away."""
    nodes = "sg-0fedcba9876543210"
    cloud.store.set_rule_needs(nodes, owner=f"{GROUP}|web:80", rules=[("tcp", 80, "sg-0123456789abcdef0")])
    revoke = deregistered(
        TG,
        eventSource="ec2.amazonaws.com",
        eventName="RevokeSecurityGroupIngress",
        requestParameters={"groupId": nodes, "ipPermissions": {"items": []}},
    )
    assert cloud.handle(revoke)["groups"] == [GROUP]
    assert cloud.drain(cloud.work) == [{"group": GROUP, "fresh": True}]
    revoke["detail"]["eventName"] = "AuthorizeSecurityGroupIngress"
    assert cloud.handle(revoke) == {
        "action": "unknown",
        "reason": "AuthorizeSecurityGroupIngress on nothing a group holds",
        "resources": [nodes],
    }
    assert cloud.drain(cloud.work) == []


def test_crafted_call_events_change_nothing(cloud: Cloud) -> None:
    cloud.store.save_index(GROUP, {"ids": {"LoadBalancer": LB, "web:80": TG}})
    foreign = TG.replace("k8s-shop-web", "someone-else")
    own = {"sessionContext": {"sessionIssuer": {"type": "Role", "arn": sorted(ROLES)[0]}}, "type": "AssumedRole"}
    outcomes = [
        cloud.handle(deregistered(foreign)),  # a target group no group holds
        cloud.handle(deregistered(TG, userIdentity=own)),  # Albatross's own call
        cloud.handle(deregistered(TG, errorCode="ValidationError")),  # refused: changed nothing
        cloud.handle(deregistered(TG, awsRegion="eu-west-1")),
        cloud.handle(deregistered(TG, eventName="DescribeTargetHealth")),
        cloud.handle(deregistered(TG, requestParameters={"targetGroupArn": {"S": TG}})),
    ]
    assert [o["action"] for o in outcomes] == ["unknown"] + ["ignored"] * 5
    assert cloud.drain(cloud.work) == []
