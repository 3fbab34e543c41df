"""Backend security group rules, kept in step with target registrations (LBC's
TargetGroupBinding networking, ``manage-backend-security-group-rules``).

Each target group whose binding has a ``networking`` entry needs inbound rules on the
security groups that guard its targets (:mod:`albatross.model.networking`). Several
target groups, of this group or of others, often need the same rule on the same node
security group. So what each one needs is recorded in the state store
(``sgrules#<group id>``), and a security group is settled against the union of all the
records: missing rules are authorized, and rules with this cluster's description
(:func:`albatross.model.names.backend_rule_description`) that nobody needs are revoked.
A rule with the same protocol, port and source under another description (LBC's during
a migration, another cluster's on a shared node group, one made by hand) counts as
present: it is neither revoked nor made again.

Cost: a target group's record remembers which group guards each target. A targets sync
only looks up targets it has not seen before, by their nodes (each endpoint's
``nodeName``, the Node's instance, whose network interfaces this process learns once for
every target group: :func:`albatross.aws.networking.placement`), and touches only the
security groups whose needs changed. ``verify`` (the drift sweep, a reconcile without a stack index, the
provision state machine) looks everything up again and reads every group, which repairs
rules changed by hand. A target group with unchanged targets and networking is not
synced at all (its digest matches), so a no-op reconcile makes no call here.

Rules go when the target group no longer needs them: when its targets leave a security
group, when its binding loses the networking entry (the user's own security groups), or
when the target group leaves the model (:func:`release`). That happens before target
groups and security groups are deleted, because AWS refuses to delete a security group
that another group's rule still names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence, Set
from typing import Any

from aws_lambda_powertools import Logger

from albatross.aws import networking as ec2_rules
from albatross.contract import listed, mapping
from albatross.k8s.errors import readable
from albatross.k8s.node import parse_node
from albatross.model import networking
from albatross.model.networking import Rule
from albatross.model.stack import Resource
from albatross.model.targets import Target
from albatross.plan.networking import match
from albatross.store.table import Store

logger = Logger(child=True)


def _owner(group: str, rid: str) -> str:
    return f"{group}|{rid}"


def _settle(
    store: Store, *, cluster: str, owner: str, needs: Mapping[str, frozenset[Rule]], groups: Set[str]
) -> tuple[int, set[str]]:
    """Record ``owner``'s needs on ``groups`` and bring each of them to the union of every
    owner's needs; returns the mutating calls made and the groups where a rule ``owner``
    needs could not be made (its source security group is gone)."""
    for group in sorted(groups):
        store.set_rule_needs(group, owner=owner, rules=sorted(needs.get(group, ())))
    actual = ec2_rules.inbound(sorted(groups), cluster=cluster)
    calls = 0
    unsettled: set[str] = set()
    for group in sorted(groups):
        have = actual.get(group, [])
        authorize, revoke = match(store.rule_needs(group), have)
        lost: list[Rule] = []
        if authorize:
            lost += ec2_rules.authorize(group, authorize, cluster=cluster)
            calls += 1
        if revoke:
            ec2_rules.revoke(group, revoke)
            calls += 1
            # A concurrent settle (another group's reconcile, the targets fast path) may
            # have recorded one of these rules after our read of the needs, found it
            # present and made no call. Reading the needs again after the revoke closes
            # that gap: a settle that records later also reads the rules later, sees the
            # rule gone and makes it itself. Simpler than a lock per security group in the
            # state table, which would need an expiry, waiting and a retry for a holder
            # that crashed. (A rule left over the other way round costs no traffic; the
            # next settle of its group or the drift sweep revokes it.)
            gone = {a.rule for a in have if a.rule_id in set(revoke)}
            again = sorted(gone & store.rule_needs(group))
            if again:
                lost += ec2_rules.authorize(group, again, cluster=cluster)
                calls += 1
        if lost and ec2_rules.exists(group):
            # The rules' source is gone (replaced, or deleted by hand): the owner's next
            # sync tries again if it needs one of them.
            logger.warning("a source security group is gone", extra={"securityGroup": group, "rules": lost})
            if set(lost) & needs.get(group, frozenset()):
                unsettled.add(group)
        elif lost:
            logger.warning("a target security group is gone", extra={"securityGroup": group})
        if authorize or revoke:
            logger.info("backend rules", extra={"securityGroup": group, "authorized": authorize, "revoked": revoke})
    return calls, unsettled


def _placed(record: Mapping[str, Any]) -> dict[str, str]:
    return {target: group for group, targets in (record.get("placed") or {}).items() for target in targets}


def _needs(record: Mapping[str, Any]) -> dict[str, frozenset[Rule]]:
    return {
        group: frozenset((str(p), int(port), str(src)) for p, port, src in rules)
        for group, rules in (record.get("needs") or {}).items()
    }


def _nodes_of(
    store: Store, addresses: Set[str], slices: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, str], list[str]]:
    """Address → the instance of the node its endpoint names (of ``addresses``), and every
    Node's instance (learned alongside: a scale-out's pods land on the cluster's nodes)."""
    node_of: dict[str, str] = {}
    for item in slices:
        for endpoint in listed(mapping(item).get("endpoints")):
            node = mapping(endpoint).get("nodeName")
            if isinstance(node, str) and node:
                node_of.update(
                    {str(a): node for a in listed(mapping(endpoint).get("addresses")) if str(a) in addresses}
                )
    if not node_of:
        return {}, []
    instances = {n.name: n.instance_id for n in readable(store.nodes(), parse_node) if n.instance_id}
    nodes = {a: instances[n] for a, n in node_of.items() if n in instances}
    return nodes, sorted(set(instances.values()))


