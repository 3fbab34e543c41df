"""LBC's frontend NLB (``alb.ingress.kubernetes.io/enable-frontend-nlb``) until Albatross
builds it (ADR 0012): asking for one is the Ingress's error, not ignored. LBC makes the NLB,
its listeners and its ``alb``-type target groups part of the group's stack (resource ids
``FrontendNlb``, ``FrontendNlb-ls-TCP-<port>``, ``FrontendNlb-tg-TCP-<port>``, with the
stack's tags), so a reconcile that ignored the annotation would delete the NLB of a stack
LBC made. As an error, ADR 0002 holds such a group as it is, and a group Albatross built
keeps the Ingress's last good version. The annotation reads as LBC reads a boolean
(``strconv.ParseBool``); ``false`` asks for nothing."""

from __future__ import annotations

from typing import Any

import pytest

from albatross.model import assemble
from tests.unit.test_assemble import GROUP, NS, Objects, member
from tests.unit.test_lbc_parity import error
from tests.unit.test_member_errors import CONFIG
from tests.unit.test_model_features import ing, resources, run

A = "alb.ingress.kubernetes.io/"


@pytest.mark.parametrize("value", ["true", "True", "1", "t"])
def test_asking_for_a_frontend_nlb_is_the_ingress_s_error(value: str) -> None:
    reason = error(run(ing(annotations={"enable-frontend-nlb": value})))
    assert reason.startswith("the frontend NLB is not supported yet")
    assert A + "enable-frontend-nlb" in reason


@pytest.mark.parametrize("value", ["false", "False", "0", "f"])
def test_not_asking_for_one_builds_the_alb(value: str) -> None:
    assert "LoadBalancer" in resources(run(ing(annotations={"enable-frontend-nlb": value})))


def test_a_value_strconv_parse_bool_refuses_is_lbc_s_error() -> None:
    reason = error(run(ing(annotations={"enable-frontend-nlb": "yes"})))
    assert reason.startswith(f"failed to parse bool annotation, {A}enable-frontend-nlb: yes")


def _assembled(before: dict[str, Any] | None, *, unmodelled: bool) -> assemble.Assembly:
    """The assembly of a group of one Ingress asking for a frontend NLB, whose last good
    version is ``before`` (None: it never built)."""
    source = Objects()
    obj = member("shop-a", "/", {A + "enable-frontend-nlb": "true"})
    found = {f"{NS}/shop-a": obj}
    members = assemble.classify(source=source, group=GROUP, keys=list(found), objects=found, ingress_class="alb")
    return assemble.assemble(
        source=source,
        config=CONFIG,
        group=GROUP,
        members=members,
        last_good={f"{NS}/shop-a": before},
        unmodelled=unmodelled,
    )


def test_a_group_lbc_made_with_a_frontend_nlb_is_left_as_it_is() -> None:
    """Its load balancers exist and Albatross never modelled them: nothing may be applied."""
    found = _assembled(None, unmodelled=True)
    assert f"{NS}/shop-a" in found.held
    assert found.failed[f"{NS}/shop-a"].startswith("the frontend NLB is not supported yet")


def test_a_group_albatross_built_keeps_the_last_good_version() -> None:
    found = _assembled(member("shop-a", "/"), unmodelled=False)
    assert not found.held
    assert found.built.stack is not None
    assert "LoadBalancer" in found.built.stack.resources
