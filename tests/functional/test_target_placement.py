"""Which security group guards each new pod, found by the pod's node (its endpoint's
``nodeName``, the Node's instance), against moto's EC2: a node's network interfaces are
what DescribeNetworkInterfaces answers for ``attachment.instance-id``, the VPC CNI's
node ENIs holding the pods' addresses as secondary ones. Learned once per node, they
place every later pod on that node with no call, for any number of target groups; the
call that learns a node learns the cluster's other unknown nodes too (EC2 takes 200
filter values a call); an address its node's ENIs lack (an ENI attached since) has the
node learned again, and one on no node ENI (a pod's own branch ENI) is found in the VPC.
The controller reads each endpoint's node from its EndpointSlice."""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from albatross.aws import clients
from albatross.aws import networking as ec2_rules
from albatross.aws.calls import CallCounter
from albatross.controller import networking, targets
from albatross.local.mends import mend_moto
from albatross.local.system import make_node_security_group
from albatross.model.stack import TARGET_GROUP, Resource, Stack
from albatross.plan.actual import StackIndex
from tests.functional.test_bindings import NS, World, node, registered, service

CLUSTER = "c1"
PER_ENI = 49  # secondary addresses a node ENI holds (an m5.24xlarge's: 50, the primary one)


@pytest.fixture(autouse=True)
def mended(moto_endpoint: str) -> Iterator[None]:
    ec2_rules.forget_network_interfaces()
    with mend_moto():  # moto then finds secondary addresses by the address filter, as EC2 does
        yield
    ec2_rules.forget_network_interfaces()


class Cluster:
    """Nodes (instances) in a cluster-tagged group, their pods' addresses on the nodes'
    ENIs: the primary one's secondary addresses, then ENIs attached as the VPC CNI
    attaches them."""

    def __init__(self, nodes: int, vpc: str | None = None) -> None:
        ec2 = clients.ec2()
        self.vpc = vpc or ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnet = ec2.create_subnet(VpcId=self.vpc, CidrBlock="10.0.0.0/17")["Subnet"]["SubnetId"]
        self.group = make_node_security_group(CLUSTER, self.vpc)
        made = ec2.run_instances(
            ImageId="ami-12345678", MinCount=nodes, MaxCount=nodes, SubnetId=self.subnet, SecurityGroupIds=[self.group]
        )["Instances"]
        self.instances = [str(i["InstanceId"]) for i in made]
        self.next = 0
        self.devices: dict[str, int] = {}  # instance → its last ENI's device index

    def pods(self, instance: str, count: int) -> list[str]:
        """``count`` new pod addresses on new ENIs (PER_ENI each) attached to ``instance``."""
        addresses = [str(ipaddress.ip_address("10.0.10.10") + self.next + i) for i in range(count)]
        self.next += count
        ec2 = clients.ec2()
        for start in range(0, count, PER_ENI):
            eni = ec2.create_network_interface(SubnetId=self.subnet, Groups=[self.group])["NetworkInterface"]
            self.devices[instance] = device = self.devices.get(instance, 0) + 1
            ec2.attach_network_interface(
                NetworkInterfaceId=eni["NetworkInterfaceId"], InstanceId=instance, DeviceIndex=device
            )
            ec2.assign_private_ip_addresses(
                NetworkInterfaceId=eni["NetworkInterfaceId"], PrivateIpAddresses=addresses[start : start + PER_ENI]
            )
        return addresses

    def place(self, on: Mapping[str, str], *, fresh: bool = False) -> dict[str, str]:
        return ec2_rules.placement(
            targets=list(on),
            target_type="ip",
            ipv6=False,
            vpc_id=self.vpc,
            cluster=CLUSTER,
            fresh=fresh,
            nodes=on,
            cluster_nodes=self.instances,
        )


def counted(call: Callable[[], dict[str, str]]) -> tuple[dict[str, str], Counter[str]]:
    counter = CallCounter()
    try:
        found = call()
    finally:
        counter.close()
    return found, Counter({op: n for (svc, op), n in counter.snapshot().items() if svc == "ec2"})


def test_pods_on_known_nodes_are_placed_with_no_call() -> None:
    cluster = Cluster(nodes=3)
    first, second, later = (cluster.pods(i, PER_ENI * 5) for i in cluster.instances)

    # the first target group's pods are on the first node: learning it learns all three
    found, calls = counted(lambda: cluster.place(dict.fromkeys(first, cluster.instances[0])))
    assert found == dict.fromkeys(first, cluster.group)
    assert calls == {"DescribeNetworkInterfaces": 1}

    # the next target groups' pods, on the other nodes: no call, however many
    on = {**dict.fromkeys(second, cluster.instances[1]), **dict.fromkeys(later, cluster.instances[2])}
    found, calls = counted(lambda: cluster.place(on))
    assert found == dict.fromkeys([*second, *later], cluster.group)
    assert calls == {}

    # the drift sweep trusts nothing kept: the nodes are read again
    found, calls = counted(lambda: cluster.place(on, fresh=True))
    assert found == dict.fromkeys([*second, *later], cluster.group)
    assert calls == {"DescribeNetworkInterfaces": 1}


def test_a_pod_on_an_eni_attached_since_has_its_node_learned_again() -> None:
    cluster = Cluster(nodes=2)
    node = cluster.instances[0]  # the other node is learned alongside, not again
    before = cluster.pods(node, PER_ENI)
    cluster.place(dict.fromkeys(before, node))
    after = cluster.pods(node, 3)  # on an ENI the VPC CNI attached after the node was learned

    found, calls = counted(lambda: cluster.place(dict.fromkeys(after, node)))
    assert found == dict.fromkeys(after, cluster.group)
    assert calls == {"DescribeNetworkInterfaces": 1}
    assert ec2_rules._nodes[node].groups(after[0]) == [cluster.group]  # its node learned again, not the address


