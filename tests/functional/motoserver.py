"""moto as a server on 127.0.0.1 for one test: started, the shared clients pointed at it,
its process-wide backends reset; stopped after."""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from moto.server import ThreadedMotoServer

from albatross.aws import clients
from albatross.local.mends import atomic_dynamodb


@contextmanager
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ThreadedMotoServer, str]]:
    """(the server, its endpoint), with ``AWS_ENDPOINT_URL`` set to it; DynamoDB's
    conditional writes atomic under concurrent requests, as DynamoDB's are."""
    with atomic_dynamodb():
        yield from _serving(monkeypatch)


def _serving(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ThreadedMotoServer, str]]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    clients.reset()
    try:
        reset = urllib.request.Request(f"{endpoint}/moto-api/reset", data=b"{}", method="POST")  # noqa: S310  # local server
        with urllib.request.urlopen(reset, timeout=10):  # noqa: S310  # moto's backends are process-wide: start clean
            pass
        yield server, endpoint
    finally:
        clients.reset()
        server.stop()
