"""Instance mode: the target group takes the EC2 instances of the Nodes that may serve
(ready, not cordoned, not excluded), on the Service's NodePort, and follows node
additions, cordons and readiness through the targets fast path. A drained node leaves the
target group as it is cordoned; the nodes' security group admits the load balancer on
the NodePort."""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s
from kubernetes import utils

from albatross.aws import clients
from albatross.aws.calls import CallCounter
from albatross.local.demo import ingress_hostname
from albatross.local.system import LocalSystem, make_node_security_group
from albatross.model.names import backend_rule_description
from tests.e2e.test_slice import NAME, NS, ROOT, work_queue_idle
from tests.k8s_typing import body

NODE_PORT = 30080


def instances(system: LocalSystem, count: int, groups: list[str] | None = None) -> list[str]:
    subnets = clients.ec2().describe_subnets(Filters=[{"Name": "vpc-id", "Values": [system.vpc_id]}])["Subnets"]
    found = clients.ec2().run_instances(
        ImageId="ami-12345678",
        MinCount=count,
        MaxCount=count,
        SubnetId=subnets[0]["SubnetId"],
        SecurityGroupIds=groups or [],
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


def apply_2048_on_nodes(system: LocalSystem) -> None:
    """examples/2048 in instance mode: a NodePort Service, the nodes' instances as targets."""
    manifests = (ROOT / "examples/2048/2048.yaml").read_text()
    manifests = manifests.replace("target-type: ip", "target-type: instance")
    manifests = manifests.replace("  type: ClusterIP\n", "  type: NodePort\n")
    manifests = manifests.replace("      targetPort: http\n", f"      targetPort: http\n      nodePort: {NODE_PORT}\n")
    path = system.log_path.parent / "2048-instance.yaml"
    path.write_text(manifests)
    utils.create_from_yaml(system.api(), str(path))  # type: ignore[no-untyped-call]  # untyped in the client
    system.wait_for("the address", lambda: ingress_hostname(system, NS, NAME))


def test_instance_targets_follow_the_nodes(system: LocalSystem) -> None:
    core = k8s.CoreV1Api(system.api())
    first, second, third = instances(system, 3)
    core.create_node(node("node-a", first))
    core.create_node(node("node-b", second))
    apply_2048_on_nodes(system)
    [tg] = clients.elbv2().describe_target_groups()["TargetGroups"]
    assert (tg["TargetType"], tg["Port"]) == ("instance", NODE_PORT)
    system.wait_for("both nodes", lambda: targets() == {(first, NODE_PORT), (second, NODE_PORT)})

    core.patch_node("node-b", {"spec": {"unschedulable": True}})  # cordoned
    system.wait_for("the cordoned node gone", lambda: targets() == {(first, NODE_PORT)})
    core.create_node(node("node-c", third))
    system.wait_for("the new node", lambda: targets() == {(first, NODE_PORT), (third, NODE_PORT)})
    core.patch_node_status("node-a", {"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
    system.wait_for("the node that is not ready gone", lambda: targets() == {(third, NODE_PORT)})


def test_a_drained_node_leaves_the_target_group(system: LocalSystem) -> None:
    nodes_sg = make_node_security_group(system.cluster, system.vpc_id)
    first, second = instances(system, 2, [nodes_sg])
    core = k8s.CoreV1Api(system.api())
    core.create_node(node("node-a", first))
    core.create_node(node("node-b", second))
    apply_2048_on_nodes(system)
    system.wait_for("both nodes", lambda: targets() == {(first, NODE_PORT), (second, NODE_PORT)})
    # the load balancer may reach the NodePort on the nodes' security group
    [lb] = clients.elbv2().describe_load_balancers()["LoadBalancers"]
    [lb_sg] = [  # the source: the cluster's shared backend group on the load balancer (issue 15)
        g["GroupId"]
        for g in clients.ec2().describe_security_groups(GroupIds=lb["SecurityGroups"])["SecurityGroups"]
        if g["Description"] == "[k8s] Shared Backend SecurityGroup for LoadBalancer"
    ]
    assert backend_rules(nodes_sg, system.cluster) == {("tcp", NODE_PORT, lb_sg)}
    cluster = system.kube.cluster
    cluster.step_seconds = None
    assert "node-b" in nodes_of(system)  # the pods are spread over both nodes

    counter = CallCounter()
    try:
        cluster.drain("node-b")  # kubectl drain: cordon, then evict the node's pods
        system.wait_for("the drained node gone", lambda: targets() == {(first, NODE_PORT)})
        cluster.settle()  # the evicted pods stop; their replacements run on node-a
        system.wait_for("the queues to drain", lambda: work_queue_idle(system))
        calls = counter.snapshot()
    finally:
        counter.close()
    assert nodes_of(system) == {"node-a"}
    assert targets() == {(first, NODE_PORT)}
    assert calls[("elasticloadbalancing", "DeregisterTargets")] == 1
    assert ("elasticloadbalancing", "RegisterTargets") not in calls
    assert backend_rules(nodes_sg, system.cluster) == {("tcp", NODE_PORT, lb_sg)}  # node-a still needs it


def nodes_of(system: LocalSystem) -> set[str]:
    """The nodes the 2048 pods run on, from its EndpointSlice."""
    [found] = k8s.DiscoveryV1Api(system.api()).list_namespaced_endpoint_slice(NS).items
    return {str(e.node_name) for e in found.endpoints or [] if e.conditions and not e.conditions.terminating}


def backend_rules(group: str, cluster: str) -> set[tuple[str, int, str]]:
    """The inbound rules Albatross owns on a security group."""
    found = clients.ec2().describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    return {
        (r["IpProtocol"], r["FromPort"], r["ReferencedGroupInfo"]["GroupId"])
        for r in found["SecurityGroupRules"]
        if not r["IsEgress"] and r.get("Description") == backend_rule_description(cluster)
    }
