"""One assembly of an IngressGroup's build, for the reconcile and ``albatross plan``.

From the stored objects (Ingresses, IngressClasses, IngressClassParams, Namespaces,
Services) and the AWS facts, both callers get the same result: who the members are,
the build, each failed member's error and what becomes of it (its last good version
stays, or it is left out, or the group is held as it is: ADR 0002 and ADR 0010). The
golden tests run ``plan --offline``, so they pin this path, which is production's.

Pure: the objects come through a :class:`Source`, read only when needed, in the order
the reconcile has always read them (its store and AWS call counts are measured, in
bench/run.py and tests/functional/test_converge.py): the state store for the reconcile,
the manifest files for ``plan``.

Reading a Service or an IngressClassParams a member needs fails in one of three ways
(ADR 0010), each the member's error: the object is missing (LBC's wording: a 503 "Backend
service does not exist" for a Service, as LBC tolerates it by default; ``invalid ingress
class: ingressclassparams.elbv2.k8s.aws "<name>" not found``); it is malformed (the
user's error, naming the object and the field); or reading it met a defect of ours (an
internal error naming the object, never the member's fault; the member is left out of
the build, so the defect cannot fail the group's other members).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, TypeVar

from albatross.contract.membership import class_groups, params_name
from albatross.contract.reading import mapping
from albatross.k8s.errors import ObjectError, internal, readable, unexpected
from albatross.k8s.ingress import GroupID, Ingress
from albatross.k8s.ingress_class import parse_ingress_class
from albatross.k8s.params import IngressClassParams, parse_params
from albatross.k8s.service import Service, parse_service
from albatross.model import builder, rules
from albatross.model.config import ControllerConfig
from albatross.model.discovery import Discovery
from albatross.model.group import Members, members_of, with_last_good

logger = logging.getLogger(__name__)

# What a member held back with the group is told becomes of the load balancer.
HELD = "the load balancer is left as it is until it is fixed"


class Source(Protocol):
    """Where the objects come from. Each method is called only when its objects matter."""

    def ingress_classes(self) -> Sequence[Mapping[str, Any]]:
        """Every IngressClass."""
        ...

    def class_params(self) -> Sequence[Mapping[str, Any]]:
        """Every IngressClassParams."""
        ...

    def objects(self, kind: str, keys: set[str]) -> Mapping[str, Mapping[str, Any]]:
        """The existing objects of ``kind`` (Service, Namespace) among ``keys``."""
        ...

    def discovery(self, ingresses: Sequence[Ingress]) -> Discovery:
        """The AWS facts for building these members."""
        ...


def shaped(obj: Any) -> bool:
    """Whether the contract's class helpers can read an object: they assume the object
    shapes the API server guarantees (metadata and spec objects)."""
    return (
        isinstance(obj, Mapping)
        and isinstance(obj.get("metadata") or {}, Mapping)
        and isinstance(obj.get("spec") or {}, Mapping)
    )


def _labels(obj: Any) -> dict[str, str]:
    """A stored Namespace's labels, whatever its shape (a label that is not a string pair
    is no label: a selector never matches it)."""
    labels = mapping(mapping(obj).get("metadata")).get("labels")
    return {k: v for k, v in mapping(labels).items() if isinstance(k, str) and isinstance(v, str)}


def _name(obj: Any) -> str:
    """metadata.name of a stored object, whatever its shape ("" when it has none)."""
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    name = meta.get("name") if isinstance(meta, Mapping) else None
    return name if isinstance(name, str) else ""


def classify(
    *, source: Source, group: str, keys: Sequence[str], objects: Mapping[str, Mapping[str, Any]], ingress_class: str
) -> Members:
    """The group's live, leaving and unreadable members (``keys``: the Ingresses recorded
    in the group; ``objects``: their current objects)."""
    stored = [o for o in source.ingress_classes() if shaped(o)]
    classes = {c.name: c for c in readable(stored, parse_ingress_class)}
    grouped = (
        class_groups(stored, [p for p in source.class_params() if shaped(p)])
        if any(params_name(c) for c in stored)
        else {}
    )
    return members_of(
        group=group, keys=keys, objects=objects, classes=classes, ingress_class=ingress_class, class_groups=grouped
    )


T = TypeVar("T")


@dataclass
class _Read(Generic[T]):
    """Objects of one kind as read, by key: the views, and why each other one failed."""

    found: dict[str, T] = field(default_factory=dict)
    # the user's error: malformed (the reason names the object and the field)
    unreadable: dict[str, str] = field(default_factory=dict)
    # a defect of ours reading it (ADR 0010): the exception
    broken: dict[str, Exception] = field(default_factory=dict)


def _read(kind: str, objects: Mapping[str, Mapping[str, Any]], parse: Callable[[Mapping[str, Any]], T]) -> _Read[T]:
    """Each object read through its view, each failure classified (module docstring)."""
    out: _Read[T] = _Read()
    for key, obj in objects.items():
        try:
            out.found[key] = parse(obj)
        except ObjectError as e:
            out.unreadable[key] = str(e)
        except Exception as e:  # the reading boundary: a defect of ours is the members' internal error
            logger.exception("reading %s %s", kind, key)
            out.broken[key] = e
    return out


def _services(source: Source, ingresses: Sequence[Ingress]) -> tuple[_Read[Service], dict[str, set[str]]]:
    """The Services the members name, as read, and the keys each member names."""
    named: dict[str, set[str]] = {}
    for ing in ingresses:
        try:
            named[ing.key] = rules.referenced_services(ing)
        except Exception:  # its build meets the same defect and reports it as its own error
            logger.exception("reading the Services an Ingress names: %s", ing.key)
    keys = set().union(*named.values())
    return _read("Service", source.objects("Service", keys), parse_service), named


def _defect(ingress: str, e: Exception, what: str) -> builder.MemberError:
    """A member's internal error: reading an object it needs met a defect of ours."""
    return builder.MemberError(ingress, unexpected(e), internal=f"{internal(e)}, reading {what}")


