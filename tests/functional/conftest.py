"""Functional fixtures: moto as a server on 127.0.0.1 and the Kubernetes API double."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from albatross.aws import clients
from albatross.local import clock
from albatross.local.kube import KubeDouble, kube_double
from tests.functional.forwarding import Forwarders
from tests.functional.motoserver import moto_server

TIME_SCALE = 0.05  # the local system's default


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with moto_server(monkeypatch) as (_, endpoint), clock.scaled(TIME_SCALE):  # botocore's backoff, as locally
        yield endpoint


@pytest.fixture
def kube() -> Iterator[KubeDouble]:
    with kube_double() as double:
        yield double


@pytest.fixture
def api(kube: KubeDouble) -> k8s.ApiClient:
    config = k8s.Configuration()
    config.host = kube.url
    return k8s.ApiClient(config)


@pytest.fixture
def forwarders(moto_endpoint: str, kube: KubeDouble) -> Iterator[Forwarders]:
    """Forwarders against the double and moto, each as its own pod would be; stopped at the end."""
    made = Forwarders(kube, clients.sqs().create_queue(QueueName="writeback")["QueueUrl"])
    try:
        yield made
    finally:
        made.stop_all()
