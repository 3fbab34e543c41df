"""Instance mode: the target group takes the EC2 instances of the Nodes that may serve
(ready, not cordoned, not excluded), on the Service's NodePort, and follows node
additions, cordons and readiness through the targets fast path."""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s
from kubernetes import utils

from albatross.aws import clients
from albatross.local.demo import ingress_hostname
from albatross.local.system import LocalSystem
from tests.e2e.test_slice import NAME, NS, ROOT
from tests.k8s_typing import body

NODE_PORT = 30080


def instances(system: LocalSystem, count: int) -> list[str]:
    subnets = clients.ec2().describe_subnets(Filters=[{"Name": "vpc-id", "Values": [system.vpc_id]}])["Subnets"]
    found = clients.ec2().run_instances(
        ImageId="ami-12345678", MinCount=count, MaxCount=count, SubnetId=subnets[0]["SubnetId"]
    )["Instances"]
    return [str(i["InstanceId"]) for i in found]


def node(name: str, instance: str, ready: bool = True) -> Any:
    return body(
        {
            "metadata": {"name": name, "labels": {"kubernetes.io/os": "linux"}},
            "spec": {"providerID": f"aws:///us-east-1a/{instance}"},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
        }
    )


def targets() -> set[tuple[str, int]]:
    elbv2 = clients.elbv2()
    [tg] = elbv2.describe_target_groups()["TargetGroups"]
    found = elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
    return {
        (t["Target"]["Id"], t["Target"]["Port"]) for t in found if t.get("TargetHealth", {}).get("State") != "draining"
    }


def test_instance_targets_follow_the_nodes(system: LocalSystem) -> None:
    core = k8s.CoreV1Api(system.api())
    first, second, third = instances(system, 3)
    core.create_node(node("node-a", first))
    core.create_node(node("node-b", second))
    manifests = (ROOT / "examples/2048/2048.yaml").read_text()
    manifests = manifests.replace("target-type: ip", "target-type: instance")
    manifests = manifests.replace("  type: ClusterIP\n", "  type: NodePort\n")
    manifests = manifests.replace("      targetPort: http\n", f"      targetPort: http\n      nodePort: {NODE_PORT}\n")
    path = system.log_path.parent / "2048-instance.yaml"
    path.write_text(manifests)
    utils.create_from_yaml(system.api(), str(path))  # type: ignore[no-untyped-call]  # untyped in the client
    system.wait_for("the address", lambda: ingress_hostname(system, NS, NAME))
    [tg] = clients.elbv2().describe_target_groups()["TargetGroups"]
    assert (tg["TargetType"], tg["Port"]) == ("instance", NODE_PORT)
    system.wait_for("both nodes", lambda: targets() == {(first, NODE_PORT), (second, NODE_PORT)})

    core.patch_node("node-b", {"spec": {"unschedulable": True}})  # cordoned
    system.wait_for("the cordoned node gone", lambda: targets() == {(first, NODE_PORT)})
    core.create_node(node("node-c", third))
    system.wait_for("the new node", lambda: targets() == {(first, NODE_PORT), (third, NODE_PORT)})
    core.patch_node_status("node-a", {"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
    system.wait_for("the node that is not ready gone", lambda: targets() == {(third, NODE_PORT)})
