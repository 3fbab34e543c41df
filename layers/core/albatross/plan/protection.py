"""Deletion protection: whether a plan may delete the group's load balancer. Pure.

LBC (``pkg/ingress/model_builder.go``): when an Ingress that is being deleted carries
``alb.ingress.kubernetes.io/load-balancer-attributes`` with ``deletion_protection.enabled``
true (read with Go's ``strconv.ParseBool``), the group's model build fails with
"deletion_protection is enabled, cannot delete the ingress: <name>": nothing is deployed,
the finalizer stays. Protection set in AWS by hand does not stop LBC: when AWS refuses
DeleteLoadBalancer for it, LBC's load balancer synthesizer turns it off and deletes
(``pkg/deploy/elbv2/load_balancer_synthesizer.go``), on a teardown or a replacement alike.

Albatross never turns protection off by itself. A plan that deletes a load balancer (the
group's teardown, or a live group replacing it) is refused before anything is deleted when

* an Ingress leaving the group by deletion states protection, in its annotation or in its
  IngressClassParams' ``loadBalancerAttributes`` (which win over the annotation, as in the
  model), or states it in a form that does not parse (LBC's error); or
* the load balancer has protection on in AWS, and nobody asked for it off: for a teardown,
  a deleting Ingress stating ``deletion_protection.enabled=false``; for a replacement, the
  desired model stating it. Then protection is turned off first (the one exception: the
  user's own statement), and the plan goes ahead.

Better than LBC where it is safe: protection on in AWS is honoured as well (a
``FailedDeployModel`` Warning); an Ingress stating protection that leaves a group whose
load balancer stays does not block the group (its rules go, its finalizer too); and the
refusal names the load balancer and how to release it, as a Warning on every member,
the leaving ones included (LBC's Event goes only to live members, so a deleted group's
Ingresses show none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from albatross.k8s.annotations import PREFIX, Annotations, parse_bool
from albatross.k8s.errors import AnnotationError
from albatross.k8s.ingress import lifecycle
from albatross.k8s.ingress_class import IngressClass, class_params_of
from albatross.k8s.params import IngressClassParams
from albatross.model.stack import LOAD_BALANCER, Stack
from albatross.plan.actual import ActualResource
from albatross.plan.planner import Step

KEY = "deletion_protection.enabled"
ANNOTATION = PREFIX + "load-balancer-attributes"
BUILD, DEPLOY = "FailedBuildModel", "FailedDeployModel"


@dataclass(frozen=True)
class Statement:
    """What one Ingress being deleted says about deletion protection."""

    ingress: str  # namespace/name
    enabled: bool | None  # None: it says nothing
    source: str  # where it says so: the annotation, or the IngressClassParams
    error: str | None = None  # it says so in a form that does not parse

    @property
    def name(self) -> str:
        return self.ingress.rsplit("/", 1)[-1]


def statement(obj: Mapping[str, Any], params: IngressClassParams | None) -> Statement:
    """Read, as LBC does, the last version of an Ingress being deleted (its annotations
    may still be edited: metadata of a terminating object can change)."""
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    meta = meta if isinstance(meta, Mapping) else {}
    key = f"{meta.get('namespace')}/{meta.get('name')}"
    source = f"the Ingress's {ANNOTATION} annotation"
    try:
        stated = Annotations(meta.get("annotations")).string_map("load-balancer-attributes") or {}
    except AnnotationError as e:
        return Statement(key, None, source, error=str(e))
    if params is not None and params.lb_attributes is not None and KEY in dict(params.lb_attributes):
        value: str | None = dict(params.lb_attributes)[KEY]
        source = f"IngressClassParams {params.name} loadBalancerAttributes"
    else:
        value = stated.get(KEY)
    if value is None:
        return Statement(key, None, source)
    parsed = parse_bool(value)
    if parsed is None:
        return Statement(key, None, source, error=f'strconv.ParseBool: parsing "{value}": invalid syntax ({source})')
    return Statement(key, parsed, source)


def statements(
    objects: Iterable[Mapping[str, Any]],
    *,
    classes: Mapping[str, IngressClass],
    params: Mapping[str, IngressClassParams],
) -> list[Statement]:
    """What each of ``objects`` that is being deleted says, read with the
    IngressClassParams its class names (the reconcile's objects come from the state
    store, ``albatross plan``'s from the manifests)."""
    return [
        statement(obj, params.get(class_params_of(obj, classes) or ""))
        for obj in objects
        if isinstance(obj, Mapping) and lifecycle(obj)[0]
    ]


def live(load_balancer: ActualResource) -> bool | None:
    """Protection as the load balancer's attributes read show it; None when they were
    not read (discovery reads attributes only where the model sets some)."""
    for item in load_balancer.properties.get("Attributes") or ():
        if isinstance(item, Mapping) and item.get("Key") == KEY:
            return parse_bool(str(item.get("Value"))) is True
    return None


def doomed(steps: Iterable[Step]) -> list[ActualResource]:
    """The load balancers a plan deletes."""
    return [s.actual for s in steps if s.op == "delete" and s.type == LOAD_BALANCER and s.actual is not None]


@dataclass(frozen=True)
class Refusal:
    """Why a load balancer is not deleted, for the Warning on each member."""

    load_balancer: ActualResource
    reason: str  # FailedBuildModel (a deleting Ingress states it) or FailedDeployModel (AWS has it on)
    cause: str  # what follows "Failed ... model due to "
    release: str  # what the user does to let it go

    @property
    def name(self) -> str:
        return str(self.load_balancer.properties.get("Name") or self.load_balancer.physical_id)


@dataclass(frozen=True)
class Verdict:
    refusals: tuple[Refusal, ...] = ()
    lift: tuple[ActualResource, ...] = ()  # protection to turn off first: the user asked for it

    @property
    def refused(self) -> bool:
        return bool(self.refusals)


def _desired_value(desired: Stack | None) -> bool | None:
    """Protection as the desired load balancer states it (None: not stated)."""
    lb = desired.resources.get("LoadBalancer") if desired else None
    for item in (lb.properties.get("Attributes") if lb else None) or ():
        if item.get("Key") == KEY:
            return parse_bool(str(item.get("Value")))
    return None


_RELEASE_ANNOTATION = f"set {ANNOTATION}: {KEY}=false on the Ingress"
_RELEASE_AWS = (
    "turn it off in AWS (aws elbv2 modify-load-balancer-attributes --load-balancer-arn {arn} "
    f"--attributes Key={KEY},Value=false)"
)


def decide(
    *,
    steps: Sequence[Step],
    desired: Stack | None,
    statements: Sequence[Statement],
    protected: Callable[[ActualResource], bool],
) -> Verdict:
    """Whether ``steps`` may run. ``statements``: one for each Ingress leaving the group
    by deletion; ``protected``: the load balancer's protection in AWS, read only when
    the decision needs it and :func:`live` does not know it."""
    lbs = doomed(steps)
    if not lbs:
        return Verdict()
    refusals: list[Refusal] = []
    lift: list[ActualResource] = []
    teardown = desired is None
    broken = sorted((s for s in statements if s.error), key=lambda s: s.ingress)
    stating = sorted((s for s in statements if s.enabled), key=lambda s: s.ingress)
    released = any(s.enabled is False for s in statements) if teardown else _desired_value(desired) is False
    for lb in lbs:
        arn = lb.physical_id
        if teardown and broken:
            first = broken[0]
            refusals.append(
                Refusal(lb, BUILD, str(first.error), f"fix {first.source} of {first.ingress}, or remove {KEY} from it")
            )
        elif teardown and stating:
            first = stating[0]
            release = (
                f"set {KEY}=false in {first.source}"
                if first.source.startswith("IngressClassParams")
                else _RELEASE_ANNOTATION
            )
            refusals.append(
                Refusal(lb, BUILD, f"deletion_protection is enabled, cannot delete the ingress: {first.name}", release)
            )
        else:
            on = live(lb)
            if on is None:
                on = protected(lb)
            if not on:
                continue
            if released:
                lift.append(lb)
                continue
            name = str(lb.properties.get("Name") or arn)
            what = "cannot delete the load balancer" if teardown else "cannot replace it with a new load balancer"
            refusals.append(
                Refusal(
                    lb,
                    DEPLOY,
                    f"load balancer {name} has deletion protection enabled in AWS, {what}",
                    f"{_RELEASE_AWS.format(arn=arn)}, or {_RELEASE_ANNOTATION}",
                )
            )
    return Verdict(refusals=tuple(refusals), lift=tuple(lift))
