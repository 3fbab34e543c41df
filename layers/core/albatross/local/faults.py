"""Fault injection at the botocore boundary, for what moto does not model.

A rule fails the first ``times`` calls of one operation (after ``skip`` calls) by raising
the real error shape (a ``ClientError`` with AWS's code, message and HTTP status) from a
``before-call`` hook on the shared clients, so the code under test sees exactly
what AWS would send. Deterministic: a rule fires on call counts, never on chance.

A rule with ``wire=True`` answers at the HTTP level instead (a ``before-send`` hook
returns AWS's error response, in the service's protocol): botocore parses it and its
retry handler sees it, so throttling and 5xx are retried by botocore's ``standard``
mode exactly as they would be against AWS; ``calls`` then counts attempts.

:func:`tagging_lag` is the other thing moto does not model: the Resource Groups Tagging
API is eventually consistent in AWS, and a load balancer, target group or security
group made a moment ago may be missing from GetResources. Opt-in, it leaves each of
them out of every GetResources answer for a given time after its create call answered.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.awsrequest import AWSResponse, HTTPHeaders
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
    wire: bool = False
    calls: int = field(default=0, init=False)
    raised: int = field(default=0, init=False)

    def fires(self, lock: threading.Lock) -> bool:
        with lock:
            self.calls += 1
            fire = self.skip < self.calls <= self.skip + self.times
            if fire:
                self.raised += 1
        return fire


# Client name and protocol per endpoint prefix, for wire faults.
_SERVICES = {"elasticloadbalancing": "elbv2", "ec2": "ec2", "wafv2": "wafv2", "shield": "shield", "acm": "acm"}


# What each service answers when the account's request rate is exceeded: (code, HTTP
# status, message). ELB API reference: Throttling, 400, "Rate exceeded" (the throttling
# page names it ThrottlingException, but the wire and botocore say Throttling); EC2 API
# reference: RequestLimitExceeded, 503; the tagging API's model: ThrottledException, 400.
THROTTLED = {
    "elasticloadbalancing": ("Throttling", 400, "Rate exceeded"),
    "ec2": ("RequestLimitExceeded", 503, "Request limit exceeded."),
    "tagging": ("ThrottledException", 400, "Rate exceeded"),
}
# Each service's wire protocol, as botocore names it.
PROTOCOLS = {"elasticloadbalancing": "query", "ec2": "ec2", "tagging": "json"}


def error_body(code: str, message: str, protocol: str) -> tuple[bytes, dict[str, str]]:
    """An AWS error answer's body and headers in the service's protocol (``ec2``, ``query``,
    JSON otherwise): what the chaos harness and the realistic local AWS send at the wire."""
    if protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
            "</Errors><RequestID>injected</RequestID></Response>"
        ).encode()
        return body, {"Content-Type": "text/xml"}
    if protocol == "query":
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
            "</Error><RequestId>injected</RequestId></ErrorResponse>"
        ).encode()
        return body, {"Content-Type": "text/xml"}
    body = json.dumps({"__type": code, "message": message}).encode()
    return body, {"Content-Type": "application/x-amz-json-1.1"}


def _error_response(fault: Fault, protocol: str) -> AWSResponse:
    body, headers = error_body(fault.code, fault.message, protocol)
    return wire_response(fault.status, body, headers)


def wire_response(status: int, body: bytes, headers: Mapping[str, str]) -> AWSResponse:
    """An HTTP answer as botocore reads it off the wire, for a ``before-send`` hook to
    return instead of sending: an injected error, or a 200 whose body a test writes."""
    wire_headers = HTTPHeaders()
    for key, value in headers.items():
        wire_headers[key] = value
    return AWSResponse("http://127.0.0.1/", status, wire_headers, _Raw(body))


class _Raw:
    """The raw body botocore streams from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def aws_error(operation: str, code: str, message: str, status: int = 400) -> ClientError:
    """The error botocore raises for an AWS error answer, as the SDK would build it."""
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {
                "HTTPStatusCode": status,
                "HTTPHeaders": {},
                "HostId": "",
                "RequestId": "albatross-local",
                "RetryAttempts": 0,
            },
        },
        operation,
    )


