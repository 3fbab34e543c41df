"""The frontend NLB (LBC's ``enable-frontend-nlb``, ADR 0012) against the local AWS (moto,
with :mod:`albatross.local.gaps` filling what moto lacks).

The stack LBC makes is written here from LBC's conventions (its
``model_build_frontend_nlb.go``): the NLB ``FrontendNlb`` named after the ALB (its first
28 characters and ``-nlb``), one TCP listener per ALB port (``FrontendNlb-ls-TCP-<port>``)
forwarding to a TCP target group of type ``alb`` (``FrontendNlb-tg-TCP-<port>``, named
``k8s-<ns, 7>-<name, 7>-<sha256 over cluster, group, port, port, alb, TCP, TCP; 6>-nlb``)
in which the ALB is registered on that port; each resource with the stack's tags. Not
from Albatross's own model: what Albatross reads of such a stack must not be mistaken for
the ALB's (the NLB's TCP:80 listener is not the ALB's listener ``80``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from albatross.aws import applier, clients, discovery
from albatross.k8s.ingress import GroupID, parse_ingress
from albatross.k8s.service import parse_service
from albatross.local import gaps
from albatross.local.system import make_vpc
from albatross.model.builder import build
from albatross.model.config import ControllerConfig
from albatross.model.stack import Stack
from albatross.plan.actual import Actual
from albatross.plan.planner import pair, plan, set_aside

if TYPE_CHECKING:
    from mypy_boto3_elbv2.type_defs import TagTypeDef

CLUSTER = "nlb"
STACK = "shop/web"
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


def ingress(annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "annotations": {
                A + "scheme": "internet-facing",
                A + "target-type": "ip",
                **{A + k: v for k, v in (annotations or {}).items()},
            },
        },
        "spec": {
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    }
                }
            ]
        },
    }


def model(vpc: str, annotations: dict[str, str] | None = None) -> Stack:
    result = build(
        config=ControllerConfig(cluster=CLUSTER, vpc_id=vpc),
        group=GroupID(namespace="shop", name="web"),
        ingresses=[parse_ingress(ingress(annotations))],
        services={"shop/web": parse_service(SERVICE)},
        discovery=discovery.discover(vpc_id=vpc),
    )
    assert result.stack is not None, result.errors
    return result.stack


def apply(desired: Stack, actual: Actual) -> int:
    """Apply the plan as the reconcile does: references to what exists resolve to it."""
    physical = {rid: res.physical_id for rid, res in pair(desired, actual)[0].items()}
    steps = plan(desired, actual)
    for step in steps:
        applier.apply(step, physical)
    return len(steps)


def read(desired: Stack | None) -> Actual:
    return discovery.read_stack(cluster=CLUSTER, stack_id=STACK, desired=desired)


def stack_tags(resource: str) -> list[TagTypeDef]:
    return [
        {"Key": "elbv2.k8s.aws/cluster", "Value": CLUSTER},
        {"Key": "ingress.k8s.aws/stack", "Value": STACK},
        {"Key": "ingress.k8s.aws/resource", "Value": resource},
    ]


def lbc_target_group_name(port: int) -> str:
    digest = hashlib.sha256(f"{CLUSTER}{STACK}{port}{port}albTCPTCP".encode()).hexdigest()[:6]
    return f"k8s-shop-web-{digest}-nlb"


def lbc_frontend_nlb(vpc: str, *, ports: tuple[int, ...] = (80,)) -> str:
    """The frontend NLB as LBC makes it in front of the stack's ALB; its ARN."""
    elbv2 = clients.elbv2()
    [alb] = [lb for lb in elbv2.describe_load_balancers()["LoadBalancers"] if lb["Type"] == "application"]
    nlb = elbv2.create_load_balancer(
        Name=alb["LoadBalancerName"][:28] + "-nlb",
        Type="network",
        Scheme="internet-facing",
        IpAddressType=alb["IpAddressType"],
        Subnets=[z["SubnetId"] for z in alb["AvailabilityZones"]],
        SecurityGroups=alb["SecurityGroups"],
        Tags=stack_tags("FrontendNlb"),
    )["LoadBalancers"][0]["LoadBalancerArn"]
    for port in ports:
        tg = elbv2.create_target_group(
            Name=lbc_target_group_name(port),
            Protocol="TCP",
            Port=port,
            VpcId=vpc,
            TargetType="alb",
            IpAddressType="ipv4",
            HealthCheckProtocol="HTTP",
            HealthCheckPort="traffic-port",
            HealthCheckPath="/",
            HealthCheckIntervalSeconds=15,
            HealthCheckTimeoutSeconds=5,
            HealthyThresholdCount=2,
            UnhealthyThresholdCount=2,
            Matcher={"HttpCode": "200"},
            Tags=stack_tags(f"FrontendNlb-tg-TCP-{port}"),
        )["TargetGroups"][0]["TargetGroupArn"]
        elbv2.create_listener(
            LoadBalancerArn=nlb,
            Port=port,
            Protocol="TCP",
            DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": tg}]}}],
            Tags=stack_tags(f"FrontendNlb-ls-TCP-{port}"),
        )
        elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": alb["LoadBalancerArn"], "Port": port}])
    return nlb


