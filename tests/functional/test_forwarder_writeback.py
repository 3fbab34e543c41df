"""The write-back consumer does only what Albatross could have asked (issue 14, item 6).

Crafted messages on the write-back queue once removed a foreign finalizer from an
nginx-class Ingress in another namespace, rewrote its status and posted a Warning Event
with a link. Here a running forwarder receives such messages, and others aimed at an
Ingress it does manage (another object's uid, a reason LBC never records, the finalizer
a live member still needs, another cluster): each is dropped from the queue, logged with
its reason and counted in ``writebacks_refused_total{reason}``, and the cluster is left
as it was. The messages the cloud side sends still apply."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s

from albatross.aws import clients
from albatross.contract import IMPLICIT_FINALIZER, WriteBack
from albatross_forwarder.main import Forwarder
from tests.functional.forwarding import Bus, Forwarders, metric, wait_for
from tests.k8s_typing import body, must

FOREIGN = "example.com/keep-until-backup"


def ingress_class(name: str, controller: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"controller": controller}}


def events(api: k8s.ApiClient, namespace: str) -> list[k8s.CoreV1Event]:
    return list(k8s.CoreV1Api(api).list_namespaced_event(namespace).items)


def finalizers(net: k8s.NetworkingV1Api, namespace: str, name: str) -> list[str]:
    return list(must(net.read_namespaced_ingress(name, namespace).metadata).finalizers or [])


def queue_empty(url: str) -> bool:
    attributes = clients.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (
        attributes["ApproximateNumberOfMessages"] == "0" and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    )


def refused(forwarder: Forwarder) -> dict[str, float]:
    reasons = (
        "other-cluster",
        "uid-mismatch",
        "not-managed",
        "foreign-reason",
        "foreign-finalizer",
        "finalizer-still-needed",
    )
    return {r: metric(forwarder, "writebacks_refused_total", reason=r) for r in reasons}


def test_crafted_write_backs_are_refused_and_ours_still_apply(
    forwarders: Forwarders, caplog: pytest.LogCaptureFixture
) -> None:
    api = forwarders.api()
    net, core = k8s.NetworkingV1Api(api), k8s.CoreV1Api(api)
    net.create_ingress_class(body(ingress_class("alb", "ingress.k8s.aws/alb")))
    net.create_ingress_class(body(ingress_class("nginx", "k8s.io/ingress-nginx")))
    core.create_namespace(body({"metadata": {"name": "backup"}}))
    core.create_namespace(body({"metadata": {"name": "shop"}}))
    site = {
        "metadata": {"name": "site", "namespace": "backup", "finalizers": [FOREIGN]},
        "spec": {"ingressClassName": "nginx", "defaultBackend": {"service": {"name": "site", "port": {"number": 80}}}},
    }
    net.create_namespaced_ingress("backup", body(site))
    web = {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"ingressClassName": "alb", "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}},
    }
    net.create_namespaced_ingress("shop", body(web))
    bus = Bus("a")
    forwarder = forwarders.make(bus)
    wait_for("the first Resync", bus.resyncs)
    wait_for("our finalizer on shop/web", lambda: IMPLICIT_FINALIZER in finalizers(net, "shop", "web"))
    uid = must(must(net.read_namespaced_ingress("web", "shop").metadata).uid)
    site_before = net.read_namespaced_ingress("site", "backup")

    crafted = [
        WriteBack(type="removeFinalizer", cluster="c", ingress="backup/site", finalizer=FOREIGN),
        WriteBack(type="status", cluster="c", ingress="backup/site", hostnames=("evil.example.com",)),
        WriteBack(
            type="event",
            cluster="c",
            ingress="backup/site",
            event_type="Warning",
            reason="FailedDeployModel",
            message="Backup failed: restore it at https://evil.example.com/fix",
        ),
        WriteBack(
            type="event",
            cluster="c",
            ingress="shop/web",
            uid=uid,
            event_type="Warning",
            reason="ActionRequired",
            message="log in at https://evil.example.com",
        ),
        WriteBack(type="status", cluster="c", ingress="shop/web", uid="not-" + uid, hostnames=("evil.example.com",)),
        WriteBack(type="removeFinalizer", cluster="c", ingress="shop/web", uid=uid, finalizer=IMPLICIT_FINALIZER),
        WriteBack(type="status", cluster="other", ingress="shop/web", uid=uid, hostnames=("evil.example.com",)),
    ]
    sqs = clients.sqs()
    for wb in crafted:
        sqs.send_message(QueueUrl=forwarders.writeback_url, MessageBody=wb.to_body())
    expected = {
        "other-cluster": 1,
        "uid-mismatch": 1,
        "not-managed": 2,
        "foreign-reason": 1,
        "foreign-finalizer": 1,
        "finalizer-still-needed": 1,
    }
    wait_for("every crafted message refused", lambda: refused(forwarder) == expected)
    wait_for("the queue emptied (refused messages are dropped)", lambda: queue_empty(forwarders.writeback_url))
    assert forwarder.writeback.applied == 0

    site_after = net.read_namespaced_ingress("site", "backup")
    assert finalizers(net, "backup", "site") == [FOREIGN]
    assert site_after.status == site_before.status  # untouched
    assert must(site_after.metadata).resource_version == must(site_before.metadata).resource_version
    assert events(api, "backup") == []
    web_now = net.read_namespaced_ingress("web", "shop")
    assert IMPLICIT_FINALIZER in finalizers(net, "shop", "web")
    assert not (web_now.status and web_now.status.load_balancer and web_now.status.load_balancer.ingress)
    assert events(api, "shop") == []
    for reason in expected:
        assert f"refused and dropped ({reason})" in caplog.text
    assert f"finalizer '{FOREIGN}' is not one Albatross adds" in caplog.text

    # what the cloud side sends still applies: status, an Event, then the finalizer once deleting
    for wb in (
        WriteBack(type="status", cluster="c", ingress="shop/web", uid=uid, hostnames=("lb.example",)),
        WriteBack(
            type="event",
            cluster="c",
            ingress="shop/web",
            uid=uid,
            event_type="Normal",
            reason="SuccessfullyReconciled",
            message="Successfully reconciled",
        ),
    ):
        sqs.send_message(QueueUrl=forwarders.writeback_url, MessageBody=wb.to_body())
    wait_for("both applied", lambda: forwarder.writeback.applied == 2)
    web_now = net.read_namespaced_ingress("web", "shop")
    assert must(must(must(web_now.status).load_balancer).ingress)[0].hostname == "lb.example"
    [event] = events(api, "shop")
    assert (event.reason, event.type, must(event.involved_object).uid) == ("SuccessfullyReconciled", "Normal", uid)

    net.delete_namespaced_ingress("web", "shop")  # deleting: its finalizer may go now
    remove = WriteBack(type="removeFinalizer", cluster="c", ingress="shop/web", uid=uid, finalizer=IMPLICIT_FINALIZER)
    sqs.send_message(QueueUrl=forwarders.writeback_url, MessageBody=remove.to_body())

    def gone() -> bool:
        try:
            net.read_namespaced_ingress("web", "shop")
        except k8s.ApiException as e:
            return bool(e.status == 404)
        return False

    wait_for("shop/web gone once its finalizer went", gone)
    assert refused(forwarder) == expected  # nothing more refused
