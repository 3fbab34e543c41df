"""The realistic local AWS (``albatross.local.realistic``) against AWS's documented
behaviour: ELB's "Request throttling for the ELB API" (Describe* share a bucket of 40
tokens refilled at 10 per second; a throttled call gets ``Throttling``, HTTP 400, "Rate
exceeded"), EC2's throttling page (each API its own bucket; ``RequestLimitExceeded``,
HTTP 503), the tagging API's ``ThrottledException``; the ALB quotas page and the ELBv2 API
reference (names of at most 32 characters, 100 rules per load balancer not counting the
default rules, 5 condition values per rule, priorities 1 to 50000, 50 tags); a load
balancer ``provisioning`` before ``active``. Time is a hand-moved clock: nothing waits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from albatross.aws import clients
from albatross.aws.errors import Throttled, aws_errors
from albatross.local import clock, mends
from albatross.local.realistic import OBSERVER_KEY, Realistic, limited
from albatross.local.system import make_vpc
from albatross.model import limits
from tests.functional.motoserver import moto_server

ONCE = Config(retries={"mode": "standard", "total_max_attempts": 1})  # no retry: each call is one request


class Clock:
    """AWS seconds, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Account:
    endpoint: str
    clock: Clock
    aws: Realistic

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, config=ONCE)  # type: ignore[call-overload]  # one service name per test


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    hand = Clock()
    with (
        moto_server(monkeypatch) as (server, endpoint),
        clock.scaled(0.01),  # botocore's backoff, short
        limited(server, time_scale=1.0, clock=hand) as aws,
    ):
        yield Account(endpoint=endpoint, clock=hand, aws=aws)


def error(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response: Any = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def describes(elbv2: Any, n: int) -> int:
    """Make ``n`` ELBv2 Describe* calls of three kinds; how many were answered before the first throttle."""
    calls = [elbv2.describe_load_balancers, elbv2.describe_target_groups, elbv2.describe_account_limits]
    for i in range(n):
        try:
            calls[i % 3]()
        except ClientError:
            return i
    return n


def test_describe_calls_share_40_tokens_refilled_at_10_per_second(account: Account) -> None:
    elbv2 = account.client("elbv2")
    assert describes(elbv2, 40) == 40  # a full bucket: the burst
    with pytest.raises(ClientError) as raised:
        elbv2.describe_load_balancers()
    assert error(raised) == ("Throttling", 400, "Rate exceeded")
    # another bucket: a mutating action is not held up by the reads
    vpc = make_vpc("realistic")
    elbv2.create_target_group(Name="tg", Protocol="HTTP", Port=80, VpcId=vpc)
    account.clock.now += 0.1  # one token
    assert describes(elbv2, 2) == 1
    account.clock.now += 1.0  # ten more
    assert describes(elbv2, 11) == 10
    account.clock.now += 3600  # never more than the bucket holds
    assert describes(elbv2, 41) == 40
    tally = account.aws.throttle.tally
    assert tally.total("elasticloadbalancing", prefix="Describe") == 40 + 1 + 10 + 40
    assert tally.total("elasticloadbalancing", prefix="Describe", throttled=True) == 4


def test_the_controller_sees_throttled_after_botocores_retries(account: Account) -> None:
    assert describes(account.client("elbv2"), 40) == 40
    with pytest.raises(Throttled), aws_errors():
        clients.elbv2().describe_load_balancers()
    # the first attempt and botocore's 5 retries, each answered Throttling: retried as AWS's
    throttled = account.aws.throttle.tally.throttled[("elasticloadbalancing", "DescribeLoadBalancers")]
    assert throttled == 1 + 5


def test_ec2_throttles_each_api_on_its_own_and_answers_503(account: Account) -> None:
    vpc = make_vpc("realistic")
    ec2 = account.client("ec2")
    filtered = {"Filter.1.Name": ["vpc-id"], "Filter.1.Value.1": [vpc]}
    for _ in range(limits.EC2_NON_MUTATING.capacity):  # spend the bucket without the wire
        assert account.aws.throttle.admit("ec2", "DescribeSecurityGroups", filtered)
    with pytest.raises(ClientError) as raised:
        ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    assert error(raised) == ("RequestLimitExceeded", 503, "Request limit exceeded.")
    ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])  # another API, another bucket
    account.clock.now += 1 / limits.EC2_NON_MUTATING.refill
    ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])


def test_the_tagging_api_answers_throttled_exception(account: Account) -> None:
    for _ in range(limits.TAGGING.capacity):
        assert account.aws.throttle.admit("tagging", "GetResources", {})
    with pytest.raises(ClientError) as raised:
        account.client("resourcegroupstaggingapi").get_resources()
    assert error(raised) == ("ThrottledException", 400, "Rate exceeded")


