"""Execute planned steps with boto3, one call sequence per step.

Every step is idempotent given fresh discovery: creates carry the ownership tags in
the create call itself, so a resource created just before a crash is found by tags on
the next run and not created twice; deleting what is already gone is success.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from albatross.aws import clients, protection, secrets
from albatross.aws.errors import NotFound, PriorityInUse, UserError, aws_errors
from albatross.model.names import TAG_CLUSTER, TAG_STACK, owned_by
from albatross.model.stack import LISTENER, LISTENER_RULE, LOAD_BALANCER, SECURITY_GROUP, TARGET_GROUP
from albatross.plan.compare import (
    HEALTH_FIELDS,
    PROTECTION_KEYS,
    attributes_differ,
    certificate_sets,
    mutable_view,
    permissions,
    tag_changes,
)
from albatross.plan.planner import Step, resolve


def _unresolved(value: Any) -> bool:
    if isinstance(value, Mapping):
        if "$secret" in value:
            raise UserError(
                f"OIDC client credentials of Secret {value['$secret']} name no Secrets Manager copy "
                "(a model saved before the copy was known); the next reconcile resolves it"
            )
        return "$ref" in value or any(_unresolved(v) for v in value.values())
    if isinstance(value, list):
        return any(_unresolved(v) for v in value)
    return False


def _props(step: Step, physical: Mapping[str, str]) -> dict[str, Any]:
    assert step.desired is not None
    # OIDC client credentials: read from Secrets Manager for this call only (ADR 0005)
    props = secrets.materialize(resolve(dict(step.desired.properties), physical))
    if _unresolved(props):
        raise UserError(f"{step.describe()}: refers to a resource that does not exist yet")
    return dict(props)


def _as_permissions(items: set[tuple[str, int, int, str]]) -> list[Any]:
    out: list[Any] = []
    for proto, low, high, cidr in sorted(items):
        if cidr.startswith("pl-"):
            ranges: dict[str, Any] = {"PrefixListIds": [{"PrefixListId": cidr}]}
        elif ":" in cidr:
            ranges = {"Ipv6Ranges": [{"CidrIpv6": cidr}]}
        else:
            ranges = {"IpRanges": [{"CidrIp": cidr}]}
        out.append({"IpProtocol": proto, "FromPort": low, "ToPort": high, **ranges})
    return out


def _set_attributes(step: Step, arn: str, attributes: list[dict[str, str]]) -> None:
    if not attributes:
        return
    if step.type == LOAD_BALANCER:
        clients.elbv2().modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=attributes)  # type: ignore[arg-type]  # Key/Value dicts
    else:
        clients.elbv2().modify_target_group_attributes(TargetGroupArn=arn, Attributes=attributes)  # type: ignore[arg-type]  # Key/Value dicts


def _listener_call(props: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """A listener's create/modify arguments (only the default certificate goes there) and
    the SNI certificates that follow with AddListenerCertificates."""
    certificates = props.pop("Certificates", None) or []
    if certificates:
        props["Certificates"] = certificates[:1]
    return props, certificates[1:]


# Model properties that are not parameters of the create call: applied by their own
# calls once the load balancer exists (albatross.aws.protection).
_NOT_CREATE_PARAMS = PROTECTION_KEYS


def _tag_dict(tags: Any) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags or ()}


def _named(step: Step, props: Mapping[str, Any]) -> tuple[str, dict[str, str]] | None:
    """The resource that already carries this step's name, with its tags, if any."""
    elbv2 = clients.elbv2()
    with aws_errors():
        if step.type == SECURITY_GROUP:
            filters = [
                {"Name": "group-name", "Values": [props["GroupName"]]},
                {"Name": "vpc-id", "Values": [props["VpcId"]]},
            ]
            found = clients.ec2().describe_security_groups(Filters=filters)["SecurityGroups"]  # type: ignore[arg-type]  # filter dicts
            return (found[0]["GroupId"], _tag_dict(found[0].get("Tags"))) if found else None
    try:
        with aws_errors():
            if step.type == TARGET_GROUP:
                arn = elbv2.describe_target_groups(Names=[props["Name"]])["TargetGroups"][0]["TargetGroupArn"]
            else:
                arn = elbv2.describe_load_balancers(Names=[props["Name"]])["LoadBalancers"][0]["LoadBalancerArn"]
    except NotFound:
        return None
    with aws_errors():
        return arn, _tag_dict(elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0].get("Tags"))


def _adopt(step: Step, props: Mapping[str, Any]) -> str | None:
    """Names are unique per account and region (per VPC for security groups). A resource
    that already has this step's name and our cluster and stack tags is ours (the tagging
    API had not shown it yet): use it. One that lacks them is not ours: never touch it."""
    existing = _named(step, props)
    if existing is None:
        return None
    physical_id, tags = existing
    wanted = _tag_dict(props.get("Tags"))
    if owned_by(tags, cluster=wanted.get(TAG_CLUSTER, ""), stack=wanted.get(TAG_STACK, "")):
        return physical_id
    name = props.get("Name") or props.get("GroupName")
    raise UserError(
        f"a {step.type.rsplit('::', 1)[-1]} named {name} already exists and does not belong to this stack "
        f"({TAG_CLUSTER}={tags.get(TAG_CLUSTER)!r}, {TAG_STACK}={tags.get(TAG_STACK)!r}); Albatross leaves it alone"
    )


