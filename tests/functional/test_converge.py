"""Build → plan → apply against moto, then plan again: nothing left to do. This checks
that what the model asks for is what AWS reports back, for the features the builder
supports (HTTPS with SNI certificates, SSL redirect, weighted forwards with stickiness,
redirects, fixed responses, every condition type, attributes, health checks, tags)."""

from __future__ import annotations

import json
from typing import Any

from albatross.aws import applier, clients, discovery
from albatross.k8s.ingress import GroupID, parse_ingress
from albatross.k8s.service import parse_service
from albatross.local.system import make_vpc
from albatross.model.builder import build
from albatross.model.config import ControllerConfig
from albatross.model.stack import Stack
from albatross.plan.actual import Actual
from albatross.plan.planner import plan

CLUSTER = "converge"


def service(name: str, port: int) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "shop", "uid": f"uid-{name}"},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": port}]},
    }


def ingress(certificates: list[str]) -> dict[str, Any]:
    weighted = {
        "type": "forward",
        "forwardConfig": {
            "targetGroups": [
                {"serviceName": "blue", "servicePort": "80", "weight": 90},
                {"serviceName": "green", "servicePort": 80, "weight": 10},
            ],
            "targetGroupStickinessConfig": {"enabled": True, "durationSeconds": 300},
        },
    }
    conditions = [
        {"field": "http-header", "httpHeaderConfig": {"httpHeaderName": "X-Canary", "values": ["yes"]}},
        {"field": "query-string", "queryStringConfig": {"values": [{"key": "v", "value": "2"}]}},
        {"field": "source-ip", "sourceIpConfig": {"values": ["10.0.0.0/8"]}},
        {"field": "http-request-method", "httpRequestMethodConfig": {"values": ["GET", "HEAD"]}},
    ]
    prefix = "alb.ingress.kubernetes.io/"
    return {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "annotations": {
                prefix + "scheme": "internet-facing",
                prefix + "target-type": "ip",
                prefix + "listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]',
                prefix + "certificate-arn": ",".join(certificates),
                prefix + "ssl-redirect": "443",
                prefix + "healthcheck-path": "/healthz",
                prefix + "success-codes": "200-299",
                prefix + "load-balancer-attributes": "idle_timeout.timeout_seconds=120",
                prefix + "target-group-attributes": "deregistration_delay.timeout_seconds=30",
                prefix + "tags": "team=shop,env=test",
                prefix + "actions.weighted": json.dumps(weighted),
                prefix + "actions.old": json.dumps(
                    {"type": "redirect", "redirectConfig": {"path": "/new", "statusCode": "HTTP_302"}}
                ),
                prefix + "actions.teapot": json.dumps(
                    {
                        "type": "fixed-response",
                        "fixedResponseConfig": {"statusCode": "418", "contentType": "text/plain"},
                    }
                ),
                prefix + "conditions.blue": json.dumps(conditions),
            },
        },
        "spec": {
            "ingressClassName": "alb",
            "rules": [
                {
                    "host": "shop.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "blue", "port": {"number": 80}}},
                            },
                            {
                                "path": "/cart",
                                "pathType": "Exact",
                                "backend": {"service": {"name": "weighted", "port": {"name": "use-annotation"}}},
                            },
                            {
                                "path": "/old",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "old", "port": {"name": "use-annotation"}}},
                            },
                            {
                                "path": "/tea",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "teapot", "port": {"name": "use-annotation"}}},
                            },
                        ]
                    },
                }
            ],
        },
    }


SERVICES = (service("blue", 8080), service("green", 8081))


def built(vpc: str, obj: dict[str, Any]) -> Stack:
    """The stack the builder makes of one Ingress (with the blue and green Services)."""
    result = build(
        config=ControllerConfig(cluster=CLUSTER, vpc_id=vpc),
        group=GroupID(namespace="shop", name="web"),
        ingresses=[parse_ingress(obj)],
        services={s.key: s for s in (parse_service(o) for o in SERVICES)},
        discovery=discovery.discover(vpc_id=vpc),
    )
    assert result.stack is not None, result.errors
    return result.stack


def apply_plan(stack: Stack, previous: Stack | None = None) -> list[str]:
    """Read the stack afresh, plan, apply; returns the steps taken."""
    actual = discovery.read_stack(cluster=CLUSTER, stack_id="shop/web", desired=stack)
    steps = plan(stack, actual, previous=previous)
    physical = {r.id: r.physical_id for r in actual.resources}
    for step in steps:
        applier.apply(step, physical)
    return [s.describe() for s in steps]


