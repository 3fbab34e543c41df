"""Bad input on the slice's path: an Ingress with an invalid scheme gets a clear Warning
Event, nothing is created for it, and other Ingresses still reconcile; a malformed
event on the bus ends in the ingest dead-letter queue, kept."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client as k8s
from kubernetes import utils

from albatross.aws import clients
from albatross.local.demo import ingress_hostname
from albatross.local.system import LocalSystem
from albatross.model.names import TAG_STACK
from tests.k8s_typing import body

ROOT = Path(__file__).resolve().parents[2]

BAD = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {
        "name": "bad",
        "namespace": "game-2048",
        "annotations": {"alb.ingress.kubernetes.io/scheme": "sideways"},
    },
    "spec": {
        "ingressClassName": "alb",
        "rules": [
            {
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "game-2048", "port": {"number": 80}}},
                        }
                    ]
                }
            }
        ],
    },
}


def warnings(system: LocalSystem, name: str) -> list[tuple[str, str]]:
    """Warning Events on one Ingress; repeats are aggregated into one Event's count."""
    items = k8s.CoreV1Api(system.api()).list_namespaced_event("game-2048").items
    return [(str(e.reason), str(e.message)) for e in items if e.involved_object.name == name and e.type == "Warning"]


def test_invalid_scheme_is_reported_and_blocks_nothing_else(system: LocalSystem) -> None:
    utils.create_from_yaml(system.api(), str(ROOT / "examples/2048/2048.yaml"))  # type: ignore[no-untyped-call]  # untyped in the client
    k8s.NetworkingV1Api(system.api()).create_namespaced_ingress("game-2048", body(BAD))
    [(reason, message)] = system.wait_for("the Warning on the bad Ingress", lambda: warnings(system, "bad"))
    assert reason == "FailedBuildModel"
    assert "alb.ingress.kubernetes.io/scheme" in message
    assert "sideways" in message
    assert system.wait_for("the good Ingress", lambda: ingress_hostname(system, "game-2048", "game-2048"))
    assert ingress_hostname(system, "game-2048", "bad") is None
    stacks = {
        t["Value"]
        for page in clients.tagging().get_paginator("get_resources").paginate()
        for r in page["ResourceTagMappingList"]
        for t in r["Tags"]
        if t["Key"] == TAG_STACK
    }
    assert stacks == {"game-2048/game-2048"}
    assert warnings(system, "game-2048") == []


def test_malformed_event_lands_in_the_dead_letter_queue(system: LocalSystem) -> None:
    clients.events().put_events(
        Entries=[
            {
                "EventBusName": str(system.output("EventBusName")),
                "Source": "albatross.k8s",
                "DetailType": "Ingress",
                "Detail": '{"schemaVersion": "1", "cluster": "albatross-local", "kind": "Ingress", "action": "upsert"}',
            }
        ]
    )
    dlq = str(system.cloud.deployment.attributes["IngestDeadLetterQueue"]["Ref"])

    def dead_letters() -> list[str]:
        messages = clients.sqs().receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages", [])
        return [m["Body"] for m in messages]

    [body] = system.wait_for("the dead letter", dead_letters, timeout=30)
    assert '"action": "upsert"' in body
    utils.create_from_yaml(system.api(), str(ROOT / "examples/2048/2048.yaml"))  # type: ignore[no-untyped-call]  # untyped in the client
    assert system.wait_for(
        "the good Ingress after the poison event", lambda: ingress_hostname(system, "game-2048", "game-2048")
    )
