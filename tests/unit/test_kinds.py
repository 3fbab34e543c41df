"""The kinds registry (ADR 0011): every resource type the model produces has its kind
module, in an order where parents come first, and each kind says everything the
planner, applier and discovery ask of it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from albatross.kinds import CREATE_ORDER, DELETE_ORDER, KINDS, kind_of, roots
from albatross.kinds.base import Kind
from albatross.model import stack
from albatross.model.stack import Stack

GOLDEN = Path(__file__).parent / "golden" / "2048.json"
TYPE_LITERAL = r"AWS::[A-Za-z0-9]+::[A-Za-z0-9]+"


def model_types() -> set[str]:
    """Every resource type the model names: its ``AWS::...`` constants, and any such
    type written out anywhere in the model's sources (a type made without a constant)."""
    constants = {v for k, v in vars(stack).items() if k.isupper() and isinstance(v, str) and v.startswith("AWS::")}
    written = {
        m for path in Path(stack.__file__).parent.glob("*.py") for m in re.findall(TYPE_LITERAL, path.read_text())
    }
    return constants | written


def test_every_resource_type_of_the_model_has_a_kind_and_no_kind_is_extra() -> None:
    assert len(model_types()) >= 5
    assert {k.type for k in KINDS} == model_types()
    assert len(KINDS) == len(model_types())  # one module each, none twice


def test_every_resource_of_a_built_stack_has_its_kind() -> None:
    built = Stack.from_json(json.loads(GOLDEN.read_text()))
    assert {kind_of(r.type).type for r in built.resources.values()} == {r.type for r in built.resources.values()}
    with pytest.raises(ValueError, match="unknown resource type"):
        kind_of("AWS::ElasticLoadBalancingV2::TrustStore")


def test_a_parent_comes_before_what_hangs_under_it_and_deletes_run_in_reverse() -> None:
    for kind in KINDS:
        if kind.parent_type is not None:
            assert CREATE_ORDER.index(kind.parent_type) < CREATE_ORDER.index(kind.type)
            assert kind.parent_property is not None
    assert tuple(reversed(CREATE_ORDER)) == DELETE_ORDER
    # what a load balancer uses exists before it: its security groups, and the target
    # groups its listeners' actions forward to
    assert CREATE_ORDER.index(stack.SECURITY_GROUP) < CREATE_ORDER.index(stack.LOAD_BALANCER)
    assert CREATE_ORDER.index(stack.TARGET_GROUP) < CREATE_ORDER.index(stack.LISTENER)


def _overrides(kind: Kind, name: str) -> bool:
    return getattr(type(kind), name) is not getattr(Kind, name)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_each_kind_says_how_it_compares_is_read_and_is_changed(kind: Kind) -> None:
    for method in ("identity", "mutable_view", "create", "update", "delete"):
        assert _overrides(kind, method), f"{kind.name} lacks {method}"
    if kind.parent_type is None:  # found by tags and read by id
        assert kind.tag_filter
        assert _overrides(kind, "describe")
    else:  # listed under its parent, or read under it by id
        assert _overrides(kind, "list_under")
        assert _overrides(kind, "read_under")
    if kind.adopts_by_name:
        assert _overrides(kind, "named")


def test_discovery_reads_the_load_balancer_first_then_what_it_uses() -> None:
    assert [k.type for k in roots()] == [stack.LOAD_BALANCER, stack.TARGET_GROUP, stack.SECURITY_GROUP]


def test_a_physical_id_belongs_to_one_kind() -> None:
    ids = {
        stack.SECURITY_GROUP: "sg-0123",
        stack.TARGET_GROUP: "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/k8s-a/1",
        stack.LOAD_BALANCER: "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/k8s-a/1",
        stack.LISTENER: "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/k8s-a/1/2",
        stack.LISTENER_RULE: "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/k8s-a/1/2/3",
    }
    for type_, physical_id in ids.items():
        assert [k.type for k in KINDS if k.owns(physical_id)] == [type_]
