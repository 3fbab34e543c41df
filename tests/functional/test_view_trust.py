"""An execution's view is not trusted blindly, against moto: the provision and teardown
state machines run (as :func:`tests.functional.test_provision_reads.execute` runs them)
with a view that names what is not the group's: another group's stack, a load balancer
only tagged like the group's, a target group of another cluster. The first task that
would act on it refuses before any call on it, the execution fails through its
``ReportFailure`` state (the Warning path: the outcome recorded, the stack index
forgotten, a reconcile asked for), and AWS is as it was. A view whose ids no record
names, but whose tags say they are the group's (a lost state table), is accepted after
asking AWS; the normal views cost no read (test_provision_reads)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from albatross.aws import clients, discovery
from albatross.aws.calls import CallCounter
from albatross.controller import phases
from albatross.controller.settings import Settings
from albatross.local.system import make_vpc
from albatross.model.stack import Stack
from albatross.plan.actual import Actual, StackIndex
from albatross.plan.planner import CREATE_ORDER, plan
from albatross.store.table import Store
from tests.functional.test_duplicates import foreign
from tests.functional.test_ownership import CLUSTER, STACK, desired
from tests.functional.test_provision_reads import SETTINGS, execute, provision
from tests.functional.test_store import table

OTHER = "team-a/site"  # a second group of the same cluster
INFRA = ("elasticloadbalancing", "ec2", "tagging")
EVERY_WORK = frozenset(f"{op}:{t.rsplit('::', 1)[-1]}" for t in CREATE_ORDER for op in ("create", "update", "delete"))


def settings() -> Settings:
    """The test settings with a work queue, where a failed execution asks for a reconcile."""
    url = clients.sqs().create_queue(QueueName="work.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    return replace(SETTINGS, work_queue_url=url)


def aws_state() -> dict[str, Any]:
    """Everything the phases could change: load balancers, listeners, rules, target
    groups with their targets, security groups with their rules, tags."""
    elbv2 = clients.elbv2()
    lbs = elbv2.describe_load_balancers()["LoadBalancers"]
    tgs = elbv2.describe_target_groups()["TargetGroups"]
    listeners = [
        ls for lb in lbs for ls in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    ]
    arns = [lb["LoadBalancerArn"] for lb in lbs] + [tg["TargetGroupArn"] for tg in tgs]
    out: dict[str, Any] = {
        "load_balancers": lbs,
        "listeners": listeners,
        "rules": [r for ls in listeners for r in elbv2.describe_rules(ListenerArn=ls["ListenerArn"])["Rules"]],
        "target_groups": tgs,
        "targets": {
            tg["TargetGroupArn"]: elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])[
                "TargetHealthDescriptions"
            ]
            for tg in tgs
        },
        "tags": elbv2.describe_tags(ResourceArns=arns)["TagDescriptions"] if arns else [],
        "security_groups": clients.ec2().describe_security_groups()["SecurityGroups"],
    }
    return dict(json.loads(json.dumps(out, default=str, sort_keys=True)))


def calls_during(run: Callable[[], str | None]) -> tuple[str | None, Counter[tuple[str, str]]]:
    """What ``run`` returns, and the ELBv2, EC2 and tagging calls it made."""
    counter = CallCounter()
    try:
        result = run()
    finally:
        counter.close()
    return result, Counter({k: n for k, n in counter.snapshot().items() if k[0] in INFRA})


def stack_of(store: Store, stack: Stack) -> Actual:
    """The provisioned group's stack, as a reconcile finds it by its stack index and
    completes it before planning."""
    index = store.group_state(STACK).index
    assert index is not None
    actual = discovery.find_indexed(StackIndex.from_json(index))
    assert actual is not None
    return discovery.complete(actual, stack)


def assert_failed_and_reported(store: Store, group: str, error: str | None, queue: str) -> None:
    """The execution failed through ReportFailure: the outcome recorded, nothing made the
    group's, the stack index forgotten, a reconcile asked for at once."""
    assert error == "ForeignView"
    state = store.group_state(group)
    assert state.last is not None
    assert state.last["result"] == "execution failed"
    assert "ForeignView: the execution's input names what is not" in state.last["errors"][0]
    assert state.index is None
    asked = clients.sqs().receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["group"] for m in asked] == [group]


def retagged(stack: Stack, group: str) -> Stack:
    """The same stack with its stack tags naming ``group``: what another group whose
    Ingresses are the same would want."""
    data = json.loads(json.dumps(stack.to_json()))
    for res in data["resources"].values():
        for tag in res["properties"].get("Tags") or ():
            if tag["Key"] == "ingress.k8s.aws/stack":
                tag["Value"] = group
    return Stack.from_json(data)


