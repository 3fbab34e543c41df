"""Register and deregister targets of one target group to match a desired set, from a
read of its registrations or from Albatross's record of them (ADR 0019); describe a
target group someone else made, for a TargetGroupBinding (ADR 0013)."""

from __future__ import annotations

import logging
from collections.abc import Set
from typing import Any, NamedTuple

from albatross.aws import clients
from albatross.aws.errors import NotFound, UserError, aws_errors
from albatross.model.limits import TARGETS_PER_TARGET_GROUP
from albatross.model.targets import Target

# Targets per RegisterTargets / DeregisterTargets call: as many as a target group may hold
# (the calls have no limit of their own), so any legal change is one call each way.
_CHUNK = TARGETS_PER_TARGET_GROUP
_GOING = {"draining"}

log = logging.getLogger(__name__)


def current(target_group_arn: str, seen: dict[Target, dict[str, Any]] | None = None) -> set[Target]:
    """The targets registered and not draining; ``seen``, when given, gets each one's
    ``TargetHealth`` as read (pod readiness gates' first conditions, ADR 0014)."""
    with aws_errors():
        found = clients.elbv2().describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
    out = set()
    for t in found:
        health = dict(t.get("TargetHealth") or {})
        if health.get("State") not in _GOING:
            target = (t["Target"]["Id"], int(t["Target"]["Port"]))
            out.add(target)
            if seen is not None:
                seen[target] = health
    return out


class Synced(NamedTuple):
    """What a sync did: targets registered and deregistered, and whether it read the
    registrations (``seen`` then holds their health)."""

    registered: int
    deregistered: int
    read: bool


def sync(
    target_group_arn: str,
    desired: Set[Target],
    *,
    tracked: Set[Target] | None = None,
    seen: dict[Target, dict[str, Any]] | None = None,
    known: Set[Target] | None = None,
) -> Synced:
    """Make the registrations equal ``desired``.

    ``known``: the targets registered, as Albatross's record has them (ADR 0019): the
    difference is taken from it and nothing is read. None: the registrations are read
    (:func:`current`; ``seen`` gets the health of each). A call AWS refuses on the
    record's word (a target deregistered by hand meanwhile: ``InvalidTarget``) is made
    again after a read.

    ``tracked`` (a target group other clusters register in too: LBC's
    ``multiClusterTargetGroup``): only targets in it, those this cluster registered, are
    ever deregistered; the others are another cluster's. An empty set deregisters
    nothing, as LBC does while it has no record yet."""
    if known is not None:
        try:
            return _apply(target_group_arn, desired=desired, have=known, tracked=tracked, read=False)
        except UserError as e:
            if not str(e).startswith("InvalidTarget:"):
                raise  # not about what the record says is registered: a read would not help
            log.info("registrations as recorded refused (%s): reading them", e)
    return _apply(target_group_arn, desired=desired, have=current(target_group_arn, seen), tracked=tracked, read=True)


def _apply(arn: str, *, desired: Set[Target], have: Set[Target], tracked: Set[Target] | None, read: bool) -> Synced:
    add = sorted(desired - have)
    remove = sorted((have if tracked is None else have & tracked) - desired)
    elbv2 = clients.elbv2()
    with aws_errors():
        for i in range(0, len(add), _CHUNK):
            chunk = add[i : i + _CHUNK]
            elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": a, "Port": p} for a, p in chunk])
        for i in range(0, len(remove), _CHUNK):
            chunk = remove[i : i + _CHUNK]
            elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": a, "Port": p} for a, p in chunk])
    return Synced(len(add), len(remove), read)


def describe(*, arn: str = "", name: str = "") -> tuple[dict[str, Any] | None, dict[str, str]]:
    """A target group by ARN (or, without one, by name) and its tags: (None, {}) when
    there is none. Reads only: a binding's target group is never changed here."""
    elbv2 = clients.elbv2()
    try:
        with aws_errors():
            if arn:
                found = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]
            else:
                found = elbv2.describe_target_groups(Names=[name])["TargetGroups"]
    except NotFound:
        return None, {}
    if len(found) != 1:
        return None, {}
    group = dict(found[0])
    with aws_errors():
        described = elbv2.describe_tags(ResourceArns=[str(group["TargetGroupArn"])])["TagDescriptions"]
    tags = {t["Key"]: t.get("Value", "") for d in described for t in d.get("Tags") or []}
    return group, tags
