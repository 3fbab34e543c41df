"""What the provision and teardown state machines read, against moto: with the view
their reconcile found (:class:`albatross.controller.phases.View`) no task searches the
stack by tags, a phase the plan gave no work reads nothing, and the others read only
their own type. The tasks run in the order, and with the waits and retries, the state
machines' definitions give (a small interpreter of the states they use).

The bound is issue 16's: creating the 2048 example reads at most 15 times (ELBv2, EC2,
tagging), on the realistic local AWS too, where a new load balancer stays
``provisioning`` for :data:`albatross.model.limits.PROVISIONING_SECONDS` and each look
while it does is a read."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from albatross.aws import clients, discovery
from albatross.aws.calls import CallCounter, is_mutating
from albatross.aws.errors import LoadBalancerNotReady
from albatross.controller import phases, steps
from albatross.controller.settings import Settings
from albatross.local.system import make_vpc
from albatross.model.stack import Stack
from albatross.plan.actual import Actual, StackIndex
from albatross.plan.planner import plan
from albatross.store.table import Store
from tests.functional import test_realistic_aws as realistic
from tests.functional.test_ownership import CLUSTER, STACK, desired
from tests.functional.test_store import table

MACHINES = Path(__file__).resolve().parents[2] / "statemachines"
SETTINGS = Settings(
    cluster=CLUSTER,
    vpc_id="",
    region="us-east-1",
    table="state",
    work_queue_url="",
    writeback_queue_url="",
    provision_state_machine="",
    teardown_state_machine="",
)
SERVICES = ("elasticloadbalancing", "ec2", "tagging")
account = realistic.account  # the realistic local AWS on a hand-moved clock (a pytest fixture)


@pytest.fixture
def limited(account: realistic.Account) -> realistic.Account:
    return account


def execute(
    machine: str,
    store: Store,
    view: phases.View,
    wait: Callable[[float], None] = lambda s: None,
    *,
    group: str = STACK,
    settings: Settings = SETTINGS,
) -> str | None:
    """Run a state machine's Task and Wait states as Step Functions would: a payload's
    ``*.$`` paths read the state, ``ResultSelector``/``ResultPath`` keep the answer, a
    ``LoadBalancerNotReady`` is retried as its Retry says (``wait`` passes the seconds);
    an error (that one once retried, or any other) goes where the first Catch naming it,
    or ``States.ALL``, sends it (``ReportFailure`` for most), at the Catch's
    ``ResultPath``. Returns the error that failed the execution (its class name, as the
    Catch sees it), None when it succeeded."""
    definition = json.loads((MACHINES / machine).read_text())
    carried: dict[str, Any] = {"group": group, "view": view.to_json()}
    name, failed = definition["StartAt"], None
    while definition["States"][name]["Type"] not in ("Succeed", "Fail"):
        state = definition["States"][name]
        if state["Type"] == "Wait":
            wait(float(state["Seconds"]))
            name = state["Next"]
            continue
        assert state["Type"] == "Task", name
        event = {
            k.removesuffix(".$"): (dict(carried) if v == "$" else carried.get(v.removeprefix("$.")))
            if k.endswith(".$")
            else v
            for k, v in state["Parameters"]["Payload"].items()
        }
        [retry] = [r for r in state.get("Retry", []) if "LoadBalancerNotReady" in r["ErrorEquals"]] or [None]
        interval, tries = (float(retry["IntervalSeconds"]), int(retry["MaxAttempts"])) if retry else (0.0, 0)
        error: Exception | None = None
        while True:
            try:
                result = steps.run(event, settings=settings, store=store)
                break
            except LoadBalancerNotReady as e:
                if tries == 0:
                    error = e
                    break
                tries -= 1
                wait(interval)
                interval *= float((retry or {}).get("BackoffRate", 1.0))
            except Exception as e:  # noqa: BLE001  # any error of the function: Step Functions hands it to the Catch
                error = e
                break
        if error is not None:  # the first Catch naming the error, or States.ALL, as Step Functions picks
            code = type(error).__name__
            [catch, *_] = [c for c in state.get("Catch", []) if {code, "States.ALL"} & set(c["ErrorEquals"])] or [None]
            assert catch is not None, f"{name}: {error!r} and no Catch"
            carried[catch["ResultPath"].removeprefix("$.")] = {
                "Error": code,
                "Cause": json.dumps({"errorMessage": str(error)}),
            }
            failed = code if catch["Next"] == "ReportFailure" else failed
            name = catch["Next"]
            continue
        if "ResultSelector" in state:
            selected = {
                k.removesuffix(".$"): result[v.removeprefix("$.Payload.")] for k, v in state["ResultSelector"].items()
            }
            carried[state["ResultPath"].removeprefix("$.")] = selected
        name = state["Next"]
    return failed


def reads(counter: CallCounter) -> dict[str, int]:
    return {op: n for (svc, op), n in counter.snapshot().items() if svc in SERVICES and not is_mutating(op)}


def counted(
    machine: str, store: Store, view: phases.View, wait: Callable[[float], None] = lambda s: None
) -> dict[str, int]:
    counter = CallCounter()
    try:
        assert execute(machine, store, view, wait) is None
    finally:
        counter.close()
    return reads(counter)


def provision(store: Store, stack: Stack, wait: Callable[[float], None] = lambda s: None) -> dict[str, int]:
    """The 2048 stack created from nothing, as a reconcile that found nothing starts it."""
    store.save_model(STACK, model=stack.to_json(), leaving=[])
    view = phases.View.of(desired=stack, actual=Actual(), steps=plan(stack, Actual()), trusted=False)
    return counted("provision.asl.json", store, view, wait)


def load_balancers() -> list[dict[str, Any]]:
    return [dict(lb) for lb in clients.elbv2().describe_load_balancers()["LoadBalancers"]]


def test_creating_2048_reads_only_what_each_phase_changes(moto_endpoint: str) -> None:
    store = table()
    read = provision(store, desired(make_vpc(CLUSTER)))
    assert "GetResources" not in read  # no phase searches by tags
    assert "DescribeTags" not in read  # the view's ids are the group's records: not asked about (test_view_trust)
    # the creates' look for a resource of the same name (security group, target group,
    # load balancer: AWS's names are unique), the targets' health and the backend rules,
    # the wait by ARN, the listeners and rules under what was just made
    assert sum(read.values()) <= 15, read
    [lb] = load_balancers()
    assert lb["State"]["Code"] == "active"
    state = store.group_state(STACK)
    index = phases.View.from_json({}).known(state)  # nothing paired: only what was made
    assert state.index is not None
    assert state.index["ids"]["LoadBalancer"] == lb["LoadBalancerArn"]
    assert state.index["dns"] == {"LoadBalancer": lb["DNSName"]}  # for a reconcile that reads nothing
    assert index["LoadBalancer"] == lb["LoadBalancerArn"]


def test_a_phase_without_work_reads_nothing(moto_endpoint: str) -> None:
    store = table()
    stack = desired(make_vpc(CLUSTER))
    store.save_model(STACK, model=stack.to_json(), leaving=[])
    only_rules = phases.View(paired={}, orphans={}, work=frozenset({"create:ListenerRule"}), started=0.0)
    counter = CallCounter()
    try:
        for phase in sorted(phases.PHASES - {"apply:ListenerRule", "targets"}):
            assert (
                phases.run_phase(settings=SETTINGS, store=store, group=STACK, phase=phase, view=only_rules)["changes"]
                == 0
            ), phase
    finally:
        counter.close()
    assert sum(n for (svc, _), n in counter.snapshot().items() if svc in SERVICES) == 0


def test_teardown_reads_by_id_and_deletes_everything(moto_endpoint: str) -> None:
    store = table()
    stack = desired(make_vpc(CLUSTER))
    provision(store, stack)
    # the reconcile of the deleted group finds the stack by the index the provision left
    index = store.group_state(STACK).index
    assert index is not None
    actual = discovery.find_indexed(StackIndex.from_json(index))
    assert actual is not None
    store.save_model(STACK, model=None, leaving=[])
    view = phases.View.of(desired=None, actual=actual, steps=plan(None, actual), trusted=True)
    read = counted("teardown.asl.json", store, view)
    assert "GetResources" not in read
    assert "DescribeTags" not in read  # what the view names is what the stack index holds, or under it
    assert load_balancers() == []
    assert clients.elbv2().describe_target_groups()["TargetGroups"] == []
    assert sum(read.values()) <= 15, read


def test_on_the_realistic_aws_the_wait_looks_a_few_times(limited: realistic.Account) -> None:
    """The load balancer provisions for PROVISIONING_SECONDS on the account's clock; the
    state machine's waits move that clock."""
    store = table()

    def wait(seconds: float) -> None:
        limited.clock.now += seconds

    with limited.aws.unlimited():
        stack = desired(make_vpc(CLUSTER))
    read = provision(store, stack, wait)
    tally = limited.aws.throttle.tally
    asked = {a: n for (s, a), n in tally.calls.items() if s in SERVICES and not is_mutating(a)}
    assert load_balancers()[0]["State"]["Code"] == "active"
    looks = asked.get("DescribeLoadBalancers", 0) - 1  # one is the create's look for the name
    assert 2 <= looks <= 6, asked  # not one every 5 s for 180 s (36)
    assert sum(asked.values()) <= 15, asked
    assert read == asked  # what the counter saw is what the account was asked