@contextmanager
def inject(*faults: Fault) -> Iterator[list[Fault]]:
    lock = threading.Lock()
    session = botocore.session.get_session()

    def hook(model: Any, **_: Any) -> None:
        for fault in faults:
            if fault.wire or model.service_model.endpoint_prefix != fault.service or model.name != fault.operation:
                continue
            if fault.fires(lock):
                raise aws_error(fault.operation, fault.code, fault.message, fault.status)

    def on_wire(fault: Fault, protocol: str) -> Any:
        def send(**_: Any) -> AWSResponse | None:
            return _error_response(fault, protocol) if fault.fires(lock) else None

        return send

    ids = ["albatross-faults"]
    clients.add_hook("before-call.*.*", hook, unique_id="albatross-faults")
    for i, fault in enumerate(f for f in faults if f.wire):
        model = session.get_service_model(_SERVICES.get(fault.service, fault.service))
        event = f"before-send.{model.service_id.hyphenize()}.{fault.operation}"
        ids.append(f"albatross-faults-wire-{i}")
        clients.add_hook(event, on_wire(fault, model.protocol), unique_id=ids[-1])
    try:
        yield list(faults)
    finally:
        for unique_id in ids:
            clients.remove_hook(unique_id)


@dataclass
class TaggingLag:
    """What :func:`tagging_lag` hides: each resource made while it is on, from its create
    call's answer until ``seconds`` later (``time.monotonic`` clock)."""

    seconds: float
    made: dict[str, float] = field(default_factory=dict)  # ARN (security groups: id) → made at
    hidden: set[str] = field(default_factory=set)  # left out of at least one answer

    def visible(self, arn: str, now: float) -> bool:
        key = arn.rsplit("/", 1)[-1] if ":security-group/" in arn else arn
        made = self.made.get(key)
        if made is None or now - made >= self.seconds:
            return True
        self.hidden.add(key)
        return False


def _made_ids(operation: str, parsed: Any) -> list[str]:
    """The ids a create call's answer names (none for other calls, or an error answer)."""
    if operation == "CreateLoadBalancer":
        return [str(lb["LoadBalancerArn"]) for lb in parsed.get("LoadBalancers", [])]
    if operation == "CreateTargetGroup":
        return [str(tg["TargetGroupArn"]) for tg in parsed.get("TargetGroups", [])]
    if operation == "CreateSecurityGroup" and "GroupId" in parsed:
        return [str(parsed["GroupId"])]
    return []


@contextmanager
def tagging_lag(seconds: float) -> Iterator[TaggingLag]:
    """Leave every load balancer, target group and security group made through the
    shared clients out of GetResources for ``seconds`` after its create call answered
    (scale it as the offline system scales time): the tagging API's lag. Only calls of
    this process see it, as with :func:`inject`."""
    lag = TaggingLag(seconds=seconds)
    lock = threading.Lock()

    def after(model: Any, parsed: Any, **_: Any) -> None:
        prefix, operation = model.service_model.endpoint_prefix, model.name
        with lock:
            now = time.monotonic()
            if prefix in ("elasticloadbalancing", "ec2"):
                for made in _made_ids(operation, parsed):
                    lag.made[made] = now
            elif prefix == "tagging" and operation == "GetResources":
                found = parsed.get("ResourceTagMappingList", [])
                parsed["ResourceTagMappingList"] = [i for i in found if lag.visible(str(i["ResourceARN"]), now)]

    clients.add_hook("after-call.*.*", after, unique_id="albatross-tagging-lag")
    try:
        yield lag
    finally:
        clients.remove_hook("albatross-tagging-lag")
