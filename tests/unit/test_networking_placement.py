"""Which ENI holds a pod, where moto cannot say: EC2's answers are stubbed (botocore's
Stubber checks each request and answer against EC2's API model), so every call placement
makes must be one queued here, and each queued one must be made.

* The VPC CNI's prefix mode: a node ENI holds /28 prefixes (``Ipv4Prefixes`` in
  DescribeNetworkInterfaces' answer), and a pod's address is one inside them, not one of
  the ENI's addresses. EC2's ``addresses.private-ip-address`` filter matches "the private
  IPv4 addresses associated with the network interface" (the API reference's filter
  list), which the prefix's addresses are not, and no filter matches a prefix's
  contents: a pod not found by its address is looked for in a read of the VPC.
* An address no ENI holds (a pod whose ENI is gone): the read that found it on none is
  believed for a while, so a burst of syncs naming it reads the VPC once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from albatross.aws import clients
from albatross.aws import networking as ec2_rules

VPC = "vpc-1"
NODES = "sg-nodes"
CLUSTER = "c1"


@pytest.fixture
def ec2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    client = boto3.client("ec2", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    stubber = Stubber(client)
    monkeypatch.setattr(clients, "ec2", lambda: client)
    ec2_rules.forget_network_interfaces()
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()  # every answer queued was asked for
    ec2_rules.forget_network_interfaces()


def eni(
    eni_id: str, *, addresses: Sequence[str] = (), prefixes: Sequence[str] = (), groups: list[str]
) -> dict[str, Any]:
    primary = addresses[0] if addresses else "10.0.200.5"
    return {
        "NetworkInterfaceId": eni_id,
        "VpcId": VPC,
        "PrivateIpAddress": primary,
        "PrivateIpAddresses": [{"PrivateIpAddress": a} for a in addresses or [primary]],
        "Ipv4Prefixes": [{"Ipv4Prefix": p} for p in prefixes],
        "Groups": [{"GroupId": g, "GroupName": g} for g in groups],
    }


def by_address(stubber: Stubber, addresses: list[str], found: list[dict[str, Any]]) -> None:
    """DescribeNetworkInterfaces filtered by the addresses (the small-sync lookup)."""
    filters = [
        {"Name": "addresses.private-ip-address", "Values": addresses},
        {"Name": "vpc-id", "Values": [VPC]},
    ]
    stubber.add_response("describe_network_interfaces", {"NetworkInterfaces": found}, {"Filters": filters})


def vpc_read(stubber: Stubber, found: list[dict[str, Any]]) -> None:
    """One page of the whole VPC's network interfaces."""
    expected = {"Filters": [{"Name": "vpc-id", "Values": [VPC]}], "MaxResults": ANY}
    stubber.add_response("describe_network_interfaces", {"NetworkInterfaces": found}, expected)


def place(addresses: list[str]) -> dict[str, str]:
    return ec2_rules.placement(targets=addresses, target_type="ip", ipv6=False, vpc_id=VPC, cluster=CLUSTER)


def test_a_few_pods_inside_a_delegated_prefix_are_found(ec2: Stubber) -> None:
    pods = ["10.0.3.20", "10.0.3.21"]  # inside 10.0.3.16/28, delegated to a node ENI
    by_address(ec2, pods, [])  # EC2: no ENI has them as addresses
    vpc_read(ec2, [eni("eni-node", addresses=["10.0.3.5"], prefixes=["10.0.3.16/28"], groups=[NODES])])

    assert place(pods) == dict.fromkeys(pods, NODES)


def test_a_few_pods_found_by_address_need_no_read_of_the_vpc(ec2: Stubber) -> None:
    pods = ["10.0.1.7", "10.0.1.8"]
    by_address(ec2, pods, [eni("eni-node", addresses=["10.0.1.6", *pods], groups=[NODES])])

    assert place(pods) == dict.fromkeys(pods, NODES)


def test_an_address_on_no_eni_is_not_read_again_for_a_while(ec2: Stubber, monkeypatch: pytest.MonkeyPatch) -> None:
    held = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(300)]
    gone = "10.0.9.9"  # a pod whose ENI is gone: on none
    node = eni("eni-node", addresses=held, groups=[NODES])
    vpc_read(ec2, [node])  # the first target group of the Service: more than 200 new pods
    assert place([*held, gone]) == {**dict.fromkeys(held, NODES), gone: ""}

    # the Service's second target group, a moment later: the read just made answers
    assert place([*held, gone]) == {**dict.fromkeys(held, NODES), gone: ""}
    # a few, by the address filter: the miss is believed too, no call at all
    assert place([gone]) == {gone: ""}

    monkeypatch.setattr(ec2_rules, "MISS_SECONDS", 0.0)  # the miss no longer believed: read again
    vpc_read(ec2, [node])
    assert place([*held, gone]) == {**dict.fromkeys(held, NODES), gone: ""}


def test_a_missed_address_a_later_read_finds_is_placed(ec2: Stubber) -> None:
    held = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(300)]
    late = "10.0.9.9"  # on no ENI at the first read, on one at the second
    vpc_read(ec2, [eni("eni-node", addresses=held, groups=[NODES])])
    assert place([*held, late])[late] == ""

    vpc_read(ec2, [eni("eni-node", addresses=held, groups=[NODES]), eni("eni-late", addresses=[late], groups=[NODES])])
    found = ec2_rules.placement(
        targets=[*held, late], target_type="ip", ipv6=False, vpc_id=VPC, cluster=CLUSTER, fresh=True
    )
    assert found[late] == NODES
    assert place([late]) == {late: NODES}  # the kept read, no call: the miss is forgotten
