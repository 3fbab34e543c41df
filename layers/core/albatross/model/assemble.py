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
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from albatross.contract import class_groups, params_name
from albatross.k8s.errors import partition, readable
from albatross.k8s.ingress import GroupID, Ingress
from albatross.k8s.ingress_class import parse_ingress_class
from albatross.k8s.params import parse_params
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


def _services(source: Source, ingresses: Sequence[Ingress]) -> tuple[dict[str, Service], dict[str, str]]:
    """The Services the members name, and why each one that cannot be read cannot."""
    keys: set[str] = set()
    for ing in ingresses:
        try:
            keys |= rules.referenced_services(ing)
        except Exception:  # its build meets the same defect and reports it as its own error
            logger.exception("reading the Services an Ingress names: %s", ing.key)
    services: dict[str, Service] = {}
    unreadable: dict[str, str] = {}
    for key, obj in source.objects("Service", keys).items():
        parsed, bad = partition([obj], parse_service)
        services.update((s.key, s) for s in parsed)
        unreadable.update((key, reason) for _, reason in bad)
    return services, unreadable


def build(*, source: Source, config: ControllerConfig, group: str, ingresses: Sequence[Ingress]) -> builder.BuildResult:
    """The build of these members, with the objects they need."""
    facts = source.discovery(ingresses) if ingresses else Discovery()
    with_params = [i for i in ingresses if i.class_params]
    parsed, bad = partition(source.class_params(), parse_params) if with_params else ([], [])
    params = {p.name: p for p in parsed}
    unreadable = {_name(obj): reason for obj, reason in bad}
    # Namespace labels, for the params' namespace selectors (absent namespace: no labels)
    namespaces = (
        {
            name: dict((obj.get("metadata") or {}).get("labels") or {})
            for name, obj in source.objects("Namespace", {i.namespace for i in with_params}).items()
        }
        if any(p.namespace_selector for p in params.values())
        else None
    )
    services, unreadable_services = _services(source, ingresses)
    return builder.build(
        config=config,
        group=GroupID.parse(group),
        ingresses=ingresses,
        services=services,
        discovery=facts,
        params=params,
        namespaces=namespaces,
        unreadable=unreadable | unreadable_services,
    )


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
    ingresses, fate = with_last_good(members.live, failed, last_good)
    built = build(source=source, config=config, group=group, ingresses=ingresses)
    held = {e.ingress: e.reason for e in built.errors}
    internal |= {e.ingress: e.internal for e in built.errors if e.internal and e.ingress not in failed}
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
