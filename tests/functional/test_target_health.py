"""The local AWS's target health model (``albatross.local.mends.target_health``): the
states DescribeTargetHealth reports around a registration, as the ELBv2 API reference
describes them (TargetHealth: ``initial`` with ``Elb.RegistrationInProgress`` then
``Elb.InitialHealthChecking``, ``healthy`` with no reason, ``draining`` with
``Target.DeregistrationInProgress``; a deregistered target stays listed while it
drains), and the readiness gates' poll read through it (ADR 0014). Time is a hand-moved
clock, so nothing here waits."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING

from albatross.aws import clients
from albatross.aws.calls import CallCounter
from albatross.controller import readiness
from albatross.local.mends import target_health
from albatross.local.system import make_vpc
from albatross.model.readiness import GatedTarget

if TYPE_CHECKING:
    from mypy_boto3_elbv2.type_defs import TargetDescriptionTypeDef

INTERVAL = 15  # HealthCheckIntervalSeconds, as LBC's default
THRESHOLD = 3  # HealthyThresholdCount
DELAY = 30  # deregistration_delay.timeout_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def target_group() -> str:
    elbv2 = clients.elbv2()
    arn = str(
        elbv2.create_target_group(
            Name="health",
            Protocol="HTTP",
            Port=80,
            VpcId=make_vpc("health"),
            TargetType="ip",
            HealthCheckIntervalSeconds=INTERVAL,
            HealthyThresholdCount=THRESHOLD,
        )["TargetGroups"][0]["TargetGroupArn"]
    )
    elbv2.modify_target_group_attributes(
        TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(DELAY)}]
    )
    return arn


def health(arn: str, *targets: TargetDescriptionTypeDef) -> dict[tuple[str, int], tuple[str, str | None]]:
    """(Id, Port) → (State, Reason), for ``targets`` or (none given) the whole list."""
    elbv2 = clients.elbv2()
    if targets:
        found = elbv2.describe_target_health(TargetGroupArn=arn, Targets=list(targets))["TargetHealthDescriptions"]
    else:
        found = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {
        (t["Target"]["Id"], int(t["Target"]["Port"])): (t["TargetHealth"]["State"], t["TargetHealth"].get("Reason"))
        for t in found
    }


A: TargetDescriptionTypeDef = {"Id": "10.0.1.10", "Port": 80}
B: TargetDescriptionTypeDef = {"Id": "10.0.1.11", "Port": 80}
KEY_A, KEY_B = ("10.0.1.10", 80), ("10.0.1.11", 80)


def test_a_registered_target_is_initial_for_its_health_checks_then_healthy(moto_endpoint: str) -> None:
    arn, clock = target_group(), Clock()
    with target_health(time_scale=1.0, clock=clock) as model:
        clients.elbv2().register_targets(TargetGroupArn=arn, Targets=[A])
        assert health(arn) == {KEY_A: ("initial", "Elb.RegistrationInProgress")}
        clock.now += INTERVAL
        assert health(arn) == {KEY_A: ("initial", "Elb.InitialHealthChecking")}
        clock.now += INTERVAL * (THRESHOLD - 1) - 0.5  # still short of the threshold's last check
        assert health(arn)[KEY_A][0] == "initial"
        clock.now += 0.5
        assert health(arn) == {KEY_A: ("healthy", None)}
        assert model.healthy(arn, clock.now) == 1
        # registering it again changes nothing (RegisterTargets of a registered target)
        clients.elbv2().register_targets(TargetGroupArn=arn, Targets=[A])
        assert health(arn) == {KEY_A: ("healthy", None)}


def test_a_deregistered_target_drains_for_the_delay_then_is_gone(moto_endpoint: str) -> None:
    arn, clock = target_group(), Clock()
    with target_health(time_scale=1.0, intervals=1, clock=clock):
        clients.elbv2().register_targets(TargetGroupArn=arn, Targets=[A, B])
        clock.now += INTERVAL
        clients.elbv2().deregister_targets(TargetGroupArn=arn, Targets=[A])
        drain = ("draining", "Target.DeregistrationInProgress")
        assert health(arn) == {KEY_A: drain, KEY_B: ("healthy", None)}
        assert health(arn, A) == {KEY_A: drain}
        clock.now += DELAY
        assert health(arn) == {KEY_B: ("healthy", None)}
        assert health(arn, A) == {KEY_A: ("unused", "Target.NotRegistered")}


def test_a_draining_target_registered_again_starts_over(moto_endpoint: str) -> None:
    arn, clock = target_group(), Clock()
    with target_health(time_scale=1.0, intervals=2, clock=clock):
        clients.elbv2().register_targets(TargetGroupArn=arn, Targets=[A])
        clock.now += 2 * INTERVAL
        clients.elbv2().deregister_targets(TargetGroupArn=arn, Targets=[A])
        clock.now += 1
        clients.elbv2().register_targets(TargetGroupArn=arn, Targets=[A])
        assert health(arn) == {KEY_A: ("initial", "Elb.RegistrationInProgress")}


def test_durations_follow_the_time_scale(moto_endpoint: str) -> None:
    arn, clock = target_group(), Clock()
    with target_health(time_scale=0.05, intervals=2, clock=clock):
        clients.elbv2().register_targets(TargetGroupArn=arn, Targets=[A])
        clock.now += 2 * INTERVAL * 0.05 - 0.01
        assert health(arn)[KEY_A][0] == "initial"
        clock.now += 0.01
        assert health(arn)[KEY_A][0] == "healthy"
        clients.elbv2().deregister_targets(TargetGroupArn=arn, Targets=[A])
        clock.now += DELAY * 0.05 - 0.01
        assert health(arn)[KEY_A][0] == "draining"
        clock.now += 0.01
        assert health(arn) == {}


def test_the_floor_is_the_fewest_healthy_targets_at_any_instant(moto_endpoint: str) -> None:
    # a rollout too fast for the health checks: B replaces A before B is healthy
    arn, clock = target_group(), Clock()
    with target_health(time_scale=1.0, intervals=2, clock=clock) as model:
        start = clock.now
        clients.elbv2().register_targets(TargetGroupArn=arn, Targets=[A])
        clock.now += 2 * INTERVAL
        assert model.floor(arn, start + 2 * INTERVAL, clock.now) == 1
        clients.elbv2().register_targets(TargetGroupArn=arn, Targets=[B])
        clock.now += INTERVAL  # B still initial
        clients.elbv2().deregister_targets(TargetGroupArn=arn, Targets=[A])
        clock.now += INTERVAL  # B healthy now
        assert model.healthy(arn, clock.now) == 1
        assert model.floor(arn, start + 2 * INTERVAL, clock.now) == 0


def test_off_by_default_and_after_the_model(moto_endpoint: str) -> None:
    arn, clock = target_group(), Clock()
    with target_health(time_scale=1.0, clock=clock):
        pass
    clients.elbv2().register_targets(TargetGroupArn=arn, Targets=[A])
    assert health(arn) == {KEY_A: ("healthy", None)}  # moto's: healthy at once
    clients.elbv2().deregister_targets(TargetGroupArn=arn, Targets=[A])
    assert health(arn) == {}  # and gone at once


def test_targets_registered_before_the_model_count_as_healthy(moto_endpoint: str) -> None:
    arn, clock = target_group(), Clock()
    clients.elbv2().register_targets(TargetGroupArn=arn, Targets=[A])
    with target_health(time_scale=1.0, intervals=1, clock=clock) as model:
        start = clock.now
        clients.elbv2().register_targets(TargetGroupArn=arn, Targets=[B])
        assert health(arn) == {KEY_A: ("healthy", None), KEY_B: ("initial", "Elb.RegistrationInProgress")}
        assert model.healthy(arn, clock.now) == 1
        clock.now += 1
        clients.elbv2().deregister_targets(TargetGroupArn=arn, Targets=[A])
        assert model.floor(arn, start, clock.now) == 0


def test_the_readiness_poll_follows_gated_targets_from_registration_to_healthy(moto_endpoint: str) -> None:
    # ADR 0014: conditions as LBC sets them; one DescribeTargetHealth per poll of the
    # target group, whatever the number of pods; reads paced by the health checks
    gate = "target-health.elbv2.k8s.aws/health"
    gated = [
        GatedTarget(pod=f"default/web-{i}", uid=f"u-{i}", target=key, condition_type=gate)
        for i, key in enumerate((KEY_A, KEY_B))
    ]
    arn, clock = target_group(), Clock()
    with target_health(time_scale=1.0, intervals=2, clock=clock):
        clients.elbv2().register_targets(TargetGroupArn=arn, Targets=[A, B])
        first = readiness.after_registration(gated, {}, interval=INTERVAL, healthy_threshold=2)
        assert [(t.pod, c.status, c.reason) for t, c in first.conditions] == [
            ("default/web-0", "False", "Elb.RegistrationInProgress"),
            ("default/web-1", "False", "Elb.RegistrationInProgress"),
        ]
        assert first.delay == 2 * INTERVAL  # when the targets can first be healthy
        shown = [replace(t, shown=c) for t, c in first.conditions]

        clock.now += INTERVAL
        counter = CallCounter()
        try:
            checking = readiness.poll(arn, shown, interval=INTERVAL, healthy_threshold=2)
        finally:
            counter.close()
        assert counter.snapshot() == {("elasticloadbalancing", "DescribeTargetHealth"): 1}
        assert {c.reason for _, c in checking.conditions} == {"Elb.InitialHealthChecking"}
        assert checking.delay == INTERVAL
        shown = [replace(t, shown=c) for t, c in checking.conditions]
        assert readiness.poll(arn, shown, interval=INTERVAL, healthy_threshold=2).conditions == []  # unchanged

        clock.now += INTERVAL
        healthy = readiness.poll(arn, shown, interval=INTERVAL, healthy_threshold=2)
        assert {(c.status, c.reason, c.message) for _, c in healthy.conditions} == {("True", "", "")}
        assert (healthy.pending, healthy.delay) == ([], None)  # nothing left to read
        [body, _] = [json.loads(wb.to_body()) for wb in readiness.writebacks("cluster", healthy)]
        assert body["type"] == "podCondition"
        assert (body["pod"], body["uid"], body["condition"]["type"]) == ("default/web-0", "u-0", gate)
