"""React to what AWS itself says on the default event bus, instead of waiting for the
next drift sweep (issue 14, item 9).

Two kinds of event arrive (``AwsEventsFunction``'s rules in ``template.yaml``):

* **Step Functions Execution Status Change**, for the provision or teardown state
  machine, status ``FAILED``, ``TIMED_OUT`` or ``ABORTED``. When the execution is still
  the one the group's state records, it ended without reaching its own
  ``ReportFailure`` (stopped by hand, timed out, or the report itself failed), and the
  group would answer "busy" until something asked for a reconcile. It is reported as
  ``ReportFailure`` reports it: :func:`albatross.controller.steps.run` with task
  ``fail`` warns the members, forgets the stack index, releases the group and requests
  a reconcile. The event is only a hint: the state machine, the status and the group
  (the execution's input) are read back with DescribeExecution.
* **AWS API Call via CloudTrail**: a mutating ELBv2 or EC2 call, made by anyone but
  Albatross's own roles, on a load balancer, listener, rule, target group or security
  group. Event-driven reconciles trust the stack index and the targets' digests, so
  only a full read sees such a change: each group whose stack index holds the resource
  (a listener or rule counts as its load balancer), and for a security group the
  groups whose targets need backend rules on it, gets a fresh reconcile, as the drift
  sweep asks for. A resource no group holds is ignored and counted.

Everything the rules' patterns filter is judged here again (an event names whatever it
names): the status, the state machine, the event source and call, the caller, the
region and the shape of every identifier. Nothing an event says is used unchecked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from albatross.aws import clients
from albatross.aws.errors import NotFound, UserError, aws_errors
from albatross.controller import queues
from albatross.controller.events import BusEvent
from albatross.controller.settings import Settings
from albatross.store.table import Store

logger = Logger(child=True)

EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"
API_CALL = "AWS API Call via CloudTrail"
ENDED = ("FAILED", "TIMED_OUT", "ABORTED")  # how an execution can end without ReportFailure's say
_ERRORS = {"FAILED": "ExecutionFailed", "TIMED_OUT": "ExecutionTimedOut", "ABORTED": "ExecutionAborted"}

ELB_SOURCE = "elasticloadbalancing.amazonaws.com"
EC2_SOURCE = "ec2.amazonaws.com"
# The calls that can change what Albatross manages (the rule's eventName list: a test
# holds the two equal). Additions (AddTags, CreateTags, CreateSecurityGroup, ...) take
# nothing away and name nothing of ours yet.
ELB_CALLS = frozenset(
    {
        "AddListenerCertificates",
        "CreateListener",
        "CreateRule",
        "DeleteListener",
        "DeleteLoadBalancer",
        "DeleteRule",
        "DeleteTargetGroup",
        "DeregisterTargets",
        "ModifyCapacityReservation",
        "ModifyListener",
        "ModifyListenerAttributes",
        "ModifyLoadBalancerAttributes",
        "ModifyRule",
        "ModifyTargetGroup",
        "ModifyTargetGroupAttributes",
        "RegisterTargets",
        "RemoveListenerCertificates",
        "RemoveTags",
        "SetIpAddressType",
        "SetRulePriorities",
        "SetSecurityGroups",
        "SetSubnets",
    }
)
EC2_CALLS = frozenset(
    {
        "AuthorizeSecurityGroupIngress",
        "DeleteSecurityGroup",
        "DeleteTags",
        "ModifySecurityGroupRules",
        "RevokeSecurityGroupIngress",
        "UpdateSecurityGroupRuleDescriptionsIngress",
    }
)
# On a security group where only backend rules of ours live (the nodes'), a rule someone
# else adds takes nothing away: only these can.
_TAKES_AWAY = frozenset(EC2_CALLS - {"AuthorizeSecurityGroupIngress"})

_MAX_IDS = 64  # identifiers read from one call (ELBv2 takes at most 20 ARNs a call)
_ELB_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):elasticloadbalancing:(?P<region>[a-z0-9-]{1,32}):(?P<account>\d{12}):"
    r"(?P<kind>loadbalancer|listener|listener-rule|targetgroup)/(?P<path>[A-Za-z0-9._/-]{1,512})"
)
_SECURITY_GROUP = re.compile(r"sg-[0-9a-f]{8,17}")
_EXECUTION_ARN = re.compile(r"arn:aws[a-z-]*:states:[a-z0-9-]{1,32}:\d{12}:execution:[A-Za-z0-9_.:-]{1,256}")


@dataclass
class Outcome:
    """What one event came to: ``action`` is ``ignored``, ``reported`` (an execution's
    failure), ``reconcile`` (groups enqueued fresh) or ``unknown`` (a change to nothing
    any group holds)."""

    action: str
    reason: str = ""
    groups: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action}
        if self.reason:
            out["reason"] = self.reason
        if self.groups:
            out["groups"] = self.groups
        if self.resources:
            out["resources"] = self.resources
        return out


def _text(value: Any, limit: int = 2048) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def _field(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


# --- executions ---------------------------------------------------------------------


def _execution_prefix(machine: str) -> str:
    """``arn:…:stateMachine:<name>`` → ``arn:…:execution:<name>:``, which every one of
    its executions' ARNs starts with."""
    return machine.replace(":stateMachine:", ":execution:", 1) + ":"


