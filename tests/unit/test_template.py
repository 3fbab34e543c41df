"""template.yaml is the single source of infrastructure facts: what the code reads from
the environment is set there, every handler it names exists, and the state machines'
substitutions are all provided."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from albatross.controller.settings import Settings
from albatross.local.template import load, translate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load(ROOT / "template.yaml")


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def test_the_template_translates() -> None:
    out = translate(ROOT / "template.yaml", {"ClusterName": "c", "VpcId": "vpc-0123"})
    types = {r["Type"] for r in out.template["Resources"].values()}
    assert {
        "AWS::Lambda::Function",
        "AWS::StepFunctions::StateMachine",
        "AWS::Events::Rule",
        "AWS::Lambda::EventSourceMapping",
    } <= types


def test_every_handler_exists(template: dict[str, Any]) -> None:
    for name, fn in functions(template).items():
        module, _, attr = fn["Properties"]["Handler"].rpartition(".")
        source = (ROOT / fn["Properties"]["CodeUri"] / f"{module}.py").read_text()
        assert f"def {attr}(" in source, name


def test_settings_read_only_variables_the_template_sets(template: dict[str, Any]) -> None:
    common = set(template["Globals"]["Function"]["Environment"]["Variables"])
    reconcile = common | set(template["Resources"]["ReconcileFunction"]["Properties"]["Environment"]["Variables"])
    import inspect

    read = set(re.findall(r'env(?:\.get\(|\[)"([A-Z_]+)"', inspect.getsource(Settings.from_env)))
    assert read - {"AWS_REGION", "AWS_DEFAULT_REGION"} <= reconcile


def test_state_machine_substitutions_are_provided(template: dict[str, Any]) -> None:
    machines = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::StateMachine"}
    assert machines
    for name, machine in machines.items():
        text = (ROOT / machine["Properties"]["DefinitionUri"]).read_text()
        wanted = set(re.findall(r"\$\{(\w+)\}", text))
        assert wanted == set(machine["Properties"]["DefinitionSubstitutions"]), name
        json.loads(text)


def test_runtime_and_architecture(template: dict[str, Any]) -> None:
    assert template["Globals"]["Function"]["Runtime"] == "python3.12"
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"]


_IAM_PREFIX = {
    "elbv2": ("elbv2", "elasticloadbalancing"),
    "ec2": ("ec2", "ec2"),
    "acm": ("acm", "acm"),
    "wafv2": ("wafv2", "wafv2"),
    "waf_regional": ("waf-regional", "waf-regional"),
    "shield": ("shield", "shield"),
    "tagging": ("resourcegroupstaggingapi", "tag"),
}


def _calls_in(source: str) -> set[tuple[str, str]]:
    """(client getter, snake-case operation) for every call on an AWS client in the
    source: ``clients.elbv2().describe_rules(``, ``elbv2.create_rule(`` after
    ``elbv2 = clients.elbv2()``, and ``get_paginator("...")`` on either."""
    flat = re.sub(r"\s*\n\s*", "", source)
    names = "|".join(_IAM_PREFIX)
    found = set(re.findall(rf"\b(?:clients\.)?({names})(?:\(\))?\.([a-z][a-z0-9_]*)\(", flat))
    found |= set(re.findall(rf"\b(?:clients\.)?({names})(?:\(\))?\.get_paginator\(\"([a-z0-9_]+)\"\)", flat))
    return {(svc, op) for svc, op in found if op != "get_paginator"}


def test_the_controller_policy_allows_every_aws_call_the_code_makes(template: dict[str, Any]) -> None:
    session = botocore.session.get_session()
    statements = template["Resources"]["ElbManagementPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allowed = {a for s in statements for a in s["Action"]}
    needed: set[str] = set()
    for path in (ROOT / "layers/core/albatross").glob("*/*.py"):
        if path.parent.name in ("local", "cli"):
            continue  # local tooling and the read-only CLI run with the user's credentials
        for getter, op in _calls_in(path.read_text()):
            service, prefix = _IAM_PREFIX[getter]
            operations = {xform_name(o): o for o in session.get_service_model(service).operation_names}
            assert op in operations, f"{path.name}: {getter}.{op} is not an operation of {service}"
            needed.add(f"{prefix}:{operations[op]}")
    assert len(needed) > 30  # the scan finds the calls
    assert needed - allowed == set()


def test_only_the_forwarder_role_may_put_events_on_the_bus(template: dict[str, Any]) -> None:
    policy = template["Resources"]["EventBusForwarderOnly"]["Properties"]
    statement = policy["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "events:PutEvents")
    allowed = statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert allowed == {
        "Fn::If": ["CreateForwarderRole", {"Fn::GetAtt": ["ForwarderRole", "Arn"]}, {"Ref": "ForwarderRoleArn"}]
    }
    assert template["Resources"]["ForwarderRole"]["Properties"]["ManagedPolicyArns"] == [{"Ref": "ForwarderPolicy"}]
    role = template["Resources"]["ForwarderPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert {a for s in role for a in s["Action"]} == {
        "events:PutEvents",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "s3:PutObject",
        "secretsmanager:CreateSecret",
        "secretsmanager:TagResource",
        "secretsmanager:PutSecretValue",
        "secretsmanager:DescribeSecret",
        "secretsmanager:DeleteSecret",
        "secretsmanager:RestoreSecret",
    }
    # Secret copies only under albatross/<cluster>/, and only while tagged for this cluster
    copies = [s for s in role if s["Action"][0].startswith("secretsmanager:")]
    assert all(s["Resource"]["Fn::Sub"].endswith(":secret:albatross/${ClusterName}/*") for s in copies)
    assert all(list(s["Condition"]["StringEquals"].values()) == [{"Ref": "ClusterName"}] for s in copies)


def test_the_payload_bucket_is_private_tls_only_and_expires_what_it_holds(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    bucket = resources["PayloadBucket"]["Properties"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    [rule] = bucket["LifecycleConfiguration"]["Rules"]
    assert (rule["Prefix"], rule["ExpirationInDays"]) == ("objects/", {"Ref": "PayloadRetentionDays"})
    [tls] = resources["PayloadBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (tls["Effect"], tls["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    # the prefix the contract writes under is the one the roles may use
    from albatross.contract.claim import PAYLOAD_PREFIX

    forwarder = resources["ForwarderPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    ingest = resources["IngestFunction"]["Properties"]["Policies"]
    writes = [s["Resource"] for s in forwarder if s["Action"] == ["s3:PutObject"]]
    reads = [
        s["Resource"] for p in ingest if "Statement" in p for s in p["Statement"] if s["Action"] == ["s3:GetObject"]
    ]
    assert writes == reads == [{"Fn::Sub": f"${{PayloadBucket.Arn}}/{PAYLOAD_PREFIX}*"}]
    assert template["Outputs"]["PayloadBucketName"]["Value"] == {"Ref": "PayloadBucket"}


def test_reconcile_and_step_tasks_may_read_the_oidc_secret_copies(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    [statement] = resources["OidcSecretReadPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["secretsmanager:GetSecretValue"]
    for name in ("ReconcileFunction", "StepFunction"):
        assert {"Ref": "OidcSecretReadPolicy"} in resources[name]["Properties"]["Policies"]


def test_every_function_has_a_log_group_the_saved_queries_read(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    groups = {
        lid: r["Properties"]["LogGroupName"]["Fn::Sub"]
        for lid, r in resources.items()
        if r["Type"] == "AWS::Logs::LogGroup"
    }
    assert sorted(groups.values()) == sorted(f"/aws/lambda/${{{name}}}" for name in functions(template))
    for query in (r for r in resources.values() if r["Type"] == "AWS::Logs::QueryDefinition"):
        assert sorted(g["Ref"] for g in query["Properties"]["LogGroupNames"]) == sorted(groups)


def test_alarms_watch_every_dead_letter_queue_and_state_machine(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    watched = set()
    for alarm in (r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"):
        if not alarm["Namespace"].startswith("AWS/"):
            continue  # our own metrics watch no resource (ForwarderSilentAlarm: test_silent_alarm)
        [dimension] = alarm["Dimensions"]
        value = dimension["Value"]
        watched.add(value["Fn::GetAtt"][0] if "Fn::GetAtt" in value else value["Ref"])
    queues = {lid for lid, r in resources.items() if r["Type"] == "AWS::SQS::Queue" and "DeadLetter" in lid}
    machines = {lid for lid, r in resources.items() if r["Type"] == "AWS::Serverless::StateMachine"}
    assert queues | machines | {"ReconcileFunction"} == watched


def test_the_dashboard_body_is_json_naming_real_resources(template: dict[str, Any]) -> None:
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([A-Za-z:]+)(?:\.[A-Za-z]+)?\}", body))
    assert names - {"AWS::Region"} <= set(template["Resources"])
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    assert len(widgets) >= 4


def test_elb_and_ec2_changes_are_limited_to_what_carries_our_cluster_tag(template: dict[str, Any]) -> None:
    """As LBC's policy: creates need our tag in the request, changes need it on the
    resource; listeners and rules are scoped to listener ARNs; inbound rules may be
    changed on any security group of the cluster's VPC in this account and region (the
    backend rules go on the nodes' groups, which are not ours); nothing else is open."""
    statements = template["Resources"]["ElbManagementPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    open_ok = {
        "ec2:CreateSecurityGroup",  # the group's tags come with the create (TagSecurityGroupOnCreate)
        "elasticloadbalancing:SetWebAcl",  # the IAM reference: no resource types, no condition keys
    }
    backend_rules = {"ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"}
    here = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:"
    by_sid = {s["Sid"]: s for s in statements}
    groups, rules = by_sid["BackendRules"], by_sid["BackendRuleIds"]
    assert set(groups["Action"]) == backend_rules
    # only an authorize names rules (the IAM reference: a revoke's one resource is the group)
    assert rules["Action"] == ["ec2:AuthorizeSecurityGroupIngress"]
    assert groups["Resource"] == {"Fn::Sub": here + "security-group/*"}
    assert groups["Condition"] == {"ArnEquals": {"ec2:Vpc": {"Fn::Sub": here + "vpc/${VpcId}"}}}
    assert "VpcId" in template["Parameters"]
    # the rules alone allow nothing: every call also names its security group
    assert rules["Resource"] == {"Fn::Sub": here + "security-group-rule/*"}
    for statement in statements:
        if statement["Sid"] in ("Read", "BackendRules", "BackendRuleIds"):
            continue
        mutating = [a for a in statement["Action"] if a.split(":")[0] in ("elasticloadbalancing", "ec2")]
        if not mutating or statement.get("Condition") or set(mutating) <= open_ok:
            continue
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        arns = [r["Fn::Sub"] for r in resources]
        # an ALB's listeners and rules, and a frontend NLB's listeners (as LBC's policy scopes them)
        assert all(re.search(r":listener(-rule)?/(app|net)/", a) for a in arns), statement["Sid"]
    conditions = [str(s.get("Condition")) for s in statements]
    assert any("aws:RequestTag/elbv2.k8s.aws/cluster" in c for c in conditions)
    assert any("aws:ResourceTag/elbv2.k8s.aws/cluster" in c for c in conditions)
