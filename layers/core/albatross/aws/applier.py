"""Execute planned steps with boto3, one call sequence per step.

Every step is idempotent given fresh discovery: creates carry the ownership tags in
the create call itself, so a resource created just before a crash is found by tags on
the next run and not created twice; deleting what is already gone is success.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from albatross.aws import clients
from albatross.aws.errors import NotFound, UserError, aws_errors
from albatross.model.stack import LISTENER, LISTENER_RULE, LOAD_BALANCER, SECURITY_GROUP, TARGET_GROUP
from albatross.plan.compare import HEALTH_FIELDS
from albatross.plan.planner import Step, resolve


def _unresolved(value: Any) -> bool:
    if isinstance(value, Mapping):
        return "$ref" in value or any(_unresolved(v) for v in value.values())
    if isinstance(value, list):
        return any(_unresolved(v) for v in value)
    return False


def _props(step: Step, physical: Mapping[str, str]) -> dict[str, Any]:
    assert step.desired is not None
    props = resolve(dict(step.desired.properties), physical)
    if _unresolved(props):
        raise UserError(f"{step.describe()}: refers to a resource that does not exist yet")
    return dict(props)


def _permission_set(perms: Any) -> set[tuple[str, int, int, str]]:
    return {
        (str(p["IpProtocol"]), int(p.get("FromPort", -1)), int(p.get("ToPort", -1)), str(r["CidrIp"]))
        for p in perms or ()
        for r in p.get("IpRanges") or ()
    }


def _as_permissions(items: set[tuple[str, int, int, str]]) -> list[Any]:
    return [
        {"IpProtocol": proto, "FromPort": low, "ToPort": high, "IpRanges": [{"CidrIp": cidr}]}
        for proto, low, high, cidr in sorted(items)
    ]


def _create(step: Step, physical: Mapping[str, str]) -> str:
    props = _props(step, physical)
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
    if step.type == TARGET_GROUP:
        return elbv2.create_target_group(**props)["TargetGroups"][0]["TargetGroupArn"]
    if step.type == LOAD_BALANCER:
        return elbv2.create_load_balancer(**props)["LoadBalancers"][0]["LoadBalancerArn"]
    if step.type == LISTENER:
        return elbv2.create_listener(**props)["Listeners"][0]["ListenerArn"]
    if step.type == LISTENER_RULE:
        return elbv2.create_rule(**props)["Rules"][0]["RuleArn"]
    raise ValueError(step.type)


def _update(step: Step, physical: Mapping[str, str]) -> None:
    assert step.actual is not None
    props = _props(step, physical)
    arn = step.actual.physical_id
    elbv2, ec2 = clients.elbv2(), clients.ec2()
    if step.type == SECURITY_GROUP:
        want = _permission_set(props.get("IpPermissions"))
        have = _permission_set(step.actual.properties.get("IpPermissions"))
        if want - have:
            ec2.authorize_security_group_ingress(GroupId=arn, IpPermissions=_as_permissions(want - have))
        if have - want:
            ec2.revoke_security_group_ingress(GroupId=arn, IpPermissions=_as_permissions(have - want))
    elif step.type == TARGET_GROUP:
        elbv2.modify_target_group(TargetGroupArn=arn, **{k: props[k] for k in HEALTH_FIELDS if k in props})
    elif step.type == LOAD_BALANCER:
        current = step.actual.properties
        if sorted(props["Subnets"]) != sorted(current.get("Subnets") or ()):
            elbv2.set_subnets(LoadBalancerArn=arn, Subnets=props["Subnets"])
        if sorted(props["SecurityGroups"]) != sorted(current.get("SecurityGroups") or ()):
            elbv2.set_security_groups(LoadBalancerArn=arn, SecurityGroups=props["SecurityGroups"])
    elif step.type == LISTENER:
        elbv2.modify_listener(ListenerArn=arn, Protocol=props["Protocol"], DefaultActions=props["DefaultActions"])
    elif step.type == LISTENER_RULE:
        elbv2.modify_rule(RuleArn=arn, Conditions=props["Conditions"], Actions=props["Actions"])
    else:
        raise ValueError(step.type)


def _delete(step: Step) -> None:
    assert step.actual is not None
    arn = step.actual.physical_id
    elbv2 = clients.elbv2()
    if step.type == SECURITY_GROUP:
        clients.ec2().delete_security_group(GroupId=arn)
    elif step.type == TARGET_GROUP:
        elbv2.delete_target_group(TargetGroupArn=arn)
    elif step.type == LOAD_BALANCER:
        elbv2.delete_load_balancer(LoadBalancerArn=arn)
    elif step.type == LISTENER:
        elbv2.delete_listener(ListenerArn=arn)
    elif step.type == LISTENER_RULE:
        elbv2.delete_rule(RuleArn=arn)
    else:
        raise ValueError(step.type)


def apply(step: Step, physical: MutableMapping[str, str]) -> None:
    """Run one step; a create records the new physical id in ``physical``."""
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
