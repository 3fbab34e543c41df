"""The listener rule kind: hangs under a listener, known by ``<port>:<priority>``.

Listed under its listener (DescribeRules), or read by ARN when recorded and not listed
yet. Rules keep no identity of their own: an existing rule whose conditions and actions
are already what some desired rule wants is kept and, if needed, moved to that rule's
priority (one SetRulePriorities per listener) instead of being rewritten in place. Only
what is left is updated in place (same priority), created or deleted.

So inserting a rule at the top of a listener costs one reorder and one create, not a
rewrite of every rule below it, and no request meets a missing rule mid-change. A rule
being deleted that sits where a move must go is deleted just before the move.

Rule count never peaks above the larger of before and after (so a change at ALB's
100-rule limit still goes through): a create only takes a priority a moved rule left, and
the other deletes are of priorities the new set does not use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from albatross.kinds.actions import action_key
from albatross.kinds.base import ActualResource, Aws, Kind, Props, Step, natural, resolve, tag_changes
from albatross.model import limits
from albatross.model.names import TAG_OIDC_CREDENTIALS_VERSION
from albatross.model.stack import LISTENER, LISTENER_RULE, Resource, ref_target

_CONDITION_CONFIG = {
    "host-header": "HostHeaderConfig",
    "path-pattern": "PathPatternConfig",
    "http-request-method": "HttpRequestMethodConfig",
    "source-ip": "SourceIpConfig",
    "http-header": "HttpHeaderConfig",
    "query-string": "QueryStringConfig",
}


def condition_key(cond: Props) -> tuple[Any, ...]:
    """A condition in comparable form, from either shape AWS returns (``Values`` or the
    field's ``...Config``), plain values and regular expressions (``RegexValues``) apart."""
    field_ = str(cond["Field"])
    config = cond.get(_CONDITION_CONFIG.get(field_, ""))
    values = config.get("Values") if isinstance(config, Mapping) else cond.get("Values")
    if field_ == "query-string":
        pairs = tuple(sorted((str(v.get("Key") or ""), str(v.get("Value"))) for v in values or ()))
        return field_, pairs
    header = str(config.get("HttpHeaderName", "")) if isinstance(config, Mapping) and field_ == "http-header" else ""
    regex = config.get("RegexValues") if isinstance(config, Mapping) else None
    return field_, header, tuple(sorted(str(v) for v in values or ())), tuple(sorted(str(v) for v in regex or ()))


def oidc_version(props: Props) -> str | None:
    """For a rule with OIDC authentication: which version of the client credentials it
    holds, as its tag says (ADR 0005); None otherwise."""
    if not any(a.get("Type") == "authenticate-oidc" for a in props.get("Actions") or ()):
        return None
    tags = {str(t["Key"]): str(t.get("Value", "")) for t in props.get("Tags") or ()}
    return tags.get(TAG_OIDC_CREDENTIALS_VERSION, "")


@dataclass
class RuleChanges:
    moves: dict[str, list[tuple[ActualResource, int]]] = field(default_factory=dict)  # listener id → moves
    updates: list[tuple[str, Resource, ActualResource]] = field(default_factory=list)
    creates: list[tuple[str, Resource]] = field(default_factory=list)
    deletes: list[ActualResource] = field(default_factory=list)
    kept: list[tuple[str, Resource, ActualResource]] = field(default_factory=list)  # content as wanted


# Listener protocols of network load balancers, whose listeners hold no rules.
LAYER4 = frozenset({"TCP", "UDP", "TCP_UDP", "TLS", "QUIC", "TCP_QUIC"})


def _listener_of(rid: str) -> str:
    return rid.rsplit(":", 1)[0]


def _key(props: Props) -> Any:
    return repr(KIND.mutable_view(props))


def match(
    desired: Mapping[str, Resource], actual: list[ActualResource], resolve: Callable[[Props], Props]
) -> RuleChanges:
    """``desired``: rule id → rule; ``resolve``: turns refs into physical ids."""
    out = RuleChanges()
    listeners = {_listener_of(rid) for rid in desired} | {_listener_of(r.id) for r in actual}
    for listener in sorted(listeners):
        want = {
            int(r.properties["Priority"]): (rid, r, _key(resolve(r.properties)))
            for rid, r in desired.items()
            if ref_target(r.properties.get("ListenerArn")) == listener or _listener_of(rid) == listener
        }
        have = {int(r.properties["Priority"]): r for r in actual if _listener_of(r.id) == listener}
        have_keys = {p: _key(r.properties) for p, r in have.items()}
        open_want = dict(want)
        open_have = dict(have)
        for priority, (rid, resource, key) in want.items():  # 1. already right where it should be
            if priority in open_have and have_keys[priority] == key:
                out.kept.append((rid, resource, open_have[priority]))
                del open_want[priority], open_have[priority]
        for priority, (rid, resource, key) in sorted(open_want.items()):  # 2. right content, wrong place
            source = next((p for p in sorted(open_have) if have_keys[p] == key), None)
            if source is not None:
                out.kept.append((rid, resource, open_have[source]))
                out.moves.setdefault(listener, []).append((open_have.pop(source), priority))
                del open_want[priority]
        for priority, (rid, resource, _) in sorted(open_want.items()):  # 3. rewrite in place, or create
            if priority in open_have:
                out.updates.append((rid, resource, open_have.pop(priority)))
            else:
                out.creates.append((rid, resource))
        out.deletes.extend(open_have[p] for p in sorted(open_have))  # 4. the rest goes
    return out


def blockers(moves: list[tuple[ActualResource, int]], deletes: list[ActualResource]) -> list[ActualResource]:
    """Rules about to be deleted that sit on a priority a move (of the same listener)
    needs: they go first (the requests they served are meant to stop matching them
    anyway)."""
    targets = {p for _, p in moves}
    listeners = {_listener_of(r.id) for r, _ in moves}
    return [r for r in deletes if _listener_of(r.id) in listeners and int(r.properties["Priority"]) in targets]


def reorder(listener: str, moves: list[tuple[ActualResource, int]]) -> Resource:
    """The SetRulePriorities of one listener."""
    priorities = [{"RuleArn": r.physical_id, "Priority": p} for r, p in moves]
    return Resource(type=LISTENER_RULE, properties={"Listener": listener, "RulePriorities": priorities})


def _resource(listener_arn: str, port: int, rule: Mapping[str, Any]) -> ActualResource:
    priority = int(rule["Priority"])
    return ActualResource(
        id=f"{port}:{priority}",
        type=LISTENER_RULE,
        physical_id=rule["RuleArn"],
        properties={
            "ListenerArn": listener_arn,
            "Priority": priority,
            "Conditions": rule.get("Conditions", []),
            "Actions": rule.get("Actions", []),
        },
    )


def _props_of(resource: Resource | None) -> Props | None:
    return resource.properties if resource is not None else None


class ListenerRule(Kind):
    type = LISTENER_RULE
    marker = ":listener-rule/"
    parent_type = LISTENER
    parent_property = "ListenerArn"
    referable = False  # its id names a priority, which a move changes

    def identity(self, props: Props) -> Any:
        return props.get("Priority")

    def parent_id(self, rid: str) -> str | None:
        return _listener_of(rid)

    def mutable_view(self, props: Props) -> dict[str, Any]:
        return {
            "Conditions": tuple(sorted(condition_key(c) for c in props.get("Conditions") or ())),
            "Actions": tuple(action_key(a) for a in props.get("Actions") or ()),
            "OidcCredentials": oidc_version(props),
        }

    def pairs(self, res: ActualResource, want: Resource | None, paired: Mapping[str, ActualResource]) -> bool:
        """Every rule under a paired listener pairs: :func:`match` decides by content."""
        return _listener_of(res.id) in paired and self.under(res, paired)

    def plan(
        self,
        *,
        wanted: Mapping[str, Resource],
        actual: Sequence[ActualResource],
        paired: Mapping[str, ActualResource],
        physical: Mapping[str, str],
        before: Mapping[str, Resource],
    ) -> tuple[list[Step], list[ActualResource]]:
        """Moves (after the deletes that block them), then creates, rewrites in place and
        tag updates; the rules left over are returned to delete."""
        changes = match(
            {rid: r for rid, r in wanted.items() if r.type == LISTENER_RULE},
            # the others go with their listener; a rule of another load balancer's
            # listener with the same id (a duplicate's) is not this one
            [r for r in actual if r.type == LISTENER_RULE and paired.get(r.id) is r],
            lambda props: resolve(props, physical),
        )
        steps: list[Step] = []
        early: list[ActualResource] = []
        for listener, moves in sorted(changes.moves.items()):
            for blocker in blockers(moves, changes.deletes):
                early.append(blocker)
                steps.append(Step(op="delete", type=LISTENER_RULE, id=blocker.id, actual=blocker))
            steps.append(Step(op="reorder", type=LISTENER_RULE, id=listener, desired=reorder(listener, moves)))
        # New rules before rewrites: a rule rewritten in place stops serving what it
        # served, which by then a new rule serves (no request meets the default 404).
        for rid, want in sorted(changes.creates, key=lambda c: natural(c[0])):
            steps.append(Step(op="create", type=LISTENER_RULE, id=rid, desired=want))
        for rid, want, have in changes.updates:
            steps.append(Step(op="update", type=LISTENER_RULE, id=rid, desired=want, actual=have))
        for rid, want, have in changes.kept:
            if any(tag_changes(want.properties, have.properties, _props_of(before.get(rid)))):
                steps.append(
                    Step(op="update", type=LISTENER_RULE, id=rid, desired=want, actual=have, previous=before.get(rid))
                )
        return steps, [r for r in changes.deletes if r not in early]

    def list_under(self, aws: Aws, parent: ActualResource) -> list[ActualResource]:
        if parent.properties.get("Protocol") in LAYER4:
            return []  # a network load balancer's listener has no rules: no call
        pages = aws.elbv2().get_paginator("describe_rules").paginate(ListenerArn=parent.physical_id)
        port = int(parent.properties["Port"])
        return [
            _resource(parent.physical_id, port, rule)
            for page in pages
            for rule in page["Rules"]
            if not rule.get("IsDefault")
        ]

    def read_under(self, aws: Aws, physical_id: str, parent: ActualResource) -> list[ActualResource]:
        found = aws.elbv2().describe_rules(RuleArns=[physical_id])["Rules"]
        return [_resource(parent.physical_id, int(parent.properties["Port"]), rule) for rule in found]

    def complete(
        self, aws: Aws, res: ActualResource, props: dict[str, Any], mine: Resource | None, trusted: bool
    ) -> dict[str, Any] | None:
        return props  # a rule has no attributes; its tags are read with the others'

    def create(self, aws: Aws, props: dict[str, Any]) -> str:
        return aws.elbv2().create_rule(**props)["Rules"][0]["RuleArn"]

    def update(self, aws: Aws, physical_id: str, props: dict[str, Any], current: Props) -> None:
        if self.mutable_view(props) != self.mutable_view(current):
            aws.elbv2().modify_rule(RuleArn=physical_id, Conditions=props["Conditions"], Actions=props["Actions"])

    def delete(self, aws: Aws, step: Step) -> None:
        assert step.actual is not None
        aws.elbv2().delete_rule(RuleArn=step.actual.physical_id)

    def reorder(self, aws: Aws, step: Step) -> None:
        """One SetRulePriorities for the listener, as AWS applies a batch (swaps included)
        at once. An endpoint that checks each priority against the current ones (moto
        does) refuses a swap: then the batch's rules are parked after all priorities first."""
        assert step.desired is not None
        priorities = list(step.desired.properties["RulePriorities"])
        elbv2 = aws.elbv2()
        try:
            with aws.classified():
                elbv2.set_rule_priorities(RulePriorities=priorities)
        except aws.PriorityInUse:
            park = limits.MAX_PRIORITY - len(priorities)
            with aws.classified():
                elbv2.set_rule_priorities(
                    RulePriorities=[{"RuleArn": p["RuleArn"], "Priority": park + i} for i, p in enumerate(priorities)]
                )
                elbv2.set_rule_priorities(RulePriorities=priorities)


KIND = ListenerRule()