def _create(step: Step, physical: Mapping[str, str]) -> str:
    props = _props(step, physical)
    extras = {key: props.pop(key) for key in _NOT_CREATE_PARAMS if key in props}
    if step.type in (TARGET_GROUP, LOAD_BALANCER, SECURITY_GROUP):
        adopted = _adopt(step, props)
        if adopted is not None:
            return adopted
    elbv2, ec2 = clients.elbv2(), clients.ec2()
    if step.type == SECURITY_GROUP:
        perms = props.pop("IpPermissions")
        tags = props.pop("Tags")
        group_id = ec2.create_security_group(
            **props, TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}]
        )["GroupId"]
        if perms:
            ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=perms)
        return group_id
    if step.type in (TARGET_GROUP, LOAD_BALANCER):
        attributes = props.pop("Attributes", [])
        if step.type == TARGET_GROUP:
            arn = elbv2.create_target_group(**props)["TargetGroups"][0]["TargetGroupArn"]
        else:
            arn = elbv2.create_load_balancer(**props)["LoadBalancers"][0]["LoadBalancerArn"]
        _set_attributes(step, arn, attributes)
        if extras:
            protection.apply(arn, extras, protection.FRESH)
        return arn
    if step.type == LISTENER:
        attributes = props.pop("Attributes", [])
        call, sni = _listener_call(props)
        arn = elbv2.create_listener(**call)["Listeners"][0]["ListenerArn"]
        if attributes:
            elbv2.modify_listener_attributes(ListenerArn=arn, Attributes=attributes)
        if sni:
            elbv2.add_listener_certificates(ListenerArn=arn, Certificates=sni)  # type: ignore[arg-type]  # CertificateArn dicts
        return arn
    if step.type == LISTENER_RULE:
        return elbv2.create_rule(**props)["Rules"][0]["RuleArn"]
    raise ValueError(step.type)


