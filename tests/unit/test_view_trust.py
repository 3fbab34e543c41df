"""What a step task accepts of its execution's view without asking AWS
(:func:`albatross.controller.phases.vouch`): every id the group's stored records name,
or that hangs under one of those (a listener's, a rule's, an ALB target's ARN extends
its parent's); and what it refuses with no call at all: an id no kind of ours has, a
load balancer to delete that the group neither made nor adopted (tags never make one
deletable) and what hangs under it, an id paired with a desired resource of another
type. Any AWS call here fails the test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from albatross.aws import clients
from albatross.controller.phases import ForeignView, View, vouch
from albatross.kinds.alb_target import physical_id as alb_target_id
from albatross.model.stack import LISTENER, LOAD_BALANCER, TARGET_GROUP, Stack
from albatross.store.table import GroupState, Made

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012"
LB = f"{ARN}:loadbalancer/app/k8s-shop-web-0a1b2c3d4e/50dc6c495c0c9188"
LISTENER_ARN = f"{ARN}:listener/app/k8s-shop-web-0a1b2c3d4e/50dc6c495c0c9188/f2f7dc8efc522ab2"
RULE = f"{ARN}:listener-rule/app/k8s-shop-web-0a1b2c3d4e/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
TG = f"{ARN}:targetgroup/k8s-shop-web-5f4e3d2c1b/73e2d6bc24d8a067"
SG = "sg-0123456789abcdef0"
THEIR_LB = f"{ARN}:loadbalancer/app/team-b-dashboard/8e4ac3ae0b2c1d9f"
THEIR_LISTENER = f"{ARN}:listener/app/team-b-dashboard/8e4ac3ae0b2c1d9f/1f0e2d3c4b5a6978"
DESIRED = Stack.from_json(
    {
        "stack": "shop/web",
        "resources": {
            "LoadBalancer": {"type": LOAD_BALANCER, "properties": {}},
            "LoadBalancer/80": {"type": LISTENER, "properties": {}},
            "tg": {"type": TARGET_GROUP, "properties": {}},
        },
    }
)


@pytest.fixture(autouse=True)
def no_aws() -> Iterator[None]:
    def refuse(model: Any, **_: Any) -> None:
        raise AssertionError(f"AWS was called: {model.name}")

    clients.add_hook("before-call.*.*", refuse, unique_id="test-view-trust-no-aws")
    try:
        yield
    finally:
        clients.remove_hook("test-view-trust-no-aws")


def view(paired: dict[str, str], orphans: dict[str, str] | None = None) -> View:
    return View(paired=paired, orphans=orphans or {}, work=frozenset({"update:Listener"}), started=0.0)


@pytest.mark.parametrize(
    "state",
    [
        GroupState(index={"ids": {"LoadBalancer": LB, "tg": TG, "SecurityGroup": SG}}),
        GroupState(owned=frozenset({LB}), made={TG: Made("tg", 1.0), SG: Made("SecurityGroup", 1.0)}),
    ],
    ids=["stack index", "made and owned"],
)
def test_what_the_records_name_and_what_hangs_under_it_is_accepted_without_a_call(state: GroupState) -> None:
    named = view(
        {"LoadBalancer": LB, "LoadBalancer/80": LISTENER_ARN, "tg": TG, "SecurityGroup": SG},
        {RULE: "LoadBalancer/80/1", alb_target_id(TG, LB, 80): "tg/alb"},
    )
    vouch(cluster="prod", group="shop/web", state=state, view=named, desired=DESIRED, task="apply:Listener")


@pytest.mark.parametrize(
    ("named", "refused", "why"),
    [
        (
            view({"LoadBalancer": LB, "Bucket": "arn:aws:s3:::shop-assets"}),
            "arn:aws:s3:::shop-assets",
            "not an Albatross resource",
        ),
        (view({"LoadBalancer": LB}, {THEIR_LB: "LoadBalancer"}), THEIR_LB, "neither made nor adopted"),
        (view({"LoadBalancer": LB}, {THEIR_LISTENER: "LoadBalancer/80"}), THEIR_LISTENER, "neither made nor adopted"),
        (view({"LoadBalancer": TG}), TG, "not a LoadBalancer"),
    ],
    ids=["no kind of ours", "a load balancer to delete", "a listener under it", "another type"],
)
def test_what_no_record_can_vouch_for_is_refused_without_a_call(named: View, refused: str, why: str) -> None:
    state = GroupState(index={"ids": {"LoadBalancer": LB, "tg": TG, "SecurityGroup": SG}})
    with pytest.raises(ForeignView) as caught:
        vouch(cluster="prod", group="shop/web", state=state, view=named, desired=DESIRED, task="apply:Listener")
    assert f"{refused} (" in str(caught.value)
    assert why in str(caught.value)
    assert "what is not shop/web's" in str(caught.value)