def build(*, source: Source, config: ControllerConfig, group: str, ingresses: Sequence[Ingress]) -> builder.BuildResult:
    """The build of these members, with the objects they need."""
    facts = source.discovery(ingresses) if ingresses else Discovery()
    with_params = [i for i in ingresses if i.class_params]
    params: _Read[IngressClassParams] = (
        _read("IngressClassParams", {_name(p): p for p in source.class_params()}, parse_params)
        if with_params
        else _Read()
    )
    # Namespace labels, for the params' namespace selectors (absent namespace: no labels)
    namespaces = (
        {name: _labels(obj) for name, obj in source.objects("Namespace", {i.namespace for i in with_params}).items()}
        if any(p.namespace_selector for p in params.found.values())
        else None
    )
    services, named = _services(source, ingresses)
    defects: dict[str, builder.MemberError] = {}
    for ing in ingresses:
        broken = [k for k in sorted(named.get(ing.key, ())) if k in services.broken]
        if ing.class_params in params.broken:
            defects[ing.key] = _defect(
                ing.key, params.broken[ing.class_params], f"IngressClassParams {ing.class_params}"
            )
        elif broken:
            defects[ing.key] = _defect(ing.key, services.broken[broken[0]], f"Service {broken[0]}")
    built = builder.build(
        config=config,
        group=GroupID.parse(group),
        ingresses=[i for i in ingresses if i.key not in defects],
        services={s.key: s for s in services.found.values()},
        discovery=facts,
        params={p.name: p for p in params.found.values()},
        namespaces=namespaces,
        unreadable=params.unreadable | services.unreadable,
    )
    return replace(built, errors=built.errors + tuple(defects.values())) if defects else built


@dataclass(frozen=True)
class Assembly:
    """A group's build and what becomes of each member that failed.

    ``failed``: member → reason (reading it, or building it as it is now); ``internal``:
    the failed members whose failure is a defect of ours (``Type: message``, ADR 0010);
    ``fate``: per failed or held member, what becomes of it (for its Warning);
    ``held``: members whose failure holds the whole group as it is (the build with the
    last good versions failed too, or a member that never built may own part of a load
    balancer Albatross never modelled); when not empty, nothing may be applied."""

    built: builder.BuildResult
    failed: dict[str, str] = field(default_factory=dict)
    internal: dict[str, str] = field(default_factory=dict)
    fate: dict[str, str] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> dict[str, str]:
        """Every member's error: the held members' and the failed ones' (a failed
        member's own reason first)."""
        return self.held | self.failed


def assemble(
    *,
    source: Source,
    config: ControllerConfig,
    group: str,
    members: Members,
    last_good: Mapping[str, Mapping[str, Any] | None],
    unmodelled: bool = False,
) -> Assembly:
    """Build the live members; when some fail, build again with each failed member's
    last good version (or without it), as ADR 0002 says. ``unmodelled``: the group's
    load balancer exists and Albatross has never modelled it (adopted, or a lost state
    table)."""
    built = build(source=source, config=config, group=group, ingresses=members.live)
    failed = dict(members.errors) | {e.ingress: e.reason for e in built.errors}
    internal = dict(members.internal) | {e.ingress: e.internal for e in built.errors if e.internal}
    if not failed:
        return Assembly(built=built)
    # Better than LBC: the others proceed, with each failed member's last good version.
    ingresses, fate = with_last_good(members.live, failed, last_good, members.classes)
    built = build(source=source, config=config, group=group, ingresses=ingresses)
    held = {e.ingress: e.reason for e in built.errors}
    internal |= {e.ingress: e.internal for e in built.errors if e.internal and e.ingress not in failed}
    # A member whose IngressClass turned invalid: its last good version was built with
    # that class's params, which can no longer be read; change nothing (LBC fails the group).
    held |= {k: failed[k] for k in members.class_errors if last_good.get(k) is not None}
    unknown = [k for k in failed if last_good.get(k) is None]
    if unknown and unmodelled:
        # A member that never built may own part of a load balancer Albatross has
        # never modelled (one LBC made, or a lost state table): leaving it out could
        # delete its rules. Change nothing instead (ADR 0002). In a group Albatross
        # has modelled, such a member owns nothing yet: it simply does not join.
        held |= dict.fromkeys(unknown, "its part of the existing load balancer is unknown")
    if held:
        fate = dict.fromkeys(failed | held, HELD) | {
            k: f"{HELD}, as its part of the existing load balancer (not modelled by Albatross) is unknown"
            for k in unknown
            if k in held
        }
    return Assembly(built=built, failed=failed, internal=internal, fate=fate, held=held)
