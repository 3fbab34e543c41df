"""The targets fast path: an EndpointSlice change registers and deregisters targets of
the target groups bound to its Service without a full reconcile (no load balancer,
listener or rule is read), in one RegisterTargets / DeregisterTargets per chunk."""

from __future__ import annotations

from kubernetes import client as k8s

from albatross.aws import clients
from albatross.aws.calls import CallCounter
from albatross.local.kube import pod_ip
from albatross.local.system import LocalSystem
from tests.e2e.test_slice import NAME, NS, ready_2048


def targets() -> set[str]:
    elbv2 = clients.elbv2()
    [tg] = elbv2.describe_target_groups()["TargetGroups"]
    found = elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
    return {t["Target"]["Id"] for t in found if t.get("TargetHealth", {}).get("State") != "draining"}


def test_scaling_moves_targets_without_a_full_reconcile(system: LocalSystem) -> None:
    ready_2048(system)
    apps = k8s.AppsV1Api(system.api())
    counter = CallCounter()
    try:
        apps.patch_namespaced_deployment(NAME, NS, {"spec": {"replicas": 5}})
        system.wait_for("five targets", lambda: targets() == {pod_ip(NS, NAME, i) for i in range(5)})
        apps.patch_namespaced_deployment(NAME, NS, {"spec": {"replicas": 2}})
        system.wait_for("two targets", lambda: targets() == {pod_ip(NS, NAME, i) for i in range(2)})
        calls = counter.snapshot()
    finally:
        counter.close()
    ops = {op for (svc, op) in calls if svc == "elasticloadbalancing"}
    assert not ops & {"DescribeLoadBalancers", "DescribeListeners", "DescribeRules"}, calls
    assert calls[("elasticloadbalancing", "RegisterTargets")] == 1
    assert calls[("elasticloadbalancing", "DeregisterTargets")] == 1


def test_a_replaced_target_group_gets_its_targets(system: LocalSystem) -> None:
    ready_2048(system)
    [before] = clients.elbv2().describe_target_groups()["TargetGroups"]
    k8s.NetworkingV1Api(system.api()).patch_namespaced_ingress(
        NAME, NS, {"metadata": {"annotations": {"alb.ingress.kubernetes.io/backend-protocol": "HTTPS"}}}
    )

    def replaced() -> bool:
        found = clients.elbv2().describe_target_groups()["TargetGroups"]
        return len(found) == 1 and found[0]["TargetGroupArn"] != before["TargetGroupArn"]

    system.wait_for("the new target group", replaced)
    system.wait_for("its targets", lambda: targets() == {pod_ip(NS, NAME, i) for i in range(3)})
