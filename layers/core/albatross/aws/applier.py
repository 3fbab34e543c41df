"""Execute planned steps with boto3, one call sequence per step.

Every step is idempotent given fresh discovery: creates carry the ownership tags in
the create call itself, so a resource created just before a crash is found by tags on
the next run and not created twice; deleting what is already gone is success. Which
calls a step makes is its kind's (:mod:`albatross.kinds`, ADR 0011); this module holds
what every kind shares: references resolved and credentials read, adopting by name,
tags, and the error boundary.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from albatross.aws import secrets
from albatross.aws.errors import NotFound, UserError, aws_errors
from albatross.aws.gateway import AWS
from albatross.kinds import kind_of
from albatross.kinds import load_balancer as _load_balancer
from albatross.kinds.base import Kind, tag_changes, tag_dict
from albatross.model.names import TAG_CLUSTER, TAG_STACK, owned_by
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


def _adopt(kind: Kind, props: Mapping[str, Any]) -> str | None:
    """Names are unique per account and region (per VPC for security groups). A resource
    that already has this step's name and our cluster and stack tags is ours (the tagging
    API had not shown it yet): use it. One that lacks them is not ours: never touch it."""
    existing = kind.named(AWS, props)
    if existing is None:
        return None
    physical_id, tags = existing
    wanted = tag_dict(props.get("Tags"))
    if owned_by(tags, cluster=wanted.get(TAG_CLUSTER, ""), stack=wanted.get(TAG_STACK, "")):
        return physical_id
    name = props.get("Name") or props.get("GroupName")
    raise UserError(
        f"a {kind.name} named {name} already exists and does not belong to this stack "
        f"({TAG_CLUSTER}={tags.get(TAG_CLUSTER)!r}, {TAG_STACK}={tags.get(TAG_STACK)!r}); Albatross leaves it alone"
    )


def _create(step: Step, physical: Mapping[str, str]) -> str:
    kind = kind_of(step.type)
    props = _props(step, physical)
    if kind.adopts_by_name:
        adopted = _adopt(kind, props)
        if adopted is not None:
            return adopted
    return kind.create(AWS, props)


def _update(step: Step, physical: Mapping[str, str]) -> None:
    assert step.actual is not None
    kind = kind_of(step.type)
    props = _props(step, physical)
    arn = step.actual.physical_id
    kind.update(AWS, arn, props, step.actual.properties)
    put, remove = tag_changes(props, step.actual.properties, step.previous.properties if step.previous else None)
    kind.set_tags(AWS, arn, put, remove)


def deletion_protected(arn: str) -> bool:
    """Whether the load balancer has deletion protection on in AWS (one read)."""
    return _load_balancer.KIND.deletion_protected(AWS, arn)


def lift_deletion_protection(arn: str) -> None:
    """Turn deletion protection off: only when the user asked for it (the reconcile's
    decision, :mod:`albatross.plan.protection`), never as part of a delete."""
    _load_balancer.KIND.lift_deletion_protection(AWS, arn)


def apply(step: Step, physical: MutableMapping[str, str]) -> None:
    """Run one step; a create records the new physical id in ``physical``."""
    if step.op == "reorder":
        kind_of(step.type).reorder(AWS, step)
        return
    try:
        with aws_errors():
            if step.op == "create":
                physical[step.id] = _create(step, physical)
            elif step.op == "update":
                _update(step, physical)
            else:
                kind_of(step.type).delete(AWS, step)
    except NotFound:
        if step.op != "delete":
            raise
