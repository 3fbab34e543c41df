"""Throttling and 5xx are botocore's to retry (``standard`` mode, 5 attempts), not a loop
of ours: the faults answer at the HTTP level, so botocore's retry handler sees them as
it would see AWS's; what is still failing after the last attempt leaves as our class."""

from __future__ import annotations

import pytest

from albatross.aws import applier, discovery
from albatross.aws.errors import Retryable, Throttled
from albatross.local.faults import Fault, inject
from albatross.local.system import make_vpc
from albatross.plan.actual import Actual
from albatross.plan.planner import plan
from tests.functional.test_ownership import CLUSTER, STACK, desired


def create_all() -> dict[str, str]:
    stack = desired(make_vpc(CLUSTER))
    physical: dict[str, str] = {}
    for step in plan(stack, Actual()):
        applier.apply(step, physical)
    return physical


def test_throttling_and_5xx_are_retried_by_botocore(moto_endpoint: str) -> None:
    throttled = Fault("elasticloadbalancing", "CreateRule", "Throttling", "Rate exceeded", times=2, wire=True)
    unavailable = Fault("ec2", "CreateSecurityGroup", "Unavailable", "try again", status=503, times=2, wire=True)
    with inject(throttled, unavailable):
        physical = create_all()
    assert (throttled.raised, throttled.calls) == (2, 3)
    assert (unavailable.raised, unavailable.calls) == (2, 3)
    assert "80:1" in physical
    assert physical["ManagedLBSecurityGroup"].startswith("sg-")
    assert discovery.find_stack(cluster=CLUSTER, stack_id=STACK).of_type("AWS::ElasticLoadBalancingV2::ListenerRule")


@pytest.mark.parametrize(
    ("code", "status", "error"), [("Throttling", 400, Throttled), ("InternalFailure", 500, Retryable)]
)
def test_what_still_fails_after_the_last_attempt_is_classified(
    moto_endpoint: str, code: str, status: int, error: type[Exception]
) -> None:
    fault = Fault("elasticloadbalancing", "CreateTargetGroup", code, "no", status=status, times=99, wire=True)
    with inject(fault), pytest.raises(error):
        create_all()
    assert fault.calls == 6  # the first attempt and botocore's 5 retries (max_attempts counts retries)
