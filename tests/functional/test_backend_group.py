"""The cluster's shared backend security group across processes: a remembered id that
another function's teardown deleted is found gone before a group is made with it, and
the teardown deletes the group as LBC's ``backend_sg_provider.go`` does (only once no
stack uses it; a ``DependencyViolation`` retried, never dropped).

Expected behaviour is LBC's: ``Release`` deletes the auto-generated group when no
Ingress or Service needs it, retrying ``DependencyViolation`` (every 2 s for 2 minutes,
then the reconcile fails and is requeued) until the network interfaces let it go;
``Get`` finds it by its two tags or makes it. Moto does not model EC2's refusal, so it
is injected (:mod:`albatross.local.faults`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from albatross.aws import clients, discovery
from albatross.aws import networking as ec2_rules
from albatross.aws.calls import CallCounter
from albatross.aws.errors import Retryable, transient
from albatross.controller import networking
from albatross.local.faults import Fault, inject
from albatross.local.mends import mend_moto
from tests.functional.test_store import table

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = "east"
LBC_RULE = "elbv2.k8s.aws/targetGroupBinding=shared"


@pytest.fixture(autouse=True)
def forgotten() -> Iterator[None]:
    """Each test starts as a cold process: nothing remembered (moto's ids repeat)."""
    ec2_rules.forget_backend_group(cluster=CLUSTER, vpc_id=None)
    with mend_moto():
        yield
    ec2_rules.forget_backend_group(cluster=CLUSTER, vpc_id=None)


def vpc() -> str:
    return str(clients.ec2().create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"])


def exists(group: str) -> bool:
    return bool(
        clients.ec2().describe_security_groups(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroups"]
    )


def calls_of(counter: CallCounter) -> list[str]:
    return sorted(operation for (_, operation), n in counter.snapshot().items() for _ in range(n))


def test_a_remembered_group_another_teardown_deleted_is_made_again(moto_endpoint: str) -> None:
    """Another function's teardown deleted the group while this warm one remembers its
    id: a group being made (no load balancer yet) looks before it uses the id, finds it
    gone (EC2: InvalidGroup.NotFound), forgets it and makes the group anew, once."""
    where = vpc()
    first = ec2_rules.backend_group(cluster=CLUSTER, vpc_id=where, create=True)
    assert first is not None
    clients.ec2().delete_security_group(GroupId=first)  # the other function's teardown
    counter = CallCounter()
    try:
        again = ec2_rules.backend_group(cluster=CLUSTER, vpc_id=where, create=True)
    finally:
        counter.close()
    assert again is not None
    assert again != first
    assert exists(again)
    [made] = clients.ec2().describe_security_groups(GroupIds=[again])["SecurityGroups"]
    assert {t["Key"]: t["Value"] for t in made["Tags"]} == {
        "elbv2.k8s.aws/cluster": CLUSTER,
        "elbv2.k8s.aws/resource": "backend-sg",
    }
    # the look (refused: not found), LBC's lookup by tags, then by name, and the create
    assert calls_of(counter) == sorted(
        ["DescribeSecurityGroups", "DescribeSecurityGroups", "DescribeSecurityGroups", "CreateSecurityGroup"]
    )
    # a group whose load balancer has it: the remembered id, no call
    counter = CallCounter()
    try:
        assert ec2_rules.backend_group(cluster=CLUSTER, vpc_id=where, create=True, trusted=True) == again
    finally:
        counter.close()
    assert calls_of(counter) == []


def test_a_remembered_group_that_still_exists_costs_one_look(moto_endpoint: str) -> None:
    where = vpc()
    made = ec2_rules.backend_group(cluster=CLUSTER, vpc_id=where, create=True)
    counter = CallCounter()
    try:
        assert ec2_rules.backend_group(cluster=CLUSTER, vpc_id=where, create=True) == made
    finally:
        counter.close()
    assert calls_of(counter) == ["DescribeSecurityGroups"]


def test_the_reconciles_discovery_trusts_the_id_only_for_a_group_with_a_load_balancer(moto_endpoint: str) -> None:
    """``discover`` is what the reconcile calls: a new group (no load balancer found)
    gets the group made anew; a group with its load balancer pays nothing."""
    where = vpc()
    first = discovery.discover(vpc_id=where, cluster=CLUSTER, create_backend=True).backend_security_group_id
    assert first is not None
    clients.ec2().delete_security_group(GroupId=first)
    new = discovery.discover(vpc_id=where, cluster=CLUSTER, create_backend=True).backend_security_group_id
    assert new is not None
    assert new != first
    assert exists(new)
    existing: tuple[dict[str, Any], ...] = ({"stack": "ns/app", "LoadBalancer": {"Scheme": "internal"}},)
    counter = CallCounter()
    try:
        found = discovery.discover(vpc_id=where, existing=existing, cluster=CLUSTER, create_backend=True)
    finally:
        counter.close()
    assert found.backend_security_group_id == new
    assert calls_of(counter) == []


def rule_from(group: str, *, source: str) -> None:
    pair: list[Any] = [
        {
            "IpProtocol": "tcp",
            "FromPort": 80,
            "ToPort": 80,
            "UserIdGroupPairs": [{"GroupId": source, "Description": LBC_RULE}],
        }
    ]
    clients.ec2().authorize_security_group_ingress(GroupId=group, IpPermissions=pair)


def test_the_group_stays_while_a_rule_names_it(moto_endpoint: str) -> None:
    """Another group's target groups still admit traffic from it (their Ingresses need
    it): kept, with no error and no delete attempted."""
    where = vpc()
    backend = ec2_rules.backend_group(cluster=CLUSTER, vpc_id=where, create=True)
    assert backend is not None
    nodes = clients.ec2().create_security_group(GroupName="nodes", Description="nodes", VpcId=where)["GroupId"]
    rule_from(nodes, source=backend)
    counter = CallCounter()
    try:
        assert not ec2_rules.release_backend_group(cluster=CLUSTER, vpc_id=where)
    finally:
        counter.close()
    assert "DeleteSecurityGroup" not in calls_of(counter)
    assert exists(backend)
    # the last rule goes: so does the group
    rules = clients.ec2().describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [nodes]}])
    ids = [r["SecurityGroupRuleId"] for r in rules["SecurityGroupRules"] if not r["IsEgress"]]
    clients.ec2().revoke_security_group_ingress(GroupId=nodes, SecurityGroupRuleIds=ids)
    assert ec2_rules.release_backend_group(cluster=CLUSTER, vpc_id=where)
    assert not exists(backend)


