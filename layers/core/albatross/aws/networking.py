"""Backend security group rules in EC2: which security group guards each target, and the
inbound rules of those groups (read, authorized, revoked).

A target's group is found as LBC finds it. For an ip target it is the ENI that holds the
address (a node's ENI with the pod's secondary address, or a pod's own branch ENI). For
an instance target it is the instance's primary ENI. When that ENI has several groups,
the one tagged ``kubernetes.io/cluster/<cluster>`` is used. A target whose group cannot
be told ("" in the result) gets no rule.

Our rules carry this cluster's description (:func:`albatross.model.names.backend_rule_description`).
A race with a concurrent settle is no error: a rule made meanwhile counts as made, one
revoked meanwhile as revoked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from albatross.aws import clients
from albatross.aws.errors import Duplicate, NotFound, aws_errors
from albatross.model.load_balancer import CLUSTER_TAG_PREFIX
from albatross.model.names import backend_rule_description
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


def inbound(groups: Sequence[str], *, cluster: str) -> dict[str, list[ActualRule]]:
    """The single-port inbound rules from a security group on each of ``groups`` (one
    DescribeSecurityGroupRules for all of them); ours are those with this cluster's
    description."""
    out: dict[str, list[ActualRule]] = {g: [] for g in groups}
    if not groups:
        return out
    ours = backend_rule_description(cluster)
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
                        owned=rule.get("Description") == ours,
                    )
                )
    return out


def _authorize(group: str, rules: Sequence[Rule], description: str) -> None:
    permissions: list[Any] = [
        {
            "IpProtocol": protocol,
            "FromPort": port,
            "ToPort": port,
            "UserIdGroupPairs": [{"GroupId": source, "Description": description}],
        }
        for protocol, port, source in rules
    ]
    with aws_errors():
        clients.ec2().authorize_security_group_ingress(GroupId=group, IpPermissions=permissions)


def authorize(group: str, rules: Sequence[Rule], *, cluster: str) -> list[Rule]:
    """Authorize ``rules`` on ``group`` with this cluster's description; returns those not
    made because a security group they name (``group`` or the source) is gone. A rule
    that exists already counts as made (a concurrent settle made it). Either error fails
    the whole call, so then the rules are made one at a time."""
    description = backend_rule_description(cluster)
    try:
        _authorize(group, rules, description)
        return []
    except Duplicate:
        if len(rules) == 1:
            return []
    except NotFound:
        if len(rules) == 1:
            return list(rules)
    lost = []
    for rule in rules:
        try:
            _authorize(group, [rule], description)
        except Duplicate:
            continue
        except NotFound:
            lost.append(rule)
    return lost


def _revoke(group: str, rule_ids: Sequence[str]) -> None:
    with aws_errors():
        clients.ec2().revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=list(rule_ids))


def revoke(group: str, rule_ids: Sequence[str]) -> None:
    """Revoke rules by id. One already gone (revoked meanwhile, or ``group`` itself is
    gone) counts as revoked; it fails the whole call, so then they go one at a time."""
    try:
        _revoke(group, rule_ids)
        return
    except NotFound:
        if len(rule_ids) == 1:
            return
    for rule_id in rule_ids:
        try:
            _revoke(group, [rule_id])
        except NotFound:
            continue


def exists(group: str) -> bool:
    """Whether a security group exists (a filter, which finds nothing rather than fail)."""
    with aws_errors():
        found = clients.ec2().describe_security_groups(Filters=[{"Name": "group-id", "Values": [group]}])
    return bool(found["SecurityGroups"])
