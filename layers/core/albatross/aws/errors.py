"""Albatross's error hierarchy and the one boundary that classifies AWS SDK errors.

Class names are a contract: the state machines match them in ``Retry``/``Catch``
``ErrorEquals`` (a test checks every name there is a class here).

* :class:`Throttled`, :class:`Retryable`: transient; botocore already retried, the
  caller may retry later.
* :class:`DependencyPending`: ``ResourceInUse`` / ``DependencyViolation``: something
  still uses the resource; the state machine retries with a bound.
* :class:`LoadBalancerNotReady`: a wait condition, retried by the state machine.
* :class:`UserError`: the input cannot work (quota, bad reference, name taken by a
  resource we do not own); never retried, reported as a Warning Event.
* :class:`NotFound`: the resource is gone (success for a delete).
* :class:`Duplicate`: the security group rule exists already. A :class:`UserError` to
  whoever did not expect it; the backend rules count it as made (a concurrent settle
  made it).

:func:`transient` says which failures pass by themselves (throttling, 5xx, a lost
connection, a load balancer not yet active): a queue retries those without limit, and
counts every other failure toward its dead-letter queue (docs/adr/0009-transient-failures-never-dead-letter.md).
The transient classes are :class:`albatross.k8s.errors.Temporary`, :class:`UserError`
is a :class:`albatross.k8s.errors.PermanentUser` (the three kinds of ADR 0010).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from albatross.k8s.errors import PermanentUser, Temporary


class AlbatrossError(Exception):
    """Base of every error Albatross raises on purpose."""


class Throttled(AlbatrossError, Temporary):
    pass


class Retryable(AlbatrossError, Temporary):
    pass


class DependencyPending(AlbatrossError):
    pass


class LoadBalancerNotReady(AlbatrossError, Temporary):
    pass


class UserError(AlbatrossError, PermanentUser):
    pass


class NotFound(AlbatrossError):
    pass


class Duplicate(UserError):
    """``InvalidPermission.Duplicate``: the rule to authorize exists already."""


class PriorityInUse(AlbatrossError):
    """A rule priority is taken (a reorder that the endpoint will not do in one call)."""


class ConditionFailed(AlbatrossError):
    """A conditional write lost: someone else wrote first (state store only)."""


# botocore's own list of throttling codes (retries/standard.py) but LimitExceededException,
# which is a quota in several services (ACM, Shield): a quota does not pass by itself.
_THROTTLING = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",  # the tagging API
    "RequestThrottledException",
    "RequestThrottled",  # SQS
    "KmsThrottled",  # SQS, when KMS throttles it
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",  # DynamoDB
    "TransactionInProgressException",  # DynamoDB
    "RequestLimitExceeded",  # EC2
    "EC2ThrottledException",
    "BandwidthLimitExceeded",
    "SlowDown",  # S3
}
_DEPENDENCY = {"ResourceInUse", "DependencyViolation"}
_NOT_FOUND = {
    "LoadBalancerNotFound",
    "TargetGroupNotFound",
    "ListenerNotFound",
    "RuleNotFound",
    "InvalidGroup.NotFound",
    "InvalidGroupId.NotFound",
    "InvalidPermission.NotFound",
    "InvalidSecurityGroupRuleId.NotFound",  # revoked meanwhile
    "ResourceNotFoundException",  # Shield: no protection for the resource
}
_RETRYABLE = {
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    "Unavailable",
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
}


def classify(error: ClientError) -> AlbatrossError:
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    message = f"{code}: {error.response.get('Error', {}).get('Message', '')}"
    if code in _THROTTLING or status == 429:  # 429 Too Many Requests, whatever the code
        return Throttled(message)
    if code in _DEPENDENCY:
        return DependencyPending(message)
    if code == "PriorityInUse":
        return PriorityInUse(message)
    if code == "ConditionalCheckFailedException":
        return ConditionFailed(message)
    if code in _NOT_FOUND:
        return NotFound(message)
    if code == "InvalidPermission.Duplicate":
        return Duplicate(message)
    if code in _RETRYABLE or status >= 500:
        return Retryable(message)
    return UserError(message)


@contextmanager
def aws_errors() -> Iterator[None]:
    """Wrap AWS calls: every ClientError leaves as one of our classes."""
    try:
        yield
    except ClientError as e:
        raise classify(e) from e


# Passes by itself: a later attempt of the same request may succeed with nothing changed.
_TRANSIENT = (Temporary,)  # Throttled, Retryable, LoadBalancerNotReady
# No answer at all: the connection failed, closed or timed out (botocore retried already).
_NO_ANSWER = (BotocoreConnectionError, HTTPClientError, ConnectionError, TimeoutError)


def throttled(error: BaseException) -> bool:
    """Whether ``error`` is throttling: AWS's (after botocore's own retries) or the
    account budget's (a call that found no token before its deadline)."""
    if isinstance(error, ClientError):
        error = classify(error)
    return isinstance(error, Throttled)


def transient(error: BaseException) -> bool:
    """Whether ``error`` passes by itself (throttling, 5xx, no answer, a load balancer not
    yet active), as opposed to one our code meets again on the same input: a defect, a
    refusal, a dependency that something outside holds. An AWS error that was not
    classified yet (raised outside :func:`aws_errors`) is classified here."""
    if isinstance(error, ClientError):
        error = classify(error)
    return isinstance(error, _TRANSIENT + _NO_ANSWER)