def test_apply_then_plan_again_is_empty(moto_endpoint: str) -> None:
    vpc = make_vpc(CLUSTER)
    acm = clients.client("acm")
    certificates = [
        acm.request_certificate(DomainName=d)["CertificateArn"] for d in ("shop.example.com", "www.example.com")
    ]
    config = ControllerConfig(cluster=CLUSTER, vpc_id=vpc, default_tags={"owner": "platform"})
    services = {s.key: s for s in (parse_service(service("blue", 8080)), parse_service(service("green", 8081)))}
    result = build(
        config=config,
        group=GroupID(namespace="shop", name="web"),
        ingresses=[parse_ingress(ingress(certificates))],
        services=services,
        discovery=discovery.discover(vpc_id=vpc),
    )
    assert result.stack is not None, result.errors
    physical: dict[str, str] = {}
    for step in plan(result.stack, Actual()):
        applier.apply(step, physical)
    actual = discovery.read_stack(cluster=CLUSTER, stack_id="shop/web", desired=result.stack)
    leftover = plan(result.stack, actual)
    assert [s.describe() for s in leftover] == [], [(s.desired, s.actual) for s in leftover]

    elbv2 = clients.elbv2()
    listeners = {
        listener["Port"]: listener
        for listener in elbv2.describe_listeners(LoadBalancerArn=physical["LoadBalancer"])["Listeners"]
    }
    assert listeners[80]["DefaultActions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"
    assert listeners[443]["Certificates"][0]["CertificateArn"] == certificates[0]
    sni = elbv2.describe_listener_certificates(ListenerArn=listeners[443]["ListenerArn"])["Certificates"]
    assert certificates[1] in {c["CertificateArn"] for c in sni}
    # SSL redirect: no rules on the HTTP listener, the 4 paths on HTTPS (Exact first, then longest prefix)
    assert [
        r for r in elbv2.describe_rules(ListenerArn=listeners[80]["ListenerArn"])["Rules"] if not r["IsDefault"]
    ] == []
    https_rules = [
        r for r in elbv2.describe_rules(ListenerArn=listeners[443]["ListenerArn"])["Rules"] if not r["IsDefault"]
    ]
    assert [r["Actions"][0]["Type"] for r in sorted(https_rules, key=lambda r: int(r["Priority"]))] == [
        "forward",  # /cart (Exact)
        "redirect",  # /old
        "fixed-response",  # /tea
        "forward",  # /
    ]
    attributes = elbv2.describe_load_balancer_attributes(LoadBalancerArn=physical["LoadBalancer"])["Attributes"]
    assert {"Key": "idle_timeout.timeout_seconds", "Value": "120"} in attributes
    tags = elbv2.describe_tags(ResourceArns=[physical["LoadBalancer"]])["TagDescriptions"][0]["Tags"]
    assert {"Key": "owner", "Value": "platform"} in tags
    assert {"Key": "team", "Value": "shop"} in tags


def test_sni_certificates_and_listener_attributes_change_in_place(moto_endpoint: str) -> None:
    vpc = make_vpc(CLUSTER)
    acm = clients.client("acm")
    certs = [acm.request_certificate(DomainName=f"{d}.example.com")["CertificateArn"] for d in ("a", "b", "c")]

    def desired(certificates: list[str], attributes: str | None) -> Stack:
        obj = ingress(certificates)
        if attributes:
            obj["metadata"]["annotations"]["alb.ingress.kubernetes.io/listener-attributes.HTTPS-443"] = attributes
        return built(vpc, obj)

    apply_plan(desired(certs[:2], None))
    second = desired([certs[0], certs[2]], "routing.http.response.server.enabled=false")
    assert apply_plan(second) == ["update Listener 443"]
    assert apply_plan(second) == []

    elbv2 = clients.elbv2()
    [lb] = elbv2.describe_load_balancers()["LoadBalancers"]
    [https] = [
        x for x in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"] if x["Port"] == 443
    ]
    held = elbv2.describe_listener_certificates(ListenerArn=https["ListenerArn"])["Certificates"]
    assert {c["CertificateArn"] for c in held if not c.get("IsDefault")} == {certs[2]}
    attributes = elbv2.describe_listener_attributes(ListenerArn=https["ListenerArn"])["Attributes"]
    assert {"Key": "routing.http.response.server.enabled", "Value": "false"} in attributes


def test_tags_follow_the_annotation_and_tags_added_by_others_stay(moto_endpoint: str) -> None:
    vpc = make_vpc(CLUSTER)

    def desired(tags: str) -> Stack:
        obj = ingress([])
        annotations = obj["metadata"]["annotations"]
        for key in ("certificate-arn", "ssl-redirect", "listen-ports"):
            del annotations[f"alb.ingress.kubernetes.io/{key}"]
        annotations["alb.ingress.kubernetes.io/tags"] = tags
        return built(vpc, obj)

    first = desired("team=shop,env=test")
    apply_plan(first)
    elbv2 = clients.elbv2()
    [lb] = elbv2.describe_load_balancers()["LoadBalancers"]
    elbv2.add_tags(ResourceArns=[lb["LoadBalancerArn"]], Tags=[{"Key": "added-by", "Value": "someone"}])
    second = desired("team=web")
    steps = apply_plan(second, previous=first)
    assert "update LoadBalancer LoadBalancer" in steps
    assert any(s.startswith("update ListenerRule") for s in steps)
    assert apply_plan(second, previous=first) == []
    tags = {
        t["Key"]: t["Value"]
        for t in elbv2.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"][0]["Tags"]
    }
    assert tags["team"] == "web"
    assert "env" not in tags
    assert tags["added-by"] == "someone"
    [sg] = clients.ec2().describe_security_groups(
        Filters=[{"Name": "tag:ingress.k8s.aws/stack", "Values": ["shop/web"]}]
    )["SecurityGroups"]
    assert {"Key": "team", "Value": "web"} in sg["Tags"]