def test_an_lbc_frontend_nlb_is_read_as_its_own_resources_never_as_the_alb_s(local_aws: str) -> None:
    alb_only = model(local_aws)
    apply(alb_only, Actual())
    nlb = lbc_frontend_nlb(local_aws)
    found = read(alb_only)
    ids = {(r.type.rsplit("::", 1)[-1], r.id) for r in found.resources}
    assert {("LoadBalancer", "FrontendNlb"), ("Listener", "FrontendNlb-ls-TCP-80"), ("Listener", "80")} <= ids
    [nlb_listener] = [r for r in found.resources if r.id == "FrontendNlb-ls-TCP-80"]
    assert nlb_listener.properties["LoadBalancerArn"] == nlb
    # without the annotation the NLB is not wanted: what goes is the NLB's, nothing of the ALB's
    steps = [s.describe() for s in plan(alb_only, found)]
    assert steps == [
        "delete AlbTarget FrontendNlb-tg-TCP-80/alb",
        "delete LoadBalancer FrontendNlb",
        "delete TargetGroup FrontendNlb-tg-TCP-80",
    ]
    # an NLB Albatross has no record of is set aside whole: the ALB stays registered in it
    [alb] = [r for r in found.resources if r.id == "LoadBalancer"]
    kept, aside = set_aside(alb_only, found, {alb.physical_id})
    assert [r.physical_id for r in aside] == [nlb]
    assert [s.describe() for s in plan(alb_only, kept)] == []


def test_an_lbc_made_frontend_nlb_is_adopted_with_no_change(local_aws: str) -> None:
    """The migration case: what LBC made is what the Ingress asks for, so nothing is called."""
    apply(model(local_aws), Actual())
    lbc_frontend_nlb(local_aws)
    desired = model(local_aws, {"enable-frontend-nlb": "true", "frontend-nlb-scheme": "internet-facing"})
    found = read(desired)
    assert [s.describe() for s in plan(desired, found)] == []


def test_create_converge_remap_and_disable(local_aws: str) -> None:
    elbv2 = clients.elbv2()
    on = {"enable-frontend-nlb": "true", "listen-ports": '[{"HTTP": 80}, {"HTTP": 8080}]'}
    desired = model(local_aws, on)
    apply(desired, Actual())
    assert [s.describe() for s in plan(desired, read(desired))] == []
    [nlb] = [lb for lb in elbv2.describe_load_balancers()["LoadBalancers"] if lb["Type"] == "network"]
    [alb] = [lb for lb in elbv2.describe_load_balancers()["LoadBalancers"] if lb["Type"] == "application"]
    assert nlb["LoadBalancerName"] == alb["LoadBalancerName"][:28] + "-nlb"
    listeners = elbv2.describe_listeners(LoadBalancerArn=nlb["LoadBalancerArn"])["Listeners"]
    assert sorted((x["Port"], x["Protocol"]) for x in listeners) == [(80, "TCP"), (8080, "TCP")]
    for listener in listeners:
        [tg] = listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
        [target] = elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
        assert (target["Target"]["Id"], target["Target"]["Port"]) == (alb["LoadBalancerArn"], listener["Port"])
    # NLB port 80 now forwards to the ALB's 8080: the registration moves, nothing else
    remapped = model(local_aws, {**on, "frontend-nlb-listener-port-mapping": "80=8080,8080=80"})
    steps = [s.describe() for s in plan(remapped, read(remapped))]
    assert steps == ["update AlbTarget FrontendNlb-tg-TCP-80/alb", "update AlbTarget FrontendNlb-tg-TCP-8080/alb"]
    apply(remapped, read(remapped))
    assert [s.describe() for s in plan(remapped, read(remapped))] == []
    # disabled: the registrations go first, then the NLB (its listeners with it) and its target groups
    off = model(local_aws, {"listen-ports": on["listen-ports"]})
    steps = [s.describe() for s in plan(off, read(off))]
    assert steps == [
        "delete AlbTarget FrontendNlb-tg-TCP-80/alb",
        "delete AlbTarget FrontendNlb-tg-TCP-8080/alb",
        "delete LoadBalancer FrontendNlb",
        "delete TargetGroup FrontendNlb-tg-TCP-80",
        "delete TargetGroup FrontendNlb-tg-TCP-8080",
    ]
    apply(off, read(off))
    assert [lb["Type"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]] == ["application"]
    assert [s.describe() for s in plan(off, read(off))] == []


def test_the_local_aws_refuses_what_elbv2_refuses_of_an_alb_target(local_aws: str) -> None:
    """ELBv2 API reference (TargetDescription): the ALB needs a listener on the port it is
    registered on; the ELB user guide: one ALB per target group."""
    apply(model(local_aws), Actual())
    elbv2 = clients.elbv2()
    [alb] = elbv2.describe_load_balancers()["LoadBalancers"]
    tg = elbv2.create_target_group(Name="alb-target", Protocol="TCP", Port=80, VpcId=local_aws, TargetType="alb")
    arn = tg["TargetGroups"][0]["TargetGroupArn"]
    with pytest.raises(ClientError, match="InvalidTarget"):
        elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": alb["LoadBalancerArn"], "Port": 81}])
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": alb["LoadBalancerArn"], "Port": 80}])
    other = elbv2.create_load_balancer(
        Name="other-alb", Subnets=[z["SubnetId"] for z in alb["AvailabilityZones"]], Type="application"
    )["LoadBalancers"][0]["LoadBalancerArn"]
    elbv2.create_listener(
        LoadBalancerArn=other,
        Port=80,
        Protocol="HTTP",
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
    )
    with pytest.raises(ClientError, match="TooManyTargets"):
        elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": other, "Port": 80}])
    # once the first has left, another may come
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": alb["LoadBalancerArn"], "Port": 80}])
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": other, "Port": 80}])
