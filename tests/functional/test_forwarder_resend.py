"""The forwarder's half of healing lost changes (issue 14, item 8), against the Kubernetes
API double: the Resync lists the resourceVersion last *sent* of each key (an update that
changes nothing sent leaves it, as ingest's stored one stays), and a ``resend`` write-back
has the object read afresh and sent again, changed or not, or its delete sent when it is
gone. Only what the forwarder forwards is read; anything else, and any kind it does not
forward, is dropped and counted; a message nobody's term can act on stays queued."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from kubernetes import client as k8s

from albatross.aws import clients
from albatross.contract import IMPLICIT_FINALIZER, ObjectChange, WriteBack, finalizer_for
from albatross.local.kube import KubeDouble
from albatross_forwarder.kube import INGRESSES, NODES, Kube
from albatross_forwarder.main import is_managed, reader
from albatross_forwarder.watch import Watcher
from albatross_forwarder.writeback import WriteBackConsumer
from tests.functional.forwarding import NS, Bus, Forwarders, ingress, metric, wait_for
from tests.k8s_typing import body, must


@pytest.fixture
def sent() -> list[ObjectChange]:
    return []


@pytest.fixture
def watcher(api: k8s.ApiClient, sent: list[ObjectChange]) -> Watcher:
    return Watcher(
        kind="Ingress",
        source=Kube(api.configuration).collection(INGRESSES),
        cluster="c",
        emit=sent.append,
        wanted=lambda o: is_managed(o, "alb"),
        watch_timeout=1,
    )


class Reads:
    """Reads Ingresses by name as the forwarder does for a resend, and counts them."""

    def __init__(self, api: k8s.ApiClient) -> None:
        self.fetch = reader(Kube(api.configuration), INGRESSES)
        self.names: list[tuple[str | None, str]] = []

    def __call__(self, namespace: str | None, name: str) -> Mapping[str, Any] | None:
        self.names.append((namespace, name))
        return self.fetch(namespace, name)


def rv_of(api: k8s.ApiClient, name: str, kind: str = "Ingress") -> str:
    """The resourceVersion of an Ingress (or Service) now, read by a list as the
    forwarder reads (so a read by name in the double's log is the forwarder's)."""
    if kind == "Service":
        items: list[Any] = k8s.CoreV1Api(api).list_namespaced_service(NS).items
    else:
        items = k8s.NetworkingV1Api(api).list_namespaced_ingress(NS).items
    [found] = [must(i.metadata) for i in items if must(i.metadata).name == name]
    return str(found.resource_version)


def test_a_resend_sends_the_object_as_it_is_now_changed_or_not(
    api: k8s.ApiClient, watcher: Watcher, sent: list[ObjectChange]
) -> None:
    net = k8s.NetworkingV1Api(api)
    net.create_namespaced_ingress(NS, body(ingress("web")))
    position = watcher.relist()
    [first] = sent
    reads = Reads(api)

    # ingest lost that change: it is sent again as it is, though nothing changed
    assert watcher.resend(f"{NS}/web", reads) == "sent"
    assert [(c.key, c.action, c.resource_version, c.object) for c in sent[1:]] == [
        (first.key, "upsert", first.resource_version, first.object)
    ]

    # changed since, and the watch has not seen it yet: the resend sends what is now, and
    # the watch, catching up, sends nothing more
    net.patch_namespaced_ingress("web", NS, {"metadata": {"labels": {"v": "2"}}})
    now = rv_of(api, "web")
    assert watcher.resend(f"{NS}/web", reads) == "sent"
    assert (sent[-1].resource_version, sent[-1].object["metadata"]["labels"]) == (now, {"v": "2"})
    watcher.watch(position)
    assert len(sent) == 3
    assert watcher.sent_versions() == {f"{NS}/web": now}
    assert reads.names == [(NS, "web"), (NS, "web")]


def test_a_resend_of_an_object_gone_sends_its_delete_at_the_version_last_sent(
    api: k8s.ApiClient, watcher: Watcher, sent: list[ObjectChange]
) -> None:
    """At the same resourceVersion a deletion wins over the live snapshot in ingest, and
    the object made again under that name later has a newer one."""
    net = k8s.NetworkingV1Api(api)
    net.create_namespaced_ingress(NS, body(ingress("gone")))
    position = watcher.relist()
    [made] = sent
    net.delete_namespaced_ingress("gone", NS)
    assert watcher.resend(f"{NS}/gone", Reads(api)) == "deleted"
    [delete] = sent[1:]
    assert (delete.key, delete.action, delete.resource_version) == (made.key, "delete", made.resource_version)
    assert delete.object["metadata"]["name"] == "gone"
    watcher.watch(position)  # the watch's DELETED: sent already
    assert len(sent) == 2
    assert watcher.sent_versions() == {}


def test_only_what_the_watcher_forwards_is_read_again(
    api: k8s.ApiClient, watcher: Watcher, sent: list[ObjectChange]
) -> None:
    net = k8s.NetworkingV1Api(api)
    net.create_namespaced_ingress(NS, body(ingress("nginx-one") | {"spec": {"ingressClassName": "nginx"}}))
    watcher.relist()
    reads = Reads(api)
    for key in (f"{NS}/nginx-one", f"{NS}/never-made", "kube-system/secret-thing", "no-namespace"):
        assert watcher.resend(key, reads) == "not-forwarded"
    assert (sent, reads.names) == ([], [])


def test_the_version_listed_is_the_one_sent_not_the_latest_seen(api: k8s.ApiClient) -> None:
    """A Node's heartbeat moves its resourceVersion every few seconds but changes nothing
    the forwarder sends (it trims heartbeats), so ingest keeps the version sent; the
    Resync must list that one, or ingest would ask for every Node after every beat."""
    sent: list[ObjectChange] = []
    nodes = Watcher(
        kind="Node", source=Kube(api.configuration).collection(NODES), cluster="c", emit=sent.append, watch_timeout=1
    )
    core = k8s.CoreV1Api(api)

    def ready(beat: str) -> dict[str, Any]:
        return {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": beat}]}

    made = core.create_node(body({"metadata": {"name": "node-a"}, "status": ready("2026-01-01T00:00:00Z")}))
    position = nodes.relist()
    core.patch_node_status("node-a", {"status": ready("2026-01-01T00:00:10Z")})
    nodes.watch(position)
    assert must(core.read_node("node-a").metadata).resource_version != must(made.metadata).resource_version
    assert [c.resource_version for c in sent] == [must(made.metadata).resource_version]
    assert nodes.sent_versions() == {"node-a": must(made.metadata).resource_version}


def resend(objects: dict[str, tuple[str, ...]]) -> WriteBack:
    return WriteBack(type="resend", cluster="c", ingress="", objects=objects)


def test_a_change_whose_delivery_was_lost_is_sent_again_after_the_resync_answer(
    forwarders: Forwarders, kube: KubeDouble
) -> None:
    api = forwarders.api()
    net, core = k8s.NetworkingV1Api(api), k8s.CoreV1Api(api)
    web = ingress("web")
    web["metadata"]["finalizers"] = [IMPLICIT_FINALIZER]  # as it will be: no finalizer patch to race the Resync
    net.create_namespaced_ingress(NS, body(web))
    net.create_namespaced_ingress(NS, body(ingress("other") | {"spec": {"ingressClassName": "nginx"}}))
    core.create_namespaced_service(NS, body({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}))
    bus = Bus("resend")
    forwarder = forwarders.make(bus, lease_duration=15)  # one term, on a loaded machine too
    resync = wait_for("the first Resync", bus.resyncs)[0]
    service = rv_of(api, "web", "Service")
    # the Resync lists each key at the version of what was sent of it
    sent = {(d["kind"], d["key"]): d["resourceVersion"] for d in bus.drain() if d["kind"] in ("Ingress", "Service")}
    assert sent == {
        ("Ingress", f"{NS}/web"): rv_of(api, "web"),
        ("Service", f"{NS}/web"): service,
    }
    listed = {
        (kind, key): version
        for kind in ("Ingress", "Service")
        for key, version in zip(resync["keys"][kind], resync["versions"][kind], strict=True)
    }
    assert listed == sent

    # an annotation change goes out, and its delivery is lost on the way to ingest
    net.patch_namespaced_ingress("web", NS, {"metadata": {"annotations": {"alb.ingress.kubernetes.io/x": "1"}}})
    changed = rv_of(api, "web")
    wait_for("the change sent", lambda: any(d["resourceVersion"] == changed for d in bus.changes("Ingress")), 60)
    before = len(bus.drain())

    # ingest's answer to the next Resync, with what a crafted message may add
    objects = {
        "Ingress": (f"{NS}/web", f"{NS}/other"),  # the nginx one is not forwarded: not read, not sent
        "Service": (f"{NS}/web",),  # unchanged since it was sent: sent again all the same
        "Secret": (f"{NS}/oidc",),  # no Ingress names it: never sent, never read
        "Pod": (f"{NS}/web-1",),  # not a kind the forwarder sends
    }
    clients.sqs().send_message(QueueUrl=forwarders.writeback_url, MessageBody=resend(objects).to_body())
    expected = {"sent": 2, "not-forwarded": 2, "unknown-kind": 1}

    def results() -> dict[str, float]:
        return {
            r: n for r in (*expected, "deleted", "unchanged") if (n := metric(forwarder, "resends_total", result=r))
        }

    wait_for("the resend handled", lambda: results() == expected, 60)

    def again() -> list[tuple[str, str, str, str]]:
        return sorted((d["kind"], d["key"], d["action"], d["resourceVersion"]) for d in bus.drain()[before:])

    assert wait_for("both on the bus", lambda: len(again()) == 2 and again(), 60) == [
        ("Ingress", f"{NS}/web", "upsert", changed),
        ("Service", f"{NS}/web", "upsert", service),
    ]
    wait_for("the message deleted", lambda: queue_empty(forwarders.writeback_url), 60)
    # read by a list selecting the name: the forwarder's RBAC lists Services, it does not get them
    assert [r for r in kube.requests if r.method == "GET" and r.path.endswith("/web")] == []
    assert any(r.query.get("fieldSelector") == "metadata.name=web" for r in kube.requests)
    assert resync["versions"].keys() == resync["keys"].keys()  # every kind, Secret included


def queue_empty(url: str) -> bool:
    attributes = clients.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (
        attributes["ApproximateNumberOfMessages"] == "0" and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    )


def test_a_resend_no_leadership_term_can_act_on_stays_queued(moto_endpoint: str, api: k8s.ApiClient) -> None:
    """The consumer hands a resend to the term that runs it; without one (or once that
    term ended) the message is neither acted on nor deleted: the leader's consumer takes
    it when it comes back."""
    sqs = clients.sqs()
    url = sqs.create_queue(QueueName="writeback", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=resend({"Ingress": (f"{NS}/web",)}).to_body())
    consumer = WriteBackConsumer(
        sqs_client=sqs,
        queue_url=url,
        kube=Kube(api.configuration),
        cluster="c",
        manages=lambda o: is_managed(o, "alb"),
        finalizer_of=finalizer_for,
        wait_seconds=0,
    )
    handed: list[WriteBack] = []

    def ended(wb: WriteBack) -> bool:
        handed.append(wb)
        return False  # the term ended meanwhile

    assert consumer.poll_once() == 0  # no term: not a leader
    assert consumer.poll_once(ended) == 0
    assert [wb.objects for wb in handed] == [{"Ingress": (f"{NS}/web",)}]
    assert consumer.poll_once(lambda wb: True) == 1  # the leader's term took it
    assert queue_empty(url)