def sync(
    *,
    store: Store,
    group: str,
    cluster: str,
    rid: str,
    target_group: Resource,
    physical: Mapping[str, str],
    targets: Set[Target],
    verify: bool,
    slices: Sequence[Mapping[str, Any]] = (),
) -> tuple[int, bool]:
    """Give target group ``rid`` the rules its ``targets`` need and release those it no
    longer needs; returns the mutating calls made and whether every rule it needs is in
    place. False when a source security group is gone: the caller records no digest, and
    the record names the security group, so the next sync settles it again even if the
    needs are unchanged. ``slices``: the Service's EndpointSlices (ip targets), whose
    endpoints name the pods' nodes."""
    binding: Mapping[str, Any] = target_group.binding or {}
    record = store.networking(group, rid)
    placed: dict[str, str] = {}
    if binding.get("networking"):
        ids = {target for target, _ in targets}
        known = {} if verify else _placed(record)
        placed = {t: known[t] for t in ids if t in known}
        unknown = ids - set(placed)
        if unknown:
            nodes, cluster_nodes = _nodes_of(store, unknown, slices)
            placed |= ec2_rules.placement(
                targets=unknown,
                target_type=str(binding.get("targetType")),
                ipv6=binding.get("ipAddressType") == "ipv6",
                vpc_id=str(target_group.properties.get("VpcId", "")),
                cluster=cluster,
                fresh=verify,
                nodes=nodes,
                cluster_nodes=cluster_nodes,
            )
    needs = networking.needs(binding=binding, physical=physical, placed=placed, targets=targets)
    before = _needs(record)
    retry = set(record.get("unsettled") or [])
    touched = {g for g in set(needs) | set(before) if verify or g in retry or needs.get(g) != before.get(g)}
    calls, unsettled = 0, set[str]()
    if touched:
        calls, unsettled = _settle(store, cluster=cluster, owner=_owner(group, rid), needs=needs, groups=touched)
    by_group: dict[str, list[str]] = {}
    for target, security_group in sorted(placed.items()):
        by_group.setdefault(security_group, []).append(target)
    new: dict[str, Any] = {"placed": by_group, "needs": {g: sorted(rules) for g, rules in sorted(needs.items())}}
    if unsettled:
        new["unsettled"] = sorted(unsettled)
    if not (placed or needs):
        if record:
            store.save_networking(group, rid=rid, record=None)
    elif json.dumps(new, sort_keys=True) != json.dumps(record, sort_keys=True):  # as stored: tuples are lists
        store.save_networking(group, rid=rid, record=new)
    return calls, not unsettled


def release(*, store: Store, group: str, cluster: str, keep: Set[str]) -> int:
    """Give up the rules of every target group of ``group`` not in ``keep`` (it left the
    model, or the whole group is going); returns the mutating calls made."""
    calls = 0
    for rid, record in sorted(store.networking_records(group).items()):
        if rid in keep:
            continue
        before = _needs(record)
        calls += _settle(store, cluster=cluster, owner=_owner(group, rid), needs={}, groups=set(before))[0]
        store.save_networking(group, rid=rid, record=None)
    return calls


def release_backend_group(*, store: Store, cluster: str, vpc_id: str | None) -> bool:
    """Delete the cluster's shared backend group once no stack uses it, as LBC deletes it
    once no Ingress needs it (:func:`albatross.aws.networking.release_backend_group`).
    Besides what AWS shows (a load balancer, a rule), a group whose stored model names it
    needs it: one being made has saved its model, with the id, before anything of it
    exists in AWS. Returns whether it was deleted."""

    def needed(security_group: str) -> bool:
        user = store.group_naming(security_group)
        if user is not None:
            logger.info("the shared backend group stays", extra={"securityGroup": security_group, "neededBy": user})
        return user is not None

    return ec2_rules.release_backend_group(cluster=cluster, vpc_id=vpc_id, needed=needed)
