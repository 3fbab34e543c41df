"""Backend security group rules against moto's EC2 and DynamoDB: only this cluster's
rules are revoked (ours, and LBC's from the cluster's shared backend group), an
equivalent rule under another description (LBC's, another cluster's) stands for ours,
and a race with a concurrent settle is no error. The shared backend group: made, found
and adopted as LBC's provider does, and deleted once no load balancer uses it."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from albatross.aws import clients
from albatross.aws import networking as ec2_rules
from albatross.aws.calls import CallCounter
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


# LBC's shared backend security group (pkg/networking/backend_sg_provider.go) and the
# rules LBC's networking manager makes from it: written from LBC's code, not from ours.
LBC_BACKEND_DESCRIPTION = "[k8s] Shared Backend SecurityGroup for LoadBalancer"


def lbc_backend_group(vpc: str, cluster: str = CLUSTER) -> str:
    """The group as LBC's provider makes it: ``k8s-traffic-%.232s-%.10s`` of the cluster
    name without non-alphanumerics and the hex sha256 of the cluster name; two tags."""
    name = "k8s-traffic-{}-{}".format(
        "".join(c for c in cluster if c.isascii() and c.isalnum())[:232],
        hashlib.sha256(cluster.encode()).hexdigest()[:10],
    )
    tags: list[Any] = [
        {
            "ResourceType": "security-group",
            "Tags": [
                {"Key": "elbv2.k8s.aws/cluster", "Value": cluster},
                {"Key": "elbv2.k8s.aws/resource", "Value": "backend-sg"},
            ],
        }
    ]
    return str(
        clients.ec2().create_security_group(
            GroupName=name, Description=LBC_BACKEND_DESCRIPTION, VpcId=vpc, TagSpecifications=tags
        )["GroupId"]
    )


def allow_range(group: str, *, source: str, ports: tuple[int, int], description: str = LBC) -> None:
    """LBC's restricted rules: one range per source on a security group, from its lowest
    to its highest port."""
    pair: list[Any] = [
        {
            "IpProtocol": "tcp",
            "FromPort": ports[0],
            "ToPort": ports[1],
            "UserIdGroupPairs": [{"GroupId": source, "Description": description}],
        }
    ]
    clients.ec2().authorize_security_group_ingress(GroupId=group, IpPermissions=pair)


def inbound_ranges(group: str) -> set[tuple[int, int, str, str]]:
    found = clients.ec2().describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    return {
        (r["FromPort"], r["ToPort"], r["ReferencedGroupInfo"]["GroupId"], r.get("Description", ""))
        for r in found["SecurityGroupRules"]
        if not r["IsEgress"] and "ReferencedGroupInfo" in r
    }


def vpc_of(group: str) -> str:
    return str(clients.ec2().describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["VpcId"])


@contextmanager
def counted() -> Iterator[CallCounter]:
    counter = CallCounter()
    try:
        yield counter
    finally:
        counter.close()


@contextmanager
def ordered() -> Iterator[list[str]]:
    """The mutating EC2 operations, in the order they were called."""
    seen: list[str] = []

    def record(model: Any, **_: Any) -> None:
        if model.service_model.endpoint_prefix == "ec2" and CallCounter.mutating(Counter({("ec2", model.name): 1})):
            seen.append(model.name)

    clients.add_hook("before-call.*.*", record, unique_id="test-networking-order")
    try:
        yield seen
    finally:
        clients.remove_hook("test-networking-order")


def test_the_shared_backend_group_is_made_as_lbc_makes_it(moto_endpoint: str) -> None:
    [nodes] = groups("nodes")
    vpc = vpc_of(nodes)
    cluster = "my-cluster.prod_1"
    made = ec2_rules.backend_group(cluster=cluster, vpc_id=vpc, create=True)
    assert made is not None
    [group] = clients.ec2().describe_security_groups(GroupIds=[made])["SecurityGroups"]
    digest = hashlib.sha256(cluster.encode()).hexdigest()[:10]
    assert group["GroupName"] == f"k8s-traffic-myclusterprod1-{digest}"
    assert group["Description"] == LBC_BACKEND_DESCRIPTION
    assert {t["Key"]: t["Value"] for t in group.get("Tags") or []} == {
        "elbv2.k8s.aws/cluster": cluster,
        "elbv2.k8s.aws/resource": "backend-sg",
    }
    # known from here on: no call at all for a group whose load balancer has it
    with counted() as counter:
        assert ec2_rules.backend_group(cluster=cluster, vpc_id=vpc, create=True, trusted=True) == made
    assert sum(counter.snapshot().values()) == 0
    # without create, absent is None; another process (nothing remembered) finds the same one
    assert ec2_rules.backend_group(cluster="elsewhere", vpc_id=vpc, create=False) is None
    ec2_rules.forget_backend_group(cluster=cluster, vpc_id=vpc)
    assert ec2_rules.backend_group(cluster=cluster, vpc_id=vpc, create=True) == made


def test_lbcs_backend_group_is_adopted_with_no_change(moto_endpoint: str) -> None:
    [nodes] = groups("nodes")
    vpc = vpc_of(nodes)
    theirs = lbc_backend_group(vpc)
    with counted() as counter:
        assert ec2_rules.backend_group(cluster=CLUSTER, vpc_id=vpc, create=True) == theirs
    assert CallCounter.mutating(counter.snapshot()) == 0
    ec2_rules.forget_backend_group(cluster=CLUSTER, vpc_id=vpc)
    # a name LBC's provider also refuses to duplicate: its tags lost, it is still the one
    clients.ec2().delete_tags(Resources=[theirs], Tags=[{"Key": "elbv2.k8s.aws/resource"}])
    assert ec2_rules.backend_group(cluster=CLUSTER, vpc_id=vpc, create=True) == theirs
    ec2_rules.forget_backend_group(cluster=CLUSTER, vpc_id=vpc)


def test_lbcs_backend_rules_stand_for_ours_and_are_ours_to_revoke(moto_endpoint: str) -> None:
    """LBC's range from the shared group covers the ports Albatross needs: no call. Once
    none of its ports is needed, it is revoked like ours; LBC's rule from another group
    (not this cluster's backend group) never is."""
    store = table()
    nodes, other = groups("nodes", "other")
    backend = lbc_backend_group(vpc_of(nodes))
    allow_range(nodes, source=backend, ports=(80, 8080))
    allow_range(nodes, source=other, ports=(80, 80))
    with counted() as counter:
        assert sync(store, rid="tg", nodes=nodes, source=backend, ports=[80, 8080]) == (0, True)
    assert CallCounter.mutating(counter.snapshot()) == 0
    assert sync(store, rid="tg2", nodes=nodes, source=backend, ports=[9000]) == (1, True)  # outside the range
    assert inbound_ranges(nodes) == {
        (80, 8080, backend, LBC),
        (80, 80, other, LBC),
        (9000, 9000, backend, OURS),
    }
    # the first target group goes: the range covers nothing needed any more
    assert networking.release(store=store, group="g", cluster=CLUSTER, keep={"tg2"}) == 1
    assert inbound_ranges(nodes) == {(80, 80, other, LBC), (9000, 9000, backend, OURS)}


def test_a_cluster_moves_to_the_shared_group_with_no_rule_removed_first(moto_endpoint: str) -> None:
    """Today's Albatross rules, one per load balancer's managed group, give way to one rule
    from the shared group: the new rule exists before the old one goes."""
    store = table()
    nodes, managed = groups("nodes", "managed")
    backend = ec2_rules.backend_group(cluster=CLUSTER, vpc_id=vpc_of(nodes), create=True)
    assert backend is not None
    assert sync(store, rid="tg", nodes=nodes, source=managed, ports=[8080]) == (1, True)
    assert inbound(nodes) == {(8080, managed, OURS)}
    with ordered() as calls:
        assert sync(store, rid="tg", nodes=nodes, source=backend, ports=[8080]) == (2, True)
    assert calls == ["AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"]
    assert inbound(nodes) == {(8080, backend, OURS)}


def test_the_shared_group_goes_only_when_no_load_balancer_uses_it(moto_endpoint: str) -> None:
    [nodes] = groups("nodes")
    vpc = vpc_of(nodes)
    backend = lbc_backend_group(vpc)
    subnets = [
        clients.ec2().create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"][
            "SubnetId"
        ]
        for i, z in ((1, "a"), (2, "b"))
    ]
    arn = clients.elbv2().create_load_balancer(Name="uses-it", Subnets=subnets, SecurityGroups=[backend])[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    assert not ec2_rules.release_backend_group(cluster=CLUSTER, vpc_id=vpc)
    assert clients.ec2().describe_security_groups(GroupIds=[backend])["SecurityGroups"]
    clients.elbv2().delete_load_balancer(LoadBalancerArn=arn)
    assert ec2_rules.release_backend_group(cluster=CLUSTER, vpc_id=vpc)
    assert ec2_rules.backend_group(cluster=CLUSTER, vpc_id=vpc, create=False) is None
    assert not ec2_rules.release_backend_group(cluster=CLUSTER, vpc_id=vpc)  # gone already: nothing to do


def test_a_shared_group_made_meanwhile_is_the_one_used(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two reconciles look at once and both find none: the second create is refused (the
    name is taken) and it uses the first one's."""
    [nodes] = groups("nodes")
    vpc = vpc_of(nodes)
    theirs = lbc_backend_group(vpc)
    find = ec2_rules._find_backend_group
    looks = iter([None])
    monkeypatch.setattr(ec2_rules, "_find_backend_group", lambda **kw: next(looks, None) or find(**kw))
    assert ec2_rules.backend_group(cluster=CLUSTER, vpc_id=vpc, create=True) == theirs
    ec2_rules.forget_backend_group(cluster=CLUSTER, vpc_id=vpc)
