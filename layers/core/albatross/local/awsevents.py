"""What AWS itself puts on the default event bus and moto does not: the events
Albatross's ``AwsEventsFunction`` reacts to (:mod:`albatross.controller.aws_events`).

* **Step Functions Execution Status Change** when an execution ends, with the detail
  Step Functions sends (``executionArn``, ``stateMachineArn``, ``name``, ``status``,
  ``startDate`` and ``stopDate`` in epoch milliseconds, ``input`` as a JSON string,
  ``inputDetails``, ``output``, ``outputDetails``, ``error``, ``cause``) and the
  execution as the event's resource. moto runs executions in its own threads and
  reports each end to ``BaseExecutionWorkerCommunication.terminated`` (``StopExecution``
  ends one ``ABORTED``), which is wrapped here while the cloud is up. Every state
  machine's executions, as in AWS: the rules pick Albatross's.
* **AWS API Call via CloudTrail** for every mutating ELBv2 and EC2 call made through the
  shared clients of this process (:mod:`albatross.aws.clients`), as a trail that logs
  management events delivers them: source ``aws.elasticloadbalancing`` or ``aws.ec2``,
  the call's ``requestParameters`` as CloudTrail spells them (the API's member names,
  first letter lower-case; EC2's lists as ``{"items": [...]}`` and its wire names), an
  ``errorCode`` when AWS refused it. Who called is told by who runs: a call made while a
  function's handler runs in this thread (:data:`albatross.local.lambdas.running`) is a
  session of that function's role, as Lambda's are; any other (a test, ``kubectl``'s
  operator at the CLI) is the local IAM user's. Functions that run from the built
  artifact call moto from their own processes and are not seen here, which changes
  nothing the rules would let through. ``trail.logging = False`` is an account without
  a trail: no CloudTrail event reaches the bus.

Events go through a client of their own, not the shared ones: AWS's deliveries are
neither counted as the controller's calls nor subject to the faults tests inject.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

from albatross.aws import clients
from albatross.aws.calls import is_mutating
from albatross.local import lambdas

log = logging.getLogger("albatross.local.awsevents")

_SOURCES = {"elasticloadbalancing": "aws.elasticloadbalancing", "ec2": "aws.ec2"}  # endpoint prefix → source
_PARAMS = "albatross-aws-events-params"  # where a call's parameters wait for its answer (botocore's context)
LOCAL_USER = "moto"  # the IAM user moto takes the local credentials for


@dataclass
class Trail:
    """The account's CloudTrail trail as EventBridge sees it: while ``logging``, the
    mutating ELBv2/EC2 calls are put on the default bus."""

    logging: bool = True


@dataclass
class AwsEvents:
    """The events put so far (counted by detail-type), and the trail's switch."""

    account: str
    region: str
    roles: Mapping[str, str]  # function name → its role's ARN
    trail: Trail = field(default_factory=Trail)
    sent: dict[str, int] = field(default_factory=dict)
    _client: Any = None

    def put(self, *, source: str, detail_type: str, detail: Mapping[str, Any], resources: list[str]) -> None:
        entry = {
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, default=str),
            "Resources": resources,
            "EventBusName": "default",
        }
        failed = self._client.put_events(Entries=[entry]).get("FailedEntryCount", 0)
        if failed:
            log.warning("the bus refused a %s event", detail_type)
            return
        self.sent[detail_type] = self.sent.get(detail_type, 0) + 1


def _stamp(when: datetime.datetime | None = None) -> str:
    return (when or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _millis(when: Any) -> int | None:
    return int(when.timestamp() * 1000) if isinstance(when, datetime.datetime) else None


# --- Step Functions -------------------------------------------------------------------


def execution_detail(execution: Any) -> dict[str, Any]:
    """The detail of a Step Functions Execution Status Change for one of moto's
    executions (its parser backend's ``Execution``)."""
    status = str(execution.exec_status.value)
    succeeded = status == "SUCCEEDED"
    return {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": status,
        "startDate": _millis(execution.start_date),
        "stopDate": _millis(execution.stop_date),
        "input": json.dumps(execution.input_data, separators=(",", ":")),
        "inputDetails": {"included": True},
        "output": json.dumps(execution.output, separators=(",", ":")) if succeeded else None,
        "outputDetails": {"included": True} if succeeded else None,
        "error": execution.error,
        "cause": execution.cause,
    }


# --- CloudTrail -------------------------------------------------------------------------


def identity(function: str | None, roles: Mapping[str, str], *, account: str) -> dict[str, Any]:
    """CloudTrail's ``userIdentity``: a session of the function's role (Lambda names the
    session after the function), or the local IAM user."""
    role = roles.get(function or "")
    if function and role:
        name = role.rsplit("/", 1)[-1]
        role_id = "AROA" + hashlib.sha256(role.encode()).hexdigest()[:17].upper()
        return {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{function}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{name}/{function}",
            "accountId": account,
            "accessKeyId": "ASIA" + hashlib.sha256(function.encode()).hexdigest()[:16].upper(),
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role_id,
                    "arn": role,
                    "accountId": account,
                    "userName": name,
                },
                "attributes": {"creationDate": _stamp(), "mfaAuthenticated": "false"},
            },
        }
    return {
        "type": "IAMUser",
        "principalId": "AIDA" + hashlib.sha256(LOCAL_USER.encode()).hexdigest()[:17].upper(),
        "arn": f"arn:aws:iam::{account}:user/{LOCAL_USER}",
        "accountId": account,
        "accessKeyId": os.environ.get("AWS_ACCESS_KEY_ID", ""),
        "userName": LOCAL_USER,
    }