def test_the_group_stays_while_a_group_being_made_names_it(moto_endpoint: str) -> None:
    """LBC keeps the group while an Ingress needs it, whether or not its load balancer
    exists yet. A group being made has saved its model (the id on its load balancer and
    as its rules' source) before anything of it is in AWS: a teardown finishing meanwhile
    leaves the group alone. Once no model names it, it goes."""
    store = table()
    where = vpc()
    backend = ec2_rules.backend_group(cluster=CLUSTER, vpc_id=where, create=True)
    assert backend is not None
    other = clients.ec2().create_security_group(GroupName="other", Description="other", VpcId=where)["GroupId"]
    model = {"stack": "ns/new", "resources": {"LoadBalancer": {"properties": {"SecurityGroups": [backend]}}}}
    store.save_model("ns/new", model=model, leaving=[])
    store.save_model("ns/custom", model={"stack": "ns/custom", "resources": {"sg": [other]}}, leaving=[])
    store.save_model("ns/gone", model=None, leaving=[])
    assert store.group_naming(backend) == "ns/new"
    assert not networking.release_backend_group(store=store, cluster=CLUSTER, vpc_id=where)
    assert exists(backend)
    store.save_model("ns/new", model=None, leaving=[])  # its Ingresses deleted too
    assert store.group_naming(backend) is None
    assert networking.release_backend_group(store=store, cluster=CLUSTER, vpc_id=where)
    assert not exists(backend)


def test_a_dependency_violation_is_retried_until_ec2_lets_the_group_go(moto_endpoint: str) -> None:
    """Unused, but EC2 refuses (a deleted load balancer's network interfaces still hold
    it): a transient failure (ADR 0009: the queue never dead-letters it; the teardown's
    phase retries it), the group left in place; once EC2 lets it go, deleted."""
    where = vpc()
    backend = ec2_rules.backend_group(cluster=CLUSTER, vpc_id=where, create=True)
    assert backend is not None
    held = Fault(service="ec2", operation="DeleteSecurityGroup", code="DependencyViolation", message="dependent object")
    with inject(held), pytest.raises(Retryable) as raised:
        ec2_rules.release_backend_group(cluster=CLUSTER, vpc_id=where)
    assert held.raised == 1
    assert transient(raised.value)
    assert backend in str(raised.value)
    assert exists(backend)
    assert ec2_rules.release_backend_group(cluster=CLUSTER, vpc_id=where)  # the retry
    assert not exists(backend)


def test_the_teardown_phase_that_releases_the_group_retries_a_retryable_failure() -> None:
    """The state machine's half of "retried": PruneSecurityGroups (where the shared group
    is released) retries ``Retryable``; a failure past its retries asks the reconcile
    again, which raises it to the work queue, where it is never dead-lettered."""
    states = json.loads((ROOT / "statemachines/teardown.asl.json").read_text())["States"]
    [prune] = [
        s
        for s in states.values()
        if (s.get("Parameters") or {}).get("Payload", {}).get("phase") == "prune:SecurityGroup"
    ]
    assert any("Retryable" in r["ErrorEquals"] for r in prune["Retry"])
