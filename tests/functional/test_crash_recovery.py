"""A crash between any two steps costs nothing: for the create, an update and the delete
of the 2048 stack, stopping after step k and running the whole plan again converges, for
every k, with no duplicate and no orphan."""

from __future__ import annotations

import copy
import json
from collections import Counter

import pytest

from albatross.aws import applier, clients, discovery
from albatross.local.faults import Fault, inject
from albatross.local.system import make_vpc
from albatross.model.stack import Stack
from albatross.plan.actual import Actual
from albatross.plan.planner import plan
from tests.functional.test_ownership import CLUSTER, STACK, desired


def converge(stack: Stack | None) -> int:
    """Plan and apply until nothing is left; returns how many rounds it took."""
    for rounds in range(1, 4):
        actual = discovery.read_stack(cluster=CLUSTER, stack_id=STACK, desired=stack)
        steps = plan(stack, actual)
        if not steps:
            return rounds
        physical = {r.id: r.physical_id for r in actual.resources}
        for step in steps:
            applier.apply(step, physical)
    raise AssertionError("did not converge in 3 rounds")


def inventory() -> Counter[str]:
    elbv2, ec2 = clients.elbv2(), clients.ec2()
    counts: Counter[str] = Counter()
    counts["LoadBalancer"] = len(elbv2.describe_load_balancers()["LoadBalancers"])
    counts["TargetGroup"] = len(elbv2.describe_target_groups()["TargetGroups"])
    groups = ec2.describe_security_groups(Filters=[{"Name": "tag:ingress.k8s.aws/stack", "Values": [STACK]}])
    counts["SecurityGroup"] = len(groups["SecurityGroups"])
    for lb in elbv2.describe_load_balancers()["LoadBalancers"]:
        for listener in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
            counts["Listener"] += 1
            rules = elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
            counts["Rule"] += sum(1 for r in rules if not r["IsDefault"])
    return counts


FULL = Counter({"LoadBalancer": 1, "TargetGroup": 1, "SecurityGroup": 1, "Listener": 1, "Rule": 1})


@pytest.mark.parametrize("k", range(5))
def test_create_interrupted_after_any_step_converges(moto_endpoint: str, k: int) -> None:
    stack = desired(make_vpc(CLUSTER))
    steps = plan(stack, Actual())
    assert len(steps) == 5
    physical: dict[str, str] = {}
    for step in steps[:k]:
        applier.apply(step, physical)  # then the process dies: physical ids are lost
    assert converge(stack) == 2
    assert inventory() == FULL


