"""The AWS that the resource kinds' calls go through (:class:`albatross.kinds.base.Aws`,
ADR 0011): the shared clients, the one error classifier and the load balancer settings
behind other APIs. The kinds stay free of the SDK; this is what hands it to them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from albatross.aws import clients, errors, protection

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client


class Gateway:
    NotFound: type[Exception] = errors.NotFound
    PriorityInUse: type[Exception] = errors.PriorityInUse
    UserError: type[Exception] = errors.UserError

    def elbv2(self) -> ElasticLoadBalancingv2Client:
        return clients.elbv2()

    def ec2(self) -> EC2Client:
        return clients.ec2()

    def classified(self) -> AbstractContextManager[None]:
        return errors.aws_errors()

    def read_protection(self, arn: str, keys: Sequence[str]) -> dict[str, Any]:
        return protection.read(arn, keys)

    def apply_protection(self, arn: str, desired: Mapping[str, Any], current: Mapping[str, Any] | None) -> None:
        """``current`` None: a load balancer just created (it has none of them)."""
        protection.apply(arn, desired, protection.FRESH if current is None else current)


AWS = Gateway()
