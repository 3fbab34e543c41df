"""Backend security group rules in EC2: which security group guards each target, and the
inbound rules of those groups (read, authorized, revoked).

A target's group is found as LBC finds it. For an ip target it is the ENI that holds the
address (a node's ENI with the pod's secondary address, or a pod's own branch ENI). For
an instance target it is the instance's primary ENI. When that ENI has several groups,
the one tagged ``kubernetes.io/cluster/<cluster>`` is used. A target whose group cannot
be told ("" in the result) gets no rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from albatross.aws import clients
from albatross.aws.errors import aws_errors
from albatross.model.load_balancer import CLUSTER_TAG_PREFIX
from albatross.model.names import BACKEND_RULE_DESCRIPTION
from albatross.model.networking import Rule
from albatross.plan.networking import ActualRule

_CHUNK = 200  # filter values per call


def _chunks(items: Sequence[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield list(items[i : i + _CHUNK])


def _instance_groups(ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    pages = clients.ec2().get_paginator("describe_instances").paginate(Filters=[{"Name": "instance-id", "Values": ids}])
    for page in pages:
        for reservation in page["Reservations"]:
            for instance in reservation.get("Instances") or []:
                primary = [
                    eni
                    for eni in instance.get("NetworkInterfaces") or []
                    if (eni.get("Attachment") or {}).get("DeviceIndex") == 0
                ]
                found: Sequence[Mapping[str, Any]] = (
                    primary[0].get("Groups") or [] if primary else instance.get("SecurityGroups") or []
                )
                out[str(instance["InstanceId"])] = [str(g["GroupId"]) for g in found]
    return out


def _address_groups(addresses: list[str], *, ipv6: bool, vpc_id: str) -> dict[str, list[str]]:
    name = "ipv6-addresses.ipv6-address" if ipv6 else "addresses.private-ip-address"
    wanted = set(addresses)
    out: dict[str, list[str]] = {}
    pages = (
        clients.ec2()
        .get_paginator("describe_network_interfaces")
        .paginate(Filters=[{"Name": name, "Values": addresses}, {"Name": "vpc-id", "Values": [vpc_id]}])
    )
    for page in pages:
        for eni in page["NetworkInterfaces"]:
            held = {str(a.get("PrivateIpAddress")) for a in eni.get("PrivateIpAddresses") or []}
            held |= {str(a.get("Ipv6Address")) for a in eni.get("Ipv6Addresses") or []}
            held.add(str(eni.get("PrivateIpAddress")))
            for address in held & wanted:
                out[address] = [str(g["GroupId"]) for g in eni.get("Groups") or []]
    return out


def _cluster_tagged(groups: list[str], cluster: str) -> set[str]:
    key = f"{CLUSTER_TAG_PREFIX}{cluster}"
    found = clients.ec2().describe_security_groups(GroupIds=groups)["SecurityGroups"]
    return {str(g["GroupId"]) for g in found if any(t.get("Key") == key for t in g.get("Tags") or [])}


def placement(*, targets: Iterable[str], target_type: str, ipv6: bool, vpc_id: str, cluster: str) -> dict[str, str]:
    """Target id → the security group that guards it ("" when not found or ambiguous):
    one DescribeNetworkInterfaces (ip) or DescribeInstances (instance) per 200 targets,
    and one DescribeSecurityGroups when some ENI has several groups."""
    ids = sorted(set(targets))
    groups: dict[str, list[str]] = {}
    with aws_errors():
        for chunk in _chunks(ids):
            if target_type == "instance":
                groups |= _instance_groups(chunk)
            else:
                groups |= _address_groups(chunk, ipv6=ipv6, vpc_id=vpc_id)
        several = sorted({g for found in groups.values() if len(found) > 1 for g in found})
        tagged = _cluster_tagged(several, cluster) if several else set()
    out: dict[str, str] = {}
    for target in ids:
        found = groups.get(target, [])
        chosen = found if len(found) == 1 else [g for g in found if g in tagged]
        out[target] = chosen[0] if len(chosen) == 1 else ""
    return out


def inbound(groups: Sequence[str]) -> dict[str, list[ActualRule]]:
    """The single-port inbound rules from a security group on each of ``groups`` (one
    DescribeSecurityGroupRules for all of them)."""
    out: dict[str, list[ActualRule]] = {g: [] for g in groups}
    if not groups:
        return out
    with aws_errors():
        pages = (
            clients.ec2()
            .get_paginator("describe_security_group_rules")
            .paginate(Filters=[{"Name": "group-id", "Values": list(groups)}])
        )
        for page in pages:
            for rule in page["SecurityGroupRules"]:
                source = (rule.get("ReferencedGroupInfo") or {}).get("GroupId")
                if rule.get("IsEgress") or not source or rule.get("FromPort") != rule.get("ToPort"):
                    continue
                out.setdefault(str(rule["GroupId"]), []).append(
                    ActualRule(
                        rule=(str(rule["IpProtocol"]), int(rule["FromPort"]), str(source)),
                        rule_id=str(rule["SecurityGroupRuleId"]),
                        owned=rule.get("Description") == BACKEND_RULE_DESCRIPTION,
                    )
                )
    return out


def authorize(group: str, rules: Sequence[Rule]) -> None:
    permissions: list[Any] = [
        {
            "IpProtocol": protocol,
            "FromPort": port,
            "ToPort": port,
            "UserIdGroupPairs": [{"GroupId": source, "Description": BACKEND_RULE_DESCRIPTION}],
        }
        for protocol, port, source in rules
    ]
    with aws_errors():
        clients.ec2().authorize_security_group_ingress(GroupId=group, IpPermissions=permissions)


def revoke(group: str, rule_ids: Sequence[str]) -> None:
    with aws_errors():
        clients.ec2().revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=list(rule_ids))
