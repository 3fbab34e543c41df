"""Helpers for the forwarder runtime tests: an EventBridge bus in moto whose every event
lands in an SQS queue (what reached the bus is what the queue holds), forwarders built
against the Kubernetes API double, and polling with a deadline."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes import client as k8s

from albatross.aws import clients
from albatross.local.kube import KubeDouble
from albatross_forwarder.kube import Kube
from albatross_forwarder.main import Config, Forwarder
from tests.k8s_typing import body

T = TypeVar("T")
NS = "default"


def metric(forwarder: Forwarder, name: str, **labels: str) -> float:
    """The value of ``albatross_forwarder_<name>`` with exactly these labels (0 if absent)."""
    for m in forwarder.metrics():
        if m.name == f"albatross_forwarder_{name}":
            for found, value in m.samples:
                if dict(found) == labels:
                    return value
    return 0


def wait_for(what: str, check: Callable[[], T], timeout: float = 15.0, interval: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


class Bus:
    """A bus and a queue receiving every event put on it."""

    def __init__(self, name: str) -> None:
        events, sqs = clients.events(), clients.sqs()
        self.name = name
        events.create_event_bus(Name=name)
        self.url = sqs.create_queue(QueueName=f"{name}-seen")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=f"{name}-all", EventBusName=name, EventPattern=json.dumps({"source": ["albatross.k8s"]}))
        events.put_targets(Rule=f"{name}-all", EventBusName=name, Targets=[{"Id": "seen", "Arn": arn}])
        self.details: list[dict[str, Any]] = []

    def drain(self) -> list[dict[str, Any]]:
        """Every Detail put on the bus so far, in arrival order."""
        sqs = clients.sqs()
        while True:
            messages = sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return self.details
            for m in messages:
                self.details.append(json.loads(m["Body"])["detail"])
                sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])

    def changes(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.drain() if d.get("kind") == kind]

    def resyncs(self) -> list[dict[str, Any]]:
        return self.changes("Resync")


def ingress(name: str, service: str = "web", namespace: str = NS) -> dict[str, Any]:
    backend = {"service": {"name": service, "port": {"number": 80}}}
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"ingressClassName": "alb", "defaultBackend": backend},
    }


def create_ingress(api: k8s.ApiClient, name: str, namespace: str = NS) -> None:
    k8s.NetworkingV1Api(api).create_namespaced_ingress(namespace, body(ingress(name, namespace=namespace)))


class Forwarders:
    """Makes forwarders (each with its own API client, as separate pods would have) and
    stops those still running at the end of the test."""

    def __init__(self, kube: KubeDouble, writeback_url: str) -> None:
        self.kube = kube
        self.writeback_url = writeback_url
        self.made: list[Forwarder] = []

    def configuration(self) -> k8s.Configuration:
        config = k8s.Configuration()
        config.host = self.kube.url
        return config

    def api(self) -> k8s.ApiClient:
        """The official client, for what the tests do in the cluster."""
        return k8s.ApiClient(self.configuration())

    def make(self, bus: Bus, *, start: bool = True, **settings: Any) -> Forwarder:
        defaults: dict[str, Any] = {"writeback_wait": 1, "lease_duration": 2, "watch_timeout": 30}
        config = Config(
            cluster="c", event_bus=bus.name, writeback_queue_url=self.writeback_url, **{**defaults, **settings}
        )
        forwarder = Forwarder(
            config, kube=Kube(self.configuration()), events_client=clients.events(), sqs_client=clients.sqs()
        )
        self.made.append(forwarder)
        if start:
            forwarder.start()
        return forwarder

    def stop_all(self) -> None:
        for f in self.made:
            f.stop(release=False)  # idempotent: those stopped already stay stopped
