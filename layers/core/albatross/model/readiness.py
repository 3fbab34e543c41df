"""Pod readiness gates, the cloud side's rules (docs/adr/0014-pod-readiness-gates.md): pure.

* :func:`condition`: a gated pod's condition from its target's health, as LBC sets it
  (``True`` only when ``healthy``; reason and message are the TargetHealth's);
  :data:`JUST_REGISTERED` for a target registered a moment ago, without a read;
  :data:`BINDING_DELETED` for the pods of a target group that no longer serves them.
* whether the pod must be patched is :func:`albatross.contract.readiness.differs`, which
  the forwarder asks too.
* :func:`registrable`: which EndpointSlice endpoints become targets of a target group.
  With a gate, the pod's ``Ready`` waits for the gate, so an endpoint that is not ready
  is registered when its pod is gated on this target group and its containers are ready
  (LBC's rule); otherwise the gate could never pass.
* :func:`first_poll_seconds`, :func:`next_poll_seconds`: when to read a target's health
  again, paced by its target group's health checks.
* :func:`settle`: for the gated targets of one target group and what is known of their
  health, the conditions to write back (only those the pods do not show), the targets
  still to watch and when to look again.
* :func:`service_gates`, :func:`gates_writebacks`: what the webhook is to inject, from a
  group's desired stack: per labelled namespace, each Service its ``ip``-mode target
  groups take pods from, with the Service's selector and those target groups' gates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from albatross.contract.readiness import (
    PodCondition,
    ReadinessWriteBack,
    ServiceGates,
    condition_type,
    gates_of,
    readiness_gates,
)
from albatross.contract.reading import listed, mapping
from albatross.model.stack import TARGET_GROUP, Stack

HEALTHY = "healthy"
JUST_REGISTERED = ("False", "Elb.RegistrationInProgress", "Target registration is in progress")
BINDING_DELETED = ("True", "", "Target Group Binding is deleted")
# SQS message timers: whole seconds, at most 15 minutes
MAX_DELAY_SECONDS = 900


def condition(condition_type: str, health: Mapping[str, Any] | None) -> PodCondition:
    """The condition of ``condition_type`` for a pod whose target has ``health`` (a
    DescribeTargetHealth ``TargetHealth``: State, Reason, Description); None: the target
    was registered a moment ago and not read since."""
    if health is None:
        return PodCondition(condition_type, *JUST_REGISTERED)
    status = "True" if health.get("State") == HEALTHY else "False"
    return PodCondition(condition_type, status, str(health.get("Reason") or ""), str(health.get("Description") or ""))


def deleted(condition_type: str) -> PodCondition:
    """The condition LBC leaves on the pods of a binding that goes: passed, so they do not
    stay unready."""
    return PodCondition(condition_type, *BINDING_DELETED)


def needs_probe(found: PodCondition) -> bool:
    """Whether the target must be read again (LBC: until the condition is True)."""
    return found.status != "True"


def containers_ready(pod: Mapping[str, Any]) -> bool:
    return any(
        mapping(c).get("type") == "ContainersReady" and mapping(c).get("status") == "True"
        for c in listed(mapping(pod.get("status")).get("conditions"))
    )


def registrable(endpoint: Mapping[str, Any], pod: Mapping[str, Any] | None, condition_type: str | None) -> bool:
    """Whether an EndpointSlice endpoint is a target of the target group gated by
    ``condition_type`` (None: an ``instance``-mode or ungated target group). Ready and
    not terminating: yes (a missing ``ready`` counts as ready, as Kubernetes advises).
    Not ready: only when ``pod`` is gated on ``condition_type``, its containers are ready
    and it is not terminating."""
    conditions = mapping(endpoint.get("conditions"))
    if conditions.get("terminating") is True:
        return False
    if conditions.get("ready", True) is not False:
        return True
    if condition_type is None or pod is None or mapping(pod.get("metadata")).get("deletionTimestamp"):
        return False
    return condition_type in gates_of(pod) and containers_ready(pod)


def _clamp(seconds: float) -> int:
    return max(1, min(MAX_DELAY_SECONDS, round(seconds)))


def first_poll_seconds(*, interval: int, healthy_threshold: int) -> int:
    """After registering: when the target can first be healthy, ``healthy_threshold``
    consecutive checks ``interval`` seconds apart."""
    return _clamp(interval * healthy_threshold)


def next_poll_seconds(*, interval: int) -> int:
    """While a gated target is not healthy: every health-check interval (a check can
    change its state no oftener)."""
    return _clamp(interval)


Target = tuple[str, int]  # (Id, Port), as registered


@dataclass(frozen=True)
class GatedTarget:
    """A pod gated on a target group, and its target there."""

    pod: str  # namespace/name
    uid: str
    target: Target
    condition_type: str
    shown: PodCondition | None = None  # the condition as the pod shows it (None: not set)


@dataclass(frozen=True)
class Settled:
    conditions: list[tuple[GatedTarget, PodCondition]]  # to write back
    pending: list[GatedTarget]  # not True yet: to read again
    delay: int | None  # seconds until that read (None: nothing pending)


def settle(
    targets: Sequence[GatedTarget],
    health: Mapping[Target, Mapping[str, Any] | None],
    *,
    interval: int,
    healthy_threshold: int,
    registered: bool = False,
) -> Settled:
    """What the targets' ``health`` (a DescribeTargetHealth answer by target; a target
    missing or None: registered a moment ago, not read) means for their pods.
    ``registered``: these targets were just registered, so the first read is due when
    they can first be healthy, not one interval from now."""
    out: list[tuple[GatedTarget, PodCondition]] = []
    pending: list[GatedTarget] = []
    for t in targets:
        wanted = condition(t.condition_type, health.get(t.target))
        if t.shown is None or (t.shown.status, t.shown.reason, t.shown.message) != (
            wanted.status,
            wanted.reason,
            wanted.message,
        ):
            out.append((t, wanted))
        if needs_probe(wanted):
            pending.append(t)
    if not pending:
        return Settled(out, [], None)
    if registered:
        return Settled(out, pending, first_poll_seconds(interval=interval, healthy_threshold=healthy_threshold))
    return Settled(out, pending, next_poll_seconds(interval=interval))


def service_gates(
    stack: Stack | None, services: Mapping[str, Mapping[str, Any]], *, labelled: Callable[[str], bool]
) -> dict[str, dict[str, ServiceGates]]:
    """Namespace → Service name → its selector and gates, for the ``ip``-mode target
    groups of one group's desired ``stack`` (``services``: the Services by
    ``namespace/name``, as stored; ``labelled``: whether a namespace asks for gates).
    A Service that is not stored, or selects nothing, gates nothing."""
    out: dict[str, dict[str, ServiceGates]] = {}
    for tg in (stack.of_type(TARGET_GROUP) if stack else {}).values():
        binding = mapping(tg.binding)
        key = str(binding.get("service", ""))
        namespace, _, name = key.partition("/")
        if binding.get("targetType") != "ip" or not name or not labelled(namespace):
            continue
        selector = mapping(mapping(mapping(services.get(key)).get("spec")).get("selector"))
        if not selector:
            continue
        had = out.setdefault(namespace, {}).get(name)
        gates = {condition_type(str(tg.properties["Name"]))} | set(had.gates if had else ())
        out[namespace][name] = ServiceGates({str(k): str(v) for k, v in selector.items()}, tuple(sorted(gates)))
    return out


def gates_writebacks(
    *, cluster: str, group: str, now: Mapping[str, Mapping[str, ServiceGates]], before: Iterable[str]
) -> list[ReadinessWriteBack]:
    """The ``readinessGates`` write-backs that bring the webhook's table from the group's
    namespaces ``before`` to ``now``: one per namespace gated now, and an empty one per
    namespace it gated before and no longer does (its key goes)."""
    out = [readiness_gates(cluster=cluster, group=group, namespace=ns, services=now[ns]) for ns in sorted(now)]
    gone = sorted(set(before) - set(now))
    return out + [readiness_gates(cluster=cluster, group=group, namespace=ns, services={}) for ns in gone]