def load_balancer(account: Account, name: str = "realistic") -> tuple[str, str, str]:
    """A load balancer with an HTTP listener forwarding to a target group: their ARNs."""
    vpc = make_vpc("realistic")
    subnets = [
        s["SubnetId"] for s in clients.ec2().describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    ]
    elbv2 = account.client("elbv2")
    arn = elbv2.create_load_balancer(Name=name, Subnets=subnets[:2])["LoadBalancers"][0]["LoadBalancerArn"]
    group = elbv2.create_target_group(Name="realistic", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]
    forward = [{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}]
    listener = elbv2.create_listener(LoadBalancerArn=arn, Protocol="HTTP", Port=80, DefaultActions=forward)
    return arn, listener["Listeners"][0]["ListenerArn"], group["TargetGroupArn"]


def test_a_name_over_32_characters_is_refused(account: Account) -> None:
    with pytest.raises(ClientError) as raised:
        load_balancer(account, "a" * 33)
    assert error(raised) == (
        "ValidationError",
        400,
        f"The load balancer name '{'a' * 33}' cannot be longer than '32' characters",
    )
    load_balancer(account, "a" * 32)


def test_a_load_balancer_is_provisioning_then_active(account: Account) -> None:
    arn, _, _ = load_balancer(account)
    elbv2 = account.client("elbv2")

    def state() -> str:
        return str(elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]["State"]["Code"])

    assert state() == "provisioning"
    account.clock.now += limits.PROVISIONING_SECONDS - 1
    assert state() == "provisioning"
    account.clock.now += 1
    assert state() == "active"


def rule(elbv2: Any, listener: str, group: str, priority: int, values: list[str] | None = None) -> str:
    made = elbv2.create_rule(
        ListenerArn=listener,
        Priority=priority,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": values or [f"/{priority}"]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": group}],
    )
    return str(made["Rules"][0]["RuleArn"])


def test_a_101st_rule_on_a_load_balancer_is_refused(account: Account) -> None:
    arn, listener, group = load_balancer(account)
    elbv2 = account.client("elbv2")
    forward = [{"Type": "forward", "TargetGroupArn": group}]
    other = elbv2.create_listener(LoadBalancerArn=arn, Protocol="HTTP", Port=8080, DefaultActions=forward)
    listeners = [listener, other["Listeners"][0]["ListenerArn"]]  # counted per load balancer, not per listener
    made = []
    for priority in range(1, limits.RULES_PER_LOAD_BALANCER + 1):
        account.clock.now += 1  # CreateRule's own bucket (3 a second) keeps up
        made.append(rule(elbv2, listeners[priority % 2], group, priority))
    with pytest.raises(ClientError) as raised:
        rule(elbv2, listener, group, 101)
    assert error(raised) == ("TooManyRules", 400, "You've reached the limit on the number of rules per load balancer.")
    elbv2.delete_rule(RuleArn=made[0])  # a quota on what is there, not on what was made
    rule(elbv2, listener, group, 101)


def test_a_rule_within_aws_limits_only(account: Account) -> None:
    _, listener, group = load_balancer(account)
    elbv2 = account.client("elbv2")
    with pytest.raises(ClientError) as raised:
        rule(elbv2, listener, group, limits.MAX_PRIORITY + 1)
    assert error(raised) == (
        "ValidationError",
        400,
        "1 validation error detected: Value '50001' at 'priority' failed to satisfy constraint: "
        "Member must have value less than or equal to 50000",
    )
    rule(elbv2, listener, group, limits.MAX_PRIORITY)
    with pytest.raises(ClientError) as raised:
        rule(elbv2, listener, group, 7, [f"/{i}" for i in range(6)])
    assert error(raised) == ("ValidationError", 400, "A rule can only have '5' condition values")
    rule(elbv2, listener, group, 7, [f"/{i}" for i in range(5)])


def test_fifty_tags_and_no_more(account: Account) -> None:
    arn, _, _ = load_balancer(account)
    elbv2 = account.client("elbv2")
    elbv2.add_tags(ResourceArns=[arn], Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])  # moto alone: 10
    with pytest.raises(ClientError) as raised:
        elbv2.add_tags(ResourceArns=[arn], Tags=[{"Key": "one-more", "Value": "v"}])
    assert error(raised)[:2] == ("TooManyTags", 400)


