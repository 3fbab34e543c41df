"""Which security group guards each ip target, looked up as EC2 answers it: the group of
the network interface that holds the pod's address (a node ENI's secondary address), the
one tagged for the cluster when the ENI has several. Many new addresses at once (a
Deployment scaled to a target group's quota) are found in one read of the VPC's network
interfaces, which the next target groups' syncs in the same process share while it holds
their pods; an address it lacks (an ENI attached since) is read again, and a ``fresh``
lookup (the drift sweep) trusts nothing kept."""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from albatross.aws import clients
from albatross.aws import networking as ec2_rules
from albatross.aws.calls import CallCounter
from albatross.local.mends import mend_moto
from albatross.local.system import make_node_security_group

CLUSTER = "c1"
PER_ENI = 50  # secondary addresses per node ENI


@pytest.fixture(autouse=True)
def mended(moto_endpoint: str) -> Iterator[None]:
    ec2_rules.forget_network_interfaces()
    with mend_moto():  # moto then finds secondary addresses by the address filter, as EC2 does
        yield
    ec2_rules.forget_network_interfaces()


class Nodes:
    """A VPC whose node ENIs hold pods' addresses: ENIs in the cluster-tagged node group
    only, and one ENI in that group and another (where the tagged one guards)."""

    def __init__(self) -> None:
        ec2 = clients.ec2()
        self.vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnet = ec2.create_subnet(VpcId=self.vpc, CidrBlock="10.0.0.0/17")["Subnet"]["SubnetId"]
        self.nodes = make_node_security_group(CLUSTER, self.vpc)
        self.other = ec2.create_security_group(GroupName="other", Description="other", VpcId=self.vpc)["GroupId"]
        self.next = 0

    def eni(self, count: int, groups: list[str]) -> list[str]:
        """A node ENI in ``groups`` holding ``count`` new pod addresses (10.0.128.0/17)."""
        addresses = [str(ipaddress.ip_address("10.0.128.10") + self.next + i) for i in range(count)]
        self.next += count
        ec2 = clients.ec2()
        eni = ec2.create_network_interface(SubnetId=self.subnet, Groups=groups)["NetworkInterface"]
        ec2.assign_private_ip_addresses(NetworkInterfaceId=eni["NetworkInterfaceId"], PrivateIpAddresses=addresses)
        return addresses

    def place(self, addresses: list[str], *, fresh: bool = False) -> dict[str, str]:
        return ec2_rules.placement(
            targets=addresses, target_type="ip", ipv6=False, vpc_id=self.vpc, cluster=CLUSTER, fresh=fresh
        )


def counted(call: Callable[[], dict[str, str]]) -> tuple[dict[str, str], Counter[str]]:
    counter = CallCounter()
    try:
        found = call()
    finally:
        counter.close()
    return found, Counter({op: n for (svc, op), n in counter.snapshot().items() if svc == "ec2"})


def test_a_scale_out_of_several_target_groups_reads_the_vpcs_interfaces_once() -> None:
    vpc = Nodes()
    pods = [vpc.eni(PER_ENI, [vpc.nodes]) for _ in range(11)] + [vpc.eni(PER_ENI, [vpc.nodes, vpc.other])]
    everyone = [a for eni in pods for a in eni]
    first, second = everyone[:300], everyone[300:]  # two target groups, each over 200 new pods

    found, calls = counted(lambda: vpc.place(first))
    assert found == dict.fromkeys(first, vpc.nodes)
    assert calls == {"DescribeNetworkInterfaces": 1}  # 300 addresses: 2 calls by the address filter

    found, calls = counted(lambda: vpc.place(second))
    assert found == dict.fromkeys(second, vpc.nodes)  # the two-group ENI's: the cluster-tagged group
    assert calls == {"DescribeSecurityGroups": 1}  # which of its two groups is tagged; no lookup

    found, calls = counted(lambda: vpc.place(second, fresh=True))
    assert found == dict.fromkeys(second, vpc.nodes)
    assert calls == {"DescribeNetworkInterfaces": 1, "DescribeSecurityGroups": 1}


def test_an_address_on_an_interface_attached_since_is_read_again() -> None:
    vpc = Nodes()
    before = [a for _ in range(5) for a in vpc.eni(PER_ENI, [vpc.nodes])]
    vpc.place(before)
    later = vpc.eni(PER_ENI, [vpc.other])  # a node of another group, after the read

    found, calls = counted(lambda: vpc.place(before[:200] + later))
    assert found == {**dict.fromkeys(before[:200], vpc.nodes), **dict.fromkeys(later, vpc.other)}
    assert calls == {"DescribeNetworkInterfaces": 1}


def test_a_few_new_pods_are_looked_up_by_their_addresses() -> None:
    vpc = Nodes()
    pods = vpc.eni(3, [vpc.nodes]) + vpc.eni(2, [vpc.other])
    unknown = "10.0.127.1"  # on no interface: no rule

    found, calls = counted(lambda: vpc.place([*pods, unknown]))
    assert found == {**dict.fromkeys(pods[:3], vpc.nodes), **dict.fromkeys(pods[3:], vpc.other), unknown: ""}
    # the address filter, then a read of the VPC for the one it did not find (a delegated
    # prefix could hold it: tests/unit/test_networking_placement.py)
    assert calls == {"DescribeNetworkInterfaces": 2}


def test_a_prefix_delegated_to_an_interface_covers_its_pods() -> None:
    # the VPC CNI's prefix mode: the node ENI holds /28 prefixes, not the pods' addresses
    groups = ["sg-nodes"]
    kept: Any = ec2_rules._Interfaces(at=0.0, prefixes=[(ipaddress.ip_network("10.0.3.16/28"), groups)])
    assert kept.groups("10.0.3.20") == groups
    assert kept.groups("10.0.3.32") is None
    assert kept.groups("not an address") is None
