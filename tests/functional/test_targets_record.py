"""Targets synced from Albatross's record of what it registered (ADR 0019), against moto:
a sync with a record makes only the calls that change registrations, no
DescribeTargetHealth; a target group with no record, and every fresh path, reads first.
Drift (a target deregistered by hand) is repaired by the fresh path (the drift sweep);
a call AWS refuses on the record's word is made again after a read. A gated pod the
sync registers gets LBC's first condition without a read.

The expected registrations are what the Service's ready endpoints make (LBC's rule); the
calls are those the ELBv2 API needs for the change: RegisterTargets and DeregisterTargets
each take any number of targets, and DescribeTargetHealth is the only read of a target
group's registrations."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from albatross.aws import clients
from albatross.aws.calls import CallCounter
from albatross.aws.errors import Retryable
from albatross.controller import drift, phases
from albatross.local.faults import Fault, inject
from albatross.model.stack import TARGET_GROUP, Resource, Stack
from albatross.plan.actual import Actual, ActualResource, StackIndex
from tests.functional.forwarding import wait_for
from tests.functional.test_bindings import NS, World, binding, endpoints, registered, service
from tests.functional.test_readiness_sync import GATE, conditions, drain, pod, run_targets, slice_with_pods

GROUP = f"{NS}/checkout"
# what a target group's registrations cost: the one read, and the two changes
TARGET_CALLS = ("DescribeTargetHealth", "RegisterTargets", "DeregisterTargets")


def calls_of(act: Callable[[], Any], *, ops: tuple[str, ...] = ()) -> dict[str, int]:
    """The ELBv2 and EC2 calls ``act`` makes, by operation (only ``ops``, when given)."""
    counter = CallCounter()
    try:
        act()
        calls = counter.snapshot()
    finally:
        counter.close()
    return {
        op: n for (svc, op), n in calls.items() if svc in ("elasticloadbalancing", "ec2") and (not ops or op in ops)
    }


def desired(world: World) -> Stack:
    """An IngressGroup's model: one ip-mode target group (named ``checkout``, so its gate is
    the test's) taking ``checkout``'s endpoints."""
    tg = Resource(
        type=TARGET_GROUP,
        properties={"Name": "checkout", "Port": 8080, "TargetType": "ip", "VpcId": world.vpc},
        binding={"targetType": "ip", "service": f"{NS}/checkout", "servicePortNumber": 80, "ipAddressType": "ipv4"},
    )
    return Stack(stack_id=GROUP, resources={"tg": tg})


def ingress_group(world: World) -> str:
    """The group as a finished provision leaves it (its saved model, its stack index, its
    member, the Service it references), its target group made by hand; the target group's
    ARN."""
    arn = world.target_group("checkout-tg")
    world.send("Service", service())  # before the group references it: no reconcile asked for
    world.store.save_model(GROUP, model=desired(world).to_json(), leaving=[])
    world.store.save_index(GROUP, StackIndex(ids={"tg": arn}, applied={}).to_json())
    world.store.set_refs(GROUP, [f"{NS}/checkout"])
    world.store.add_member(GROUP, f"{NS}/checkout")  # its Ingress: a gated pod's namespace finds the group
    return arn


def test_a_second_sync_registers_the_one_new_endpoint_without_a_read(moto_endpoint: str) -> None:
    world = World()
    arn = ingress_group(world)
    # no record yet (Albatross did not make this target group): read, then register
    calls = calls_of(lambda: world.send("EndpointSlice", endpoints("10.0.1.1", "10.0.1.2")))
    assert calls == {"DescribeTargetHealth": 1, "RegisterTargets": 1}
    assert registered(arn) == {("10.0.1.1", 8080), ("10.0.1.2", 8080)}

    calls = calls_of(lambda: world.send("EndpointSlice", endpoints("10.0.1.1", "10.0.1.2", "10.0.1.3")))
    assert calls == {"RegisterTargets": 1}
    assert registered(arn) == {("10.0.1.1", 8080), ("10.0.1.2", 8080), ("10.0.1.3", 8080)}

    assert calls_of(lambda: world.send("EndpointSlice", endpoints("10.0.1.1", "10.0.1.3"))) == {"DeregisterTargets": 1}
    assert registered(arn) == {("10.0.1.1", 8080), ("10.0.1.3", 8080)}


def test_a_target_group_made_by_this_run_is_registered_without_a_read(moto_endpoint: str) -> None:
    world = World()
    arn = world.target_group("checkout-tg")  # as the provision's apply:TargetGroup made it
    world.send("Service", service())
    world.send("EndpointSlice", endpoints("10.0.1.1", "10.0.1.2"))  # referenced by no group yet: stored

    def sync(created: frozenset[str]) -> None:
        phases.sync_targets(desired(world), {"tg": arn}, world.store, None, group=GROUP, cluster="c1", created=created)

    # the provision's targets phase: nothing vouched for, but the target group is new
    assert calls_of(lambda: sync(frozenset({arn}))) == {"RegisterTargets": 1}
    assert registered(arn) == {("10.0.1.1", 8080), ("10.0.1.2", 8080)}
    # a fresh path trusts no record: it reads, and finds nothing to change
    assert calls_of(lambda: sync(frozenset())) == {"DescribeTargetHealth": 1}


def test_a_target_deregistered_by_hand_comes_back_on_the_fresh_path(moto_endpoint: str) -> None:
    world = World()
    arn = world.target_group("checkout-tf")
    world.send("Service", service())
    world.send("EndpointSlice", endpoints("10.0.1.1", "10.0.1.2"))
    world.send("TargetGroupBinding", binding("checkout", arn))
    a, b, c, d = (("10.0.1.1", 8080), ("10.0.1.2", 8080), ("10.0.1.3", 8080), ("10.0.1.4", 8080))
    assert registered(arn) == {a, b}

    clients.elbv2().deregister_targets(TargetGroupArn=arn, Targets=[{"Id": "10.0.1.2", "Port": 8080}])
    # the fast path trusts its record: it registers the new endpoint and reads nothing, so
    # the hand edit stands ...
    calls = calls_of(
        lambda: world.send("EndpointSlice", endpoints("10.0.1.1", "10.0.1.2", "10.0.1.3")), ops=TARGET_CALLS
    )
    assert calls == {"RegisterTargets": 1}
    assert registered(arn) == {a, c}
    # ... until the drift sweep's fresh sync reads and registers it again
    assert drift.sweep(settings=world.settings, store=world.store, run_id="r1")["bindings"] == ["binding:shop/checkout"]
    world.run_queues()
    assert registered(arn) == {a, b, c}
    # and the record says so: the next change is one call again
    slices = endpoints("10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.4")
    assert calls_of(lambda: world.send("EndpointSlice", slices), ops=TARGET_CALLS) == {"RegisterTargets": 1}
    assert registered(arn) == {a, b, c, d}

    # a target the record holds, deregistered by hand and then no longer wanted: whether
    # AWS refuses the deregistration (moto does: InvalidTarget) or not, the sync ends with
    # the registrations the endpoints make
    clients.elbv2().deregister_targets(TargetGroupArn=arn, Targets=[{"Id": "10.0.1.3", "Port": 8080}])
    world.send("EndpointSlice", endpoints("10.0.1.1", "10.0.1.2", "10.0.1.4"))
    assert registered(arn) == {a, b, d}
    calls = calls_of(lambda: world.send("EndpointSlice", endpoints("10.0.1.1", "10.0.1.4")), ops=TARGET_CALLS)
    assert calls == {"DeregisterTargets": 1}
    assert registered(arn) == {a, d}


def test_a_gated_pod_registered_from_the_record_gets_its_first_condition_without_a_read(
    moto_endpoint: str,
) -> None:
    world = World()
    sqs = clients.sqs()
    world.settings = dataclasses.replace(
        world.settings,
        readiness_queue_url=sqs.create_queue(QueueName="readiness")["QueueUrl"],
        readiness_clock_seconds=0.001,  # the first poll due at once (SQS's least timer, 1 s)
    )

    def run_queues() -> None:
        run_targets(world)  # the targets queue only: the test reads the write-backs

    world.run_queues = run_queues  # type: ignore[method-assign]  # an instance's own queue work
    arn = ingress_group(world)
    world.send("EndpointSlice", slice_with_pods("10.0.1.1", "10.0.1.2", not_ready=("10.0.1.2",)))
    assert registered(arn) == {("10.0.1.1", 8080)}

    # its containers ready: registered, from the record, and LBC's first condition sent
    calls = calls_of(lambda: world.send("Pod", pod("web-2", "10.0.1.2", containers_ready=True)))
    assert calls == {"RegisterTargets": 1}
    assert registered(arn) == {("10.0.1.1", 8080), ("10.0.1.2", 8080)}
    [first] = conditions(world)
    assert first.pod == f"{NS}/web-2"
    assert first.condition is not None
    assert (first.condition.type, first.condition.status, first.condition.reason) == (
        GATE,
        "False",
        "Elb.RegistrationInProgress",
    )
    [poll] = wait_for("the first poll", lambda: drain(world, world.settings.readiness_queue_url))
    assert json.loads(poll)["targets"] == [[f"{NS}/web-2", "uid-web-2", "10.0.1.2", 8080, GATE]]

    # another endpoint joins while the pod still waits: it is one registration, and the
    # waiting pod's conditions are left to its poll (no read to take them from)
    slices = slice_with_pods("10.0.1.1", "10.0.1.2", "10.0.1.3", not_ready=("10.0.1.2",))
    assert calls_of(lambda: world.send("EndpointSlice", slices)) == {"RegisterTargets": 1}
    assert conditions(world) == []


def test_an_apply_trusts_the_record_unless_it_is_fresh(moto_endpoint: str) -> None:
    """A reconcile applying in place (``apply_all``): with the stack index (target digests,
    even none yet) it takes the record's word; a fresh one (no index: the drift sweep,
    CloudTrail) reads, and brings back a target deregistered by hand."""
    world = World()
    arn = world.target_group("checkout-tg")
    a, b, c = ("10.0.1.1", 8080), ("10.0.1.2", 8080), ("10.0.1.3", 8080)
    world.send("Service", service())  # no group references it: stored, no sync
    world.send("EndpointSlice", endpoints("10.0.1.1", "10.0.1.2"))
    model = desired(world)
    world.store.save_model(GROUP, model=model.to_json(), leaving=[])
    actual = Actual(
        resources=(
            ActualResource(id="tg", type=TARGET_GROUP, physical_id=arn, properties=model.resources["tg"].properties),
        )
    )

    def apply(applied: dict[str, str] | None) -> None:
        phases.apply_all(
            store=world.store, group=GROUP, cluster="c1", desired=model, actual=actual, steps=[], applied=applied
        )

    # no record yet: read, registered, recorded
    assert calls_of(lambda: apply({}), ops=TARGET_CALLS) == {"DescribeTargetHealth": 1, "RegisterTargets": 1}
    clients.elbv2().deregister_targets(TargetGroupArn=arn, Targets=[{"Id": "10.0.1.2", "Port": 8080}])
    world.send("EndpointSlice", endpoints("10.0.1.1", "10.0.1.2", "10.0.1.3"))
    assert calls_of(lambda: apply({}), ops=TARGET_CALLS) == {"RegisterTargets": 1}
    assert registered(arn) == {a, c}
    assert calls_of(lambda: apply(None), ops=TARGET_CALLS) == {"DescribeTargetHealth": 1, "RegisterTargets": 1}
    assert registered(arn) == {a, b, c}


def test_a_sync_that_fails_before_its_record_leaves_one_its_retry_deregisters_from(moto_endpoint: str) -> None:
    """The provision's targets task registers, then fails before it records (a throttle, a
    timeout: the state machine retries it); a pod goes meanwhile. The retry must take it
    out: the record written before the calls names what they may have registered."""
    world = World()
    arn = world.target_group("checkout-tg")
    world.send("Service", service())
    world.send("EndpointSlice", endpoints("10.0.1.1", "10.0.1.2"))

    def sync() -> None:
        phases.sync_targets(
            desired(world), {"tg": arn}, world.store, None, group=GROUP, cluster="c1", created=frozenset({arn})
        )

    # the second write of the record (the exact set, after the calls) fails
    with inject(Fault("dynamodb", "PutItem", "InternalServerError", status=500, skip=1)), pytest.raises(Retryable):
        sync()
    assert registered(arn) == {("10.0.1.1", 8080), ("10.0.1.2", 8080)}
    world.send("EndpointSlice", endpoints("10.0.1.1"))  # referenced by no group: stored, no sync
    assert calls_of(sync, ops=TARGET_CALLS) == {"DeregisterTargets": 1}
    assert registered(arn) == {("10.0.1.1", 8080)}