def ended_execution(detail: Mapping[str, Any], machines: Iterable[str]) -> str | None:
    """The execution ARN of an event saying one of ``machines``' executions ended
    without success; None for anything else."""
    ours = {m for m in machines if m and ":stateMachine:" in m}
    status, machine = _text(detail.get("status"), 32), _text(detail.get("stateMachineArn"))
    arn = _text(detail.get("executionArn"))
    if status not in ENDED or machine is None or machine not in ours:
        return None
    if arn is None or not _EXECUTION_ARN.fullmatch(arn):
        return None
    return arn if arn.startswith(_execution_prefix(machine)) else None


def _described(arn: str, machines: Iterable[str]) -> tuple[str, Mapping[str, Any]] | str:
    """(the group, what DescribeExecution says) when the execution is one of ours and has
    ended; else why not."""
    try:
        with aws_errors():
            described: Mapping[str, Any] = clients.sfn().describe_execution(executionArn=arn)
    except (NotFound, UserError) as e:  # gone, or no execution of ours (AccessDenied in AWS)
        return f"cannot describe the execution: {e}"
    if _text(described.get("stateMachineArn")) not in set(machines):
        return "not an execution of Albatross's state machines"
    if _text(described.get("status"), 32) not in ENDED:
        return f"the execution is {described.get('status')}"
    try:
        group = json.loads(str(described.get("input") or "")).get("group")
    except (ValueError, AttributeError, RecursionError):  # not the {"group": ...} reconcile starts it with
        group = None
    if not isinstance(group, str) or not group:
        return "the execution's input names no group"
    return group, described


def report_execution(arn: str, *, settings: Settings, store: Store, machines: Iterable[str], event_id: str) -> Outcome:
    """Report an execution that ended without reporting, if it is still its group's."""
    machines = list(machines)
    found = _described(arn, machines)
    if isinstance(found, str):
        return Outcome("ignored", found)
    group, described = found
    if store.group_state(group).execution != arn:
        # ReportFailure ran (it released the group), or a newer run holds it: its own say stands
        return Outcome("ignored", "not the group's running execution any more", groups=[group])
    status = str(described["status"])  # one of ENDED (_described)
    error = {
        "Error": _text(described.get("error"), 256) or _ERRORS[status],
        "Cause": _text(described.get("cause"), 32768)
        or f"the execution {described.get('name') or arn} ended {status} before it reported",
    }
    # Imported here: the state machines' tasks are the heavy part, and only this path needs them.
    from albatross.controller import steps

    # the execution named: the release is conditional on it, so a run a reconcile started
    # since (it found this one ended) keeps the group
    done = steps.run({"group": group, "task": "fail", "error": error, "execution": arn}, settings=settings, store=store)
    logger.warning(
        "execution ended without reporting: reported",
        extra={"group": group, "execution": arn, "status": status, "event": event_id, "result": done},
    )
    return Outcome("reported", f"{status}: {error['Error']}", groups=[group])


# --- calls made by others -----------------------------------------------------------


def made_by(detail: Mapping[str, Any], roles: Iterable[str]) -> bool:
    """Whether the caller is one of ``roles`` (a session of an assumed role: the role's
    ARN is the session issuer's)."""
    issuer = _field(detail, "userIdentity", "sessionContext", "sessionIssuer", "arn")
    return isinstance(issuer, str) and issuer in set(roles)


def _load_balancer_of(arn: str) -> str | None:
    """A load balancer, listener or rule ARN → its load balancer's ARN; None for anything
    else."""
    found = _ELB_ARN.fullmatch(arn)
    if not found or found["kind"] == "targetgroup":
        return None
    parts = found["path"].split("/")  # app/<name>/<id>[/<listener id>[/<rule id>]]
    if len(parts) < 3 or not all(parts):
        return None
    head = arn[: found.start("kind")]
    return f"{head}loadbalancer/{'/'.join(parts[:3])}"