def _sync_sni(arn: str, props: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    """Add and remove SNI certificates so the listener holds exactly the model's."""
    if props.get("Protocol") != "HTTPS":
        return
    _, want = certificate_sets(props)
    _, have = certificate_sets(current)
    elbv2 = clients.elbv2()
    if want - have:
        elbv2.add_listener_certificates(
            ListenerArn=arn, Certificates=[{"CertificateArn": c} for c in sorted(want - have)]
        )
    if have - want:
        elbv2.remove_listener_certificates(
            ListenerArn=arn, Certificates=[{"CertificateArn": c} for c in sorted(have - want)]
        )


def _update(step: Step, physical: Mapping[str, str]) -> None:
    assert step.actual is not None
    props = _props(step, physical)
    arn = step.actual.physical_id
    elbv2, ec2 = clients.elbv2(), clients.ec2()
    if step.type == SECURITY_GROUP:
        want, have = set(permissions(props)), set(permissions(step.actual.properties))
        if want - have:
            ec2.authorize_security_group_ingress(GroupId=arn, IpPermissions=_as_permissions(want - have))
        if have - want:
            ec2.revoke_security_group_ingress(GroupId=arn, IpPermissions=_as_permissions(have - want))
    elif step.type == TARGET_GROUP:
        current = step.actual.properties
        if any(props.get(k) != current.get(k) for k in HEALTH_FIELDS):
            elbv2.modify_target_group(TargetGroupArn=arn, **{k: props[k] for k in HEALTH_FIELDS if k in props})
        if attributes_differ(props, current):
            _set_attributes(step, arn, props.get("Attributes") or [])
    elif step.type == LOAD_BALANCER:
        current = step.actual.properties
        if attributes_differ(props, current):
            _set_attributes(step, arn, props.get("Attributes") or [])
        if props.get("IpAddressType") != current.get("IpAddressType"):
            elbv2.set_ip_address_type(LoadBalancerArn=arn, IpAddressType=props["IpAddressType"])
        if sorted(props["Subnets"]) != sorted(current.get("Subnets") or ()):
            elbv2.set_subnets(LoadBalancerArn=arn, Subnets=props["Subnets"])
        if sorted(props["SecurityGroups"]) != sorted(current.get("SecurityGroups") or ()):
            elbv2.set_security_groups(LoadBalancerArn=arn, SecurityGroups=props["SecurityGroups"])
        protection.apply(arn, props, current)
    elif step.type == LISTENER:
        current = step.actual.properties
        if mutable_view(LISTENER, {**props, "Certificates": props.get("Certificates", [])[:1]}) != mutable_view(
            LISTENER, {**current, "Certificates": list(current.get("Certificates") or [])[:1]}
        ):
            call, _ = _listener_call(dict(props))
            keep = ("Protocol", "DefaultActions", "Certificates", "SslPolicy", "MutualAuthentication")
            elbv2.modify_listener(ListenerArn=arn, **{k: v for k, v in call.items() if k in keep})
        if attributes_differ(props, current):
            elbv2.modify_listener_attributes(ListenerArn=arn, Attributes=props["Attributes"])
        _sync_sni(arn, props, current)
    elif step.type == LISTENER_RULE:
        if mutable_view(LISTENER_RULE, props) != mutable_view(LISTENER_RULE, step.actual.properties):
            elbv2.modify_rule(RuleArn=arn, Conditions=props["Conditions"], Actions=props["Actions"])
    else:
        raise ValueError(step.type)
    _sync_tags(step, arn, props)


def _sync_tags(step: Step, arn: str, props: Mapping[str, Any]) -> None:
    assert step.actual is not None
    put, remove = tag_changes(props, step.actual.properties, step.previous.properties if step.previous else None)
    if step.type == SECURITY_GROUP:
        if put:
            clients.ec2().create_tags(Resources=[arn], Tags=[{"Key": k, "Value": v} for k, v in sorted(put.items())])
        if remove:
            clients.ec2().delete_tags(Resources=[arn], Tags=[{"Key": k} for k in remove])
        return
    if put:
        clients.elbv2().add_tags(ResourceArns=[arn], Tags=[{"Key": k, "Value": v} for k, v in sorted(put.items())])
    if remove:
        clients.elbv2().remove_tags(ResourceArns=[arn], TagKeys=remove)


_PROTECTION = "deletion_protection.enabled"


def deletion_protected(arn: str) -> bool:
    """Whether the load balancer has deletion protection on in AWS (one read)."""
    with aws_errors():
        attributes = clients.elbv2().describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    return any(a.get("Key") == _PROTECTION and a.get("Value") == "true" for a in attributes)


def lift_deletion_protection(arn: str) -> None:
    """Turn deletion protection off: only when the user asked for it (the reconcile's
    decision, :mod:`albatross.plan.protection`), never as part of a delete."""
    with aws_errors():
        clients.elbv2().modify_load_balancer_attributes(
            LoadBalancerArn=arn, Attributes=[{"Key": _PROTECTION, "Value": "false"}]
        )


def _refuse_if_protected(step: Step, arn: str) -> None:
    """The last guard: the reconcile refuses a plan that would delete a protected load
    balancer before anything runs, but protection may have been turned on since (by hand,
    between two phases of an execution). Never lifted here: the step fails instead."""
    if not deletion_protected(arn):
        return
    what = "the group is deleted" if step.group_deleted else "a new load balancer replaces it"
    raise UserError(
        f"load balancer {arn.rsplit('/', 2)[-2]} has deletion protection enabled ({what}); Albatross never turns it "
        f"off by itself: set {_PROTECTION}=false in the load-balancer-attributes annotation, or turn it off in AWS"
    )


def _delete(step: Step) -> None:
    assert step.actual is not None
    arn = step.actual.physical_id
    elbv2 = clients.elbv2()
    if step.type == SECURITY_GROUP:
        clients.ec2().delete_security_group(GroupId=arn)
    elif step.type == TARGET_GROUP:
        elbv2.delete_target_group(TargetGroupArn=arn)
    elif step.type == LOAD_BALANCER:
        _refuse_if_protected(step, arn)
        elbv2.delete_load_balancer(LoadBalancerArn=arn)
    elif step.type == LISTENER:
        elbv2.delete_listener(ListenerArn=arn)
    elif step.type == LISTENER_RULE:
        elbv2.delete_rule(RuleArn=arn)
    else:
        raise ValueError(step.type)


def _reorder(step: Step) -> None:
    """One SetRulePriorities for the listener, as AWS applies a batch (swaps included)
    at once. An endpoint that checks each priority against the current ones (moto does)
    refuses a swap: then the batch's rules are parked after all priorities first."""
    assert step.desired is not None
    priorities = list(step.desired.properties["RulePriorities"])
    elbv2 = clients.elbv2()
    try:
        with aws_errors():
            elbv2.set_rule_priorities(RulePriorities=priorities)
    except PriorityInUse:
        park = 50000 - len(priorities)
        with aws_errors():
            elbv2.set_rule_priorities(
                RulePriorities=[{"RuleArn": p["RuleArn"], "Priority": park + i} for i, p in enumerate(priorities)]
            )
            elbv2.set_rule_priorities(RulePriorities=priorities)


def apply(step: Step, physical: MutableMapping[str, str]) -> None:
    """Run one step; a create records the new physical id in ``physical``."""
    if step.op == "reorder":
        _reorder(step)
        return
    try:
        with aws_errors():
            if step.op == "create":
                physical[step.id] = _create(step, physical)
            elif step.op == "update":
                _update(step, physical)
            else:
                _delete(step)
    except NotFound:
        if step.op != "delete":
            raise