@pytest.mark.parametrize("machine", ["provision.asl.json", "teardown.asl.json"])
def test_a_view_naming_another_groups_stack_changes_nothing(moto_endpoint: str, machine: str) -> None:
    store = table()
    stack = desired(make_vpc(CLUSTER))
    provision(store, stack)
    theirs = stack_of(store, stack)
    before = aws_state()
    conf = settings()
    # the other group wants the same stack under its own tags (a provision) or nothing
    # (a teardown), and an execution's input names the first group's stack: paired with
    # its model (its tags to be rewritten), or to delete
    model = retagged(stack, OTHER) if machine == "provision.asl.json" else None
    store.save_model(OTHER, model=model.to_json() if model else None, leaving=[])
    view = phases.View.of(desired=model, actual=theirs, steps=[], trusted=True)
    view = replace(view, work=EVERY_WORK)
    assert view.paired if model else view.orphans  # it names them

    error, calls = calls_during(lambda: execute(machine, store, view, group=OTHER, settings=conf))

    assert aws_state() == before
    assert CallCounter.mutating(calls) == 0, calls
    if model is None:  # load balancers to delete must be the group's record: refused without a read
        assert calls == {}
    else:  # paired ones may be the group's by their tags: asked once, with the security group
        assert calls == {("elasticloadbalancing", "DescribeTags"): 1, ("ec2", "DescribeSecurityGroups"): 1}
    assert_failed_and_reported(store, OTHER, error, conf.work_queue_url)
    other = store.group_state(OTHER)
    assert other.owned == frozenset()  # the first group's load balancer was not recorded as the other's
    assert other.made == {}


def test_a_load_balancer_only_tagged_like_the_groups_is_not_deleted(moto_endpoint: str) -> None:
    """The teardown's view names, beside the group's own stack, a load balancer someone
    else made and tagged as the group's: tags alone make no load balancer the group's to
    delete, and the whole view is refused before anything goes."""
    store = table()
    stack = desired(make_vpc(CLUSTER))
    provision(store, stack)
    ours = stack_of(store, stack)
    look_alike = foreign(stack)
    [listener] = clients.elbv2().describe_listeners(LoadBalancerArn=look_alike)["Listeners"]
    before = aws_state()
    conf = settings()
    store.save_model(STACK, model=None, leaving=[])
    view = phases.View.of(desired=None, actual=ours, steps=plan(None, ours), trusted=True)
    view = replace(
        view, orphans={**view.orphans, look_alike: "LoadBalancer", listener["ListenerArn"]: "LoadBalancer/80"}
    )

    error, calls = calls_during(lambda: execute("teardown.asl.json", store, view, settings=conf))

    assert aws_state() == before
    assert calls == {}
    assert_failed_and_reported(store, STACK, error, conf.work_queue_url)


def test_someone_elses_load_balancer_paired_with_the_groups_keeps_its_listener(moto_endpoint: str) -> None:
    """A provision whose view pairs the group's load balancer with someone else's (no
    tags), and gives listeners work: the phases would list that one's listeners as the
    group's, change and delete them, and record it as the group's. Refused by the first
    task that acts on the view, once its tags are read."""
    store = table()
    stack = desired(make_vpc(CLUSTER))
    provision(store, stack)
    ours = stack_of(store, stack)
    owned = store.group_state(STACK).owned
    elbv2 = clients.elbv2()
    theirs = elbv2.create_load_balancer(
        Name="team-b-dashboard", Subnets=stack.resources["LoadBalancer"].properties["Subnets"]
    )["LoadBalancers"][0]["LoadBalancerArn"]
    elbv2.create_listener(
        LoadBalancerArn=theirs,
        Port=80,
        Protocol="HTTP",
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}],
    )
    before = aws_state()
    conf = settings()
    view = phases.View.of(desired=stack, actual=ours, steps=[], trusted=True)
    work = frozenset({"create:Listener", "update:Listener", "delete:Listener", "create:ListenerRule"})
    view = replace(view, paired={**view.paired, "LoadBalancer": theirs}, work=work)

    error, calls = calls_during(lambda: execute("provision.asl.json", store, view, settings=conf))

    assert aws_state() == before
    assert calls == {("elasticloadbalancing", "DescribeTags"): 1}
    assert store.group_state(STACK).owned == owned
    assert_failed_and_reported(store, STACK, error, conf.work_queue_url)


def test_a_view_no_record_names_is_accepted_when_its_tags_are_the_groups(moto_endpoint: str) -> None:
    """The state table was lost: a reconcile finds the stack by tags alone, and its view
    names what no record does. The phases that act on it ask AWS for the tags (never a
    mutating call on a stack that is as desired) and the execution ends with the group's
    stack index."""
    store = table()
    stack = desired(make_vpc(CLUSTER))
    provision(store, stack)
    expected = store.group_state(STACK).index
    assert expected is not None
    lost = Store("state-after-loss")
    clients.dynamodb().create_table(
        TableName=lost.table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    lost.save_model(STACK, model=stack.to_json(), leaving=[])
    found = discovery.read_stack(cluster=CLUSTER, stack_id=STACK, desired=stack)
    assert plan(stack, found) == []
    view = phases.View.of(desired=stack, actual=found, steps=[], trusted=False)
    conf = replace(settings(), table=lost.table)

    error, calls = calls_during(lambda: execute("provision.asl.json", lost, view, settings=conf))

    assert error is None
    assert calls[("elasticloadbalancing", "DescribeTags")] >= 1
    state = lost.group_state(STACK)
    assert state.index is not None
    assert state.index["ids"] == expected["ids"]
    assert state.owned == {expected["ids"]["LoadBalancer"]}
