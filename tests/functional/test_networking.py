"""Backend security group rules against moto's EC2 and DynamoDB: only this cluster's
rules are revoked, an equivalent rule under another description (LBC's, another
cluster's) stands for ours, and a race with a concurrent settle is no error."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from albatross.aws import clients
from albatross.aws import networking as ec2_rules
from albatross.controller import networking
from albatross.local.mends import mend_moto
from albatross.model.names import backend_rule_description
from albatross.model.stack import Resource
from albatross.store.table import Store
from tests.functional.test_store import table

CLUSTER = "east"
OURS = backend_rule_description(CLUSTER)
LBC = "elbv2.k8s.aws/targetGroupBinding=shared"
POD = "10.0.0.1"


@pytest.fixture(autouse=True)
def described() -> Iterator[None]:
    with mend_moto():  # moto then reports a source group rule's description, as EC2 does
        yield


def groups(*names: str) -> list[str]:
    ec2 = clients.ec2()
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return [ec2.create_security_group(GroupName=n, Description=n, VpcId=vpc)["GroupId"] for n in names]


def allow(group: str, *, source: str, port: int, description: str) -> None:
    pair: list[Any] = [
        {
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": port,
            "UserIdGroupPairs": [{"GroupId": source, "Description": description}],
        }
    ]
    clients.ec2().authorize_security_group_ingress(GroupId=group, IpPermissions=pair)


def inbound(group: str) -> set[tuple[int, str, str]]:
    found = clients.ec2().describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    return {
        (r["FromPort"], r["ReferencedGroupInfo"]["GroupId"], r.get("Description", ""))
        for r in found["SecurityGroupRules"]
        if not r["IsEgress"] and "ReferencedGroupInfo" in r
    }


def sync(store: Store, *, rid: str, nodes: str, source: str, ports: Sequence[int]) -> tuple[int, bool]:
    """Sync a target group whose one pod is known to sit behind ``nodes`` (no lookup)."""
    if not store.networking("g", rid):
        store.save_networking("g", rid=rid, record={"placed": {nodes: [POD]}, "needs": {}})
    binding = {
        "targetType": "ip",
        "networking": {
            "ingress": [{"from": [{"securityGroup": source}], "ports": [{"Protocol": "TCP", "Port": p} for p in ports]}]
        },
    }
    return networking.sync(
        store=store,
        group="g",
        cluster=CLUSTER,
        rid=rid,
        target_group=Resource(type="AWS::ElasticLoadBalancingV2::TargetGroup", properties={}, binding=binding),
        physical={},
        targets={(POD, 8080)},
        verify=False,
    )


def test_only_this_clusters_rules_are_revoked_and_none_is_made_twice(moto_endpoint: str) -> None:
    store = table()
    nodes, lb = groups("nodes", "lb")
    allow(nodes, source=lb, port=80, description=LBC)  # LBC's, during a migration
    allow(nodes, source=lb, port=81, description=backend_rule_description("west"))  # another cluster's
    allow(nodes, source=lb, port=82, description=OURS)  # ours, needed no more
    allow(nodes, source=lb, port=83, description=LBC)  # LBC's, not needed by us
    assert sync(store, rid="tg", nodes=nodes, source=lb, ports=[80, 81, 8080]) == (2, True)
    assert inbound(nodes) == {
        (80, lb, LBC),
        (81, lb, backend_rule_description("west")),
        (83, lb, LBC),
        (8080, lb, OURS),
    }
    # the target group leaves: ours goes, theirs stay
    assert networking.release(store=store, group="g", cluster=CLUSTER, keep=set()) == 1
    assert inbound(nodes) == {(80, lb, LBC), (81, lb, backend_rule_description("west")), (83, lb, LBC)}


def test_a_rule_made_or_revoked_meanwhile_is_no_error(moto_endpoint: str) -> None:
    nodes, lb = groups("nodes", "lb")
    allow(nodes, source=lb, port=80, description=OURS)  # made by a concurrent settle
    rules = [("tcp", 80, lb), ("tcp", 81, lb)]
    assert ec2_rules.authorize(nodes, rules, cluster=CLUSTER) == []
    assert ec2_rules.authorize(nodes, rules[:1], cluster=CLUSTER) == []
    assert inbound(nodes) == {(80, lb, OURS), (81, lb, OURS)}
    [first, second] = sorted(a.rule_id for a in ec2_rules.inbound([nodes], cluster=CLUSTER)[nodes])
    ec2_rules.revoke(nodes, [first])  # by a concurrent settle
    ec2_rules.revoke(nodes, [first, second])
    ec2_rules.revoke(nodes, [first])
    assert inbound(nodes) == set()


def test_a_rule_recorded_while_revoked_is_made_again(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = table()
    nodes, lb = groups("nodes", "lb")
    assert sync(store, rid="tg", nodes=nodes, source=lb, ports=[9000]) == (1, True)
    revoke = ec2_rules.revoke

    def another_group_records_it_first(group: str, rule_ids: Sequence[str]) -> None:
        # another group's settle records the rule, sees it present and makes no call
        store.set_rule_needs(nodes, owner="h|tg", rules=[("tcp", 9000, lb)])
        revoke(group, rule_ids)

    monkeypatch.setattr(ec2_rules, "revoke", another_group_records_it_first)
    assert networking.release(store=store, group="g", cluster=CLUSTER, keep=set()) == 2
    assert inbound(nodes) == {(9000, lb, OURS)}


def test_a_source_group_gone_leaves_the_target_group_unsettled(moto_endpoint: str) -> None:
    store = table()
    nodes, lb, old = groups("nodes", "lb", "old")
    clients.ec2().delete_security_group(GroupId=old)
    # not settled: its digest is not recorded, and the next sync tries again
    assert sync(store, rid="tg", nodes=nodes, source=old, ports=[80]) == (1, False)
    assert sync(store, rid="tg", nodes=nodes, source=old, ports=[80]) == (1, False)
    # another target group's rules are made, and it is settled
    assert sync(store, rid="tg2", nodes=nodes, source=lb, ports=[80]) == (1, True)
    assert inbound(nodes) == {(80, lb, OURS)}
    # the target's own group gone: nothing to retry
    clients.ec2().delete_security_group(GroupId=nodes)
    assert sync(store, rid="tg3", nodes=nodes, source=lb, ports=[81]) == (1, True)
