"""The drift sweep against moto (ADR 0015): bulk reads of the account find a group whose
load balancer or target group is gone, or whose target group no load balancer forwards
to any more (its listener deleted), and enqueue it at once; an unchanged account gets
only the slice whose full re-read is due, within the budget; orphans are found as
before. At 300 groups a run's ELBv2 reads are the bulk pages, not per-group reads."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.elbv2.models import elbv2_backends

from albatross.aws import clients, discovery
from albatross.aws.calls import CallCounter
from albatross.controller import drift
from albatross.controller.settings import Settings
from albatross.local.mends import mend_moto
from albatross.model import limits
from albatross.model.names import TAG_CLUSTER, TAG_RESOURCE, TAG_STACK
from albatross.store.table import STATE_SK, Store
from tests.functional.test_store import table

CLUSTER = "c1"
PERIOD = 600.0


class Account:
    """A VPC with two subnets, the work queue, the state table; groups made as a
    successful apply leaves them: a security group, a load balancer using it, a target
    group its listener forwards to, all tagged for the stack, and the stack index."""

    def __init__(self) -> None:
        ec2, sqs = clients.ec2(), clients.sqs()
        self.vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [
            ec2.create_subnet(VpcId=self.vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"][
                "SubnetId"
            ]
            for i, z in enumerate("ab")
        ]
        fifo: dict[Any, str] = {"FifoQueue": "true"}
        self.settings = Settings(
            cluster=CLUSTER,
            vpc_id=self.vpc,
            region="us-east-1",
            table="state",
            work_queue_url=sqs.create_queue(QueueName="work.fifo", Attributes=fifo)["QueueUrl"],
            writeback_queue_url="",
            provision_state_machine="",
            teardown_state_machine="",
        )
        self.store: Store = table()
        self.runs = 0

    def group(self, name: str, *, member: bool = True) -> dict[str, str]:
        """The group's resources by role (lb, tg, sg, listener)."""
        elbv2, ec2 = clients.elbv2(), clients.ec2()
        n = name.replace("/", "-")
        tags: list[Any] = [
            {"Key": TAG_CLUSTER, "Value": CLUSTER},
            {"Key": TAG_STACK, "Value": name},
            {"Key": TAG_RESOURCE, "Value": "r"},
        ]
        sg = ec2.create_security_group(
            GroupName=f"k8s-{n}",
            Description="managed",
            VpcId=self.vpc,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
        )["GroupId"]
        lb = elbv2.create_load_balancer(Name=f"k8s-{n}", Subnets=self.subnets, SecurityGroups=[sg], Tags=tags)[
            "LoadBalancers"
        ][0]["LoadBalancerArn"]
        tg = elbv2.create_target_group(
            Name=f"k8s-{n}", Protocol="HTTP", Port=80, VpcId=self.vpc, TargetType="ip", Tags=tags
        )["TargetGroups"][0]["TargetGroupArn"]
        listener = elbv2.create_listener(
            LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}]
        )["Listeners"][0]["ListenerArn"]
        if member:
            self.store.add_member(name, f"{name}-ing")
        self.store.save_index(name, {"ids": {"LoadBalancer": lb, "web:80": tg, "ManagedLBSecurityGroup": sg}})
        return {"lb": lb, "tg": tg, "sg": sg, "listener": listener}

    def many(self, names: list[str]) -> None:
        """Groups as :meth:`group` makes them (one security group for all), straight in
        moto's backend and 25 state items per write: hundreds in a second, where the
        API takes a minute."""
        elbv2 = elbv2_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        sg = clients.ec2().create_security_group(GroupName="k8s-many", Description="managed", VpcId=self.vpc)["GroupId"]
        items: list[dict[str, Any]] = []
        for name in names:
            n = name.replace("/", "-")
            tags = [{"Key": TAG_CLUSTER, "Value": CLUSTER}, {"Key": TAG_STACK, "Value": name}]
            lb = elbv2.create_load_balancer(name=f"k8s-{n}", security_groups=[sg], subnet_ids=self.subnets, tags=tags)
            tg = elbv2.create_target_group(name=f"k8s-{n}", protocol="HTTP", port=80, vpc_id=self.vpc, tags=tags)
            elbv2.create_listener(lb.arn, "HTTP", "80", "", None, [{"Type": "forward", "TargetGroupArn": tg.arn}])
            index = {"ids": {"LoadBalancer": lb.arn, "web:80": tg.arn, "ManagedLBSecurityGroup": sg}}
            items += [
                {"pk": {"S": f"grp#{name}"}, "sk": {"S": f"ing#{name}-ing"}, "joined": {"BOOL": True}},
                {"pk": {"S": f"grp#{name}"}, "sk": {"S": STATE_SK}, "stackIndex": {"S": json.dumps(index)}},
            ]
        for i in range(0, len(items), 25):
            clients.dynamodb().batch_write_item(
                RequestItems={"state": [{"PutRequest": {"Item": item}} for item in items[i : i + 25]]}
            )

    def sweep(self, *, now: float, budget: int | None = None, full_read_hours: float = 24.0) -> dict[str, Any]:
        self.runs += 1
        return drift.sweep(
            settings=self.settings,
            store=self.store,
            run_id=f"r{self.runs}",
            now=now,
            period=PERIOD,
            full_read_hours=full_read_hours,
            budget=budget,
        )

    def enqueued(self) -> set[str]:
        """The groups on the work queue (taken off it), each asked for a fresh read."""
        sqs, out = clients.sqs(), set()
        url = self.settings.work_queue_url
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for m in messages:
                body = json.loads(m["Body"])
                assert body.get("fresh") is True
                out.add(body["group"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return out


@pytest.fixture
def account(moto_endpoint: str) -> Account:
    return Account()


def test_what_the_bulk_pages_show_gone_enqueues_its_group_at_once(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(discovery, "BULK_PAGE", 2)  # several pages: what is on a later one counts too
    elbv2 = clients.elbv2()
    made = {g: account.group(g) for g in ("shop/a", "shop/b", "shop/c", "shop/d", "shop/e")}
    elbv2.delete_load_balancer(LoadBalancerArn=made["shop/a"]["lb"])
    elbv2.delete_listener(ListenerArn=made["shop/b"]["listener"])
    elbv2.delete_target_group(TargetGroupArn=made["shop/b"]["tg"])
    elbv2.set_security_groups(LoadBalancerArn=made["shop/d"]["lb"], SecurityGroups=[])
    account.group("shop/gone", member=False)  # every Ingress deleted: an orphan
    # a stack this cluster's tags name but Albatross never applied: left alone
    clients.elbv2().create_target_group(
        Name="k8s-left-by-lbc",
        Protocol="HTTP",
        Port=80,
        VpcId=account.vpc,
        Tags=[{"Key": TAG_CLUSTER, "Value": CLUSTER}, {"Key": TAG_STACK, "Value": "shop/lbc"}],
    )

    found = account.sweep(now=0.0, budget=0)  # no budget: only the differences go

    assert found["changed"] == ["shop/a", "shop/b", "shop/d"]
    assert found["due"] == []
    assert found["orphans"] == ["shop/gone"]
    assert found["unknown"] == ["shop/lbc"]
    assert account.enqueued() == {"shop/a", "shop/b", "shop/d", "shop/gone"}
    assert set(found["deferred"]) <= {"shop/c", "shop/e"}  # their turn, with no budget for it


def test_a_target_group_whose_last_rule_was_deleted_enqueues_its_group(account: Account) -> None:
    # on AWS the load balancer leaves the target group's LoadBalancerArns with the last
    # listener or rule forwarding to it (moto keeps it: albatross.local.mends corrects it)
    elbv2 = clients.elbv2()
    with mend_moto():
        made = {g: account.group(g) for g in ("shop/r", "shop/s")}
        tg = elbv2.create_target_group(Name="k8s-shop-r-api", Protocol="HTTP", Port=80, VpcId=account.vpc)[
            "TargetGroups"
        ][0]["TargetGroupArn"]
        rule = elbv2.create_rule(
            ListenerArn=made["shop/r"]["listener"],
            Priority=1,
            Conditions=[{"Field": "path-pattern", "Values": ["/api"]}],
            Actions=[{"Type": "forward", "TargetGroupArn": tg}],
        )["Rules"][0]["RuleArn"]
        ids = {"LoadBalancer": made["shop/r"]["lb"], "web:80": made["shop/r"]["tg"], "api:80": tg}
        account.store.save_index("shop/r", {"ids": {**ids, "ManagedLBSecurityGroup": made["shop/r"]["sg"]}})
        assert account.sweep(now=0.0, budget=0)["changed"] == []
        account.enqueued()

        elbv2.delete_rule(RuleArn=rule)
        found = account.sweep(now=PERIOD, budget=0)

    assert found["changed"] == ["shop/r"]
    assert account.enqueued() == {"shop/r"}


def test_an_unchanged_account_gets_only_the_slice_due_and_the_budget_defers_the_rest(account: Account) -> None:
    groups = {f"shop/g{i}" for i in range(12)}
    account.many(sorted(groups))
    # budget for 5 re-reads, 4 of them in a slice with headroom; at most 2 slots (a full
    # re-read every 20 minutes at least): 12 groups in 2 slots, so a slice of 6 or more
    budget = 5 * limits.FULL_READ_DESCRIBES
    runs = [account.sweep(now=n * PERIOD, budget=budget, full_read_hours=PERIOD * 2 / 3600) for n in range(4)]
    slices = [set(run["due"] + run["deferred"]) for run in runs]
    for run in runs:
        assert run["changed"] == []
        # the bulk pages (2 calls) come out of the budget: 33 calls left, 4 re-reads
        assert len(run["due"]) == min(4, len(run["due"] + run["deferred"]))
        assert not set(run["due"]) & set(run["deferred"])
    assert slices[0].isdisjoint(slices[1])
    assert slices[0] | slices[1] == groups
    assert slices[2:] == slices[:2]  # the next rotation: the same slices
    assert runs[0]["deferred"] or runs[1]["deferred"]  # one of the two slices holds 6 or more
    # ...in another order: the groups deferred in one rotation are not all deferred again
    for first, again in zip(runs[:2], runs[2:], strict=True):
        if first["deferred"]:
            assert set(first["deferred"]) != set(again["deferred"])
    assert account.enqueued() == {g for run in runs for g in run["due"]}


def test_a_small_deployment_is_re_read_in_full_on_every_run(account: Account) -> None:
    groups = {f"shop/s{i}" for i in range(3)}
    account.many(sorted(groups))
    for t in (0.0, PERIOD):
        found = account.sweep(now=t)
        assert set(found["due"]) == groups
        assert found["deferred"] == []
        assert account.enqueued() == groups


def test_a_run_over_300_groups_reads_the_bulk_pages_only(account: Account) -> None:
    groups = {f"n/g{i:03}" for i in range(300)}
    account.many(sorted(groups))
    counter = CallCounter()
    try:
        found = account.sweep(now=0.0)
    finally:
        counter.close()
    calls = counter.snapshot()
    # 300 load balancers and 300 target groups: one page of 400 each
    assert {op: n for (svc, op), n in calls.items() if svc == "elasticloadbalancing"} == {
        "DescribeLoadBalancers": 1,
        "DescribeTargetGroups": 1,
    }
    assert {op for (svc, op) in calls if svc == "tagging"} == {"GetResources"}  # the orphan search
    assert not {svc for (svc, _) in calls} - {"elasticloadbalancing", "tagging", "dynamodb", "sqs"}
    assert found["changed"] == []
    # the default budget: 3 % of 10/s over 600 s = 180 calls, 2 of them pages: 25 re-reads
    assert 0 < len(found["due"]) <= 25
    assert account.enqueued() == set(found["due"])
    share = (2 + limits.FULL_READ_DESCRIBES * len(found["due"])) / (limits.ELBV2_DESCRIBE.refill * PERIOD)
    assert share <= limits.DRIFT_DESCRIBE_SHARE
