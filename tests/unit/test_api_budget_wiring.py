"""The call budget's wiring in template.yaml (ADR 0016): every function gets the share
from the one ``ApiBudgetShare`` parameter, and every function whose role may call ELBv2,
EC2 or the tagging API (the gated services) may also write the budget's items in the
state table, or its first gated call would be refused by IAM on AWS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from albatross.aws import budget
from albatross.local.template import translate

ROOT = Path(__file__).resolve().parents[2]
GATED_PREFIXES = ("elasticloadbalancing:", "ec2:", "tag:")


def statements(role: dict[str, Any], resources: dict[str, Any]) -> list[dict[str, Any]]:
    """The role's inline statements and those of the template's managed policies it has."""
    documents = [policy["PolicyDocument"] for policy in role["Properties"].get("Policies", [])]
    for arn in role["Properties"].get("ManagedPolicyArns", []):
        managed = resources.get(arn["Ref"]) if isinstance(arn, dict) and "Ref" in arn else None
        if managed is not None and managed["Type"] == "AWS::IAM::ManagedPolicy":
            documents.append(managed["Properties"]["PolicyDocument"])
    out: list[dict[str, Any]] = []
    for document in documents:
        listed = document["Statement"]
        out.extend(listed if isinstance(listed, list) else [listed])
    return out


def actions(statement: dict[str, Any]) -> list[str]:
    found = statement.get("Action", [])
    return [found] if isinstance(found, str) else list(found)


def test_every_function_that_calls_a_gated_service_may_spend_the_budget() -> None:
    template = translate(ROOT / "template.yaml", {"ClusterName": "c", "VpcId": "vpc-0123"}).template
    resources = template["Resources"]
    gated, spending = set(), set()
    for logical, res in resources.items():
        if res["Type"] != "AWS::Lambda::Function":
            continue
        env = res["Properties"]["Environment"]["Variables"]
        assert env[budget.ENV_SHARE] == {"Ref": "ApiBudgetShare"}, logical
        assert env[budget.ENV_TABLE] == {"Ref": "StateTable"}, logical
        role = resources[res["Properties"]["Role"]["Fn::GetAtt"][0]]
        allowed = [(a, s) for s in statements(role, resources) if s.get("Effect") == "Allow" for a in actions(s)]
        if any(a.startswith(GATED_PREFIXES) for a, _ in allowed):
            gated.add(logical)
        if any(a in ("dynamodb:UpdateItem", "dynamodb:*") for a, _ in allowed):
            spending.add(logical)
    assert {"ReconcileFunction", "StepFunction", "ReadinessFunction", "DriftFunction"} <= gated
    assert gated - spending == set()


def test_the_share_parameter_is_a_fraction_with_a_headroom_default() -> None:
    parameter = translate(ROOT / "template.yaml", {"ClusterName": "c", "VpcId": "vpc-0123"}).template["Parameters"][
        "ApiBudgetShare"
    ]
    assert (parameter["Type"], parameter["MinValue"], parameter["MaxValue"]) == ("Number", 0, 1)
    assert 0 < float(parameter["Default"]) < 1  # room left for the account's other tools