def _elb_resources(params: Mapping[str, Any]) -> Iterator[str]:
    """The load balancers and target groups an ELBv2 call's requestParameters name
    (CloudTrail spells them as the API does, first letter lower-case)."""
    named: list[Any] = [params.get(k) for k in ("loadBalancerArn", "listenerArn", "ruleArn", "targetGroupArn")]
    arns = params.get("resourceArns")
    if isinstance(arns, list):
        named += arns[:_MAX_IDS]
    priorities = params.get("rulePriorities")
    if isinstance(priorities, list):
        named += [_field(p, "ruleArn") for p in priorities[:_MAX_IDS]]
    for value in named:
        arn = _text(value)
        found = _ELB_ARN.fullmatch(arn) if arn else None
        if arn is None or found is None:
            continue
        if found["kind"] == "targetgroup":
            yield arn
        elif (load_balancer := _load_balancer_of(arn)) is not None:
            yield load_balancer


def _security_groups(params: Mapping[str, Any]) -> Iterator[str]:
    """The security group an EC2 call's requestParameters change: ``groupId`` (newer
    calls wrap their request, ``ModifySecurityGroupRulesRequest.GroupId``), or the
    security groups among a DeleteTags call's resources (``resourcesSet.items``)."""
    holders = [params, *(v for k, v in params.items() if k.endswith("Request") and isinstance(v, Mapping))]
    named: list[Any] = [holder.get(key) for holder in holders for key in ("groupId", "GroupId")]
    items = _field(params, "resourcesSet", "items")
    if isinstance(items, list):
        named += [_field(item, "resourceId") for item in items[:_MAX_IDS]]
    for value in named:
        if isinstance(value, str) and _SECURITY_GROUP.fullmatch(value):
            yield value


@dataclass(frozen=True)
class Call:
    """A mutating call someone made, as far as it concerns Albatross."""

    source: str
    name: str
    resources: tuple[str, ...]  # load balancer and target group ARNs, security group ids


def call_of(detail: Mapping[str, Any], *, roles: Iterable[str], region: str) -> Call | str:
    """The call a CloudTrail event records, when it could have changed something of
    Albatross's; else why it is ignored."""
    source, name = _text(detail.get("eventSource"), 128), _text(detail.get("eventName"), 128)
    calls = {ELB_SOURCE: ELB_CALLS, EC2_SOURCE: EC2_CALLS}.get(source or "", frozenset())
    if name not in calls:
        return "not a call that changes what Albatross manages"
    if "errorCode" in detail:
        return "the call failed: nothing changed"
    if made_by(detail, roles):
        return "made by Albatross"
    if detail.get("awsRegion") != region:
        return "another region"
    params = detail.get("requestParameters")
    if not isinstance(params, Mapping):
        return "the call names no resource"
    found = _elb_resources(params) if source == ELB_SOURCE else _security_groups(params)
    resources = tuple(dict.fromkeys(found))[:_MAX_IDS]
    if not resources:
        return "the call names no resource"
    return Call(source=str(source), name=str(name), resources=resources)


def groups_of(call: Call, store: Store) -> tuple[set[str], list[str]]:
    """The groups a call concerns, and the resources no group holds."""
    groups: set[str] = set()
    unknown: list[str] = []
    for resource in call.resources:
        holders = store.groups_holding(resource)
        if resource.startswith("sg-") and call.name in _TAKES_AWAY:
            holders |= store.groups_needing_rules_on(resource)
        groups |= holders
        if not holders:
            unknown.append(resource)
    return groups, unknown


def repair(call: Call, *, settings: Settings, store: Store, event_id: str) -> Outcome:
    groups, unknown = groups_of(call, store)
    if not groups:
        return Outcome("unknown", f"{call.name} on nothing a group holds", resources=unknown)
    queues.enqueue(settings.work_queue_url, groups, cause=f"aws-event:{event_id}", fresh=True)
    logger.warning(
        "changed by someone else: a fresh reconcile requested",
        extra={"groups": sorted(groups), "call": call.name, "resources": list(call.resources), "event": event_id},
    )
    return Outcome("reconcile", call.name, groups=sorted(groups), resources=unknown)


# --- the handler's entry point ------------------------------------------------------


def handle(event: BusEvent, *, settings: Settings, store: Store, roles: Iterable[str]) -> Outcome:
    """Act on one event from the default bus."""
    machines = [m for m in (settings.provision_state_machine, settings.teardown_state_machine) if m]
    if event.detail_type == EXECUTION_STATUS_CHANGE:
        arn = ended_execution(event.detail, machines)
        if arn is None:
            return Outcome("ignored", "not an execution of Albatross's that ended without success")
        return report_execution(arn, settings=settings, store=store, machines=machines, event_id=event.id)
    if event.detail_type == API_CALL:
        call = call_of(event.detail, roles=roles, region=settings.region)
        if isinstance(call, str):
            return Outcome("ignored", call)
        return repair(call, settings=settings, store=store, event_id=event.id)
    return Outcome("ignored", f"not an event Albatross acts on: {event.detail_type[:100]}")
