"""Which failures pass by themselves (ADR 0009): the error codes AWS documents for
throttling and server faults, as botocore's ``standard`` retry mode lists them, and a
connection that never answered; everything else — a refusal, a quota, a dependency, a
defect of ours — counts toward the dead-letter queue. And the backoff a record left on
a queue waits: exponential with "equal jitter" (AWS Architecture Blog, "Exponential
Backoff And Jitter"), capped."""

from __future__ import annotations

import random

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from albatross.aws.errors import (
    DependencyPending,
    LoadBalancerNotReady,
    NotFound,
    PriorityInUse,
    Retryable,
    Throttled,
    UserError,
    classify,
    transient,
)
from albatross.controller.events import MalformedEvent, QueueMessage
from albatross.controller.retries import MAX_VISIBILITY, Policy, backoff
from albatross.local.faults import aws_error


def aws(code: str, status: int = 400) -> ClientError:
    return aws_error("Op", code, "m", status)


# (service, code, HTTP status) as each service documents its throttling
THROTTLING = [
    ("elasticloadbalancing", "Throttling", 400),
    ("ec2", "RequestLimitExceeded", 503),
    ("dynamodb", "ProvisionedThroughputExceededException", 400),
    ("dynamodb", "ThrottlingException", 400),
    ("sqs", "RequestThrottled", 400),
    ("sqs", "KmsThrottled", 400),
    ("tagging", "ThrottledException", 400),
    ("states", "ThrottlingException", 400),
    ("secretsmanager", "ThrottlingException", 400),
    ("any", "SomethingNew", 429),  # 429 Too Many Requests, whatever the code
]


@pytest.mark.parametrize(("service", "code", "status"), THROTTLING)
def test_throttling_is_transient(service: str, code: str, status: int) -> None:
    assert isinstance(classify(aws(code, status)), Throttled), service
    assert transient(aws(code, status))
    assert transient(classify(aws(code, status)))


@pytest.mark.parametrize(
    ("code", "status"),
    [("InternalFailure", 500), ("ServiceUnavailable", 503), ("InternalServerError", 500), ("RequestTimeout", 400)],
)
def test_server_faults_are_transient(code: str, status: int) -> None:
    assert isinstance(classify(aws(code, status)), Retryable)
    assert transient(aws(code, status))


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="https://elasticloadbalancing.us-east-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
        ConnectTimeoutError(endpoint_url="https://sqs.us-east-1.amazonaws.com"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError(),
        Throttled("Throttling: Rate exceeded"),
        Retryable("SQS refused 1 message(s)"),
        LoadBalancerNotReady("load balancer of shop is provisioning"),
    ],
)
def test_no_answer_and_waits_are_transient(error: BaseException) -> None:
    assert transient(error)


@pytest.mark.parametrize(
    "error",
    [
        aws("TooManyRules"),  # a quota: only a change can help
        aws("LimitExceededException"),  # ACM's and Shield's quota, though botocore retries it
        aws("AccessDenied", 403),
        aws("ValidationError"),
        aws("PriorityInUse"),
        aws("DependencyViolation"),
        UserError("CertificateNotFound: no such certificate"),
        DependencyPending("ResourceInUse: target group in use by a rule we do not know"),
        PriorityInUse("PriorityInUse: Priority '3' is currently in use"),
        NotFound("TargetGroupNotFound"),
        MalformedEvent("a queue message body is a JSON object"),
        KeyError("group"),
        ValueError("invalid literal for int() with base 10: '²'"),
        RecursionError("maximum recursion depth exceeded"),
    ],
)
def test_everything_else_is_poison(error: BaseException) -> None:
    assert not transient(error)


class Edge(random.Random):
    """A jitter that always takes the least (``low``) or the most of its range."""

    def __init__(self, *, low: bool) -> None:
        super().__init__(0)
        self.low = low

    def uniform(self, a: float, b: float) -> float:
        return a if self.low else b


def test_the_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    policy = Policy(max_receives=5, first_seconds=5, cap_seconds=300)
    most = [policy.delay(n, Edge(low=False)) for n in range(1, 9)]
    least = [policy.delay(n, Edge(low=True)) for n in range(1, 9)]
    assert most == [5, 10, 20, 40, 80, 160, 300, 300]
    assert least == [3, 5, 10, 20, 40, 80, 150, 150]  # half of each, rounded up to whole seconds
    spread = {policy.delay(4, random.Random(seed)) for seed in range(50)}  # noqa: S311  # jitter, not a secret
    assert 20 <= min(spread) <= max(spread) <= 40
    assert len(spread) > 5  # records that failed together spread out


def test_the_backoff_stays_within_what_sqs_takes() -> None:
    policy = Policy(max_receives=5, first_seconds=5, cap_seconds=10**9)
    assert policy.delay(10_000, Edge(low=False)) == MAX_VISIBILITY  # ChangeMessageVisibility's most: 12 hours


@pytest.mark.parametrize(("count", "max_receives", "last"), [(1, 5, False), (4, 5, False), (5, 5, True), (6, 5, True)])
def test_the_last_receive_is_the_queues_max_receive_count(count: int, max_receives: int, last: bool) -> None:
    """SQS moves a message to the dead-letter queue when a receive would exceed
    maxReceiveCount: the receive numbered maxReceiveCount is the last one delivered."""
    message = QueueMessage(message_id="m", body="{}", sent_timestamp=0, receive_count=count)
    assert Policy(max_receives=max_receives, first_seconds=5, cap_seconds=300).last(message) is last


def test_an_unknown_max_receive_count_makes_no_receive_the_last() -> None:
    message = QueueMessage(message_id="m", body="{}", sent_timestamp=0, receive_count=99)
    assert not Policy(max_receives=0, first_seconds=5, cap_seconds=300).last(message)


@pytest.mark.parametrize(
    "error", [Throttled("the account's API budget is spent"), aws("Throttling"), aws("RequestLimitExceeded")]
)
def test_a_throttled_record_comes_back_after_the_first_step_whatever_its_receives(error: BaseException) -> None:
    """ADR 0017: a throttled record waited for the budget already; the failure backoff
    (5, 10, 20, ... s) would only keep it away from a budget that refills every second."""
    policy = Policy(max_receives=10, first_seconds=5, cap_seconds=300)
    message = QueueMessage(message_id="m", body="{}", sent_timestamp=0, receive_count=7)
    assert backoff(message, error, policy=policy, rng=Edge(low=False)) == 5
    assert backoff(message, error, policy=policy, rng=Edge(low=True)) == 3
    # any other transient failure at its 7th receive: the doubled step
    assert backoff(message, ReadTimeoutError(endpoint_url="x"), policy=policy, rng=Edge(low=False)) == 300
    assert backoff(message, KeyError("x"), policy=policy, rng=Edge(low=False)) == 300  # not its last yet
    last = QueueMessage(message_id="m", body="{}", sent_timestamp=0, receive_count=10)
    assert backoff(last, KeyError("x"), policy=policy, rng=Edge(low=False)) == 0  # poison leaving
