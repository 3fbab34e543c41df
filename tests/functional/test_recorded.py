"""What Albatross made is read by id while the tag search lags (moto, with the offline
system's tagging lag), recorded and forgotten in the state store; and how a failed
execution is reported and tried again (the step task ``fail``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from albatross.aws import applier, clients, discovery
from albatross.aws.calls import CallCounter
from albatross.contract import parse_writeback
from albatross.controller import steps
from albatross.controller.settings import Settings
from albatross.local.faults import tagging_lag
from albatross.local.system import make_vpc
from albatross.model.stack import LISTENER, LISTENER_RULE, LOAD_BALANCER, SECURITY_GROUP, TARGET_GROUP
from albatross.plan.actual import Actual
from albatross.plan.planner import plan
from albatross.store.table import FailedRuns, Store
from tests.functional import stack
from tests.functional.test_ownership import CLUSTER, STACK, desired
from tests.functional.test_store import table


def made_stack() -> dict[str, str]:
    """The 2048 stack made from nothing; returns physical id → resource id."""
    physical: dict[str, str] = {}
    for step in plan(desired(make_vpc(CLUSTER)), Actual()):
        applier.apply(step, physical)
    return {p: rid for rid, p in physical.items()}


def describes(counter: CallCounter) -> int:
    return CallCounter.reads(counter.snapshot())


def test_what_the_search_does_not_list_yet_is_read_by_id(moto_endpoint: str) -> None:
    with tagging_lag(3600) as lag:
        made = made_stack()
        assert discovery.find_stack(cluster=CLUSTER, stack_id=STACK).resources == ()  # the search lags
        found = discovery.locate(cluster=CLUSTER, stack_id=STACK, recorded=made)
    assert lag.hidden
    kinds = {r.physical_id: r.type for r in found.actual.resources}
    assert kinds == {p: kinds[p] for p in made}  # all of it, and nothing else
    assert sorted(kinds.values()) == sorted([LOAD_BALANCER, LISTENER, LISTENER_RULE, TARGET_GROUP, SECURITY_GROUP])
    assert {r.physical_id: r.id for r in found.actual.resources} == made
    # the listener and its rule were listed with their load balancer: only the three the
    # search left out were there because they were recorded
    assert found.by_id == {p for p, kind in kinds.items() if kind in (LOAD_BALANCER, TARGET_GROUP, SECURITY_GROUP)}


def test_once_the_search_lists_them_records_cost_no_call(moto_endpoint: str) -> None:
    made = made_stack()
    counter = CallCounter()
    try:
        plain = discovery.find_stack(cluster=CLUSTER, stack_id=STACK)
        alone = describes(counter)
        found = discovery.locate(cluster=CLUSTER, stack_id=STACK, recorded=made)
        assert describes(counter) == 2 * alone
    finally:
        counter.close()
    assert found.actual == plain
    assert found.by_id == frozenset()


def test_a_recorded_resource_that_is_gone_is_left_out(moto_endpoint: str) -> None:
    with tagging_lag(3600):
        made = made_stack()
        by_type = {rid: p for p, rid in made.items()}
        elbv2 = clients.elbv2()
        lb = next(p for p in made if ":loadbalancer/" in p)
        elbv2.delete_load_balancer(LoadBalancerArn=lb)  # its listener and rule go with it
        tg = next(p for p in made if ":targetgroup/" in p)
        elbv2.delete_target_group(TargetGroupArn=tg)
        counter = CallCounter()
        try:
            found = discovery.locate(cluster=CLUSTER, stack_id=STACK, recorded=made)
            calls = counter.snapshot()
        finally:
            counter.close()
    assert [r.id for r in found.actual.resources] == ["ManagedLBSecurityGroup"]
    assert found.by_id == {by_type["ManagedLBSecurityGroup"]}
    # the listener and rule of a load balancer not found are not asked for
    assert ("elasticloadbalancing", "DescribeListeners") not in calls
    assert ("elasticloadbalancing", "DescribeRules") not in calls


def test_the_store_records_and_forgets_what_was_made(moto_endpoint: str) -> None:
    store = table()
    lb, tg = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/a/1", "arn:x:targetgroup/t/2"
    store.record_made("shop/web", {lb: "LoadBalancer", tg: "shop/web-web:80"}, at=100.0)
    state = store.group_state("shop/web")
    assert {p: (m.rid, m.at) for p, m in state.made.items()} == {
        lb: ("LoadBalancer", 100.0),
        tg: ("shop/web-web:80", 100.0),
    }
    assert state.owned == {lb}  # a load balancer it made is the group's, whatever the index says later
    store.forget_made("shop/web", [tg, "arn:never-recorded"])
    assert set(store.group_state("shop/web").made) == {lb}
    assert store.group_state("shop/web").owned == {lb}


def test_failed_executions_in_a_row_make_a_streak_that_a_success_ends(moto_endpoint: str) -> None:
    store = table()
    assert [store.count_failure("g", now=t, window=60) for t in (0.0, 10.0, 20.0)] == [1, 2, 3]
    assert store.count_failure("g", now=100.0, window=60) == 1  # more than the window after the last
    assert store.group_state("g").failed == FailedRuns(runs=1, last=100.0)
    store.release("g")
    assert store.group_state("g").failed.runs == 1  # a release alone ends nothing
    store.release("g", succeeded=True)
    assert store.group_state("g").failed == FailedRuns()


# --- the step task "fail" ----------------------------------------------------------------


def settings_with_queues() -> Settings:
    sqs = clients.sqs()
    work = sqs.create_queue(QueueName="work.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    writeback = sqs.create_queue(QueueName="writeback")["QueueUrl"]
    return stack.settings(
        cluster=CLUSTER,
        work_queue_url=work,
        writeback_queue_url=writeback,
        provision_state_machine="p",
        teardown_state_machine="t",
    )


def drain(url: str) -> list[str]:
    """The bodies of every message on the queue, taken off it."""
    out: list[str] = []
    while True:
        got = clients.sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        for message in got:
            out.append(message["Body"])
            clients.sqs().delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def ingress(name: str, *, deleting: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "shop", "uid": f"u-{name}", "resourceVersion": "7"}
    if deleting:
        meta |= {"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["group.ingress.k8s.aws/shop"]}
    return {"metadata": meta, "spec": {"ingressClassName": "alb"}}


def group_with(store: Store, *, live: list[str], leaving: list[str]) -> None:
    for name in live + leaving:
        obj = ingress(name, deleting=name in leaving)
        store.put_snapshot(kind="Ingress", key=f"shop/{name}", rv=7, obj=obj, deleted=False)
        store.add_member("shop", f"shop/{name}")
    gone = [{"ingress": f"shop/{n}", "finalizer": "group.ingress.k8s.aws/shop"} for n in leaving]
    store.save_model("shop", model=None, leaving=gone)
    store.set_execution("shop", "arn:aws:states:us-east-1:1:execution:teardown:run-1")


IN_USE = {
    "Error": "DependencyPending",
    "Cause": json.dumps({"errorMessage": "ResourceInUse: target group is in use", "errorType": "DependencyPending"}),
}
QUOTA = {
    "Error": "UserError",
    "Cause": json.dumps({"errorMessage": "TooManyLoadBalancers: the quota", "errorType": "UserError"}),
}


def test_a_failed_teardown_warns_every_deleting_member_and_asks_for_a_reconcile(moto_endpoint: str) -> None:
    store, settings = table(), settings_with_queues()
    group_with(store, live=[], leaving=["web", "api"])
    result = steps.run({"group": "shop", "task": "fail", "error": IN_USE}, settings=settings, store=store)
    assert result["requeued"] is True
    sent = [parse_writeback(body) for body in drain(settings.writeback_queue_url)]
    assert sorted((m.ingress, m.uid, m.reason) for m in sent) == [
        ("shop/api", "u-api", "FailedDeployModel"),
        ("shop/web", "u-web", "FailedDeployModel"),
    ]
    assert all(m.event_type == "Warning" for m in sent)
    assert sent[0].message == (
        "Failed deploy model due to DependencyPending: ResourceInUse: target group is in use; the Ingress keeps "
        "its finalizer group.ingress.k8s.aws/shop until its part of the load balancer is deleted; "
        "Albatross tries again now"
    )
    assert [json.loads(body) for body in drain(settings.work_queue_url)] == [{"group": "shop"}]
    state = store.group_state("shop")
    assert state.execution is None  # released
    assert state.failed.runs == 1


def test_a_refusal_of_a_live_group_waits_for_a_change(moto_endpoint: str) -> None:
    store, settings = table(), settings_with_queues()
    group_with(store, live=["web"], leaving=[])
    result = steps.run({"group": "shop", "task": "fail", "error": QUOTA}, settings=settings, store=store)
    assert result["requeued"] is False
    [warning] = [parse_writeback(body) for body in drain(settings.writeback_queue_url)]
    assert warning.message == (
        "Failed deploy model due to UserError: TooManyLoadBalancers: the quota; the next edit of the group's "
        "Ingresses (their spec or annotations), or the drift sweep, tries again"
    )
    assert drain(settings.work_queue_url) == []


@pytest.mark.parametrize("error", [IN_USE, QUOTA, {"Error": "States.Timeout", "Cause": ""}])
def test_retries_at_once_stop_after_a_few_failed_executions_in_a_row(moto_endpoint: str, error: dict[str, str]) -> None:
    store, settings = table(), settings_with_queues()
    group_with(store, live=[], leaving=["web"])
    requeued = []
    for run in range(steps.RETRIES + 1):
        store.set_execution("shop", f"arn:aws:states:us-east-1:1:execution:teardown:run-{run}")
        requeued.append(steps.run({"group": "shop", "task": "fail", "error": error}, settings=settings, store=store))
    assert [r["requeued"] for r in requeued] == [True] * steps.RETRIES + [False]
    assert len(drain(settings.work_queue_url)) == steps.RETRIES
    last = [parse_writeback(body) for body in drain(settings.writeback_queue_url)][-1]
    assert last.message.endswith(
        f"{steps.RETRIES + 1} executions failed in a row: the drift sweep, or the next edit of its Ingresses, "
        "tries again"
    )