def test_a_pod_on_no_eni_of_its_node_is_found_in_the_vpc() -> None:
    cluster = Cluster(nodes=1)
    [node] = cluster.instances
    ec2 = clients.ec2()
    branch_group = ec2.create_security_group(GroupName="branch", Description="pod's own", VpcId=cluster.vpc)["GroupId"]
    # security groups for pods: the pod's own (branch) ENI, not attached as the node's
    ec2.create_network_interface(SubnetId=cluster.subnet, PrivateIpAddress="10.0.20.1", Groups=[branch_group])

    found, calls = counted(lambda: cluster.place({"10.0.20.1": node}))
    assert found == {"10.0.20.1": branch_group}
    # its node learned (no such address), then the address filter
    assert calls == {"DescribeNetworkInterfaces": 2}


def _eni_of(address: str) -> str:
    found = clients.ec2().describe_network_interfaces(
        Filters=[{"Name": "addresses.private-ip-address", "Values": [address]}]
    )["NetworkInterfaces"]
    return str(found[0]["NetworkInterfaceId"])


class Nodes:
    """The store's Node objects, all the controller reads of the store here."""

    def __init__(self, nodes: list[dict[str, Any]]) -> None:
        self.objects = nodes

    def nodes(self) -> list[dict[str, Any]]:
        return self.objects


def test_the_controller_reads_each_pods_node_from_its_endpoint() -> None:
    node = {
        "metadata": {"name": "ip-10-0-1-1.ec2.internal"},
        "spec": {"providerID": "aws:///us-east-1a/i-0abc"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    fargate = {"metadata": {"name": "fargate-ip-10-0-2-2"}, "spec": {}, "status": {}}
    endpoints = [
        {"addresses": ["10.0.5.1"], "nodeName": "ip-10-0-1-1.ec2.internal"},
        {"addresses": ["10.0.5.2"], "nodeName": "fargate-ip-10-0-2-2"},  # no instance: looked up by address
        {"addresses": ["10.0.5.3"]},
        {"addresses": ["10.0.5.4"], "nodeName": "ip-10-0-1-1.ec2.internal"},  # known already: not asked
    ]
    slices = [{"endpoints": endpoints}]
    store: Any = Nodes([node, fargate])

    nodes, everyone = networking._nodes_of(store, {"10.0.5.1", "10.0.5.2", "10.0.5.3"}, slices)
    assert nodes == {"10.0.5.1": "i-0abc"}
    assert everyone == ["i-0abc"]


def test_a_targets_sync_places_its_pods_by_the_nodes_their_endpoints_name(moto_endpoint: str) -> None:
    world = World()
    cluster = Cluster(nodes=2, vpc=world.vpc)
    ec2 = clients.ec2()
    source = ec2.create_security_group(GroupName="lb", Description="the load balancer's", VpcId=world.vpc)["GroupId"]
    for i, instance in enumerate(cluster.instances):
        world.send("Node", node(f"node-{i}", instance))
    pods = {name: [*cluster.pods(cluster.instances[0], 30), *cluster.pods(cluster.instances[1], 30)] for name in "ab"}

    def synced(name: str) -> Counter[str]:
        """Service ``name`` and its pods (half on each node), its group's sync: EC2's calls."""
        arn = world.target_group(f"tg-{name}")
        addresses = pods[name]
        world.send("Service", service(name))
        world.send("EndpointSlice", endpoint_slice(name, {a: f"node-{i // 30}" for i, a in enumerate(addresses)}))
        group = f"{NS}/app-{name}"
        networking_ = {"ingress": [{"from": [{"securityGroup": source}], "ports": [{"Protocol": "TCP", "Port": 8080}]}]}
        binding = {"targetType": "ip", "service": f"{NS}/{name}", "servicePortNumber": 80, "ipAddressType": "ipv4"}
        tg = Resource(
            type=TARGET_GROUP,
            properties={"Port": 8080, "TargetType": "ip", "VpcId": world.vpc},
            binding={**binding, "networking": networking_},
        )
        world.store.save_model(group, model=Stack(stack_id=group, resources={"tg": tg}).to_json(), leaving=[])
        world.store.save_index(group, StackIndex(ids={"tg": arn}, applied={}).to_json())
        world.store.set_target_digests(group, {"tg": "synced before"})  # not a first sync, which trusts nothing
        counter = CallCounter()
        try:
            targets.sync_service(
                settings=world.settings, store=world.store, group=group, service=f"{NS}/{name}", cause="scale"
            )
        finally:
            counter.close()
        assert registered(arn) == {(a, 8080) for a in addresses}
        assert networking._placed(world.store.networking(group, "tg")) == dict.fromkeys(addresses, cluster.group)
        return Counter({op: n for (svc, op), n in counter.snapshot().items() if svc == "ec2"})

    # the first: both nodes learned in one call, the rule made on their group
    assert synced("a") == {
        "DescribeNetworkInterfaces": 1,
        "DescribeSecurityGroupRules": 1,
        "AuthorizeSecurityGroupIngress": 1,
    }
    # the second, on the same nodes: no lookup (its need of the rule is recorded, the rule is there)
    assert synced("b") == {"DescribeSecurityGroupRules": 1}


def endpoint_slice(name: str, node_of: Mapping[str, str]) -> dict[str, Any]:
    """One EndpointSlice of ready pods, each endpoint naming its node."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{name}-abcde", "namespace": NS, "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [a], "nodeName": n, "conditions": {"ready": True, "serving": True, "terminating": False}}
            for a, n in node_of.items()
        ],
    }
