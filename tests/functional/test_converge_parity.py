"""Issue 15's LBC features, built → planned → applied against the local AWS (moto, with
:mod:`albatross.local.gaps` filling what moto lacks), then planned again: nothing left to
do. What ELBv2 reports back must compare equal to what the model asked for."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from albatross.aws import applier, clients, discovery
from albatross.k8s.ingress import GroupID, parse_ingress
from albatross.k8s.service import parse_service
from albatross.local import gaps
from albatross.local.system import make_vpc
from albatross.model.builder import build
from albatross.model.config import ControllerConfig
from albatross.model.stack import Stack
from albatross.plan.actual import Actual
from albatross.plan.planner import plan

CLUSTER = "parity"
A = "alb.ingress.kubernetes.io/"
SERVICE = {
    "metadata": {"name": "web", "namespace": "shop", "uid": "uid-web"},
    "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
}


@pytest.fixture
def local_aws(moto_endpoint: str) -> Iterator[str]:
    """moto with the gaps filled, as ``albatross local`` runs it; the VPC's id."""
    with gaps.fill():
        yield make_vpc(CLUSTER)


def ingress(annotations: dict[str, str], paths: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "annotations": {
                A + "scheme": "internet-facing",
                A + "target-type": "ip",
                **{A + k: v for k, v in annotations.items()},
            },
        },
        "spec": {"rules": [{"http": {"paths": paths}}]},
    }


def to(service: str, path: str = "", path_type: str = "ImplementationSpecific") -> dict[str, Any]:
    port = {"name": "use-annotation"} if service != "web" else {"number": 80}
    return {"path": path, "pathType": path_type, "backend": {"service": {"name": service, "port": port}}}


def converge(vpc: str, obj: dict[str, Any]) -> Stack:
    """Build, apply from nothing, and check that a second plan is empty; the stack."""
    result = build(
        config=ControllerConfig(cluster=CLUSTER, vpc_id=vpc),
        group=GroupID(namespace="shop", name="web"),
        ingresses=[parse_ingress(obj)],
        services={"shop/web": parse_service(SERVICE)},
        discovery=discovery.discover(vpc_id=vpc),
    )
    assert result.stack is not None, result.errors
    physical: dict[str, str] = {}
    for step in plan(result.stack, Actual()):
        applier.apply(step, physical)
    actual = discovery.read_stack(cluster=CLUSTER, stack_id="shop/web", desired=result.stack)
    leftover = plan(result.stack, actual)
    assert [s.describe() for s in leftover] == [], [(s.desired, s.actual) for s in leftover]
    return result.stack


def rules_on_aws() -> list[Any]:
    elbv2 = clients.elbv2()
    [lb] = elbv2.describe_load_balancers()["LoadBalancers"]
    out: list[Any] = []
    for listener in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
        found = elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
        out += sorted((r for r in found if not r["IsDefault"]), key=lambda r: int(r["Priority"]))
    return out


def test_regex_conditions_reach_elbv2_and_converge(local_aws: str) -> None:
    conditions = [
        {"field": "host-header", "hostHeaderConfig": {"regexValues": ["^(.+)\\.example\\.com$"]}},
        {"field": "http-header", "httpHeaderConfig": {"httpHeaderName": "User-Agent", "regexValues": [".+Chrome.+"]}},
        {"field": "path-pattern", "pathPatternConfig": {"regexValues": ["^/api/.*$"]}},
    ]
    stack = converge(local_aws, ingress({"conditions.web": json.dumps(conditions)}, [to("web")]))
    [rule] = rules_on_aws()
    assert rule["Conditions"] == stack.resources["80:1"].properties["Conditions"]
    # another regular expression is a change to make (plain values and regexes compare apart)
    conditions[2]["pathPatternConfig"] = {"regexValues": ["^/v2/.*$"]}
    changed = build(
        config=ControllerConfig(cluster=CLUSTER, vpc_id=local_aws),
        group=GroupID(namespace="shop", name="web"),
        ingresses=[parse_ingress(ingress({"conditions.web": json.dumps(conditions)}, [to("web")]))],
        services={"shop/web": parse_service(SERVICE)},
        discovery=discovery.discover(vpc_id=local_aws),
    ).stack
    assert changed is not None
    actual = discovery.read_stack(cluster=CLUSTER, stack_id="shop/web", desired=changed)
    assert [s.describe() for s in plan(changed, actual)] == ["update ListenerRule 80:1"]


def test_authentication_extra_params_reach_elbv2_and_converge(local_aws: str) -> None:
    certificate = clients.client("acm").request_certificate(DomainName="shop.example.com")["CertificateArn"]
    cognito = {
        "userPoolARN": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc",
        "userPoolClientID": "client",
        "userPoolDomain": "auth.example.com",
        "authenticationRequestExtraParams": {"prompt": "login", "display": "page"},
    }
    annotations = {"certificate-arn": certificate, "auth-type": "cognito", "auth-idp-cognito": json.dumps(cognito)}
    converge(local_aws, ingress(annotations, [to("web", "/", "Prefix")]))
    [rule] = rules_on_aws()
    assert rule["Actions"][0]["AuthenticateCognitoConfig"]["AuthenticationRequestExtraParams"] == {
        "prompt": "login",
        "display": "page",
    }


def test_a_target_group_named_in_an_action_is_found_by_name_and_converges(local_aws: str) -> None:
    # a target group made outside Kubernetes (Terraform, say)
    legacy = clients.elbv2().create_target_group(Name="legacy-tg", Protocol="HTTP", Port=80, VpcId=local_aws)
    arn = legacy["TargetGroups"][0]["TargetGroupArn"]
    found = discovery.TargetGroupArns()
    assert (found.get("legacy-tg"), found.get("no-such-tg")) == (arn, None)
    action = {"type": "forward", "targetGroupName": "legacy-tg"}
    converge(local_aws, ingress({"actions.legacy": json.dumps(action)}, [to("legacy", "/", "Prefix")]))
    [rule] = rules_on_aws()
    assert rule["Actions"][0]["ForwardConfig"]["TargetGroups"][0]["TargetGroupArn"] == arn