def _updated(stack: Stack) -> Stack:
    """A new path above the old one, a new health check path and a new target group name
    (a replacement): every kind of step."""
    data = json.loads(json.dumps(stack.to_json()))
    rule = data["resources"]["80:1"]
    data["resources"]["80:2"] = copy.deepcopy(rule)
    data["resources"]["80:2"]["properties"]["Priority"] = 2
    rule["properties"]["Conditions"] = [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/new"]}}]
    tg = data["resources"]["game-2048/game-2048-game-2048:80"]["properties"]
    tg["Name"], tg["HealthCheckPath"] = "k8s-game2048-game2048-replaced00", "/healthz"
    return Stack.from_json(data)


@pytest.mark.parametrize("k", range(4))
def test_update_interrupted_after_any_step_converges(moto_endpoint: str, k: int) -> None:
    first = desired(make_vpc(CLUSTER))
    converge(first)
    second = _updated(first)
    actual = discovery.read_stack(cluster=CLUSTER, stack_id=STACK, desired=second)
    steps = plan(second, actual)
    # the old rule forwards to the old target group, so it is rewritten in place, after
    # the new "/" rule exists
    assert [s.describe() for s in steps] == [
        "create TargetGroup game-2048/game-2048-game-2048:80",
        "create ListenerRule 80:2",
        "update ListenerRule 80:1",
        "delete TargetGroup game-2048/game-2048-game-2048:80",
    ]
    physical = {r.id: r.physical_id for r in actual.resources}
    for step in steps[:k]:
        applier.apply(step, physical)  # then the process dies
    assert converge(second) == 2
    assert inventory() == FULL + Counter({"Rule": 1})
    [tg] = clients.elbv2().describe_target_groups()["TargetGroups"]
    assert (tg["TargetGroupName"], tg["HealthCheckPath"]) == ("k8s-game2048-game2048-replaced00", "/healthz")


@pytest.mark.parametrize("k", range(3))
def test_delete_interrupted_after_any_step_converges(moto_endpoint: str, k: int) -> None:
    stack = desired(make_vpc(CLUSTER))
    converge(stack)
    steps = plan(None, discovery.find_stack(cluster=CLUSTER, stack_id=STACK))
    # the load balancer takes its listener and rules with it
    assert [s.describe() for s in steps] == [
        "delete LoadBalancer LoadBalancer",
        "delete TargetGroup game-2048/game-2048-game-2048:80",
        "delete SecurityGroup ManagedLBSecurityGroup",
    ]
    for step in steps[:k]:
        applier.apply(step, {})
    assert converge(None) == 2
    assert +inventory() == Counter()


def test_rules_follow_a_new_path_order_with_a_reorder(moto_endpoint: str) -> None:
    vpc = make_vpc(CLUSTER)
    first = desired(vpc)
    converge(first)
    data = first.to_json()
    rule = data["resources"]["80:1"]
    data["resources"]["80:2"] = copy.deepcopy(rule)
    data["resources"]["80:2"]["properties"]["Priority"] = 2
    rule["properties"]["Conditions"] = [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/new"]}}]
    second = Stack.from_json(json.loads(json.dumps(data)))
    steps = plan(second, discovery.find_stack(cluster=CLUSTER, stack_id=STACK))
    assert [s.describe() for s in steps] == ["reorder ListenerRule 80", "create ListenerRule 80:1"]
    assert converge(second) == 2
    assert _paths() == [["/new"], ["/*"]]


def _paths() -> list[list[str]]:
    elbv2 = clients.elbv2()
    [lb] = elbv2.describe_load_balancers()["LoadBalancers"]
    [listener] = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    rules = sorted(
        (r for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"] if not r["IsDefault"]),
        key=lambda r: int(r["Priority"]),
    )
    return [r["Conditions"][0]["PathPatternConfig"]["Values"] for r in rules]


@pytest.mark.parametrize("refused", [False, True])
def test_swapped_rules_take_one_reorder_and_survive_a_refused_swap(moto_endpoint: str, refused: bool) -> None:
    """AWS applies a SetRulePriorities batch at once; an endpoint that refuses the swap
    with PriorityInUse (moto does; ``refused`` forces it) gets the rules parked first."""
    first = json.loads(json.dumps(desired(make_vpc(CLUSTER)).to_json()))
    rule = first["resources"]["80:1"]
    first["resources"]["80:2"] = copy.deepcopy(rule)
    first["resources"]["80:2"]["properties"]["Priority"] = 2
    rule["properties"]["Conditions"] = [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/a"]}}]
    converge(Stack.from_json(first))
    assert _paths() == [["/a"], ["/*"]]
    swapped = copy.deepcopy(first)
    one, two = swapped["resources"]["80:1"]["properties"], swapped["resources"]["80:2"]["properties"]
    one["Conditions"], two["Conditions"] = two["Conditions"], one["Conditions"]
    second = Stack.from_json(swapped)
    steps = plan(second, discovery.find_stack(cluster=CLUSTER, stack_id=STACK))
    assert [s.describe() for s in steps] == ["reorder ListenerRule 80"]
    in_use = Fault("elasticloadbalancing", "SetRulePriorities", "PriorityInUse", "Priority '1' is in use")
    with inject(*([in_use] if refused else [])):
        assert converge(second) == 2
    assert _paths() == [["/*"], ["/a"]]
    assert in_use.raised == (1 if refused else 0)


def _protect() -> str:
    [lb] = clients.elbv2().describe_load_balancers()["LoadBalancers"]
    clients.elbv2().modify_load_balancer_attributes(
        LoadBalancerArn=lb["LoadBalancerArn"], Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}]
    )
    return str(lb["LoadBalancerArn"])


def test_the_applier_never_lifts_deletion_protection(moto_endpoint: str) -> None:
    """The last guard (the reconcile refuses such plans before they run,
    albatross.plan.protection): a delete of a protected load balancer fails, whether a
    live group replaces it or the whole group is deleted; once protection is off (as
    the user asks), the delete goes through."""
    from albatross.aws.errors import UserError

    stack = desired(make_vpc(CLUSTER))
    converge(stack)
    arn = _protect()
    # a live group replacing its load balancer (a new name, as a scheme change gives)
    data = json.loads(json.dumps(stack.to_json()))
    data["resources"]["LoadBalancer"]["properties"]["Name"] = "k8s-game2048-game2048-replaced00"
    replace = [
        s
        for s in plan(Stack.from_json(data), discovery.find_stack(cluster=CLUSTER, stack_id=STACK))
        if s.op == "delete"
    ]
    with pytest.raises(UserError, match=r"deletion protection enabled \(a new load balancer replaces it\)"):
        applier.apply(next(s for s in replace if s.type.endswith("LoadBalancer")), {})
    # the whole group deleted
    [teardown] = [
        s for s in plan(None, discovery.find_stack(cluster=CLUSTER, stack_id=STACK)) if s.id == "LoadBalancer"
    ]
    with pytest.raises(UserError, match=r"deletion protection enabled \(the group is deleted\)"):
        applier.apply(teardown, {})
    assert [lb["LoadBalancerArn"] for lb in clients.elbv2().describe_load_balancers()["LoadBalancers"]] == [arn]
    assert applier.deletion_protected(arn)
    applier.lift_deletion_protection(arn)
    assert not applier.deletion_protected(arn)
    assert converge(None) == 2
    assert +inventory() == Counter()
