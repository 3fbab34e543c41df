"""Nothing is lost on the way in or out: entries EventBridge refuses for a retryable
reason are sent again (only those), the others counted and logged; a write-back the
cluster refuses stays in the queue and is applied on a later poll."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from kubernetes import client as k8s

from albatross.aws import clients
from albatross.contract import WriteBack, finalizer_for
from albatross.local.kube import KubeDouble
from albatross_forwarder.kube import Kube
from albatross_forwarder.main import is_managed
from albatross_forwarder.sender import Sender
from albatross_forwarder.writeback import WriteBackConsumer
from tests.k8s_typing import body


class PartlyFailingBus:
    """EventBridge answering per entry, as PutEvents does: the first time it sees an
    entry whose key is in ``throttled`` it refuses it with ThrottlingException; keys in
    ``invalid`` are refused every time with a non-retryable code."""

    def __init__(self, throttled: set[str], invalid: set[str]) -> None:
        self.throttled, self.invalid = set(throttled), invalid
        self.calls: list[list[str]] = []
        self.accepted: list[str] = []

    def put_events(self, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803  # boto3's name
        keys = [json.loads(e["Detail"])["key"] for e in Entries]
        self.calls.append(keys)
        results: list[dict[str, str]] = []
        for key in keys:
            if key in self.invalid:
                results.append({"ErrorCode": "ValidationException", "ErrorMessage": "bad"})
            elif key in self.throttled:
                self.throttled.discard(key)
                results.append({"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"})
            else:
                self.accepted.append(key)
                results.append({"EventId": f"id-{key}"})
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


def test_only_the_entries_refused_for_a_retryable_reason_are_sent_again(caplog: pytest.LogCaptureFixture) -> None:
    bus = PartlyFailingBus(throttled={"k2", "k4"}, invalid={"k5"})
    sender = Sender(events_client=bus, bus_name="b")
    for i in range(1, 7):
        sender.submit({"kind": "Service", "key": f"k{i}"})
    with caplog.at_level(logging.ERROR, logger="albatross.forwarder.sender"):
        sender.start()
        sender.stop()  # sends everything queued first
    assert sorted(bus.accepted) == ["k1", "k2", "k3", "k4", "k6"]  # each once: nothing lost, nothing doubled
    assert bus.calls[1] == ["k2", "k4"]  # the retry carries the throttled entries only, not the invalid one
    assert (sender.sent, sender.dropped) == (5, 1)
    assert "entries rejected, not sent: 1 (ValidationException)" in caplog.text


def test_a_write_back_the_cluster_refuses_stays_queued_until_it_applies(moto_endpoint: str, kube: KubeDouble) -> None:
    config = k8s.Configuration()
    config.host = kube.url
    net = k8s.NetworkingV1Api(k8s.ApiClient(config))
    ingress = {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "finalizers": ["other.example/keep", "ingress.k8s.aws/resources"],
        },
        "spec": {"ingressClassName": "alb"},
    }
    net.create_namespaced_ingress("shop", body(ingress))
    net.delete_namespaced_ingress("web", "shop")  # deleting: its resources gone, the finalizer may go
    sqs = clients.sqs()
    url = sqs.create_queue(QueueName="writeback", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    for wb in (
        WriteBack(type="status", cluster="c1", ingress="shop/web", hostnames=("lb.example",)),
        WriteBack(type="removeFinalizer", cluster="c1", ingress="shop/web", finalizer="ingress.k8s.aws/resources"),
    ):
        sqs.send_message(QueueUrl=url, MessageBody=wb.to_body())
    consumer = WriteBackConsumer(
        sqs_client=sqs,
        queue_url=url,
        kube=Kube(config),
        cluster="c1",
        manages=lambda o: is_managed(o, "alb"),
        finalizer_of=finalizer_for,
        wait_seconds=0,
    )

    kube.inject(409, 409, 500)  # conflicts and a server error: nothing applied, nothing deleted
    assert consumer.poll_once() == 0
    assert (
        int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]["ApproximateNumberOfMessages"])
        == 2
    )

    done = 0
    for _ in range(10):
        done += consumer.poll_once()
        if done == 2:
            break
    assert done == 2
    now: Any = net.read_namespaced_ingress("web", "shop", _preload_content=False)  # the raw response
    stored = json.loads(now.data)
    assert stored["metadata"]["finalizers"] == ["other.example/keep"]  # only ours went
    assert stored["status"]["loadBalancer"]["ingress"] == [{"hostname": "lb.example"}]
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
