"""Find what exists: a stack's resources by ownership tags only, and the subnets facts
the model needs.

A stack is found with one Resource Groups Tagging API query on the cluster and stack
tags; listeners and rules are read under the stack's load balancer. Resources without
our tags are never returned, so they are never modified or deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from albatross.aws import clients
from albatross.aws.errors import aws_errors
from albatross.model.discovery import Discovery
from albatross.model.names import TAG_RESOURCE, TAG_STACK, owned_by
from albatross.model.stack import LISTENER, LISTENER_RULE, LOAD_BALANCER, SECURITY_GROUP, TARGET_GROUP
from albatross.plan.actual import Actual, ActualResource
from albatross.plan.compare import HEALTH_FIELDS

_TYPE_FILTERS = ["elasticloadbalancing:loadbalancer", "elasticloadbalancing:targetgroup", "ec2:security-group"]


def _tags(items: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in items}


def stack_arns(*, cluster: str, stack_id: str) -> dict[str, str]:
    """ARN → resource id of every resource tagged for the stack: one query on the stack
    tag, kept when the cluster tag (current or legacy key) names this cluster."""
    out: dict[str, str] = {}
    with aws_errors():
        pages = (
            clients.tagging()
            .get_paginator("get_resources")
            .paginate(TagFilters=[{"Key": TAG_STACK, "Values": [stack_id]}], ResourceTypeFilters=_TYPE_FILTERS)
        )
        for page in pages:
            for item in page.get("ResourceTagMappingList", []):
                tags = _tags(item.get("Tags", []))
                if TAG_RESOURCE in tags and owned_by(tags, cluster=cluster, stack=stack_id):
                    out[item["ResourceARN"]] = tags[TAG_RESOURCE]
    return out


def _load_balancer(arn: str, rid: str) -> list[ActualResource]:
    elbv2 = clients.elbv2()
    with aws_errors():
        found = elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"]
    out: list[ActualResource] = []
    for lb in found:
        out.append(
            ActualResource(
                id=rid,
                type=LOAD_BALANCER,
                physical_id=lb["LoadBalancerArn"],
                properties={
                    "Name": lb["LoadBalancerName"],
                    "Scheme": lb.get("Scheme"),
                    "Type": lb.get("Type"),
                    "IpAddressType": lb.get("IpAddressType"),
                    "Subnets": sorted(z["SubnetId"] for z in lb.get("AvailabilityZones", []) if "SubnetId" in z),
                    "SecurityGroups": sorted(lb.get("SecurityGroups", [])),
                    "DNSName": lb.get("DNSName"),
                    "State": (lb.get("State") or {}).get("Code"),
                },
            )
        )
        with aws_errors():
            listeners = elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=lb["LoadBalancerArn"])
            for page in listeners:
                for listener in page["Listeners"]:
                    out.extend(_listener(listener))
    return out


def _listener(listener: Mapping[str, Any]) -> list[ActualResource]:
    port = int(listener["Port"])
    out = [
        ActualResource(
            id=str(port),
            type=LISTENER,
            physical_id=listener["ListenerArn"],
            properties={
                "Port": port,
                "Protocol": listener.get("Protocol"),
                "DefaultActions": listener.get("DefaultActions", []),
                "Certificates": listener.get("Certificates", []),
                "SslPolicy": listener.get("SslPolicy"),
            },
        )
    ]
    with aws_errors():
        pages = clients.elbv2().get_paginator("describe_rules").paginate(ListenerArn=listener["ListenerArn"])
        for page in pages:
            for rule in page["Rules"]:
                if rule.get("IsDefault"):
                    continue
                priority = int(rule["Priority"])
                out.append(
                    ActualResource(
                        id=f"{port}:{priority}",
                        type=LISTENER_RULE,
                        physical_id=rule["RuleArn"],
                        properties={
                            "Priority": priority,
                            "Conditions": rule.get("Conditions", []),
                            "Actions": rule.get("Actions", []),
                        },
                    )
                )
    return out


def _target_groups(arns: Mapping[str, str]) -> list[ActualResource]:
    if not arns:
        return []
    with aws_errors():
        found = clients.elbv2().describe_target_groups(TargetGroupArns=list(arns))["TargetGroups"]
    keep = ("Protocol", "ProtocolVersion", "Port", "TargetType", "VpcId", "IpAddressType", *HEALTH_FIELDS)
    return [
        ActualResource(
            id=arns[tg["TargetGroupArn"]],
            type=TARGET_GROUP,
            physical_id=tg["TargetGroupArn"],
            properties={"Name": tg["TargetGroupName"], **{k: tg.get(k) for k in keep if k in tg}},
        )
        for tg in found
    ]


def _security_groups(arns: Mapping[str, str]) -> list[ActualResource]:
    ids = {arn.rsplit("/", 1)[-1]: rid for arn, rid in arns.items()}
    if not ids:
        return []
    with aws_errors():
        found = clients.ec2().describe_security_groups(GroupIds=list(ids))["SecurityGroups"]
    return [
        ActualResource(
            id=ids[sg["GroupId"]],
            type=SECURITY_GROUP,
            physical_id=sg["GroupId"],
            properties={
                "GroupName": sg["GroupName"],
                "VpcId": sg.get("VpcId"),
                "IpPermissions": sg.get("IpPermissions", []),
            },
        )
        for sg in found
    ]


def _with_attributes(res: ActualResource) -> ActualResource:
    elbv2 = clients.elbv2()
    with aws_errors():
        if res.type == LOAD_BALANCER:
            found = elbv2.describe_load_balancer_attributes(LoadBalancerArn=res.physical_id)["Attributes"]
        else:
            found = elbv2.describe_target_group_attributes(TargetGroupArn=res.physical_id)["Attributes"]
    return ActualResource(
        id=res.id, type=res.type, physical_id=res.physical_id, properties={**res.properties, "Attributes": found}
    )


def with_attributes(actual: Actual, ids: frozenset[str]) -> Actual:
    """``actual`` with the attributes of the named load balancer and target groups."""
    return Actual(
        resources=tuple(
            _with_attributes(r) if r.id in ids and r.type in (LOAD_BALANCER, TARGET_GROUP) else r
            for r in actual.resources
        )
    )


def existing_load_balancers(actual: Actual, stack_id: str) -> tuple[dict[str, Any], ...]:
    """The stack's load balancer in the shape the model's discovery facts use."""
    return tuple(
        {
            "stack": stack_id,
            "LoadBalancer": {
                "Scheme": r.properties.get("Scheme"),
                "AvailabilityZones": [{"SubnetId": sid} for sid in r.properties.get("Subnets") or ()],
            },
        }
        for r in actual.of_type(LOAD_BALANCER)
    )


def find_stack(*, cluster: str, stack_id: str, attributes_of: frozenset[str] = frozenset()) -> Actual:
    """The stack's resources by tags; ``attributes_of`` names the load balancer and target
    groups whose attributes the desired model sets (the only ones worth reading)."""
    arns = stack_arns(cluster=cluster, stack_id=stack_id)
    resources: list[ActualResource] = []
    for arn, rid in arns.items():
        if ":loadbalancer/" in arn:
            resources.extend(_load_balancer(arn, rid))
    resources.extend(_target_groups({a: r for a, r in arns.items() if ":targetgroup/" in a}))
    resources.extend(_security_groups({a: r for a, r in arns.items() if ":security-group/" in a}))
    return with_attributes(Actual(resources=tuple(resources)), attributes_of)


def certificates() -> list[Mapping[str, Any]]:
    """Issued ACM certificates with their names, for discovery by host."""
    out: list[Mapping[str, Any]] = []
    acm = clients.acm()
    with aws_errors():
        for page in acm.get_paginator("list_certificates").paginate(CertificateStatuses=["ISSUED"]):
            for cert in page["CertificateSummaryList"]:
                names = list(cert.get("SubjectAlternativeNameSummaries") or [])
                if not names:
                    detail = acm.describe_certificate(CertificateArn=cert["CertificateArn"])["Certificate"]
                    names = list(detail.get("SubjectAlternativeNames") or [])
                out.append(
                    {
                        "CertificateArn": cert["CertificateArn"],
                        "DomainName": cert.get("DomainName", ""),
                        "SubjectAlternativeNames": names,
                        "Status": "ISSUED",
                    }
                )
    return out


def web_acls() -> list[Mapping[str, Any]]:
    """Regional WAFv2 web ACLs (name and ARN), for wafv2-acl-name."""
    out: list[Mapping[str, Any]] = []
    marker: str | None = None
    with aws_errors():
        while True:
            kwargs: dict[str, Any] = {"Scope": "REGIONAL", **({"NextMarker": marker} if marker else {})}
            page = clients.wafv2().list_web_acls(**kwargs)
            out += [{"Name": a["Name"], "ARN": a["ARN"]} for a in page.get("WebACLs", [])]
            marker = page.get("NextMarker")
            if not marker:
                return out


def discover(
    *,
    vpc_id: str,
    with_certificates: bool = False,
    existing: tuple[dict[str, Any], ...] = (),
    with_web_acls: bool = False,
) -> Discovery:
    """The subnets of the cluster's VPC, as DescribeSubnets returns them, and the issued
    certificates when some Ingress needs certificates discovered."""
    subnets: list[Mapping[str, Any]] = []
    with aws_errors():
        pages = (
            clients.ec2().get_paginator("describe_subnets").paginate(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
        )
        for page in pages:
            subnets.extend(dict(s) for s in page["Subnets"])
    return Discovery(
        subnets=tuple(subnets),
        certificates=tuple(certificates()) if with_certificates else (),
        existing_load_balancers=existing,
        web_acls=tuple(web_acls()) if with_web_acls else (),
    )
