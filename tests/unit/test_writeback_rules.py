"""What the write-back consumer agrees to do, message by message (issue 14, item 6), and
that the cloud side asks for nothing it would refuse: every Event reason the producer
code writes is one the consumer records, and every write-back it makes carries the
Ingress's uid."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.configuration import Configuration

from albatross.contract import EVENT_REASONS, IMPLICIT_FINALIZER, WriteBack, finalizer_for, is_our_finalizer
from albatross.controller import queues, report
from albatross.controller.settings import Settings
from albatross.model import names
from albatross.model.stack import LOAD_BALANCER
from albatross.plan.actual import Actual, ActualResource
from albatross_forwarder.kube import Kube
from albatross_forwarder.main import is_managed
from albatross_forwarder.writeback import WriteBackConsumer

ROOT = Path(__file__).resolve().parents[2]
# where write-backs are made: the controller (reconcile, report, steps) and the handlers
PRODUCERS = [ROOT / "layers/core/albatross/controller", ROOT / "functions"]
UID = "0b5c2a4e-1111-4c1e-9e55-5f0d7b1f7a10"


@pytest.mark.parametrize(
    ("name", "ours"),
    [
        ("ingress.k8s.aws/resources", True),
        ("group.ingress.k8s.aws/team-a", True),
        ("group.ingress.k8s.aws/a.b-c", True),
        ("group.ingress.k8s.aws/", False),
        ("group.ingress.k8s.aws/Team_A", False),  # not a valid group name: never one we add
        ("group.ingress.k8s.aws/" + "a" * 64, False),
        ("ingress.k8s.aws/resources-x", False),
        ("example.com/keep-until-backup", False),
        ("kubernetes", False),
        ("", False),
    ],
)
def test_our_finalizers_are_the_implicit_one_and_one_per_valid_group(name: str, ours: bool) -> None:
    assert is_our_finalizer(name) is ours


def _reasons_written() -> set[str]:
    """``reason="..."`` of every ``WriteBack(...)`` and ``warnings(...)`` call."""
    found: set[str] = set()
    for folder in PRODUCERS:
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
                if name not in ("WriteBack", "warnings"):
                    continue
                for keyword in node.keywords:
                    if keyword.arg == "reason" and isinstance(keyword.value, ast.Constant):
                        found.add(str(keyword.value.value))
    return found


def test_every_event_reason_the_cloud_side_writes_is_one_the_forwarder_records() -> None:
    written = _reasons_written()
    assert {"SuccessfullyReconciled", "FailedBuildModel", "FailedDeployModel"} <= written  # the scan sees them
    assert written <= EVENT_REASONS, f"add to albatross.contract.EVENT_REASONS: {sorted(written - EVENT_REASONS)}"


def ingress(*, cls: str = "alb", namespace: str = "shop", deleting: bool = False, **meta: Any) -> dict[str, Any]:
    metadata = {"name": "web", "namespace": namespace, "uid": UID, **meta}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": metadata, "spec": {"ingressClassName": cls}}


@pytest.fixture
def consumer() -> WriteBackConsumer:
    config = Configuration()
    config.host = "http://127.0.0.1:9"  # never called: only the judgement is tested here
    return WriteBackConsumer(
        sqs_client=None,
        queue_url="",
        kube=Kube(config),
        cluster="c",
        manages=lambda o: is_managed(o, "alb") and o["metadata"]["namespace"] != "elsewhere",
        finalizer_of=lambda o: finalizer_for(o, {}),
    )


def status(uid: str = "") -> WriteBack:
    return WriteBack(type="status", cluster="c", ingress="shop/web", uid=uid, hostnames=("h",))


def event(reason: str = "FailedBuildModel", uid: str = "") -> WriteBack:
    return WriteBack(
        type="event", cluster="c", ingress="shop/web", uid=uid, event_type="Warning", reason=reason, message="m"
    )


def remove(finalizer: str = IMPLICIT_FINALIZER, uid: str = "") -> WriteBack:
    return WriteBack(type="removeFinalizer", cluster="c", ingress="shop/web", uid=uid, finalizer=finalizer)


GROUP = "group.ingress.k8s.aws/team-a"
TEAM_A = {"alb.ingress.kubernetes.io/group.name": "team-a"}


@pytest.mark.parametrize(
    ("message", "live", "refusal"),
    [
        (status(), ingress(), None),
        (status(UID), ingress(), None),
        (status("another"), ingress(), "uid-mismatch"),
        (status(), ingress(cls="nginx"), "not-managed"),
        (status(), ingress(namespace="elsewhere"), "not-managed"),  # a namespace not watched
        (event(), ingress(), None),
        (event(uid="another"), ingress(), "uid-mismatch"),
        (event("ActionRequired"), ingress(), "foreign-reason"),
        (event(), ingress(cls="nginx"), "not-managed"),
        # left the class, its teardown still reported: it carries our finalizer
        (event(), ingress(cls="nginx", finalizers=[IMPLICIT_FINALIZER]), None),
        (event(), ingress(cls="nginx", finalizers=["example.com/keep-until-backup"]), "not-managed"),
        (remove("example.com/keep-until-backup"), ingress(cls="nginx"), "foreign-finalizer"),
        (remove("example.com/keep-until-backup"), ingress(deleting=True), "foreign-finalizer"),
        (remove(uid="another"), ingress(deleting=True), "uid-mismatch"),
        (remove(), ingress(), "finalizer-still-needed"),  # a live member of its implicit group
        (remove(GROUP), ingress(annotations=TEAM_A), "finalizer-still-needed"),
        (remove(), ingress(deleting=True), None),
        (remove(uid=UID), ingress(deleting=True), None),
        (remove(), ingress(cls="nginx"), None),  # left the class
        (remove(), ingress(namespace="elsewhere"), None),  # no longer watched
        (remove(GROUP), ingress(), None),  # moved from team-a to its own implicit group
        (remove(), ingress(annotations=TEAM_A), None),  # moved from its implicit group to team-a
    ],
)
def test_what_is_refused(consumer: WriteBackConsumer, message: WriteBack, live: Any, refusal: str | None) -> None:
    found = consumer.refusal(message, live)
    assert (found[0] if found else None) == refusal


class StoredIngresses:
    """The state table as report.py reads it: stored Ingress snapshots by key."""

    def __init__(self, objects: dict[str, dict[str, Any]]) -> None:
        self.objects = objects
        self.removed: list[str] = []

    def get_objects(self, kind: str, keys: Any) -> dict[str, dict[str, Any]]:
        assert kind == "Ingress"
        return {k: self.objects[k] for k in keys if k in self.objects}

    def remove_member(self, group: str, key: str) -> None:
        self.removed.append(key)

    def member_records(self, group: str) -> dict[str, dict[str, Any] | None]:
        """Every stored Ingress has a version that built (the served members)."""
        return dict(self.objects)


def test_every_write_back_the_cloud_side_makes_names_the_ingress_uid(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[WriteBack] = []
    monkeypatch.setattr(queues, "send_writebacks", lambda _url, messages: sent.extend(messages))
    settings = Settings(
        cluster="c",
        vpc_id="vpc-1",
        region="us-east-1",
        table="t",
        work_queue_url="w",
        writeback_queue_url="wb",
        provision_state_machine="p",
        teardown_state_machine="t",
    )
    live = {"metadata": {"name": "web", "namespace": "shop", "uid": UID}, "spec": {"ingressClassName": "alb"}}
    leaving = {
        "metadata": {"name": "old", "namespace": "shop", "uid": "u-old", "deletionTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"ingressClassName": "alb"},
    }
    store: Any = StoredIngresses({"shop/web": live, "shop/old": leaving})
    report.finish(
        settings=settings,
        store=store,
        group="shop/web",
        members=["shop/web"],
        leaving=[{"ingress": "shop/old", "finalizer": IMPLICIT_FINALIZER}],
        changed=True,
        actual=Actual((ActualResource(names.LOAD_BALANCER_ID, LOAD_BALANCER, "arn:lb", {"DNSName": "lb.example"}),)),
    )
    report.failed(settings=settings, store=store, group="shop/web", members=["shop/web"], error="boom")
    assert {(m.type, m.ingress, m.uid) for m in sent} == {
        ("status", "shop/web", UID),
        ("event", "shop/web", UID),
        ("removeFinalizer", "shop/old", "u-old"),
    }
    assert len(sent) == 4  # the status, SuccessfullyReconciled, the removal, FailedDeployModel
    warned = report.warnings(
        settings, ["shop/web", "shop/gone"], reason="FailedBuildModel", message="m", objects={"shop/web": live}
    )
    assert [m.uid for m in warned] == [UID, ""]  # unknown: not checked by the forwarder
