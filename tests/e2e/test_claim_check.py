"""An Ingress too big for one EventBridge entry travels by claim check: the forwarder
PUTs the full detail to the payload bucket and sends a reference; ingest reads it,
checks its hash and stores the Ingress as if it had come inline, and the ALB is built.
A reference whose hash does not match is refused and kept in the dead-letter queue."""

from __future__ import annotations

import json
from typing import Any

import yaml
from kubernetes import utils

from albatross.aws import clients
from albatross.contract import MAX_ENTRY_BYTES
from albatross.local.demo import ingress_hostname
from albatross.local.system import LocalSystem
from albatross.store.table import Store
from tests.e2e.test_slice import NAME, NS, ROOT

# Under the API server's 256 KiB limit on all annotations, over EventBridge's on an entry.
NOTES = "example.com/notes"
BIG = MAX_ENTRY_BYTES - 256


def test_an_oversize_ingress_travels_through_s3_and_gets_its_alb(system: LocalSystem) -> None:
    for doc in yaml.safe_load_all((ROOT / "examples/2048/2048.yaml").read_text()):
        if doc["kind"] == "Ingress":
            doc["metadata"]["annotations"][NOTES] = "n" * BIG
        utils.create_from_dict(system.api(), doc)  # type: ignore[no-untyped-call]  # untyped in the client

    hostname = system.wait_for("the Ingress address", lambda: ingress_hostname(system, NS, NAME))
    [lb] = clients.elbv2().describe_load_balancers()["LoadBalancers"]
    assert lb["DNSName"] == hostname

    # each change of it (created, finalizer added, status set) went through the payload
    # bucket, under a key naming the change
    bucket = str(system.output("PayloadBucketName"))
    prefix = f"objects/{system.cluster}/Ingress/{NS}/{NAME}/"
    payloads = clients.s3().list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    assert payloads
    assert all(p["Size"] > MAX_ENTRY_BYTES for p in payloads)
    payload = payloads[0]
    body = json.loads(clients.s3().get_object(Bucket=bucket, Key=payload["Key"])["Body"].read())
    assert payload["Key"].startswith(f"{prefix}{body['resourceVersion']}-")
    assert body["object"]["metadata"]["annotations"][NOTES] == "n" * BIG
    assert "entry sent by claim check" in system.log_path.read_text()
    # ingest stored the whole object, as if it had come inline
    stored = Store(str(system.output("StateTableName"))).get_objects("Ingress", [f"{NS}/{NAME}"])[f"{NS}/{NAME}"]
    assert stored["metadata"]["annotations"][NOTES] == "n" * BIG

    # a reference whose hash does not match what is stored: refused, dead-lettered, kept
    forged: dict[str, Any] = {
        "schemaVersion": "2",
        "cluster": system.cluster,
        "kind": "Ingress",
        "action": "upsert",
        "key": f"{NS}/{NAME}",
        "resourceVersion": body["resourceVersion"],
        "objectRef": {"bucket": bucket, "key": payload["Key"], "sha256": "0" * 64},
    }
    clients.events().put_events(
        Entries=[
            {
                "EventBusName": str(system.output("EventBusName")),
                "Source": "albatross.k8s",
                "DetailType": "Ingress",
                "Detail": json.dumps(forged),
            }
        ]
    )
    dlq = str(system.cloud.deployment.attributes["IngestDeadLetterQueue"]["Ref"])

    def dead_letters() -> list[str]:
        messages = clients.sqs().receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages", [])
        return [m["Body"] for m in messages]

    [dead] = system.wait_for("the dead letter", dead_letters, timeout=30)
    assert json.loads(dead)["detail"]["objectRef"]["sha256"] == "0" * 64
