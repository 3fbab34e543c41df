"""Backend security group rules in EC2: which security group guards each target, and the
inbound rules of those groups (read, authorized, revoked).

A target's group is found as LBC finds it. For an ip target it is the ENI that holds the
address (a node's ENI with the pod's secondary address or a prefix that covers it, or a
pod's own branch ENI). For an instance target it is the instance's primary ENI. When that
ENI has several groups, the one tagged ``kubernetes.io/cluster/<cluster>`` is used. A
target whose group cannot be told ("" in the result) gets no rule.

Looking ip targets up (:func:`placement`), in this order:

* by the pod's node (the EndpointSlice endpoint's ``nodeName``, the Node's instance): a
  node's network interfaces are learned once (DescribeNetworkInterfaces by
  ``attachment.instance-id``, 200 instances a call; the call that learns one node learns
  the cluster's other unknown nodes with it, filling its 200) and kept per process for
  :data:`NODE_TRUST_SECONDS`. A pod's address found on its node's ENIs (an address, or a
  delegated prefix that covers it) costs no call, however many pods a scale-out adds.
  A node whose ENIs lack a pod's address (an ENI attached since) is learned again;
* the rest (no node, a Fargate pod, a pod's own branch ENI): up to 200 addresses are one
  DescribeNetworkInterfaces filtered by them (EC2 takes 200 filter values a call). An
  address that filter does not find may be inside a delegated prefix (the VPC CNI's
  prefix mode), which no filter matches: it is looked for in a read of the VPC. More
  than 200 are found in that read too: the pages of the whole VPC's network interfaces
  (1,000 a page: a node ENI holds tens of addresses, so a page covers thousands of
  pods), kept per process for :data:`SCAN_TRUST_SECONDS`; the target groups synced
  meanwhile find their pods in it with no call. An address it lacks is read again, so
  a pod on an ENI attached since is found, unless a read found no ENI holding it less
  than :data:`MISS_SECONDS` ago (a pod whose ENI is gone: one such address does not
  make every later sync read the whole VPC again).

``fresh`` (the drift sweep, a provision) trusts nothing kept.

Our rules carry this cluster's description (:func:`albatross.model.names.backend_rule_description`);
LBC's rules sourced from the cluster's shared backend group are ours too. A race with a
concurrent settle is no error: a rule made meanwhile counts as made, one revoked
meanwhile as revoked.

The shared backend security group (:mod:`albatross.model.networking`) is found as LBC
finds it (its two tags, in the cluster's VPC), made when absent (LBC's name, description
and tags; a concurrent reconcile that made it first wins), and deleted once no stack
uses it (no load balancer has it attached, no rule names it), a ``DependencyViolation``
retried until EC2 lets it go (:func:`release_backend_group`). Its id is remembered per
process for :data:`REMEMBER_SECONDS`: a warm function reconciling a group that has a load
balancer finds it with no call; a cold one, or a group being made, pays one
DescribeSecurityGroups (a remembered id that another teardown deleted is found gone
there, and the group found or made again).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from albatross.aws import clients
from albatross.aws.errors import DependencyPending, Duplicate, NotFound, Retryable, UserError, aws_errors
from albatross.model.load_balancer import CLUSTER_TAG_PREFIX
from albatross.model.names import TAG_CLUSTER, backend_rule_description
from albatross.model.networking import (
    BACKEND_GROUP_DESCRIPTION,
    BACKEND_RESOURCE,
    LBC_RULE_DESCRIPTION,
    TAG_BACKEND_RESOURCE,
    Rule,
    backend_group_name,
    backend_group_tags,
)
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


# DescribeNetworkInterfaces' largest page (MaxResults)
SCAN_PAGE = 1000
# How long a read of the VPC's network interfaces answers for addresses it holds. LBC keeps
# a pod's ENI for 10 minutes; a minute covers a burst of target syncs (one scale-out of
# several Deployments) and leaves a security group changed by hand little time unseen.
SCAN_TRUST_SECONDS = 60.0
# How long a node's network interfaces, once learned, answer for the pods on that node.
# LBC keeps a pod's ENI for 10 minutes. A pod's address is checked against them on every
# lookup (one they lack has the node learned again), so what can go stale is only an
# ENI's groups changed by hand, which the drift sweep's fresh lookups see sooner.
NODE_TRUST_SECONDS = 600.0
# How long an address that a read found on no ENI is taken as on none (no rule) without
# reading again: a burst of syncs naming it (several target groups of one Service) reads
# once. Short, as the address may be given to a new pod's ENI.
MISS_SECONDS = 30.0

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class _Interfaces:
    """Network interfaces as one read found them (a VPC's, or one node's): address →
    groups, and the prefixes delegated to them (the VPC CNI's prefix mode) with their
    groups."""

    at: float
    addresses: dict[str, list[str]] = field(default_factory=dict)
    prefixes: list[tuple[Network, list[str]]] = field(default_factory=list)

    def groups(self, address: str) -> list[str] | None:
        found = self.addresses.get(address)
        if found is not None or not self.prefixes:
            return found
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        return next((groups for network, groups in self.prefixes if ip in network), None)

    def add(self, eni: Mapping[str, Any]) -> None:
        """Index one ENI of a DescribeNetworkInterfaces answer."""
        groups = [str(g["GroupId"]) for g in eni.get("Groups") or []]
        self.addresses.update(dict.fromkeys(_held(eni), groups))
        for prefix in [*(eni.get("Ipv4Prefixes") or []), *(eni.get("Ipv6Prefixes") or [])]:
            text = prefix.get("Ipv4Prefix") or prefix.get("Ipv6Prefix")
            if text:
                self.prefixes.append((ipaddress.ip_network(str(text), strict=False), groups))


# VPC → the last read of its network interfaces in this process
_scans: dict[str, _Interfaces] = {}
_scanning = threading.Lock()  # one read at a time: a sync waiting for it uses it
# node's instance id → its network interfaces (in the cluster's VPC) as last learned
_nodes: dict[str, _Interfaces] = {}
_learning = threading.Lock()
# VPC → address → when a read of the whole VPC found no ENI holding it
_misses: dict[str, dict[str, float]] = {}


def _held(eni: Mapping[str, Any]) -> set[str]:
    held = {str(a.get("PrivateIpAddress")) for a in eni.get("PrivateIpAddresses") or []}
    held |= {str(a.get("Ipv6Address")) for a in eni.get("Ipv6Addresses") or []}
    held.add(str(eni.get("PrivateIpAddress")))
    return held


def _scan(vpc_id: str) -> _Interfaces:
    found = _Interfaces(at=time.monotonic())
    pages = (
        clients.ec2()
        .get_paginator("describe_network_interfaces")
        .paginate(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}], PaginationConfig={"PageSize": SCAN_PAGE})
    )
    for page in pages:
        for eni in page["NetworkInterfaces"]:
            found.add(eni)
    return found


def _missed(addresses: Iterable[str], *, vpc_id: str) -> set[str]:
    """Those of ``addresses`` a read of the VPC found on no ENI less than MISS_SECONDS ago."""
    misses = _misses.get(vpc_id) or {}
    now = time.monotonic()
    return {a for a in addresses if now - misses.get(a, -MISS_SECONDS) < MISS_SECONDS}


def _scanned(addresses: list[str], *, vpc_id: str, fresh: bool) -> dict[str, list[str]]:
    """The groups of ``addresses`` from a read of the whole VPC: the kept one when it is
    trusted and holds them all (but those missed a moment ago), else a new one (kept for
    the next); the addresses the new one lacks are remembered as missed."""
    with _scanning:
        kept = _scans.get(vpc_id)
        trusted = kept is not None and not fresh and time.monotonic() - kept.at < SCAN_TRUST_SECONDS
        lacking = [a for a in addresses if kept is None or kept.groups(a) is None]
        if kept is None or not trusted or set(lacking) - _missed(lacking, vpc_id=vpc_id):
            kept = _scans[vpc_id] = _scan(vpc_id)
            # the misses this read confirms: not those it found since, nor those too old to
            # be believed (so they do not pile up in a long-lived process)
            misses = {
                a: at
                for a, at in (_misses.get(vpc_id) or {}).items()
                if kept.at - at < MISS_SECONDS and kept.groups(a) is None
            }
            misses.update(dict.fromkeys([a for a in addresses if kept.groups(a) is None], kept.at))
            _misses[vpc_id] = misses
    out: dict[str, list[str]] = {}
    for address in addresses:
        groups = kept.groups(address)
        if groups is not None:
            out[address] = groups
    return out


def _kept(addresses: list[str], *, vpc_id: str) -> dict[str, list[str]] | None:
    """The groups of ``addresses`` from a trusted kept read that holds them all; None
    when there is none."""
    kept = _scans.get(vpc_id)
    if kept is None or time.monotonic() - kept.at >= SCAN_TRUST_SECONDS:
        return None
    out: dict[str, list[str]] = {}
    for address in addresses:
        groups = kept.groups(address)
        if groups is None:
            return None
        out[address] = groups
    return out


def forget_network_interfaces() -> None:
    """Drop every kept read, node and miss (tests; a process that must see EC2 as it is now)."""
    _scans.clear()
    _nodes.clear()
    _misses.clear()


def _learn(instances: list[str], *, vpc_id: str) -> None:
    """Read the network interfaces attached to ``instances`` in the VPC (200 a call)."""
    found = {i: _Interfaces(at=time.monotonic()) for i in instances}
    for chunk in _chunks(instances):
        filters: list[Any] = [
            {"Name": "attachment.instance-id", "Values": chunk},
            {"Name": "vpc-id", "Values": [vpc_id]},
        ]
        pages = (
            clients.ec2()
            .get_paginator("describe_network_interfaces")
            .paginate(Filters=filters, PaginationConfig={"PageSize": SCAN_PAGE})
        )
        for page in pages:
            for eni in page["NetworkInterfaces"]:
                instance = (eni.get("Attachment") or {}).get("InstanceId")
                if instance in found:
                    found[instance].add(eni)
    _nodes.update(found)


def _on_nodes(on: Mapping[str, str], *, vpc_id: str, cluster_nodes: Iterable[str], fresh: bool) -> dict[str, list[str]]:
    """The groups of the addresses in ``on`` (address → its node's instance) that their
    nodes' ENIs hold. A node not learned yet, no longer trusted (or any, ``fresh``), or
    whose ENIs lack one of its pods' addresses, is learned; along with it, in the same
    calls, the ``cluster_nodes`` not learned yet (up to the calls' 200 filter values)."""
    with _learning:
        now = time.monotonic()

        def stale(instance: str) -> bool:
            kept = _nodes.get(instance)
            return fresh or kept is None or now - kept.at >= NODE_TRUST_SECONDS

        lacking = [a for a, i in on.items() if not stale(i) and _nodes[i].groups(a) is None]
        # No reason to learn a node again: an address a read of the VPC found nowhere a
        # moment ago, or one the trusted read found on another ENI (a pod's own branch ENI)
        scan = _scans.get(vpc_id)
        if scan is not None and not fresh and now - scan.at < SCAN_TRUST_SECONDS:
            lacking = [a for a in lacking if scan.groups(a) is None]
        gone = _missed(lacking, vpc_id=vpc_id)
        lacking = [a for a in lacking if a not in gone]
        learn = sorted({i for i in on.values() if stale(i)} | {on[a] for a in lacking})
        if learn:
            room = -len(learn) % _CHUNK  # the last call's unused filter values
            learn += sorted({i for i in cluster_nodes if i not in _nodes and i not in learn})[:room]
            _learn(learn, vpc_id=vpc_id)
    out: dict[str, list[str]] = {}
    for address, instance in on.items():
        kept = _nodes.get(instance)
        groups = kept.groups(address) if kept is not None else None
        if groups is not None:
            out[address] = groups
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
            for address in _held(eni) & wanted:
                out[address] = [str(g["GroupId"]) for g in eni.get("Groups") or []]
    return out


def _ip_groups(
    ids: list[str], *, ipv6: bool, vpc_id: str, nodes: Mapping[str, str], cluster_nodes: Iterable[str], fresh: bool
) -> dict[str, list[str]]:
    """Address → the groups of the ENI that holds it, for those some ENI holds."""
    on = {a: nodes[a] for a in ids if nodes.get(a)}
    out = _on_nodes(on, vpc_id=vpc_id, cluster_nodes=cluster_nodes, fresh=fresh) if on else {}
    rest = [a for a in ids if a not in out]
    if not fresh:
        gone = _missed(rest, vpc_id=vpc_id)
        rest = [a for a in rest if a not in gone]
    if not rest:
        return out
    if (kept := None if fresh else _kept(rest, vpc_id=vpc_id)) is not None:
        return out | kept
    if len(rest) > _CHUNK:
        return out | _scanned(rest, vpc_id=vpc_id, fresh=fresh)
    out |= _address_groups(rest, ipv6=ipv6, vpc_id=vpc_id)
    # an address inside a prefix delegated to an ENI: no filter finds it, a read of the VPC does
    unfound = [a for a in rest if a not in out]
    return out | _scanned(unfound, vpc_id=vpc_id, fresh=fresh) if unfound else out


def _cluster_tagged(groups: list[str], cluster: str) -> set[str]:
    key = f"{CLUSTER_TAG_PREFIX}{cluster}"
    found = clients.ec2().describe_security_groups(GroupIds=groups)["SecurityGroups"]
    return {str(g["GroupId"]) for g in found if any(t.get("Key") == key for t in g.get("Tags") or [])}


def placement(
    *,
    targets: Iterable[str],
    target_type: str,
    ipv6: bool,
    vpc_id: str,
    cluster: str,
    fresh: bool = False,
    nodes: Mapping[str, str] | None = None,
    cluster_nodes: Iterable[str] = (),
) -> dict[str, str]:
    """Target id → the security group that guards it ("" when not found or ambiguous):
    one DescribeInstances per 200 instance targets; for ip targets, none for those whose
    node (``nodes``: address → the instance of the node its endpoint names) is known and
    holds them, one DescribeNetworkInterfaces per 200 nodes to learn (with
    ``cluster_nodes``' unknown ones alongside), and for the rest none when this process's
    kept read of the VPC's network interfaces holds them all (not ``fresh``), else one
    DescribeNetworkInterfaces for up to 200 addresses (and a read of the VPC for those it
    does not find), or the VPC's pages for more; and one DescribeSecurityGroups when some
    ENI has several groups."""
    ids = sorted(set(targets))
    groups: dict[str, list[str]] = {}
    with aws_errors():
        if target_type == "instance":
            for chunk in _chunks(ids):
                groups |= _instance_groups(chunk)
        elif ids:
            groups = _ip_groups(
                ids, ipv6=ipv6, vpc_id=vpc_id, nodes=nodes or {}, cluster_nodes=cluster_nodes, fresh=fresh
            )
        several = sorted({g for found in groups.values() if len(found) > 1 for g in found})
        tagged = _cluster_tagged(several, cluster) if several else set()
    out: dict[str, str] = {}
    for target in ids:
        found = groups.get(target, [])
        chosen = found if len(found) == 1 else [g for g in found if g in tagged]
        out[target] = chosen[0] if len(chosen) == 1 else ""
    return out


def _backend_groups(ids: set[str], *, cluster: str) -> set[str]:
    """Which of ``ids`` are the cluster's shared backend group (LBC's two tags)."""
    if not ids:
        return set()
    with aws_errors():
        found = clients.ec2().describe_security_groups(Filters=[{"Name": "group-id", "Values": sorted(ids)}])
    want = backend_group_tags(cluster).items()
    return {
        str(g["GroupId"])
        for g in found["SecurityGroups"]
        if want <= {t["Key"]: t["Value"] for t in g.get("Tags") or []}.items()
    }


def inbound(groups: Sequence[str], *, cluster: str) -> dict[str, list[ActualRule]]:
    """The inbound rules from a security group on each of ``groups`` (one
    DescribeSecurityGroupRules for all of them; port ranges too, as LBC makes them).
    Ours: those with this cluster's description, and LBC's whose source is the cluster's
    shared backend group (one DescribeSecurityGroups for their sources, only when there
    are such rules)."""
    out: dict[str, list[ActualRule]] = {g: [] for g in groups}
    if not groups:
        return out
    ours = backend_rule_description(cluster)
    found: list[tuple[str, ActualRule, str | None]] = []
    with aws_errors():
        pages = (
            clients.ec2()
            .get_paginator("describe_security_group_rules")
            .paginate(Filters=[{"Name": "group-id", "Values": list(groups)}])
        )
        for page in pages:
            for rule in page["SecurityGroupRules"]:
                source = (rule.get("ReferencedGroupInfo") or {}).get("GroupId")
                first, last = rule.get("FromPort"), rule.get("ToPort")
                if rule.get("IsEgress") or not source or not isinstance(first, int) or not isinstance(last, int):
                    continue
                actual = ActualRule(
                    rule=(str(rule["IpProtocol"]), first, str(source)),
                    rule_id=str(rule["SecurityGroupRuleId"]),
                    owned=rule.get("Description") == ours,
                    to_port=last if last != first else None,
                )
                found.append((str(rule["GroupId"]), actual, rule.get("Description")))
    shared = _backend_groups({a.rule[2] for _, a, d in found if d == LBC_RULE_DESCRIPTION}, cluster=cluster)
    for group, actual, description in found:
        if description == LBC_RULE_DESCRIPTION and actual.rule[2] in shared:
            actual = replace(actual, owned=True)
        out.setdefault(group, []).append(actual)
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


# (cluster, VPC) → its shared backend group's id and when this process found or made it
_backend: dict[tuple[str, str], tuple[str, float]] = {}
# How long a remembered id is trusted without a look, by a reconcile of a group that has
# a load balancer (which has the group attached, or is about to be given it once). Another
# function's teardown may delete the group meanwhile (no stack used it any more): a group
# being made looks first (see :func:`backend_group`).
REMEMBER_SECONDS = 600.0


def _find_backend_group(*, cluster: str, vpc_id: str | None) -> str | None:
    """LBC's lookup: its two tags in the VPC (any VPC when None); the group with LBC's name
    when its tags were lost (EC2 refuses a second group of that name in a VPC). Several:
    the lowest id, so that every reconcile picks the same one."""
    ec2 = clients.ec2()
    vpc: list[Any] = [{"Name": "vpc-id", "Values": [vpc_id]}] if vpc_id else []
    tagged: list[Any] = [
        *vpc,
        {"Name": f"tag:{TAG_CLUSTER}", "Values": [cluster]},
        {"Name": f"tag:{TAG_BACKEND_RESOURCE}", "Values": [BACKEND_RESOURCE]},
    ]
    named: list[Any] = [*vpc, {"Name": "group-name", "Values": [backend_group_name(cluster)]}]
    with aws_errors():
        for filters in (tagged, named):
            found = sorted(str(g["GroupId"]) for g in ec2.describe_security_groups(Filters=filters)["SecurityGroups"])
            if found:
                return found[0]
    return None


def _make_backend_group(*, cluster: str, vpc_id: str) -> str | None:
    """Make the group with LBC's name, description and tags; the one a concurrent
    reconcile made first when EC2 refuses the name."""
    tags = [{"Key": k, "Value": v} for k, v in backend_group_tags(cluster).items()]
    specification: list[Any] = [{"ResourceType": "security-group", "Tags": tags}]
    try:
        with aws_errors():
            return str(
                clients.ec2().create_security_group(
                    GroupName=backend_group_name(cluster),
                    Description=BACKEND_GROUP_DESCRIPTION,
                    VpcId=vpc_id,
                    TagSpecifications=specification,
                )["GroupId"]
            )
    except UserError as e:
        if not str(e).startswith("InvalidGroup.Duplicate:"):  # EC2's code for a name taken
            raise
    return _find_backend_group(cluster=cluster, vpc_id=vpc_id)  # a concurrent reconcile made it


def _alive(group: str) -> bool:
    """Whether a security group still exists: DescribeSecurityGroups by id, which EC2
    answers ``InvalidGroup.NotFound`` for a group deleted."""
    try:
        with aws_errors():
            clients.ec2().describe_security_groups(GroupIds=[group])
    except NotFound:
        return False
    return True


def backend_group(*, cluster: str, vpc_id: str, create: bool, trusted: bool = False) -> str | None:
    """The cluster's shared backend group: remembered, found, or (``create``) made with
    LBC's name, description and tags. None when absent and not ``create``.

    ``trusted``: the caller's group has a load balancer already, so a remembered id costs
    no call (for :data:`REMEMBER_SECONDS`): the group is attached to it, and EC2 refuses
    to delete a security group a load balancer uses. Otherwise (a group being made, which
    would create its load balancer and rules with the id) a remembered id is looked at
    first: another function's teardown may have deleted it (no stack used it then). When
    EC2 answers ``InvalidGroup.NotFound`` the id is forgotten and the group found or made
    again, once."""
    known, at = _backend.get((cluster, vpc_id), ("", 0.0))
    if known and time.monotonic() - at < REMEMBER_SECONDS and (trusted or _alive(known)):
        return known
    if known:
        forget_backend_group(cluster=cluster, vpc_id=vpc_id)
    found = _find_backend_group(cluster=cluster, vpc_id=vpc_id)
    if found is None and create:
        found = _make_backend_group(cluster=cluster, vpc_id=vpc_id)
    if found:
        _backend[cluster, vpc_id] = (found, time.monotonic())
    return found


def forget_backend_group(*, cluster: str, vpc_id: str | None) -> None:
    """Drop the remembered id (the group was deleted, or found gone); None: in any VPC."""
    for key in [k for k in _backend if k[0] == cluster and vpc_id in (None, k[1])]:
        _backend.pop(key, None)


def _in_use(group: str) -> bool:
    """Whether a stack still uses the shared group: a load balancer has it attached (ours,
    or LBC's during a migration), or an inbound rule somewhere names it as its source (a
    target group's backend rules: that group's Ingresses still need it)."""
    with aws_errors():
        named = clients.ec2().describe_security_groups(Filters=[{"Name": "ip-permission.group-id", "Values": [group]}])
        if named["SecurityGroups"]:
            return True
        for page in clients.elbv2().get_paginator("describe_load_balancers").paginate():
            if any(group in (lb.get("SecurityGroups") or ()) for lb in page["LoadBalancers"]):
                return True
    return False


def release_backend_group(*, cluster: str, vpc_id: str | None, needed: Callable[[str], bool] | None = None) -> bool:
    """Delete the cluster's shared backend group (the one LBC's tags name, in ``vpc_id``
    or, when None, any VPC) once no stack uses it; returns whether it was deleted.

    LBC (``pkg/networking/backend_sg_provider.go``) deletes it when no Ingress or Service
    of the cluster needs it any more, and retries a ``DependencyViolation`` (the network
    interfaces of a load balancer just deleted still hold it) until they are released,
    the finalizer kept meanwhile. Here "needed" is read from AWS: a load balancer with it
    attached, or a rule sourced from it (:func:`_in_use`); then from ``needed(id)`` (the
    groups whose model names it: one being made has neither yet); then it stays, with no
    error.
    Unused but refused with ``DependencyViolation``: :class:`Retryable`, which passes by
    itself (ADR 0009): the teardown's phase, or the reconcile that finishes a failed
    teardown, is run again until EC2 lets it go, never dropped."""
    found = _find_backend_group(cluster=cluster, vpc_id=vpc_id)
    if found is None:
        forget_backend_group(cluster=cluster, vpc_id=vpc_id)
        return False
    if _in_use(found) or (needed is not None and needed(found)):
        return False
    forget_backend_group(cluster=cluster, vpc_id=vpc_id)
    try:
        with aws_errors():
            clients.ec2().delete_security_group(GroupId=found)
    except NotFound:
        return False  # deleted meanwhile (another teardown): what was asked
    except DependencyPending as e:
        raise Retryable(
            f"the cluster's shared backend security group {found} is still held ({e}); "
            "deleted once EC2 releases it, as LBC does"
        ) from e
    return True
