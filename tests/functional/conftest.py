"""Functional fixtures: moto as a server on 127.0.0.1 and the Kubernetes API double."""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s
from moto.server import ThreadedMotoServer

from albatross.aws import clients
from albatross.local import clock
from albatross.local.kube import KubeDouble, kube_double
from tests.functional.forwarding import Forwarders

TIME_SCALE = 0.05  # the local system's default


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    clients.reset()
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", data=b"{}", method="POST")  # noqa: S310  # local server
    with urllib.request.urlopen(reset, timeout=10):  # noqa: S310  # moto's backends are process-wide: start clean
        pass
    try:
        with clock.scaled(TIME_SCALE):  # botocore's backoff against moto, as the local system's
            yield endpoint
    finally:
        clients.reset()
        server.stop()


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
