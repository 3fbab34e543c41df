"""Fault injection at the botocore boundary, for what moto does not model.

A rule fails the first ``times`` calls of one operation (after ``skip`` calls) by raising
the real error shape (a ``ClientError`` with AWS's code, message and HTTP status) from a
``before-call`` hook on the shared clients, so the code under test sees exactly
what AWS would send. Deterministic: a rule fires on call counts, never on chance.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from albatross.aws import clients


@dataclass
class Fault:
    service: str  # botocore event name of the service, e.g. "elasticloadbalancing", "ec2"
    operation: str  # e.g. "DeleteSecurityGroup"
    code: str
    message: str = "injected fault"
    status: int = 400
    times: int = 1
    skip: int = 0
    calls: int = field(default=0, init=False)
    raised: int = field(default=0, init=False)


@contextmanager
def inject(*faults: Fault) -> Iterator[list[Fault]]:
    lock = threading.Lock()

    def hook(model: Any, **_: Any) -> None:
        for fault in faults:
            if model.service_model.endpoint_prefix != fault.service or model.name != fault.operation:
                continue
            with lock:
                fault.calls += 1
                fire = fault.skip < fault.calls <= fault.skip + fault.times
                if fire:
                    fault.raised += 1
            if fire:
                raise ClientError(
                    {
                        "Error": {"Code": fault.code, "Message": fault.message},
                        "ResponseMetadata": {
                            "HTTPStatusCode": fault.status,
                            "HTTPHeaders": {},
                            "HostId": "",
                            "RequestId": "injected",
                            "RetryAttempts": 0,
                        },
                    },
                    fault.operation,
                )

    clients.add_hook("before-call.*.*", hook, unique_id="albatross-faults")
    try:
        yield list(faults)
    finally:
        clients.remove_hook("albatross-faults")
