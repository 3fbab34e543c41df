"""AWS's limits that Albatross lives within, each figure with where it is written.

One declaration for the controller (which plans around some of them: the name length, the
rule priorities) and for the local AWS's realistic mode (:mod:`albatross.local.realistic`,
which enforces them all where moto is lenient). Pure data, no SDK: every layer may read it.

Sources, named beside each figure:

* **ALB quotas**: ELB's "Quotas for your Application Load Balancers" page
  (docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html).
* **ELBv2 API**: the ELB API reference (CreateLoadBalancer, CreateRule, its error list).
* **ELB throttling**: ELB's "Request throttling for the ELB API" page
  (docs.aws.amazon.com/elasticloadbalancing/latest/userguide/elb-api-throttling.html).
* **EC2 throttling**: "Request throttling for the Amazon EC2 API"
  (docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html).
* **LBC**: the AWS Load Balancer Controller's client-side throttle defaults
  (``--aws-api-throttle``, its docs' "configurations" page), where AWS's page is silent
  or its table could not be read.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- Validation and quotas (ELBv2) ---------------------------------------------------

# ELBv2 API, CreateLoadBalancer Name: "a maximum of 32 characters, must contain only
# alphanumeric characters or hyphens, must not begin or end with a hyphen"
LOAD_BALANCER_NAME = 32
# ELBv2 API, CreateTargetGroup Name: the same 32 characters (moto enforces this one)
TARGET_GROUP_NAME = 32
# ALB quotas: "Rules per Application Load Balancer (not counting default rules): 100"
RULES_PER_LOAD_BALANCER = 100
# ALB quotas: "Condition values per rule: 5"
CONDITION_VALUES_PER_RULE = 5
# ALB quotas: "Condition wildcards per rule: 5"
WILDCARDS_PER_RULE = 5
# ALB quotas: "Match evaluations per rule: 5"
MATCH_EVALUATIONS_PER_RULE = 5
# ELBv2 API, CreateRule Priority: "Valid Range: Minimum value of 1. Maximum value of 50000."
MIN_PRIORITY, MAX_PRIORITY = 1, 50000
# ALB quotas: "Certificates per Application Load Balancer (not counting default certificates): 25"
CERTIFICATES_PER_LOAD_BALANCER = 25
# ELBv2 API, AddTags: "Each resource can have a maximum of 50 tags"
TAGS_PER_RESOURCE = 50
# ALB quotas: "Target groups per action: 5"
TARGET_GROUPS_PER_ACTION = 5
# ALB quotas: "Target groups per Application Load Balancer: 100"
TARGET_GROUPS_PER_LOAD_BALANCER = 100
# ALB quotas: "Listeners per Application Load Balancer: 50"
LISTENERS_PER_LOAD_BALANCER = 50
# ALB quotas: "Targets per Target Group per Region (instances or IP addresses): 1,000" and
# "Targets per Application Load Balancer: 1,000". RegisterTargets and DeregisterTargets
# document no limit of their own per call (ELBv2 API): one call may carry a target
# group's every target.
TARGETS_PER_TARGET_GROUP = 1000
TARGETS_PER_LOAD_BALANCER = 1000

# How long a new load balancer stays ``provisioning`` before ``active``. AWS publishes no
# figure; ALBs commonly take a few minutes. Only the realistic local AWS uses it (scaled).
PROVISIONING_SECONDS = 180.0


# --- API request rates (token buckets, per account and Region) ------------------------


@dataclass(frozen=True)
class Bucket:
    """A token bucket: ``capacity`` tokens at most (the burst), ``refill`` added per second."""

    capacity: int
    refill: float
    source: str


# ELB throttling: "the token bucket size for non-mutating API actions is 40 tokens ... the
# refill rate is 10 tokens per second"; every Describe* of ELB API version 2 shares it.
ELBV2_DESCRIBE = Bucket(40, 10.0, "ELB throttling: non-mutating (Describe*) 40, refill 10/s")
# LBC's default client throttle, "Elastic Load Balancing v2:^RegisterTargets|^DeregisterTargets=4:20":
# the ELB page's table of mutating actions is not in the stored copy we could read.
ELBV2_REGISTER = Bucket(20, 4.0, "LBC default: RegisterTargets|DeregisterTargets 4/s, burst 20")
# Every other mutating action, each its own bucket: issue 16's figure (3/s, burst 20),
# under LBC's catch-all of 10/s, burst 40 for the whole API.
ELBV2_MUTATING = Bucket(20, 3.0, "issue 16: other mutating actions 3/s, burst 20")

# EC2 throttling: "each API is evaluated individually"; "the token bucket size for
# DescribeHosts, a non-mutating API action, is 100 tokens ... refill rate is 20 tokens per second".
EC2_NON_MUTATING = Bucket(100, 20.0, "EC2 throttling: non-mutating 100, refill 20/s")
# EC2 throttling's table: a Describe* with no filter, no IDs and no pagination draws on a
# smaller bucket; mutating actions on a larger one, refilled more slowly (the table's
# figures as we read them; the stored copy's excerpt stops before the table).
EC2_UNFILTERED = Bucket(50, 10.0, "EC2 throttling: unfiltered and unpaginated non-mutating 50, refill 10/s")
EC2_MUTATING = Bucket(200, 10.0, "EC2 throttling: mutating 200, refill 10/s")
# EC2 throttling's resource rate limiting: a bucket of instances per action, for the
# actions that start or stop instances (Albatross calls none of them).
EC2_RESOURCE = {
    "RunInstances": Bucket(1000, 2.0, "EC2 throttling: RunInstances 1000 instances, refill 2/s"),
    "TerminateInstances": Bucket(1000, 20.0, "EC2 throttling: TerminateInstances 1000 instances, refill 20/s"),
    "StartInstances": Bucket(1000, 2.0, "EC2 throttling: StartInstances 1000 instances, refill 2/s"),
    "StopInstances": Bucket(1000, 20.0, "EC2 throttling: StopInstances 1000 instances, refill 20/s"),
}

# The Resource Groups Tagging API: AWS publishes no rate we could find; ELB's
# non-mutating figure stands in for GetResources and the rest, one bucket per action.
TAGGING = Bucket(40, 10.0, "assumed: no published figure; ELB's non-mutating 40, refill 10/s")

# --- Albatross's own use of them -----------------------------------------------------

# The share of ELBV2_DESCRIBE's refill the drift sweep's per-group re-reads may use over
# one schedule period (ADR 0015): issue 16 allows Albatross 5 % at steady state, and the
# bulk pages and the reconciles events cause need the rest.
DRIFT_DESCRIBE_SHARE = 0.03
# The Describe* calls one group's full re-read costs: 6.4 measured (scale-steady-state,
# docs/performance.md), rounded up.
FULL_READ_DESCRIBES = 7

_MUTATING_PREFIXES = (
    "Create",
    "Delete",
    "Modify",
    "Register",
    "Deregister",
    "Set",
    "Add",
    "Remove",
    "Authorize",
    "Revoke",
    "Associate",
    "Disassociate",
    "Attach",
    "Detach",
    "Replace",
    "Run",
    "Terminate",
    "Start",
    "Stop",
)


def mutating(action: str) -> bool:
    """Whether an API action changes something (by its verb, as AWS's pages group them)."""
    return action.startswith(_MUTATING_PREFIXES)


def elbv2_bucket(action: str) -> tuple[str, Bucket]:
    """The bucket an ELBv2 action draws on, and its key (shared buckets share a key)."""
    if action in ("RegisterTargets", "DeregisterTargets"):
        return "RegisterTargets|DeregisterTargets", ELBV2_REGISTER
    if mutating(action):
        return action, ELBV2_MUTATING
    return "Describe*", ELBV2_DESCRIBE


def ec2_bucket(action: str, params: frozenset[str]) -> tuple[str, Bucket]:
    """The request-rate bucket of an EC2 action (one per API); ``params`` are the names
    of the request's parameters, without their ``.N`` indexes."""
    if mutating(action):
        return action, EC2_MUTATING
    if action.startswith("Describe") and not params & {"Filter", "MaxResults", "NextToken"} and not _ids(params):
        return f"{action} (unfiltered)", EC2_UNFILTERED
    return action, EC2_NON_MUTATING


def _ids(params: frozenset[str]) -> bool:
    return any(p.endswith(("Id", "Ids", "Name", "Names")) for p in params)
