"""The group lease (docs/adr/0017-a-lane-for-user-changes.md) on moto: one reconcile of a
group at a time across the work and urgent queues, and the budget's lane per record.

SQS FIFO serves a message group to one receiver per queue (SQS Developer Guide, "FIFO
queue delivery logic"), so with two queues a group's two records can be in two
invocations at once: the reconcile's lease is what keeps them apart. The test forces the
overlap by construction: the first reconcile is held inside its lease until the second
has finished."""

from __future__ import annotations

import json
import threading
import types
from typing import Any

import pytest

from albatross.aws import budget, clients
from albatross.controller.settings import Settings
from albatross.store.table import Store
from tests.functional.stack import make, state_table

GROUP = "shop/web"
WAIT = 60.0  # a failure's bound only


@pytest.fixture
def store(moto_endpoint: str) -> Store:
    return state_table()


def test_a_lease_is_taken_once_given_back_by_its_holder_only_and_ends_at_its_time(store: Store) -> None:
    assert store.lease(GROUP, holder="m1", now=1000.0, seconds=300) == 0
    assert store.lease(GROUP, holder="m2", now=1010.0, seconds=300) == pytest.approx(290)
    assert store.lease(GROUP, holder="m1", now=1010.0, seconds=300) == 0  # m1 received again (a crash)
    store.release_lease(GROUP, holder="m2")  # not m2's: nothing given back
    assert store.lease(GROUP, holder="m2", now=1020.0, seconds=300) > 0
    store.release_lease(GROUP, holder="m1")
    assert store.lease(GROUP, holder="m2", now=1020.0, seconds=300) == 0
    # m2 crashed holding it: the lease ends at its time, and is taken over after
    assert store.lease(GROUP, holder="m3", now=1319.0, seconds=300) > 0
    assert store.lease(GROUP, holder="m3", now=1320.0, seconds=300) == 0


# --- two reconciles of one group at once, through the reconcile handler ----------------


CONTEXT = types.SimpleNamespace(
    function_name="reconcile",
    memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:reconcile",
    aws_request_id="r1",
    get_remaining_time_in_millis=lambda: 300_000,
)


@pytest.fixture
def reconcile_app(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """functions/reconcile/app.py with the template's queues and table, on moto."""
    vpc = clients.ec2().create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    env = {
        "CLUSTER_NAME": "lanes",
        "VPC_ID": vpc,
        "STATE_TABLE": make("StateTable"),
        "WORK_QUEUE_URL": make("WorkQueue"),
        "URGENT_WORK_QUEUE_URL": make("UrgentWorkQueue"),
        "TARGETS_QUEUE_URL": make("TargetsQueue"),
        "WRITEBACK_QUEUE_URL": make("WritebackQueue"),
        "MAX_RECEIVE_COUNT": "5",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from functions.reconcile import app

    return app


def _received(url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """One record of ``GROUP`` (``body``: a reconcile's, unless given) sent to and
    received from ``url``, as the event source mapping hands it to the function."""
    sqs = clients.sqs()
    sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps(body or {"group": GROUP}),
        MessageGroupId=GROUP,
        MessageDeduplicationId=url,
    )
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, MessageSystemAttributeNames=["All"])[
        "Messages"
    ]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
    }


