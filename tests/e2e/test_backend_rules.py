"""Backend security group rules (LBC's target group binding networking) in ip mode: the
pods' addresses are secondary addresses of a node ENI with two security groups. The one
tagged for the cluster gets an inbound rule from the cluster's shared backend security
group (LBC's ``k8s-traffic-<cluster>-<hash>``, attached to the load balancer next to its
managed group) on the pods' port. A no-op reconcile neither reads nor changes it. An equivalent rule of
LBC's (a migration) stands for ours: the drift sweep neither revokes it nor makes ours
too, and makes ours once LBC's is gone. The sweep also puts back a target deregistered by
hand. When the Ingress goes, the rule goes before the load balancer's security group, the
shared group goes once no load balancer uses it, and a rule made by hand stays. A cluster
whose rules come from each load balancer's managed group (stacks made before the shared
group) moves over with no rule revoked before its replacement works."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s

from albatross.aws import clients
from albatross.aws import networking as ec2_rules
from albatross.aws.calls import CallCounter
from albatross.controller import queues
from albatross.local.demo import ingress_gone
from albatross.local.pods import pod_ip
from albatross.local.system import LocalSystem, make_node_security_group
from albatross.model.names import backend_rule_description
from tests.e2e.test_slice import NAME, NS, STACK, executions, ready_2048, work_queue_idle
from tests.e2e.test_targets import targets

PODS = {pod_ip(NS, NAME, i) for i in range(3)}
LOOKUPS = {"DescribeNetworkInterfaces", "DescribeInstances", "DescribeSecurityGroupRules"}
RULE_CALLS = {"AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"}
LBC = "elbv2.k8s.aws/targetGroupBinding=shared"  # LBC's description of its backend rules


def inbound(group: str) -> set[tuple[str, int, str, str]]:
    found = clients.ec2().describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    return {
        (r["IpProtocol"], r["FromPort"], r["ReferencedGroupInfo"]["GroupId"], r.get("Description", ""))
        for r in found["SecurityGroupRules"]
        if not r["IsEgress"] and "ReferencedGroupInfo" in r
    }


def node_network(system: LocalSystem) -> tuple[str, str]:
    """The nodes' security group (tagged for the cluster), another one, and a node ENI in
    both that holds the pods' addresses (the VPC CNI's way)."""
    ec2 = clients.ec2()
    nodes = make_node_security_group(system.cluster, system.vpc_id)
    other = ec2.create_security_group(GroupName="other", Description="another", VpcId=system.vpc_id)["GroupId"]
    [subnet, *_] = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [system.vpc_id]}])["Subnets"]
    eni = ec2.create_network_interface(SubnetId=subnet["SubnetId"], Groups=[nodes, other])["NetworkInterface"]
    ec2.assign_private_ip_addresses(NetworkInterfaceId=eni["NetworkInterfaceId"], PrivateIpAddresses=sorted(PODS))
    return nodes, other


def test_the_load_balancer_may_reach_the_pods_while_the_ingress_lives(system: LocalSystem) -> None:
    # what the sweep does: no trail logs the hand-made changes below, so nothing else reacts
    system.cloud.aws_events.trail.logging = False
    nodes, other = node_network(system)
    ssh: list[Any] = [
        {
            "IpProtocol": "tcp",
            "FromPort": 22,
            "ToPort": 22,
            "UserIdGroupPairs": [{"GroupId": other, "Description": "ssh"}],
        }
    ]
    clients.ec2().authorize_security_group_ingress(GroupId=nodes, IpPermissions=ssh)  # not Albatross's
    hand_made = ("tcp", 22, other, "ssh")
    ready_2048(system)
    elbv2 = clients.elbv2()
    [lb] = elbv2.describe_load_balancers()["LoadBalancers"]
    [backend] = [
        g["GroupId"]
        for g in clients.ec2().describe_security_groups(GroupIds=lb["SecurityGroups"])["SecurityGroups"]
        if g["Description"] == "[k8s] Shared Backend SecurityGroup for LoadBalancer"
    ]
    [lb_sg] = set(lb["SecurityGroups"]) - {backend}  # the managed (frontend) group
    ours = ("tcp", 80, backend, backend_rule_description(system.cluster))  # the pods' port, from the named targetPort
    assert inbound(nodes) == {ours, hand_made}
    assert inbound(other) == set()

    # a reconcile with nothing changed: no lookup, no rule call
    counter = CallCounter()
    try:
        reconcile = system.function("ReconcileFunction")
        done = system.dispatcher.invocations[reconcile]
        queues.enqueue(str(system.cloud.deployment.environment["WORK_QUEUE_URL"]), [STACK], cause="test")
        system.wait_for("the forced reconcile", lambda: system.dispatcher.invocations[reconcile] > done)
        system.wait_for("the queues to drain", lambda: work_queue_idle(system))
        calls = counter.snapshot()
    finally:
        counter.close()
    assert not {op for _, op in calls} & (LOOKUPS | RULE_CALLS), calls

    # changed by hand, as in a migration: ours replaced by LBC's equivalent rule, and a
    # target deregistered. The drift sweep puts the target back and leaves LBC's rule be.
    ec2 = clients.ec2()
    [rule] = [
        r["SecurityGroupRuleId"]
        for r in ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [nodes]}])[
            "SecurityGroupRules"
        ]
        if r.get("Description") == ours[3]
    ]
    ec2.revoke_security_group_ingress(GroupId=nodes, SecurityGroupRuleIds=[rule])
    lbc: list[Any] = [
        {**ssh[0], "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": backend, "Description": LBC}]}
    ]
    ec2.authorize_security_group_ingress(GroupId=nodes, IpPermissions=lbc)
    [tg] = elbv2.describe_target_groups()["TargetGroups"]
    gone = pod_ip(NS, NAME, 0)
    elbv2.deregister_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": gone, "Port": 80}])
    assert targets() == PODS - {gone}
    counter = CallCounter()
    try:
        system.dispatcher.fire("DriftFunctionDrift")
        system.wait_for("the target back", lambda: targets() == PODS)
        system.wait_for("the queues to drain", lambda: work_queue_idle(system))
        calls = counter.snapshot()
    finally:
        counter.close()
    assert inbound(nodes) == {("tcp", 80, backend, LBC), hand_made}  # neither revoked nor made twice
    assert not {op for _, op in calls} & RULE_CALLS, calls

    # LBC removes its rule: the next sweep makes ours
    [rule] = [
        r["SecurityGroupRuleId"]
        for r in ec2.describe_security_group_rules()["SecurityGroupRules"]
        if r.get("Description") == LBC
    ]
    ec2.revoke_security_group_ingress(GroupId=nodes, SecurityGroupRuleIds=[rule])
    system.dispatcher.fire("DriftFunctionDrift")
    system.wait_for("our rule back", lambda: inbound(nodes) == {ours, hand_made})

    # the Ingress goes: so does the rule, and the load balancer's group after it
    system.wait_for("the queues to drain", lambda: work_queue_idle(system))
    order: list[str] = []
    clients.add_hook("before-call.ec2.*", lambda model, **_: order.append(model.name), unique_id="test-order")
    try:
        k8s.NetworkingV1Api(system.api()).delete_namespaced_ingress(NAME, NS)
        system.wait_for("the Ingress to be released", lambda: ingress_gone(system, NS, NAME))
        system.wait_for("teardown to end", lambda: executions(system, "TeardownStateMachineArn") == ["SUCCEEDED"])
    finally:
        clients.remove_hook("test-order")
    # AWS refuses to delete a security group another group's rule names
    assert order.index("RevokeSecurityGroupIngress") < order.index("DeleteSecurityGroup"), order
    assert inbound(nodes) == {hand_made}
    for group in (lb_sg, backend):  # no load balancer uses the shared group any more
        left = clients.ec2().describe_security_groups(Filters=[{"Name": "group-id", "Values": [group]}])
        assert left["SecurityGroups"] == [], group


def test_a_cluster_with_per_load_balancer_rules_moves_to_the_shared_group_without_a_gap(
    system: LocalSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Today's stacks: the load balancer with its managed group alone, the nodes admitting
    it from that group. With the shared group, the next reconcile attaches it to the load
    balancer and makes the rule from it before the old rule goes: at every moment some
    rule admits a group the load balancer has."""
    system.cloud.aws_events.trail.logging = False  # only the forced reconcile below acts
    nodes, _ = node_network(system)
    with monkeypatch.context() as before:  # as Albatross made stacks before the shared group
        before.setattr(ec2_rules, "backend_group", lambda **_: None)
        ready_2048(system)
    [lb] = clients.elbv2().describe_load_balancers()["LoadBalancers"]
    [managed] = lb["SecurityGroups"]
    ours = backend_rule_description(system.cluster)
    assert inbound(nodes) == {("tcp", 80, managed, ours)}

    order: list[str] = []
    changes = {"CreateSecurityGroup", "SetSecurityGroups"} | RULE_CALLS
    clients.add_hook(
        "before-call.*.*",
        lambda model, **_: order.append(model.name) if model.name in changes else None,
        unique_id="test-migration-order",
    )
    try:
        reconcile = system.function("ReconcileFunction")
        done = system.dispatcher.invocations[reconcile]
        queues.enqueue(str(system.cloud.deployment.environment["WORK_QUEUE_URL"]), [STACK], cause="test")
        system.wait_for("the forced reconcile", lambda: system.dispatcher.invocations[reconcile] > done)
        system.wait_for("the queues to drain", lambda: work_queue_idle(system))
    finally:
        clients.remove_hook("test-migration-order")
    assert order == [
        "CreateSecurityGroup",  # the shared group, as LBC makes it
        "SetSecurityGroups",  # attached next to the managed group
        "AuthorizeSecurityGroupIngress",  # the nodes admit it
        "RevokeSecurityGroupIngress",  # and only then stop admitting the managed group
    ], order
    [lb] = clients.elbv2().describe_load_balancers()["LoadBalancers"]
    [backend] = set(lb["SecurityGroups"]) - {managed}
    assert inbound(nodes) == {("tcp", 80, backend, ours)}
