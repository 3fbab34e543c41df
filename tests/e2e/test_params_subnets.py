"""IngressClassParams subnet ids, end to end: an id that is not one of the VPC's is a
Warning on the Ingress of the class naming the params and the id (LBC's EC2 lookup
refuses it); once the params list the VPC's subnets, the load balancer is made in them."""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s

from albatross.aws import clients
from albatross.local.demo import ingress_hostname
from albatross.local.system import LocalSystem
from tests.e2e.test_class_params import class_with_params
from tests.k8s_typing import body


def warnings(system: LocalSystem) -> list[tuple[str, str]]:
    items = k8s.CoreV1Api(system.api()).list_namespaced_event("game-2048").items
    return [
        (str(e.reason), str(e.message)) for e in items if e.involved_object.name == "game-2048" and e.type == "Warning"
    ]


def test_a_subnet_id_the_vpc_lacks_is_a_warning_naming_params_and_id(system: LocalSystem) -> None:
    public = sorted(
        str(s["SubnetId"])
        for s in clients.ec2().describe_subnets(Filters=[{"Name": "vpc-id", "Values": [system.vpc_id]}])["Subnets"]
        if any(t["Key"] == "kubernetes.io/role/elb" for t in s.get("Tags", []))
    )
    spec: dict[str, Any] = {"subnets": {"ids": [public[0], "subnet-0123456789abcdef0"]}}
    class_with_params(system, params="pinned", ingress_class="alb-pinned", spec=spec)
    [(reason, message)] = system.wait_for("the Warning on the Ingress", lambda: warnings(system))
    assert reason == "FailedBuildModel"
    assert "IngressClassParams pinned names subnet subnet-0123456789abcdef0" in message
    assert clients.elbv2().describe_load_balancers()["LoadBalancers"] == []

    k8s.CustomObjectsApi(system.api()).patch_cluster_custom_object(
        "elbv2.k8s.aws", "v1beta1", "ingressclassparams", "pinned", body({"spec": {"subnets": {"ids": public}}})
    )
    system.wait_for("the address", lambda: ingress_hostname(system, "game-2048", "game-2048"))
    [lb] = clients.elbv2().describe_load_balancers()["LoadBalancers"]
    assert sorted(z["SubnetId"] for z in lb["AvailabilityZones"]) == public
