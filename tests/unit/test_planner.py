"""The planner: creates in dependency order, deletes in reverse, updates only what
differs, replacements for immutable changes, and both AWS shapes of rule conditions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from albatross.model.stack import Stack
from albatross.plan import rules as rule_plan
from albatross.plan.actual import Actual, ActualResource
from albatross.plan.planner import plan, recorded_first, resolve, set_aside

GOLDEN = Path(__file__).parent / "golden" / "2048.json"
SG, TG, LB, L, R = "sg-1", "arn:tg/1", "arn:lb/1", "arn:listener/1", "arn:rule/1"


def desired() -> Stack:
    return Stack.from_json(json.loads(GOLDEN.read_text()))


def as_built(stack: Stack) -> Actual:
    """What AWS would report after creating ``stack`` (refs resolved, AWS's shapes)."""
    physical = {
        "ManagedLBSecurityGroup": SG,
        "game-2048/game-2048-game-2048:80": TG,
        "LoadBalancer": LB,
        "80": L,
        "80:1": R,
    }
    out = []
    for rid, res in stack.resources.items():
        props: dict[str, Any] = resolve(dict(res.properties), physical)
        props.pop("Tags", None)
        if rid == "80:1":
            # AWS answers with both the Values and the Config form, and a top-level ARN.
            props["Conditions"] = [{"Field": "path-pattern", "Values": ["/*"], "PathPatternConfig": {"Values": ["/*"]}}]
            props["Actions"] = [
                {
                    "Type": "forward",
                    "TargetGroupArn": TG,
                    "ForwardConfig": {
                        "TargetGroups": [{"TargetGroupArn": TG, "Weight": 1}],
                        "TargetGroupStickinessConfig": {"Enabled": False},
                    },
                }
            ]
        out.append(ActualResource(id=rid, type=res.type, physical_id=physical[rid], properties=props))
    return Actual(resources=tuple(out))


def kinds(steps: list[Any]) -> list[str]:
    return [s.describe() for s in steps]


def test_empty_account_creates_everything_in_dependency_order() -> None:
    assert kinds(plan(desired(), Actual())) == [
        "create SecurityGroup ManagedLBSecurityGroup",
        "create TargetGroup game-2048/game-2048-game-2048:80",
        "create LoadBalancer LoadBalancer",
        "create Listener 80",
        "create ListenerRule 80:1",
    ]


def test_what_exists_as_desired_needs_no_step() -> None:
    assert plan(desired(), as_built(desired())) == []


def test_no_desired_stack_deletes_in_reverse_order() -> None:
    # the load balancer takes its listeners and rules with it: no call of their own
    assert kinds(plan(None, as_built(desired()))) == [
        "delete LoadBalancer LoadBalancer",
        "delete TargetGroup game-2048/game-2048-game-2048:80",
        "delete SecurityGroup ManagedLBSecurityGroup",
    ]


def test_a_replaced_load_balancer_gets_new_listeners_and_rules() -> None:
    data = json.loads(GOLDEN.read_text())
    data["resources"]["LoadBalancer"]["properties"]["Name"] = "k8s-game2048-game2048-internal00"
    replacing = Stack.from_json(data)
    assert kinds(plan(replacing, as_built(desired()))) == [
        "create LoadBalancer LoadBalancer",
        "create Listener 80",
        "create ListenerRule 80:1",
        "delete LoadBalancer LoadBalancer",
    ]
    # halfway (the new one and its listener exist, same ids as the old one's): the old
    # listener is not mistaken for the new one's
    old = as_built(desired())
    before = {r.id: r for r in old.resources if r.type.endswith(("LoadBalancer", "Listener"))}
    new_lb = ActualResource(
        id="LoadBalancer",
        type=before["LoadBalancer"].type,
        physical_id="arn:lb/2",
        properties={
            **before["LoadBalancer"].properties,
            "Name": data["resources"]["LoadBalancer"]["properties"]["Name"],
        },
    )
    new_listener = ActualResource(
        id="80",
        type="AWS::ElasticLoadBalancingV2::Listener",
        physical_id="arn:listener/2",
        properties={**before["80"].properties, "LoadBalancerArn": "arn:lb/2"},
    )
    halfway = Actual(resources=(*old.resources, new_lb, new_listener))
    assert kinds(plan(replacing, halfway)) == ["create ListenerRule 80:1", "delete LoadBalancer LoadBalancer"]


def _look_alike(built: Actual) -> Actual:
    """``built`` plus someone else's load balancer tagged for the same stack (another
    name), with a listener on the same port and a rule forwarding to its own target group."""
    by_id = {r.id: r for r in built.resources}
    lb = ActualResource(
        id="LoadBalancer",
        type=by_id["LoadBalancer"].type,
        physical_id="arn:lb/foreign",
        properties={**by_id["LoadBalancer"].properties, "Name": "team-b-dashboard", "SecurityGroups": ["sg-b"]},
    )
    listener = ActualResource(
        id="80",
        type=by_id["80"].type,
        physical_id="arn:listener/foreign",
        properties={**by_id["80"].properties, "LoadBalancerArn": "arn:lb/foreign"},
    )
    rule = ActualResource(
        id="80:1",
        type=by_id["80:1"].type,
        physical_id="arn:rule/foreign",
        properties={
            **by_id["80:1"].properties,
            "ListenerArn": "arn:listener/foreign",
            "Actions": [{"Type": "forward", "TargetGroupArn": "arn:tg/foreign"}],
        },
    )
    return Actual(resources=(*built.resources, lb, listener, rule))


def test_a_load_balancer_only_tagged_like_ours_is_set_aside_with_what_hangs_under_it() -> None:
    actual = _look_alike(as_built(desired()))
    assert "delete LoadBalancer LoadBalancer" in kinds(plan(desired(), actual))  # what tags alone used to cause
    kept, aside = set_aside(desired(), actual, recorded={LB})
    assert [r.physical_id for r in aside] == ["arn:lb/foreign"]
    assert kept == as_built(desired())
    assert plan(desired(), kept) == []


def test_a_recorded_duplicate_is_still_deleted() -> None:
    """One Albatross made (the stack index held it, or a provision recorded it)."""
    actual = _look_alike(as_built(desired()))
    kept, aside = set_aside(desired(), actual, recorded={LB, "arn:lb/foreign"})
    assert (kept, aside) == (actual, ())
    assert kinds(plan(desired(), kept)) == ["delete LoadBalancer LoadBalancer"]


def test_an_unrecorded_load_balancer_keeps_what_it_uses_when_the_group_goes() -> None:
    """The group is deleted and its load balancer was never recorded: it stays, and so do
    the security group it uses and the target group its rule forwards to (AWS would
    refuse to delete them anyway); a recorded one goes with them."""
    kept, aside = set_aside(None, as_built(desired()), recorded=set())
    assert [r.physical_id for r in aside] == [LB]
    assert plan(None, kept) == []
    kept, aside = set_aside(None, as_built(desired()), recorded={LB})
    assert aside == ()
    assert len(plan(None, kept)) == 3


def test_recorded_load_balancers_come_first() -> None:
    """The model takes a live load balancer's subnets from the first one of its scheme."""
    actual = _look_alike(as_built(desired()))
    lb_type = actual.resources[-3].type
    ordered = recorded_first(Actual(resources=tuple(reversed(actual.resources))), {LB})
    assert [r.physical_id for r in ordered.of_type(lb_type)] == [LB, "arn:lb/foreign"]


def test_a_health_check_change_is_one_update() -> None:
    data = json.loads(GOLDEN.read_text())
    data["resources"]["game-2048/game-2048-game-2048:80"]["properties"]["HealthCheckPath"] = "/healthz"
    assert kinds(plan(Stack.from_json(data), as_built(desired()))) == [
        "update TargetGroup game-2048/game-2048-game-2048:80"
    ]


def test_a_new_name_replaces_and_repoints_what_refers_to_it() -> None:
    data = json.loads(GOLDEN.read_text())
    data["resources"]["game-2048/game-2048-game-2048:80"]["properties"]["Name"] = "k8s-game2048-game2048-0000000000"
    assert kinds(plan(Stack.from_json(data), as_built(desired()))) == [
        "create TargetGroup game-2048/game-2048-game-2048:80",
        "update ListenerRule 80:1",
        "delete TargetGroup game-2048/game-2048-game-2048:80",
    ]


def test_rules_beyond_nine_sort_as_numbers() -> None:
    data = json.loads(GOLDEN.read_text())
    rule = data["resources"].pop("80:1")
    for priority in (1, 2, 10):
        data["resources"][f"80:{priority}"] = {**rule, "properties": {**rule["properties"], "Priority": priority}}
    creates = [s.id for s in plan(Stack.from_json(data), Actual()) if s.type.endswith("ListenerRule")]
    assert creates == ["80:1", "80:2", "80:10"]


def _with_rules(paths: list[str]) -> Stack:
    data = json.loads(GOLDEN.read_text())
    rule = data["resources"].pop("80:1")
    for priority, path in enumerate(paths, start=1):
        props = {**rule["properties"], "Priority": priority}
        props["Conditions"] = [{"Field": "path-pattern", "PathPatternConfig": {"Values": [path]}}]
        data["resources"][f"80:{priority}"] = {**rule, "properties": props}
    return Stack.from_json(data)


def _built_rules(stack: Stack) -> Actual:
    base = [r for r in as_built(desired()).resources if r.type != "AWS::ElasticLoadBalancingV2::ListenerRule"]
    rules = [
        ActualResource(
            id=rid,
            type=r.type,
            physical_id=f"arn:rule/{r.properties['Conditions'][0]['PathPatternConfig']['Values'][0]}@{rid}",
            properties=resolve(dict(r.properties), {"game-2048/game-2048-game-2048:80": TG, "80": L}),
        )
        for rid, r in stack.resources.items()
        if r.type.endswith("ListenerRule")
    ]
    return Actual(resources=(*base, *rules))


def test_a_rule_inserted_at_the_top_moves_the_others_instead_of_rewriting_them() -> None:
    before = _built_rules(_with_rules(["/a", "/b", "/c"]))
    steps = plan(_with_rules(["/new", "/a", "/b", "/c"]), before)
    assert kinds(steps) == ["reorder ListenerRule 80", "create ListenerRule 80:1"]
    moves = steps[0].desired.properties["RulePriorities"] if steps[0].desired else []
    assert moves == [
        {"RuleArn": "arn:rule//a@80:1", "Priority": 2},
        {"RuleArn": "arn:rule//b@80:2", "Priority": 3},
        {"RuleArn": "arn:rule//c@80:3", "Priority": 4},
    ]


def test_a_removed_rule_in_the_way_of_a_move_goes_first() -> None:
    before = _built_rules(_with_rules(["/a", "/b", "/c"]))
    steps = plan(_with_rules(["/b", "/c"]), before)
    assert kinds(steps) == ["delete ListenerRule 80:1", "reorder ListenerRule 80"]
    moves = steps[1].desired.properties["RulePriorities"] if steps[1].desired else []
    assert moves == [{"RuleArn": "arn:rule//b@80:2", "Priority": 1}, {"RuleArn": "arn:rule//c@80:3", "Priority": 2}]


def test_swapped_rules_are_one_reorder() -> None:
    before = _built_rules(_with_rules(["/a", "/b"]))
    assert kinds(plan(_with_rules(["/b", "/a"]), before)) == ["reorder ListenerRule 80"]


@settings(max_examples=300, deadline=None)
@given(
    before=st.lists(st.sampled_from(["/a", "/b", "/c", "/d", "/e", "/f"]), max_size=8),
    after=st.lists(st.sampled_from(["/a", "/b", "/c", "/d", "/e", "/f", "/g"]), max_size=8),
)
def test_rule_changes_never_exceed_the_larger_count_and_end_as_desired(before: list[str], after: list[str]) -> None:
    actual = _built_rules(_with_rules(before))
    steps = plan(_with_rules(after), actual)
    # replay the steps on a model of the listener: priority -> path
    rules = {
        int(r.properties["Priority"]): r.properties["Conditions"][0]["PathPatternConfig"]["Values"][0]
        for r in actual.of_type("AWS::ElasticLoadBalancingV2::ListenerRule")
    }
    by_arn = {
        r.physical_id: int(r.properties["Priority"])
        for r in actual.of_type("AWS::ElasticLoadBalancingV2::ListenerRule")
    }
    peak = len(rules)
    for step in steps:
        if not step.type.endswith("ListenerRule"):
            continue
        if step.op == "delete":
            assert step.actual is not None
            del rules[int(step.actual.properties["Priority"])]
        elif step.op == "reorder":
            assert step.desired is not None
            moved = {m["Priority"]: rules.pop(by_arn[m["RuleArn"]]) for m in step.desired.properties["RulePriorities"]}
            assert not set(moved) & set(rules), "a move onto a priority still in use"
            rules.update(moved)
        else:
            assert step.desired is not None
            priority = int(step.desired.properties["Priority"])
            assert step.op == "update" or priority not in rules, "a create onto a priority still in use"
            rules[priority] = step.desired.properties["Conditions"][0]["PathPatternConfig"]["Values"][0]
        peak = max(peak, len(rules))
    assert rules == dict(enumerate(after, start=1))
    assert peak <= max(len(before), len(after))


def test_a_rule_in_the_way_is_deleted_once_per_listener() -> None:
    def rule(rid: str, priority: int) -> ActualResource:
        return ActualResource(
            id=rid,
            type="AWS::ElasticLoadBalancingV2::ListenerRule",
            physical_id=f"arn:{rid}",
            properties={"Priority": priority},
        )

    moves = [(rule("80:2", 2), 1)]
    deletes = [rule("80:1", 1), rule("443:1", 1)]
    assert rule_plan.blockers(moves, deletes) == [deletes[0]]
