"""The work queues' dead-letter queues hold poison only (ADR 0009), through the whole
offline system: AWS throttling one call for more receives than the queue's
maxReceiveCount still converges with nothing dead-lettered and no Warning, and a failure
our code does not know to pass by itself (CreateRule refused with PriorityInUse: our
priorities collide with the listener's, a defect) reaches the dead-letter queue after
maxReceiveCount receives with exactly one Warning, whose redrive command brings the
change back once the cause is gone. The change here is a user's (a path added to the
Ingress's spec): it goes on the urgent work queue (ADR 0017), whose dead-letter queue
it reaches."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import utils

from albatross.aws import clients
from albatross.cli.main import main
from albatross.local.demo import ingress_hostname
from albatross.local.faults import Fault, inject
from albatross.local.system import LocalSystem
from albatross.store.table import Store

ROOT = Path(__file__).resolve().parents[2]
NS = NAME = "game-2048"
BACKEND = {"service": {"name": NAME, "port": {"number": 80}}}


def max_receives(system: LocalSystem) -> int:
    """The work queue's maxReceiveCount, as SQS holds it."""
    url = str(system.output("WorkQueueUrl"))
    attrs = clients.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]
    return int(json.loads(attrs["RedrivePolicy"])["maxReceiveCount"])


def waiting(system: LocalSystem, output: str) -> int:
    attrs = clients.sqs().get_queue_attributes(
        QueueUrl=str(system.output(output)),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def warnings(system: LocalSystem) -> list[tuple[str, str]]:
    items = k8s.CoreV1Api(system.api()).list_namespaced_event(NS).items
    return [(str(e.reason), str(e.message)) for e in items if e.type == "Warning"]


def rules() -> int:
    elbv2 = clients.elbv2()
    [lb] = elbv2.describe_load_balancers()["LoadBalancers"]
    [listener] = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    return sum(1 for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"] if not r["IsDefault"])


def quiet(system: LocalSystem) -> bool:
    """Ingest stored the address the creation wrote back, and no reconcile is requested or
    running: the change made next is the group's only request. (The write-back is an
    Ingress change of its own, asked for on the work queue: a user's change made while it
    is pending is not coalesced into it, ADR 0017, and would share the faults below.)"""
    stored = Store(str(system.output("StateTableName"))).get_objects("Ingress", [f"{NS}/{NAME}"])
    status = (stored.get(f"{NS}/{NAME}") or {}).get("status") or {}
    if not (status.get("loadBalancer") or {}).get("ingress"):
        return False
    for output in ("WorkQueueUrl", "UrgentWorkQueueUrl"):
        attrs = clients.sqs().get_queue_attributes(
            QueueUrl=str(system.output(output)),
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        if any(v != "0" for v in attrs.values()):
            return False
    return not system.dispatcher.busy()


def ready(system: LocalSystem) -> None:
    utils.create_from_yaml(system.api(), str(ROOT / "examples/2048/2048.yaml"))  # type: ignore[no-untyped-call]  # untyped in the client
    system.wait_for("the address", lambda: ingress_hostname(system, NS, NAME))
    system.wait_for("the write-back's reconcile", lambda: quiet(system))
    assert rules() == 1


def add_path(system: LocalSystem, path: str) -> None:
    paths: list[dict[str, Any]] = [{"path": p, "pathType": "Prefix", "backend": BACKEND} for p in ("/", path)]
    k8s.NetworkingV1Api(system.api()).patch_namespaced_ingress(
        NAME, NS, {"spec": {"rules": [{"http": {"paths": paths}}]}}
    )


def test_throttling_for_more_receives_than_the_dead_letter_limit_converges_by_itself(system: LocalSystem) -> None:
    ready(system)
    limit = max_receives(system)
    throttled = Fault(
        service="elasticloadbalancing",
        operation="CreateRule",
        code="Throttling",
        message="Rate exceeded",
        times=limit + 1,
    )
    with inject(throttled):
        add_path(system, "/new")
        system.wait_for("the new rule", lambda: rules() == 2, timeout=90)
    # The group's first request met every throttled answer but one: FIFO holds the rest of
    # its group behind it, so it failed on all its receives, its last one included.
    assert throttled.raised == limit + 1
    assert throttled.calls == limit + 2
    assert waiting(system, "WorkDeadLetterQueueUrl") == 0
    assert waiting(system, "UrgentWorkDeadLetterQueueUrl") == 0
    assert waiting(system, "TargetsDeadLetterQueueUrl") == 0
    assert warnings(system) == []  # nothing for a human to do


def test_poison_is_dead_lettered_with_one_warning_naming_it_and_its_redrive(
    system: LocalSystem, tmp_path: Path, capsys: Any
) -> None:
    ready(system)
    limit = max_receives(system)
    collides = Fault(
        service="elasticloadbalancing",
        operation="CreateRule",
        code="PriorityInUse",
        message="Priority '2' is currently in use",
        times=limit,
    )
    with inject(collides):
        add_path(system, "/new")
        system.wait_for(
            "the request in the dead-letter queue", lambda: waiting(system, "UrgentWorkDeadLetterQueueUrl") == 1
        )
    assert collides.raised == limit  # every receive the queue allows, and no more
    [(reason, message)] = system.wait_for("the Warning", lambda: warnings(system))
    assert reason == "FailedDeployModel"
    assert "PriorityInUse: Priority '2' is currently in use" in message
    assert f"failed {limit} times" in message
    assert "urgent dead-letter queue" in message
    assert rules() == 1  # nothing was applied meanwhile

    found = re.search(r"albatross (redrive --queue \w+)$", message)
    assert found is not None, message
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(system.cloud.deployment.outputs))
    assert main([*found.group(1).split(), "--outputs", str(outputs)]) == 0
    assert "sent back 1 message(s)" in capsys.readouterr().out
    system.wait_for("the new rule", lambda: rules() == 2)
    assert waiting(system, "UrgentWorkDeadLetterQueueUrl") == 0
    assert waiting(system, "WorkDeadLetterQueueUrl") == 0
    assert len(warnings(system)) == 1