def test_25_certificates_per_load_balancer_besides_the_defaults(account: Account) -> None:
    arn, _, group = load_balancer(account)
    elbv2 = account.client("elbv2")
    # IAM server certificates: ELBv2 takes them as ACM's, and moto makes no key for them
    certificates = [
        f"arn:aws:iam::123456789012:server-certificate/c{i}" for i in range(limits.CERTIFICATES_PER_LOAD_BALANCER + 2)
    ]
    forward = [{"Type": "forward", "TargetGroupArn": group}]
    listeners = [
        elbv2.create_listener(
            LoadBalancerArn=arn,
            Protocol="HTTPS",
            Port=port,
            Certificates=[{"CertificateArn": default}],
            DefaultActions=forward,
        )["Listeners"][0]["ListenerArn"]
        for port, default in ((443, certificates[0]), (8443, certificates[1]))
    ]
    more = [{"CertificateArn": c} for c in certificates[2:]]  # 25, counted across both listeners
    elbv2.add_listener_certificates(ListenerArn=listeners[0], Certificates=more[:13])
    elbv2.add_listener_certificates(ListenerArn=listeners[1], Certificates=more[13:])
    with pytest.raises(ClientError) as raised:  # another listener's default is one more here
        elbv2.add_listener_certificates(ListenerArn=listeners[1], Certificates=[{"CertificateArn": certificates[0]}])
    assert error(raised) == (
        "TooManyCertificates",
        400,
        "You've reached the limit on the number of certificates per load balancer.",
    )


def test_five_target_groups_per_forward_action(account: Account) -> None:
    _, listener, group = load_balancer(account)
    vpc = clients.elbv2().describe_target_groups(TargetGroupArns=[group])["TargetGroups"][0]["VpcId"]
    elbv2 = account.client("elbv2")
    groups = [group] + [
        elbv2.create_target_group(Name=f"tg{i}", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0][
            "TargetGroupArn"
        ]
        for i in range(limits.TARGET_GROUPS_PER_ACTION)
    ]

    def forward(arns: list[str]) -> None:
        config = {"TargetGroups": [{"TargetGroupArn": a, "Weight": 1} for a in arns]}
        elbv2.create_rule(
            ListenerArn=listener,
            Priority=len(arns),
            Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/weighted"]}}],
            Actions=[{"Type": "forward", "ForwardConfig": config}],
        )

    with pytest.raises(ClientError) as raised:
        forward(groups)
    assert error(raised)[:2] == ("ValidationError", 400)
    forward(groups[: limits.TARGET_GROUPS_PER_ACTION])


def test_a_harness_sets_up_without_spending_the_budget_or_waiting(account: Account) -> None:
    elbv2 = account.client("elbv2")
    with account.aws.unlimited():
        assert describes(elbv2, 50) == 50
        arn, _, _ = load_balancer(account)
    assert account.aws.throttle.tally.total("elasticloadbalancing") == 0
    assert elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]["State"]["Code"] == "active"
    assert describes(elbv2, 41) == 39  # the bucket as full as it was, less the one above


def test_an_observers_calls_are_outside_the_accounts_budget(account: Account) -> None:
    observer = boto3.client(
        "elbv2",
        endpoint_url=account.endpoint,
        config=ONCE,
        aws_access_key_id=OBSERVER_KEY,
        aws_secret_access_key="testing",  # moto's fake credentials
    )
    assert describes(observer, 50) == 50
    assert account.aws.throttle.tally.total("elasticloadbalancing") == 0
    assert describes(account.client("elbv2"), 41) == 40


def test_moto_corrections_entered_inside_the_realistic_mode_keep_both(account: Account) -> None:
    """``local_system`` enters the corrections of moto (``gaps.fill`` → ``mend_moto``)
    after the realistic mode, so they wrap its checks: both must hold. CreateLoadBalancer
    is idempotent (ELBv2 reference: the same name and settings answer with the load
    balancer made first, and it stays provisioning from its first create), and a
    listener on it is still counted against the quotas."""
    with mends.mend_moto():
        arn, listener, _ = load_balancer(account, "inside")
        elbv2 = account.client("elbv2")
        [made] = elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"]
        subnets = [zone["SubnetId"] for zone in made["AvailabilityZones"]]
        again = elbv2.create_load_balancer(Name="inside", Subnets=subnets)["LoadBalancers"][0]
        assert again["LoadBalancerArn"] == arn
        assert again["State"]["Code"] == "provisioning"
        with pytest.raises(ClientError) as raised:
            load_balancer(account, "b" * 33)
        assert error(raised)[0] == "ValidationError"
        assert elbv2.describe_listeners(ListenerArns=[listener])["Listeners"][0]["LoadBalancerArn"] == arn
