"""APIs moto does not serve, answered in memory at the botocore boundary.

moto has no WAF Classic regional API (``waf-regional``) and no ELBv2
ModifyCapacityReservation. :func:`fill` answers those few calls from a ``before-call``
hook on the shared clients with the response shapes AWS documents, keeping the state
in memory, so the code paths that use them run unchanged in tests and in
``albatross local``. It also mends one moto difference: WAFv2 AssociateWebACL replaces
a resource's association in AWS, but moto keeps the old one too; the hook removes it
first (an extra call that only happens locally). And moto's CreateListener (and
AddListenerCertificates) take any certificate ARN, where AWS refuses one ACM does not
hold with ``CertificateNotFound``: the hook asks ACM (moto's) first and raises that error.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders

from albatross.aws import clients
from albatross.aws.errors import NotFound, UserError, aws_errors
from albatross.local.faults import aws_error
from albatross.local.mends import mend_moto

_ID = "albatross-moto-gaps"


class Gaps:
    def __init__(self) -> None:
        self.web_acls: dict[str, str] = {}  # load balancer ARN → WAF Classic web ACL id
        self.capacity: dict[str, int] = {}  # load balancer ARN → capacity units
        self._lock = threading.Lock()

    def answer(self, service: str, operation: str, params: dict[str, Any]) -> dict[str, Any] | None:
        with self._lock:
            if service == "waf-regional":
                arn = str(params.get("ResourceArn"))
                if operation == "AssociateWebACL":
                    self.web_acls[arn] = str(params["WebACLId"])
                    return {}
                if operation == "DisassociateWebACL":
                    self.web_acls.pop(arn, None)
                    return {}
                if operation == "GetWebACLForResource":
                    if arn not in self.web_acls:
                        return {}
                    return {"WebACLSummary": {"WebACLId": self.web_acls[arn], "Name": self.web_acls[arn]}}
            if service == "elasticloadbalancing":
                arn = str(params.get("LoadBalancerArn"))
                if operation == "ModifyCapacityReservation":
                    self.capacity[arn] = int(params["MinimumLoadBalancerCapacity"]["CapacityUnits"])
                    return self._capacity(arn)
                if operation == "DescribeCapacityReservation":
                    return self._capacity(arn)
        return None

    def _capacity(self, arn: str) -> dict[str, Any]:
        if arn not in self.capacity:
            return {}
        return {"MinimumLoadBalancerCapacity": {"CapacityUnits": self.capacity[arn]}}


_CERTIFICATE_CALLS = ("CreateListener", "ModifyListener", "AddListenerCertificates")


def check_certificates(operation: str, params: dict[str, Any]) -> None:
    """Raise AWS's ``CertificateNotFound`` for an ACM certificate ARN that ACM lacks."""
    for cert in params.get("Certificates") or []:
        arn = str(cert.get("CertificateArn", ""))
        if ":acm:" not in arn:
            continue  # IAM server certificates: not checked locally
        try:
            with aws_errors():
                clients.acm().describe_certificate(CertificateArn=arn)
        except (NotFound, UserError):
            raise aws_error(operation, "CertificateNotFound", f"Certificate '{arn}' not found") from None


@contextmanager
def fill() -> Iterator[Gaps]:
    gaps = Gaps()

    def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_ID] = dict(params)  # the call's parameters, before they are serialized

    def hook(model: Any, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        params = context.get(_ID) or {}
        if model.service_model.endpoint_prefix == "wafv2" and model.name == "AssociateWebACL":
            clients.wafv2().disassociate_web_acl(ResourceArn=params["ResourceArn"])
            return None
        if model.service_model.endpoint_prefix == "elasticloadbalancing" and model.name in _CERTIFICATE_CALLS:
            check_certificates(model.name, params)
        parsed = gaps.answer(model.service_model.endpoint_prefix, model.name, params)
        if parsed is None:
            return None
        return AWSResponse("http://127.0.0.1/", 200, HTTPHeaders(), None), {
            **parsed,
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }

    clients.add_hook("before-parameter-build.*.*", remember, unique_id=f"{_ID}-params")
    clients.add_hook("before-call.*.*", hook, unique_id=_ID)
    try:
        with mend_moto():  # and moto's own gaps in the backend rules' calls
            yield gaps
    finally:
        clients.remove_hook(_ID)
        clients.remove_hook(f"{_ID}-params")
