"""10,000 pods registered in as few calls as AWS's limits allow (issue 16), against moto
with the realistic local AWS's quotas on (:func:`albatross.local.mends.aws_limits`).

The figure comes from AWS, not from our output: a target group holds at most 1,000
targets and a load balancer 1,000 (ELB's "Quotas for your Application Load Balancers"),
so 10,000 pods need ten target groups on ten load balancers. RegisterTargets documents no
per-call limit (ELBv2 API reference), so one call registers a target group's thousand.
A target group Albatross made needs no read of its registrations (ADR 0019: they are
what its record says, nothing at first): one call a target group, 10 for the ten. Each
target group syncs on its own (its group's message, its Service), so one at its quota is
checked here (moto parses a thousand-target request in seconds); the benchmark's
``targets-10000`` runs the ten through the whole offline system."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from albatross.aws import clients
from albatross.aws.calls import CallCounter
from albatross.controller import phases, targets
from albatross.local.mends import aws_limits
from albatross.model import limits
from albatross.model.stack import TARGET_GROUP, Resource, Stack
from albatross.plan.actual import StackIndex
from tests.functional.test_bindings import NS, World, registered, service

PODS = 10_000
TARGET_GROUPS = math.ceil(PODS / limits.TARGETS_PER_TARGET_GROUP)  # ten, each at its quota
WANTED = TARGET_GROUPS  # a registration each: 10
PER_GROUP = limits.TARGETS_PER_TARGET_GROUP


def slice_of(name: str, count: int, base: int) -> dict[str, Any]:
    """One EndpointSlice of ``count`` ready pods (the API allows 1,000 endpoints a slice)."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{name}-abcde", "namespace": NS, "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [f"10.{base}.{i // 250}.{i % 250 + 1}"],
                "conditions": {"ready": True, "serving": True, "terminating": False},
            }
            for i in range(count)
        ],
    }


def load_balanced_target_group(world: World, name: str, subnets: list[str]) -> tuple[str, str]:
    """A target group behind a load balancer of its own, as one IngressGroup's stack has
    it: their ARNs."""
    elbv2 = clients.elbv2()
    arn = world.target_group(name)
    balancer = elbv2.create_load_balancer(Name=name, Subnets=subnets, Type="application")["LoadBalancers"][0]
    elbv2.create_listener(
        LoadBalancerArn=balancer["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}],
    )
    return arn, str(balancer["LoadBalancerArn"])


def stack(group: str, service_key: str, vpc: str) -> dict[str, Any]:
    """The saved model of a group whose one target group takes its Service's endpoints."""
    tg = Resource(
        type=TARGET_GROUP,
        properties={"Port": 8080, "TargetType": "ip", "VpcId": vpc},
        binding={"targetType": "ip", "service": service_key, "servicePortNumber": 80, "ipAddressType": "ipv4"},
    )
    return Stack(stack_id=group, resources={"tg": tg}).to_json()


@pytest.fixture
def world(moto_endpoint: str) -> World:
    return World()


def test_a_target_group_at_its_quota_is_registered_in_one_call(world: World) -> None:
    ec2, elbv2 = clients.ec2(), clients.elbv2()
    subnets = [
        ec2.create_subnet(VpcId=world.vpc, CidrBlock=f"10.0.{200 + i}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate(("us-east-1a", "us-east-1b"))
    ]
    name, group = "svc-0", f"{NS}/app-0"
    with aws_limits(clock=time.monotonic, provisioning_seconds=0):
        arn, balancer = load_balanced_target_group(world, name, subnets)
        world.send("Service", service(name))
        model = stack(group, f"{NS}/{name}", world.vpc)
        world.store.save_model(group, model=model, leaving=[])
        world.store.save_index(group, StackIndex(ids={"tg": arn}, applied={}).to_json())
        # the provision's targets phase, before the pods: the target group it just made
        # holds nothing, and its record says so
        phases.sync_targets(
            Stack.from_json(model), {"tg": arn}, world.store, None, group=group, cluster="c1", created={arn}
        )
        world.send("EndpointSlice", slice_of(name, PER_GROUP, base=100))

        counter = CallCounter()
        try:
            changed = targets.sync_service(
                settings=world.settings, store=world.store, group=group, service=f"{NS}/{name}", cause="scale"
            )
            calls = counter.snapshot()
        finally:
            counter.close()
        assert changed == PER_GROUP

        # the quotas that make ten target groups the fewest: AWS refuses one more target
        # in the target group, and one in another target group of the same load balancer
        with pytest.raises(elbv2.exceptions.TooManyTargetsException):
            elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "10.99.0.1", "Port": 8080}])
        other = world.target_group("svc-other")
        elbv2.create_listener(
            LoadBalancerArn=balancer,
            Protocol="HTTP",
            Port=81,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": other}],
        )
        with pytest.raises(elbv2.exceptions.TooManyTargetsException):
            elbv2.register_targets(TargetGroupArn=other, Targets=[{"Id": "10.99.0.1", "Port": 8080}])

    assert len(registered(arn)) == PER_GROUP
    infra = {op: n for (service_, op), n in calls.items() if service_ in ("elasticloadbalancing", "ec2")}
    assert infra == {"RegisterTargets": 1}, calls
    assert TARGET_GROUPS * sum(infra.values()) <= WANTED