def test_two_reconciles_of_one_group_at_once_one_runs_the_other_goes_back_unattempted(
    reconcile_app: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.from_env()
    bulk, urgent = _received(settings.work_queue_url), _received(settings.urgent_work_queue_url)
    inside, second_done = threading.Event(), threading.Event()
    calls: dict[str, list[tuple[str, str]]] = {"bulk": [], "urgent": []}
    lanes: dict[str, str] = {}
    take_request = Store.take_request

    def held_inside(self: Store, group: str) -> None:  # the first reconcile's first step after its lease
        inside.set()
        assert second_done.wait(WAIT), "the second reconcile never finished"
        take_request(self, group)

    def record(model: Any, **_: Any) -> None:
        name = threading.current_thread().name
        if name in calls:
            calls[name].append((model.service_model.endpoint_prefix, model.name))
            lanes.setdefault(name, budget.lane.get())

    monkeypatch.setattr(Store, "take_request", held_inside)
    clients.add_hook("before-call.*.*", record, unique_id="test-urgent-lane")
    answers: dict[str, Any] = {}

    def run(name: str, record_: dict[str, Any]) -> None:
        answers[name] = reconcile_app.lambda_handler({"Records": [record_]}, CONTEXT)

    try:
        first = threading.Thread(target=run, args=("bulk", bulk), name="bulk")
        first.start()
        assert inside.wait(WAIT), "the first reconcile never started"
        second = threading.Thread(target=run, args=("urgent", urgent), name="urgent")
        second.start()
        second.join(WAIT)
        second_done.set()
        first.join(WAIT)
    finally:
        second_done.set()
        clients.remove_hook("test-urgent-lane")

    # the one that ran finished, and gave the lease back
    assert answers["bulk"] == {"batchItemFailures": []}
    state = clients.dynamodb().get_item(
        TableName=settings.table, Key={"pk": {"S": f"grp#{GROUP}"}, "sk": {"S": "#state"}}
    )["Item"]
    assert "lease" not in state
    assert "leaseUntil" not in state
    assert "lastReconcile" in state
    assert any(service in ("tagging", "ec2", "elasticloadbalancing") for service, _ in calls["bulk"])  # it read AWS
    # the other went back unattempted: reported, put off a few seconds, not a failure that
    # counts towards the dead-letter queue; it took its lease's answer and nothing else
    assert answers["urgent"] == {"batchItemFailures": [{"itemIdentifier": urgent["messageId"]}]}
    assert calls["urgent"] == [("dynamodb", "UpdateItem"), ("sqs", "ChangeMessageVisibilityBatch")]
    assert clients.sqs().receive_message(QueueUrl=settings.urgent_work_queue_url).get("Messages", []) == []
    # each record's calls were made in its lane (the budget's reserve is the urgent lane's)
    assert lanes == {"bulk": budget.BULK, "urgent": budget.URGENT}


# --- a user's change while the group's execution runs ---------------------------------


def _running_execution() -> str:
    """An execution that runs until it is stopped (a load balancer provisioning)."""
    sfn = clients.sfn()
    machine = sfn.create_state_machine(
        name="provision",
        definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/steps",
    )["stateMachineArn"]
    return str(sfn.start_execution(stateMachineArn=machine)["executionArn"])


def _groups_on(url: str) -> list[str]:
    messages = clients.sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"])["group"] for m in messages]


@pytest.mark.parametrize("lane", ["urgent", "bulk"])
def test_a_request_while_the_execution_runs_is_asked_again_on_its_own_lane_when_it_ends(
    reconcile_app: types.ModuleType, lane: str
) -> None:
    from albatross.controller import report

    settings = Settings.from_env()
    store = Store(settings.table)
    execution = _running_execution()
    store.set_execution(GROUP, execution)
    queue = settings.urgent_work_queue_url if lane == "urgent" else settings.work_queue_url
    record = _received(queue)
    assert reconcile_app.lambda_handler({"Records": [record]}, CONTEXT) == {"batchItemFailures": []}
    clients.sqs().delete_message(QueueUrl=queue, ReceiptHandle=record["receiptHandle"])  # as the event source does
    assert store.group_state(GROUP).dirty  # busy: nothing read half-done, the request kept
    clients.sfn().stop_execution(executionArn=execution)

    assert report.end_run(settings=settings, store=store, group=GROUP, succeeded=True)
    other = settings.work_queue_url if lane == "urgent" else settings.urgent_work_queue_url
    assert _groups_on(queue) == [GROUP]
    assert _groups_on(other) == []
