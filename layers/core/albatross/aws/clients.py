"""The one place boto3 clients are made.

Clients are built once per process from one session and shared (boto3 clients are
thread-safe; sessions are not, hence the lock). botocore's ``standard`` retry mode
handles throttling and 5xx with backoff. ``AWS_ENDPOINT_URL`` (honoured by botocore)
points them at moto in tests and in ``albatross local``; :func:`reset` drops cached
clients when that changes.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_resourcegroupstaggingapi import ResourceGroupsTaggingAPIClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
_lock = threading.Lock()
_session: boto3.session.Session | None = None
_clients: dict[str, Any] = {}


def session() -> boto3.session.Session:
    global _session
    with _lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session


def client(service: str) -> Any:
    """A shared client for any service (local tooling); the typed getters below are
    what the controller uses."""
    with _lock:
        if service not in _clients:
            global _session
            if _session is None:
                _session = boto3.session.Session()
            _clients[service] = _session.client(service, config=_CONFIG)  # type: ignore[call-overload]  # service is a runtime name
        return _clients[service]


def reset() -> None:
    """Forget the session and clients (after the endpoint or credentials changed)."""
    global _session
    with _lock:
        _session = None
        _clients.clear()


def elbv2() -> ElasticLoadBalancingv2Client:
    return cast("ElasticLoadBalancingv2Client", client("elbv2"))


def ec2() -> EC2Client:
    return cast("EC2Client", client("ec2"))


def tagging() -> ResourceGroupsTaggingAPIClient:
    return cast("ResourceGroupsTaggingAPIClient", client("resourcegroupstaggingapi"))


def dynamodb() -> DynamoDBClient:
    return cast("DynamoDBClient", client("dynamodb"))


def sqs() -> SQSClient:
    return cast("SQSClient", client("sqs"))


def sfn() -> SFNClient:
    return cast("SFNClient", client("stepfunctions"))


def events() -> EventBridgeClient:
    return cast("EventBridgeClient", client("events"))
