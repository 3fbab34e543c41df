"""Pod readiness gates on the cloud side, wired (ADR 0014), against moto with the local
AWS's target health model on a hand-moved clock: ingest stores a gated pod, the targets
sync registers it once its containers are ready though its endpoint is not (LBC's rule:
its Ready waits for this very target), writes LBC's first condition back without a read
(``Elb.RegistrationInProgress``, "Target registration is in progress") and schedules the
first poll; the poll, once the health checks pass, writes ``True`` with the
TargetHealth's (empty) reason. A pod that shows the condition already is not written to
again; when its binding goes, its gate passes ("Target Group Binding is deleted", LBC's
words); a pod gone is no longer read.

Through a TargetGroupBinding (gate ``target-health.elbv2.k8s.aws/<binding name>``): the
fast path is the same for an Ingress's target groups, whose gate names the target group."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from albatross.aws import clients
from albatross.aws.calls import CallCounter
from albatross.contract.readiness import ReadinessWriteBack, parse_readiness_writeback
from albatross.controller import gates
from albatross.local.mends import target_health
from albatross.model.stack import TARGET_GROUP, Resource, Stack
from tests.functional.forwarding import wait_for
from tests.functional.test_bindings import NS, World, binding, endpoints, registered, service

GATE = "target-health.elbv2.k8s.aws/checkout"  # the binding's name
INTERVAL, THRESHOLD = 15, 2


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def pod(name: str, address: str, *, containers_ready: bool, shown: dict[str, Any] | None = None) -> dict[str, Any]:
    """A gated pod as the forwarder sends it (trimmed)."""
    conditions = [{"type": "ContainersReady", "status": str(containers_ready)}] + ([shown] if shown else [])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}"},
        "spec": {"readinessGates": [{"conditionType": GATE}]},
        "status": {"podIPs": [{"ip": address}], "conditions": conditions},
    }


def slice_with_pods(*addresses: str, not_ready: tuple[str, ...] = ()) -> dict[str, Any]:
    found = endpoints(*addresses, not_ready=not_ready)
    for endpoint, address in zip(found["endpoints"], addresses, strict=True):
        endpoint["targetRef"] = {"kind": "Pod", "namespace": NS, "name": f"web-{address.rsplit('.', 1)[1]}"}
    return found


def drain(world: World, queue: str) -> list[str]:
    sqs, out = clients.sqs(), []
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for m in messages:
            out.append(m["Body"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    return out


def conditions(world: World) -> list[ReadinessWriteBack]:
    parsed = [parse_readiness_writeback(b) for b in drain(world, world.settings.writeback_queue_url)]
    return [p for p in parsed if p is not None and p.type == "podCondition"]


def test_a_gated_pod_is_registered_before_it_is_ready_and_its_gate_follows_its_health(moto_endpoint: str) -> None:
    world = World()
    sqs = clients.sqs()
    world.settings = dataclasses.replace(
        world.settings,
        readiness_queue_url=sqs.create_queue(QueueName="readiness")["QueueUrl"],
        readiness_clock_seconds=0.001,  # polls due at once (SQS's least timer, 1 s): the clock is the test's
    )
    synced: list[str] = []  # the targets syncs ingest asked for, by group
    world.run_queues = lambda: synced.extend(run_targets(world))  # type: ignore[method-assign]  # write-backs read here
    arn = str(
        clients.elbv2().create_target_group(
            Name="checkout-tf",
            Protocol="HTTP",
            Port=80,
            VpcId=world.vpc,
            TargetType="ip",
            HealthCheckIntervalSeconds=INTERVAL,
            HealthyThresholdCount=THRESHOLD,
            Tags=[{"Key": "elbv2.k8s.aws/cluster", "Value": "c1"}],
        )["TargetGroups"][0]["TargetGroupArn"]
    )
    clock = Clock()
    with target_health(time_scale=1.0, clock=clock):
        world.send("Service", service())
        world.send("EndpointSlice", slice_with_pods("10.0.1.1", "10.0.1.2", not_ready=("10.0.1.2",)))
        world.send("TargetGroupBinding", binding("checkout", arn))
        assert registered(arn) == {("10.0.1.1", 8080)}  # the gated pod is not known yet: not ready, not a target
        assert conditions(world) == []

        # the pod arrives, its containers ready: a target now, and its gate says so
        world.send("Pod", pod("web-2", "10.0.1.2", containers_ready=True))
        assert synced[-1] == "binding:shop/checkout"  # ingest sent it to the binding's targets sync
        assert registered(arn) == {("10.0.1.1", 8080), ("10.0.1.2", 8080)}
        [first] = conditions(world)
        assert (first.pod, first.uid) == (f"{NS}/web-2", "uid-web-2")
        assert first.condition is not None
        assert (first.condition.type, first.condition.status, first.condition.reason, first.condition.message) == (
            GATE,
            "False",
            "Elb.RegistrationInProgress",
            "Target registration is in progress",
        )
        # the first poll, due when the target can first be healthy (2 checks 15 s apart)
        [poll] = wait_for("the first poll", lambda: drain(world, world.settings.readiness_queue_url))
        assert json.loads(poll)["targets"] == [[f"{NS}/web-2", "uid-web-2", "10.0.1.2", 8080, GATE]]
        the_gates = gates.Gates.of(world.settings)

        # polled before the checks passed: still initial, nothing new to write, polled again
        clock.now += INTERVAL
        assert gates.poll_message(poll, gates=the_gates, store=world.store) == 1  # InitialHealthChecking
        [checking] = conditions(world)
        assert checking.condition is not None
        assert (checking.condition.status, checking.condition.reason) == ("False", "Elb.InitialHealthChecking")
        # the pod shows it (the forwarder applied it): no registration changes, no sync asked for
        before = len(synced)
        world.send(
            "Pod",
            pod(
                "web-2",
                "10.0.1.2",
                containers_ready=True,
                shown={
                    "type": GATE,
                    "status": "False",
                    "reason": "Elb.InitialHealthChecking",
                    "message": checking.condition.message,
                },
            ),
        )
        assert len(synced) == before
        [again] = wait_for("the next poll", lambda: drain(world, world.settings.readiness_queue_url))
        assert gates.poll_message(again, gates=the_gates, store=world.store) == 0  # shown already: not written

        # healthy: the gate passes with the TargetHealth's empty reason, and no poll follows
        clock.now += INTERVAL
        assert gates.poll_message(again, gates=the_gates, store=world.store) == 1
        [passed] = conditions(world)
        assert passed.condition is not None
        assert (passed.condition.status, passed.condition.reason) == ("True", "")
        assert drain(world, world.settings.readiness_queue_url) == []

        # the binding goes: its pods' gates pass (LBC's message), so none stays unready
        # (the pod as last sent still shows InitialHealthChecking)
        world.send("TargetGroupBinding", binding("checkout", arn), delete=True)
        [released] = conditions(world)
        assert released.condition is not None
        assert (released.pod, released.condition.status, released.condition.message) == (
            f"{NS}/web-2",
            "True",
            "Target Group Binding is deleted",
        )

        # a pod gone is no longer read: no DescribeTargetHealth for it
        world.send("Pod", pod("web-2", "10.0.1.2", containers_ready=True), delete=True)
        counter = CallCounter()
        try:
            assert gates.poll_message(again, gates=the_gates, store=world.store) == 0
        finally:
            counter.close()
        assert not counter.snapshot().get(("elasticloadbalancing", "DescribeTargetHealth"))


def run_targets(world: World) -> list[str]:
    """The reconcile function's targets-queue work (the write-backs are left for the
    test); returns the groups synced."""
    from albatross.controller import targets

    sqs, done = clients.sqs(), []
    while messages := sqs.receive_message(QueueUrl=world.settings.targets_queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        for m in messages:
            body = json.loads(m["Body"])
            targets.sync_service(
                settings=world.settings,
                store=world.store,
                group=body["group"],
                service=body.get("service"),
                cause=m["MessageId"],
            )
            done.append(body["group"])
            sqs.delete_message(QueueUrl=world.settings.targets_queue_url, ReceiptHandle=m["ReceiptHandle"])
    return done


def test_a_reconcile_tells_the_webhook_which_pods_to_gate_in_labelled_namespaces(moto_endpoint: str) -> None:
    """LBC's webhook gates a pod on each ``ip``-mode target group whose Service selects it,
    in namespaces labelled ``elbv2.k8s.aws/pod-readiness-gate-inject=enabled`` only; the
    gates' write-back lists them per namespace and group, and an empty one takes them back
    when the group no longer serves that namespace."""
    world = World()
    world.run_queues = lambda: None  # type: ignore[method-assign]  # nothing is queued here
    labelled = {"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}
    world.send("Namespace", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "labels": labelled}})
    world.send("Namespace", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "plain"}})
    for namespace in (NS, "plain"):
        selected = service()
        selected["metadata"]["namespace"] = namespace
        selected["spec"]["selector"] = {"app": "checkout"}
        world.send("Service", selected)

    def target_group(name: str, namespace: str, target_type: str = "ip") -> Resource:
        binding = {"service": f"{namespace}/checkout", "servicePortNumber": 80, "targetType": target_type}
        return Resource(type=TARGET_GROUP, properties={"Name": name}, binding=binding)

    stack = Stack(
        stack_id="shop/web",
        resources={
            "tg-ip": target_group("k8s-shop-checkou-0123456789", NS),
            "tg-instance": target_group("k8s-shop-checkou-9876543210", NS, "instance"),
            "tg-plain": target_group("k8s-plain-checkou-1111111111", "plain"),
        },
    )
    the_gates = gates.Gates.of(world.settings)
    sent = gates.send_gates(the_gates, store=world.store, group="shop/web", desired=stack, previous=None)
    [message] = [parse_readiness_writeback(b) for b in drain(world, world.settings.writeback_queue_url)]
    assert message == sent[0]
    assert message is not None
    assert (message.type, message.namespace, message.group) == ("readinessGates", NS, "shop/web")
    assert {name: (dict(g.selector), g.gates) for name, g in message.services.items()} == {
        "checkout": ({"app": "checkout"}, ("target-health.elbv2.k8s.aws/k8s-shop-checkou-0123456789",))
    }
    # the group's Ingresses go: its key in that namespace goes too
    gates.send_gates(the_gates, store=world.store, group="shop/web", desired=None, previous=stack)
    [gone] = [parse_readiness_writeback(b) for b in drain(world, world.settings.writeback_queue_url)]
    assert gone is not None
    assert (gone.namespace, dict(gone.services)) == (NS, {})
    # a group with nothing in a labelled namespace says nothing
    only_plain = Stack(stack_id="plain/web", resources={"tg": target_group("k8s-plain-checkou-1111111111", "plain")})
    assert gates.send_gates(the_gates, store=world.store, group="plain/web", desired=only_plain, previous=None) == []
