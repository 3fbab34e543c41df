"""AWS's limits as declared (``albatross.model.limits``) and counted by the realistic
local AWS: which token bucket a call draws on (ELB's throttling page: every ELBv2
Describe* shares one bucket of 40 refilled at 10 a second; EC2's: each API has its own),
how a bucket refills, and what a rule's conditions count against ALB's per-rule quotas
(a query string's key/value pair is one value; ``*`` and ``?`` are wildcards)."""

from __future__ import annotations

import pytest

from albatross.local.mends import condition_counts
from albatross.local.realistic import TokenBucket, charges, signing_name
from albatross.model import limits


def test_every_elbv2_describe_shares_one_bucket_of_40_refilled_at_10() -> None:
    keys = {limits.elbv2_bucket(a)[0] for a in ("DescribeLoadBalancers", "DescribeRules", "DescribeTargetHealth")}
    assert len(keys) == 1
    bucket = limits.elbv2_bucket("DescribeTags")[1]
    assert (bucket.capacity, bucket.refill) == (40, 10.0)


def test_registrations_share_a_bucket_and_other_mutating_actions_have_their_own() -> None:
    assert limits.elbv2_bucket("RegisterTargets")[0] == limits.elbv2_bucket("DeregisterTargets")[0]
    assert limits.elbv2_bucket("RegisterTargets")[1].refill == 4.0  # LBC's 4:20
    assert limits.elbv2_bucket("CreateRule")[0] != limits.elbv2_bucket("ModifyRule")[0]
    assert limits.elbv2_bucket("CreateRule")[0] != limits.elbv2_bucket("DescribeRules")[0]


def test_each_ec2_api_has_its_own_bucket() -> None:
    filtered = frozenset({"Filter"})
    groups = limits.ec2_bucket("DescribeSecurityGroups", filtered)
    assert groups != limits.ec2_bucket("DescribeSubnets", filtered)
    assert (groups[1].capacity, groups[1].refill) == (100, 20.0)  # the page's DescribeHosts example
    assert limits.ec2_bucket("AuthorizeSecurityGroupIngress", frozenset({"GroupId"}))[1] is limits.EC2_MUTATING
    assert limits.ec2_bucket("DescribeSecurityGroups", frozenset())[1] is limits.EC2_UNFILTERED
    assert limits.ec2_bucket("DescribeSecurityGroups", frozenset({"GroupId"}))[1] is limits.EC2_NON_MUTATING


def test_terminating_instances_draws_on_the_resource_bucket_per_instance() -> None:
    costs = charges("ec2", "TerminateInstances", {"InstanceId.1": ["i-1"], "InstanceId.2": ["i-2"]})
    assert costs is not None
    assert [(spec, count) for _, spec, count in costs] == [
        (limits.EC2_MUTATING, 1),
        (limits.EC2_RESOURCE["TerminateInstances"], 2),
    ]
    assert charges("sqs", "SendMessage", {}) is None  # no limits modelled: never throttled


def test_a_bucket_starts_full_and_refills_up_to_its_capacity() -> None:
    bucket = TokenBucket(limits.ELBV2_DESCRIBE, now=0.0)
    assert all(bucket.take(0.0) for _ in range(40))
    assert not bucket.take(0.0)
    assert bucket.take(0.1)  # one token after a tenth of a second
    assert not bucket.take(0.1)
    assert bucket.at(100.0) == 40


def test_the_service_is_the_signing_name_in_the_credential_scope() -> None:
    auth = (
        "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/elasticloadbalancing/aws4_request, SignedHeaders=host"
    )
    assert signing_name({"HTTP_AUTHORIZATION": auth}) == "elasticloadbalancing"
    assert signing_name({}) == ""


@pytest.mark.parametrize(
    ("conditions", "counts"),
    [
        # two hosts and two paths: four values, matched against the request
        (
            [
                {"Field": "host-header", "HostHeaderConfig": {"Values": ["a.example.com", "b.example.com"]}},
                {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/img/*", "/js/*"]}},
            ],
            (4, 2, 4),
        ),
        # a query string's key/value pair is one value; its wildcards count
        (
            [{"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "v*", "Value": "?"}]}}],
            (1, 2, 1),
        ),
        # the legacy Values of a host-header count as its config's do
        ([{"Field": "host-header", "Values": ["*.example.com"]}], (1, 1, 1)),
        # a method is a value, not a match evaluation
        ([{"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["GET", "HEAD"]}}], (2, 0, 0)),
    ],
)
def test_a_rules_conditions_count_against_the_per_rule_quotas(
    conditions: list[dict[str, object]], counts: tuple[int, int, int]
) -> None:
    assert condition_counts(conditions) == counts
