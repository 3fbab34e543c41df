"""The lane for user changes (docs/adr/0017-a-lane-for-user-changes.md): which change is
urgent, and the template's urgent queue and concurrency caps.

Expected values: ADR 0017's list (an Ingress created without an address, its spec or
annotations changed, it deleted: urgent; all else bulk), Kubernetes' deletion with a
finalizer (the delete sets ``metadata.deletionTimestamp``, an update, and the object is
removed once its finalizers are), and Lambda's ``ScalingConfig.MaximumConcurrency``
(2 to 1,000 per SQS event source mapping)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from albatross.controller.lanes import urgent
from albatross.local.template import load

ROOT = Path(__file__).resolve().parents[2]

INGRESS: dict[str, Any] = {
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "resourceVersion": "5",
        "annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing"},
        "finalizers": ["ingress.k8s.aws/resources"],
    },
    "spec": {"ingressClassName": "alb", "rules": [{"host": "shop.example.com"}]},
    "status": {"loadBalancer": {"ingress": [{"hostname": "k8s-shop-web.elb.amazonaws.com"}]}},
}


def _with(**changes: Any) -> dict[str, Any]:
    obj = copy.deepcopy(INGRESS)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        at = obj
        for p in parents:
            at = at.setdefault(p, {})
        if value is None:
            at.pop(leaf, None)
        else:
            at[leaf] = value
    return obj


def _lane(
    obj: dict[str, Any], previous: dict[str, Any] | None, *, kind: str = "Ingress", deleted: bool = False
) -> bool:
    return urgent(kind=kind, deleted=deleted, obj=obj, previous=previous)


def test_a_new_ingress_without_an_address_is_urgent_one_with_an_address_is_adopted_in_bulk() -> None:
    assert _lane(_with(status=None), None)
    assert _lane(_with(status={"loadBalancer": {}}), None)
    assert not _lane(INGRESS, None)  # the forwarder's first list of a served Ingress: the adoption


def test_a_change_of_spec_or_annotations_is_urgent() -> None:
    assert _lane(_with(spec__rules=[{"host": "new.example.com"}]), INGRESS)
    assert _lane(_with(metadata__annotations={"alb.ingress.kubernetes.io/scheme": "internal"}), INGRESS)
    assert _lane(_with(metadata__annotations=None), INGRESS)  # every annotation removed


def test_a_status_or_other_metadata_change_is_bulk() -> None:
    assert not _lane(_with(status={"loadBalancer": {"ingress": [{"hostname": "other"}]}}), INGRESS)
    assert not _lane(_with(status=None), INGRESS)
    assert not _lane(_with(metadata__finalizers=None), INGRESS)  # what Albatross writes itself
    assert not _lane(_with(metadata__resourceVersion="6", metadata__labels={"team": "a"}), INGRESS)
    assert not _lane(INGRESS, INGRESS)  # a change sent again


def test_a_delete_is_urgent_whether_it_sets_the_deletion_timestamp_or_removes_the_object() -> None:
    deleting = _with(metadata__deletionTimestamp="2026-12-07T00:00:00Z")
    assert _lane(deleting, INGRESS)
    assert _lane(deleting, None)  # its earlier versions never stored
    assert _lane(_with(metadata__finalizers=None), deleting, deleted=True)
    # once deleting, what follows that is not the user's (the finalizer's removal) is not
    assert not _lane(_with(metadata__deletionTimestamp="2026-12-07T00:00:00Z", metadata__finalizers=None), deleting)


def test_everything_but_an_ingress_is_bulk() -> None:
    service = {"metadata": {"name": "web", "namespace": "shop"}, "spec": {"ports": [{"port": 80}]}}
    for kind in ("Service", "EndpointSlice", "Pod", "Node", "IngressClass", "IngressClassParams", "Namespace"):
        assert not _lane(service, None, kind=kind)
        assert not _lane(service, None, kind=kind, deleted=True)


def _resources() -> dict[str, Any]:
    resources: dict[str, Any] = load(ROOT / "template.yaml")["Resources"]
    return resources


def test_the_urgent_queue_is_a_work_queue_of_its_own_with_its_own_dead_letter_queue_and_alarm() -> None:
    resources = _resources()
    work, urgent_queue = resources["WorkQueue"]["Properties"], resources["UrgentWorkQueue"]["Properties"]
    assert {k: v for k, v in urgent_queue.items() if k != "RedrivePolicy"} == {
        k: v for k, v in work.items() if k != "RedrivePolicy"
    }
    assert "ContentBasedDeduplication" not in urgent_queue  # ids are ours, as on the work queue
    assert urgent_queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["UrgentWorkDeadLetterQueue", "Arn"]},
        "maxReceiveCount": work["RedrivePolicy"]["maxReceiveCount"],
    }
    assert resources["UrgentWorkDeadLetterQueue"]["Properties"] == resources["WorkDeadLetterQueue"]["Properties"]
    alarm = resources["UrgentWorkDeadLetterQueueAlarm"]["Properties"]
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["UrgentWorkDeadLetterQueue", "QueueName"]}}
    ]
    assert {k: v for k, v in alarm.items() if k not in ("Dimensions", "AlarmDescription")} == {
        k: v
        for k, v in resources["WorkDeadLetterQueueAlarm"]["Properties"].items()
        if k not in ("Dimensions", "AlarmDescription")
    }
    body = str(resources["Dashboard"]["Properties"]["DashboardBody"])
    assert "${UrgentWorkQueue.QueueName}" in body
    assert "${UrgentWorkDeadLetterQueue.QueueName}" in body


def test_the_reconcile_functions_queues_are_capped_to_add_up_to_its_reserved_concurrency() -> None:
    function = _resources()["ReconcileFunction"]["Properties"]
    caps = {
        event["Properties"]["Queue"]["Fn::GetAtt"][0]: event["Properties"]["ScalingConfig"]["MaximumConcurrency"]
        for event in function["Events"].values()
        if event["Type"] == "SQS"
    }
    assert caps == {"WorkQueue": 10, "UrgentWorkQueue": 5, "TargetsQueue": 5}
    assert all(2 <= cap <= 1000 for cap in caps.values())  # Lambda's bounds for MaximumConcurrency
    assert sum(caps.values()) == function["ReservedConcurrentExecutions"]
    # ingest sends user changes to the urgent queue; reconcile sends a retry's copy there
    for name in ("IngestFunction", "ReconcileFunction"):
        props = _resources()[name]["Properties"]
        assert props["Environment"]["Variables"]["URGENT_WORK_QUEUE_URL"] == {"Ref": "UrgentWorkQueue"}
        assert {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["UrgentWorkQueue", "QueueName"]}}} in props[
            "Policies"
        ]
