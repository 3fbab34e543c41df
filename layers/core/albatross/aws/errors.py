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
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError


class AlbatrossError(Exception):
    """Base of every error Albatross raises on purpose."""


class Throttled(AlbatrossError):
    pass


class Retryable(AlbatrossError):
    pass


class DependencyPending(AlbatrossError):
    pass


class LoadBalancerNotReady(AlbatrossError):
    pass


class UserError(AlbatrossError):
    pass


class NotFound(AlbatrossError):
    pass


class Duplicate(UserError):
    """``InvalidPermission.Duplicate``: the rule to authorize exists already."""


class PriorityInUse(AlbatrossError):
    """A rule priority is taken (a reorder that the endpoint will not do in one call)."""


class ConditionFailed(AlbatrossError):
    """A conditional write lost: someone else wrote first (state store only)."""


_THROTTLING = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}
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
_RETRYABLE = {"InternalFailure", "InternalError", "ServiceUnavailable", "Unavailable"}


def classify(error: ClientError) -> AlbatrossError:
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    message = f"{code}: {error.response.get('Error', {}).get('Message', '')}"
    if code in _THROTTLING:
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
