"""IPv6 end to end: a dual-stack load balancer in front of an IPv6 Service (ip targets):
the target group is IPv6 and its targets are the pods' IPv6 addresses from the IPv6
EndpointSlice; scaling follows."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client as k8s
from kubernetes import utils

from albatross.aws import clients
from albatross.local.demo import ingress_hostname
from albatross.local.kube import pod_ip
from albatross.local.system import LocalSystem

ROOT = Path(__file__).resolve().parents[2]
NS = NAME = "game-2048"


def targets() -> set[str]:
    elbv2 = clients.elbv2()
    [tg] = elbv2.describe_target_groups()["TargetGroups"]
    return {
        t["Target"]["Id"]
        for t in elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
    }


def test_a_dual_stack_load_balancer_sends_to_ipv6_pods(system: LocalSystem) -> None:
    manifests = (ROOT / "examples/2048/2048.yaml").read_text()
    manifests = manifests.replace("  type: ClusterIP\n", "  type: ClusterIP\n  ipFamilies: [IPv6]\n")
    manifests = manifests.replace(
        "alb.ingress.kubernetes.io/target-type: ip",
        "alb.ingress.kubernetes.io/target-type: ip\n    alb.ingress.kubernetes.io/ip-address-type: dualstack",
    )
    assert "ipFamilies" in manifests
    assert "dualstack" in manifests
    path = system.log_path.parent / "2048-ipv6.yaml"
    path.write_text(manifests)
    utils.create_from_yaml(system.api(), str(path))  # type: ignore[no-untyped-call]  # untyped in the client
    system.wait_for("the address", lambda: ingress_hostname(system, NS, NAME))
    [lb] = clients.elbv2().describe_load_balancers()["LoadBalancers"]
    assert lb["IpAddressType"] == "dualstack"
    [tg] = clients.elbv2().describe_target_groups()["TargetGroups"]
    assert tg["IpAddressType"] == "ipv6"
    pods = {pod_ip(NS, NAME, i, "IPv6") for i in range(3)}
    system.wait_for("the IPv6 targets", lambda: targets() == pods)
    k8s.AppsV1Api(system.api()).patch_namespaced_deployment(NAME, NS, {"spec": {"replicas": 4}})
    system.wait_for("the fourth pod", lambda: targets() == pods | {pod_ip(NS, NAME, 3, "IPv6")})
