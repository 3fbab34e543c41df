"""Which load balancers the state machines' phases may delete, against moto and the
store: the ones the group's record holds (made by a provision, or held by the stack
index, even once the index is forgotten), never one only tagged like them, which the
waits for "active" and "gone" do not wait for either."""

from __future__ import annotations

import json
from typing import Any

from albatross.aws import applier, clients
from albatross.controller import phases
from albatross.k8s.ingress import GroupID
from albatross.local.system import make_vpc
from albatross.model import names
from albatross.model.stack import Stack
from albatross.plan.actual import Actual
from albatross.plan.planner import plan
from albatross.store.table import Store
from tests.functional import stack
from tests.functional.test_ownership import CLUSTER, STACK, desired, tags
from tests.functional.test_store import table

SETTINGS = stack.settings(cluster=CLUSTER, vpc_id="")
APPLY = ["apply:SecurityGroup", "apply:TargetGroup", "apply:LoadBalancer", "apply:Listener", "apply:ListenerRule"]
PRUNE = ["prune:ListenerRule", "prune:Listener", "prune:LoadBalancer", "prune:TargetGroup", "prune:SecurityGroup"]


def internal(stack: Stack) -> Stack:
    """The same group with the internal scheme: another load balancer (another name)."""
    data = json.loads(json.dumps(stack.to_json()))
    lb = data["resources"]["LoadBalancer"]["properties"]
    lb["Scheme"] = "internal"
    lb["Name"] = names.load_balancer_name(cluster=CLUSTER, group=GroupID.parse(STACK), scheme="internal")
    return Stack.from_json(data)


def provision(store: Store, stack: Stack | None, phase_names: list[str]) -> None:
    store.save_model(STACK, model=stack.to_json() if stack else None, leaving=[])
    for phase in phase_names:
        phases.run_phase(settings=SETTINGS, store=store, group=STACK, phase=phase)


def load_balancers() -> dict[str, str]:
    """Name → ARN of every load balancer."""
    found = clients.elbv2().describe_load_balancers()["LoadBalancers"]
    return {str(lb["LoadBalancerName"]): str(lb["LoadBalancerArn"]) for lb in found}


def foreign(stack: Stack) -> str:
    """Someone else's load balancer, with a listener, tagged later as the group's."""
    props = stack.resources["LoadBalancer"].properties
    elbv2 = clients.elbv2()
    arn = str(
        elbv2.create_load_balancer(Name="team-b-dashboard", Subnets=props["Subnets"])["LoadBalancers"][0][
            "LoadBalancerArn"
        ]
    )
    fixed: Any = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}]
    elbv2.create_listener(LoadBalancerArn=arn, Port=80, Protocol="HTTP", DefaultActions=fixed)
    elbv2.add_tags(ResourceArns=[arn], Tags=tags("LoadBalancer"))
    return arn


def test_the_phases_delete_only_the_load_balancers_the_group_made(moto_endpoint: str) -> None:
    store = table()
    second = desired(make_vpc(CLUSTER))
    first = internal(second)
    provision(store, first, APPLY)
    made_first = load_balancers()[first.resources["LoadBalancer"].properties["Name"]]
    # recorded the moment it was made, before any stack index
    assert store.group_state(STACK).owned == {made_first}

    # the scheme changes: a new load balancer is made; the execution fails before its
    # prune (what it left is unknown: the index is forgotten); a look-alike appears
    provision(store, second, APPLY)
    made_second = load_balancers()[second.resources["LoadBalancer"].properties["Name"]]
    store.save_index(STACK, None)
    look_alike = foreign(second)
    assert phases.check_load_balancer(settings=SETTINGS, group=STACK, want="active") == {"loadBalancer": "active"}

    provision(store, second, PRUNE)  # the next execution's prune
    assert sorted(load_balancers().values()) == sorted([made_second, look_alike])
    [listener] = clients.elbv2().describe_listeners(LoadBalancerArn=look_alike)["Listeners"]
    assert listener["Port"] == 80

    # the group goes: its own load balancer is deleted and waited for, the look-alike stays
    provision(store, None, PRUNE)
    assert phases.check_load_balancer(settings=SETTINGS, group=STACK, want="gone") == {"loadBalancer": "gone"}
    assert list(load_balancers().values()) == [look_alike]


def test_a_load_balancer_made_by_a_try_that_died_is_recorded_by_the_next(moto_endpoint: str) -> None:
    """The create returned, then the function died before recording it: the phase's
    retry finds it paired with the desired one (no second create) and records it."""
    store = table()
    stack = desired(make_vpc(CLUSTER))
    physical: dict[str, str] = {}
    steps = plan(stack, Actual())
    assert [s.describe() for s in steps[:3]][-1] == "create LoadBalancer LoadBalancer"
    for step in steps[:3]:
        applier.apply(step, physical)
    assert store.group_state(STACK).owned == frozenset()
    provision(store, stack, ["apply:LoadBalancer"])
    assert store.group_state(STACK).owned == {physical["LoadBalancer"]}
    assert list(load_balancers().values()) == [physical["LoadBalancer"]]
