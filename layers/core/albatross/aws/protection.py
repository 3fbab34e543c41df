"""The load balancer settings that live behind other APIs: the WAFv2 and WAF Classic web
ACL association, Shield Advanced protection and the minimum capacity reservation.

The model states them in the load balancer's entry (``WebACLArn``, ``WafAclId``,
``ShieldProtection``, ``MinimumLoadBalancerCapacity``). A key the model leaves out is
left as it is in AWS: as LBC does since 2.8.2, an association someone else made (AWS
Firewall Manager, say) is never undone. ``none`` for a web ACL and ``false`` for Shield
mean "remove it".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from albatross.aws import clients
from albatross.aws.errors import NotFound, aws_errors
from albatross.plan.compare import protection_view as view
from albatross.plan.compare import stated_protections as stated

# What a load balancer that was just created has.
FRESH: Mapping[str, Any] = {"WebACLArn": "none", "WafAclId": "none", "ShieldProtection": False}
PROTECTION_NAME = "managed by albatross"


def _protection_id(arn: str) -> str | None:
    try:
        with aws_errors():
            return str(clients.shield().describe_protection(ResourceArn=arn)["Protection"]["Id"])
    except NotFound:
        return None


def read(arn: str, keys: Iterable[str]) -> dict[str, Any]:
    """The current value of each of ``keys`` for the load balancer ``arn``."""
    out: dict[str, Any] = {}
    wanted = set(keys)
    with aws_errors():
        if "WebACLArn" in wanted:
            acl = clients.wafv2().get_web_acl_for_resource(ResourceArn=arn).get("WebACL")
            out["WebACLArn"] = acl["ARN"] if acl else "none"
        if "WafAclId" in wanted:
            summary = clients.waf_regional().get_web_acl_for_resource(ResourceArn=arn).get("WebACLSummary")
            out["WafAclId"] = summary["WebACLId"] if summary else "none"
        if "MinimumLoadBalancerCapacity" in wanted:
            found = clients.elbv2().describe_capacity_reservation(LoadBalancerArn=arn)
            units = (found.get("MinimumLoadBalancerCapacity") or {}).get("CapacityUnits")
            out["MinimumLoadBalancerCapacity"] = {"CapacityUnits": units} if units is not None else None
    if "ShieldProtection" in wanted:
        out["ShieldProtection"] = _protection_id(arn) is not None
    return out


def apply(arn: str, desired: Mapping[str, Any], current: Mapping[str, Any]) -> int:
    """Make each setting the model states hold; returns the calls made."""
    want, have = view(desired), view(current)
    calls = 0
    with aws_errors():
        for key in stated(desired):
            if want[key] == have[key]:
                continue
            calls += 1
            if key == "WebACLArn":
                if want[key] == "none":
                    clients.wafv2().disassociate_web_acl(ResourceArn=arn)
                else:
                    clients.wafv2().associate_web_acl(WebACLArn=want[key], ResourceArn=arn)
            elif key == "WafAclId":
                if want[key] == "none":
                    clients.waf_regional().disassociate_web_acl(ResourceArn=arn)
                else:
                    clients.waf_regional().associate_web_acl(WebACLId=want[key], ResourceArn=arn)
            elif key == "ShieldProtection":
                if want[key]:
                    clients.shield().create_protection(Name=PROTECTION_NAME, ResourceArn=arn)
                else:
                    found = _protection_id(arn)
                    if found:
                        clients.shield().delete_protection(ProtectionId=found)
            else:
                clients.elbv2().modify_capacity_reservation(
                    LoadBalancerArn=arn, MinimumLoadBalancerCapacity={"CapacityUnits": int(want[key])}
                )
    return calls