def request_parameters(shape: Any, value: Any, *, ec2: bool) -> Any:
    """A call's parameters as CloudTrail records them, following the operation's input
    shape: each member under its wire name (``locationName``, else its own), first letter
    lower-case; EC2's lists as ``{"items": [...]}``."""
    if shape is None:
        return value
    if shape.type_name == "structure" and isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            if name in value:
                wire = str(member.serialization.get("name") or name)
                out[wire[:1].lower() + wire[1:]] = request_parameters(member, value[name], ec2=ec2)
        return out
    if shape.type_name == "list" and isinstance(value, list):
        items = [request_parameters(shape.member, v, ec2=ec2) for v in value]
        return {"items": items} if ec2 else items
    if shape.type_name in ("timestamp", "blob"):
        return str(value)
    return value


def api_call_detail(
    model: Any, params: Mapping[str, Any], parsed: Mapping[str, Any], *, function: str | None, events: AwsEvents
) -> dict[str, Any]:
    """The detail of an AWS API Call via CloudTrail for one call."""
    prefix = model.service_model.endpoint_prefix
    error = parsed.get("Error") if isinstance(parsed.get("Error"), Mapping) else None
    detail: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": identity(function, events.roles, account=events.account),
        "eventTime": _stamp(),
        "eventSource": f"{prefix}.amazonaws.com",
        "eventName": model.name,
        "awsRegion": events.region,
        "sourceIPAddress": "127.0.0.1",
        "userAgent": "albatross-local",
        "requestParameters": request_parameters(model.input_shape, dict(params), ec2=prefix == "ec2") or None,
        "responseElements": None,
        "requestID": str((parsed.get("ResponseMetadata") or {}).get("RequestId") or uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": events.account,
        "eventCategory": "Management",
    }
    if error is not None:
        detail["errorCode"] = str(error.get("Code", ""))
        detail["errorMessage"] = str(error.get("Message", ""))
    return detail


# --- while the cloud is up ----------------------------------------------------------------


@contextmanager
def emitting(roles: Mapping[str, str], *, account: str, region: str) -> Iterator[AwsEvents]:
    """Put AWS's own events on the default bus while active (see the module docstring);
    ``roles``: each function's role ARN, by function name."""
    client = clients.separate("events")  # AWS's own puts: not counted or faulted as ours
    events = AwsEvents(account=account, region=region, roles=dict(roles), _client=client)

    def remember(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_PARAMS] = dict(params)

    def recorded(model: Any, parsed: Mapping[str, Any], context: Mapping[str, Any], **_: Any) -> None:
        source = _SOURCES.get(model.service_model.endpoint_prefix)
        if source is None or not is_mutating(model.name) or not events.trail.logging:
            return
        try:
            detail = api_call_detail(
                model, context.get(_PARAMS) or {}, parsed, function=lambdas.running.get(), events=events
            )
            events.put(source=source, detail_type="AWS API Call via CloudTrail", detail=detail, resources=[])
        except Exception:  # AWS's delivery is best effort: never the caller's failure
            log.exception("could not put the CloudTrail event of %s", model.name)

    original = BaseExecutionWorkerCommunication.terminated

    def terminated(self: BaseExecutionWorkerCommunication) -> None:
        original(self)
        try:
            execution = self.execution
            events.put(
                source="aws.states",
                detail_type="Step Functions Execution Status Change",
                detail=execution_detail(execution),
                resources=[execution.exec_arn],
            )
        except Exception:  # as above: Step Functions' events are best effort
            log.exception("could not put an execution's status change")

    clients.add_hook("before-parameter-build.*.*", remember, unique_id=_PARAMS)
    clients.add_hook("after-call.*.*", recorded, unique_id=f"{_PARAMS}-recorded")
    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]  # the seam, see the module docstring
    try:
        yield events
    finally:
        BaseExecutionWorkerCommunication.terminated = original  # type: ignore[method-assign]  # restore
        clients.remove_hook(f"{_PARAMS}-recorded")
        clients.remove_hook(_PARAMS)
