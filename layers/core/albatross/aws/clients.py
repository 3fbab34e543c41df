"""The one place boto3 clients are made.

Clients are built once per process from one session and shared (boto3 clients are
thread-safe; sessions are not, hence the lock). botocore's ``standard`` retry mode
handles throttling and 5xx with backoff. ``AWS_ENDPOINT_URL`` (honoured by botocore)
points them at moto in tests and in ``albatross local``; :func:`reset` drops cached
clients when that changes. It keeps botocore's loader, though: the service models and
endpoint rules it has parsed (most of what a new session costs, about half a second of
JSON) do not change with the endpoint or the credentials.

In a function whose environment sets ``API_BUDGET_SHARE``, the shared ELBv2, EC2 and
tagging clients spend the account's call budget (:mod:`albatross.aws.budget`, ADR 0016)
on every request; :func:`separate` clients never do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import boto3
import botocore.session
from botocore.config import Config
from botocore.loaders import Loader

from albatross.aws import budget

if TYPE_CHECKING:
    from mypy_boto3_acm import ACMClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_resourcegroupstaggingapi import ResourceGroupsTaggingAPIClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_shield import ShieldClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_waf_regional import WAFRegionalClient
    from mypy_boto3_wafv2 import WAFV2Client

# The botocore service models the Lambda layer keeps (tools/package.py drops the rest):
# every service a getter below names, except those only the CLI uses.
LAYER_SERVICES = frozenset(
    {
        "acm",
        "dynamodb",
        "ec2",
        "elbv2",
        "events",
        "logs",
        "resourcegroupstaggingapi",
        "s3",
        "secretsmanager",
        "shield",
        "sqs",
        "stepfunctions",
        "waf-regional",
        "wafv2",
    }
)
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
_lock = threading.Lock()
_session: boto3.session.Session | None = None
_loader: Loader | None = None
_clients: dict[str, Any] = {}
_hooks: dict[str, tuple[str, Callable[..., Any]]] = {}
_budget: list[budget.Budget | None] = []  # read from the environment once, until reset()


def client(service: str) -> Any:
    """A shared client for any service (local tooling); the typed getters below are
    what the controller uses."""
    with _lock:
        if service not in _clients:
            global _session
            if _session is None:
                _session = _new_session()
            made = _session.client(service, config=_CONFIG)  # type: ignore[call-overload]  # service is a runtime name
            for unique_id, (event, handler) in _hooks.items():
                made.meta.events.register(event, handler, unique_id=unique_id)
            spending = _spending() if service in budget.GATED else None
            if spending is not None:
                made.meta.events.register("before-send", spending.hook, unique_id="albatross-budget")
            _clients[service] = made
        return _clients[service]


def _spending() -> budget.Budget | None:
    """The process's call budget (under ``_lock``); its writes go through the shared
    DynamoDB client, which is never gated."""
    if not _budget:
        _budget.append(budget.from_env(dynamodb))
    return _budget[0]


def _new_session() -> boto3.session.Session:
    """A session that reads its settings afresh and reuses the models already parsed."""
    global _loader
    core = botocore.session.get_session()
    if _loader is None:
        _loader = core.get_component("data_loader")
    else:
        core.register_component("data_loader", _loader)
    session = boto3.session.Session(botocore_session=core)
    paths = _loader.search_paths  # boto3 appends its own folder to them for each session
    paths[:] = list(dict.fromkeys(paths))
    return session


def separate(service: str, *, config: Config | None = None) -> Any:
    """A client of its own, not shared and without the hooks (for local tooling that must
    not be counted or faulted as the controller's calls are); ``config``: merged over the
    shared clients' (timeouts, retries)."""
    with _lock:
        session = _new_session()
    merged = _CONFIG.merge(config) if config is not None else _CONFIG
    return session.client(service, config=merged)  # type: ignore[call-overload]  # service is a runtime name


def add_hook(event: str, handler: Callable[..., Any], *, unique_id: str) -> None:
    """Register a botocore event handler on every shared client, present and future (a
    client copies its session's handlers when it is made, so the session is not enough).
    Used to count calls and to inject faults, in tests and ``albatross local``."""
    with _lock:
        _hooks[unique_id] = (event, handler)
        for made in _clients.values():
            made.meta.events.register(event, handler, unique_id=unique_id)


def remove_hook(unique_id: str) -> None:
    with _lock:
        event, _ = _hooks.pop(unique_id, ("", None))
        if event:
            for made in _clients.values():
                made.meta.events.unregister(event, unique_id=unique_id)


def reset() -> None:
    """Forget the session, clients and call budget (after the endpoint, credentials or
    environment changed); hooks stay and apply to the clients made next."""
    global _session
    with _lock:
        _session = None
        _clients.clear()
        _budget.clear()


def elbv2() -> ElasticLoadBalancingv2Client:
    return cast("ElasticLoadBalancingv2Client", client("elbv2"))


def ec2() -> EC2Client:
    return cast("EC2Client", client("ec2"))


def tagging() -> ResourceGroupsTaggingAPIClient:
    return cast("ResourceGroupsTaggingAPIClient", client("resourcegroupstaggingapi"))


def acm() -> ACMClient:
    return cast("ACMClient", client("acm"))


def dynamodb() -> DynamoDBClient:
    return cast("DynamoDBClient", client("dynamodb"))


def sqs() -> SQSClient:
    return cast("SQSClient", client("sqs"))


def sfn() -> SFNClient:
    return cast("SFNClient", client("stepfunctions"))


def events() -> EventBridgeClient:
    return cast("EventBridgeClient", client("events"))


def wafv2() -> WAFV2Client:
    return cast("WAFV2Client", client("wafv2"))


def waf_regional() -> WAFRegionalClient:
    return cast("WAFRegionalClient", client("waf-regional"))


def shield() -> ShieldClient:
    return cast("ShieldClient", client("shield"))


def logs() -> CloudWatchLogsClient:
    return cast("CloudWatchLogsClient", client("logs"))


def s3() -> S3Client:
    return cast("S3Client", client("s3"))


def secretsmanager() -> SecretsManagerClient:
    return cast("SecretsManagerClient", client("secretsmanager"))
