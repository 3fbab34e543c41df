"""Tags alone never make Albatross delete a load balancer: one tagged for a live group's
stack that the group's record does not hold (someone else's, tagged by hand) is kept,
with everything under it, and named in a Warning on the group's Ingress; one Albatross
made is still removed when the group no longer wants it (a scheme change replaces it)."""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s

from albatross.aws import clients
from albatross.local.demo import ingress_hostname
from albatross.local.system import LocalSystem
from tests.e2e.test_slice import NAME, NS, events_for, ready_2048, work_queue_idle

STACK = f"{NS}/{NAME}"


def foreign_alb(system: LocalSystem) -> tuple[str, str]:
    """Someone else's ALB in the cluster's VPC, with a listener, later tagged with the
    cluster tag and the 2048 group's stack and resource tags; returns (name, ARN)."""
    vpc = str(system.cloud.deployment.environment["VPC_ID"])
    subnets = clients.ec2().describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    elbv2 = clients.elbv2()
    lb = elbv2.create_load_balancer(
        Name="team-b-dashboard", Subnets=[s["SubnetId"] for s in subnets[:2]], Scheme="internal", Type="application"
    )["LoadBalancers"][0]
    elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Port=8080,
        Protocol="HTTP",
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}],
    )
    tags: list[Any] = [
        {"Key": "elbv2.k8s.aws/cluster", "Value": system.cluster},
        {"Key": "ingress.k8s.aws/stack", "Value": STACK},
        {"Key": "ingress.k8s.aws/resource", "Value": "LoadBalancer"},
    ]
    elbv2.add_tags(ResourceArns=[lb["LoadBalancerArn"]], Tags=tags)
    return str(lb["LoadBalancerName"]), str(lb["LoadBalancerArn"])


def load_balancers() -> dict[str, dict[str, Any]]:
    return {str(lb["LoadBalancerName"]): dict(lb) for lb in clients.elbv2().describe_load_balancers()["LoadBalancers"]}


def warnings(system: LocalSystem) -> list[str]:
    return [message for kind, reason, message in events_for(system, NS, NAME) if reason == "DuplicateLoadBalancer"]


def test_a_foreign_alb_tagged_like_ours_is_kept_and_named_in_a_warning(system: LocalSystem) -> None:
    ready_2048(system)
    [ours] = load_balancers()
    name, arn = foreign_alb(system)

    # the sweep reads everything by tags: the foreign ALB is found as a second load balancer
    system.dispatcher.fire("DriftFunctionDrift")
    system.wait_for("a Warning naming the foreign load balancer", lambda: warnings(system))
    system.wait_for("the queue to drain", lambda: work_queue_idle(system))
    assert sorted(load_balancers()) == sorted([ours, name])
    [listener] = clients.elbv2().describe_listeners(LoadBalancerArn=arn)["Listeners"]
    assert listener["Port"] == 8080
    assert any(name in m and arn in m for m in warnings(system)), warnings(system)
    # the Ingress still shows only its own address
    assert ingress_hostname(system, NS, NAME) == load_balancers()[ours]["DNSName"]


def test_a_load_balancer_albatross_made_is_still_replaced(system: LocalSystem) -> None:
    """A scheme change: the new load balancer is made, the old one (recorded as made by
    Albatross) deleted, with no Warning."""
    ready_2048(system)
    [old] = load_balancers()
    k8s.NetworkingV1Api(system.api()).patch_namespaced_ingress(
        NAME, NS, {"metadata": {"annotations": {"alb.ingress.kubernetes.io/scheme": "internal"}}}
    )
    system.wait_for(
        "one internal load balancer",
        lambda: [lb["Scheme"] for lb in load_balancers().values()] == ["internal"],
        timeout=90,
    )
    assert old not in load_balancers()
    system.wait_for("the queue to drain", lambda: work_queue_idle(system))
    assert warnings(system) == []
