"""Who is in an IngressGroup right now: live members, members leaving it (deleting, no
longer ours, moved to another group) and members that cannot be read. Pure; used by
reconcile (objects from the state store) and by ``albatross plan --offline`` (objects
from files).

Whether a member is leaving is read from its metadata, class and group alone, before its
spec: an Ingress whose spec cannot be read (a ``resource`` backend, say) can still be
deleted, or move away, and its finalizer go once its part of the load balancer has. Which
Ingresses are ours and which group each joins are :mod:`albatross.contract.membership`'s
rules, the forwarder's too. A live member whose IngressClass cannot be loaded (gone,
several default classes, parameters of another kind or API group) cannot be built: its
error says so (LBC's "invalid ingress class"); one that was built before holds the group
as it is, as in LBC (which fails the group rather than let the member leave it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from albatross.contract.membership import ClassInfo, class_error, ingress_is_ours
from albatross.k8s.errors import ObjectError, internal, unexpected
from albatross.k8s.ingress import GroupID, Ingress, group_key_of, lifecycle, parse_ingress, routing_view
from albatross.k8s.ingress_class import IngressClass, class_params_of
from albatross.model import names


@dataclass
class Members:
    live: list[Ingress] = field(default_factory=list)
    leaving: list[dict[str, str]] = field(default_factory=list)  # {"ingress", "finalizer" ("" if none)}
    errors: dict[str, str] = field(default_factory=dict)
    # the members of ``errors`` that met a defect of ours: ``Type: message`` (ADR 0010)
    internal: dict[str, str] = field(default_factory=dict)
    # the members of ``errors`` whose IngressClass is invalid: with a last good version,
    # they hold the group as it is (LBC fails the group of a member whose class turned
    # invalid, rather than let the member leave it)
    class_errors: set[str] = field(default_factory=set)
    # the IngressClasses the members were read with (a last good version is read with
    # them too: its class's IngressClassParams apply to it as to the current one)
    classes: Mapping[str, IngressClass] = field(default_factory=dict)


def members_of(
    *,
    group: str,
    keys: Iterable[str],
    objects: Mapping[str, Mapping[str, Any]],
    classes: Mapping[str, IngressClass],
    ingress_class: str,
    class_groups: Mapping[str, str] | None = None,
) -> Members:
    """Classify the Ingresses recorded in ``group`` (``keys``) given their current objects
    (a key without an object is gone from the cluster)."""
    finalizer = names.finalizer(GroupID.parse(group))
    infos = _infos(classes)
    out = Members(classes=classes)
    for key in sorted(set(keys)):
        obj = objects.get(key)
        if obj is None:
            out.leaving.append({"ingress": key, "finalizer": ""})
            continue
        view = routing_view(obj)
        deleting, finalizers = lifecycle(obj)
        ours = not deleting and ingress_is_ours(view, classes=infos, configured=ingress_class)
        problem = class_error(view, infos, ingress_class) if ours else None
        if problem is not None and finalizer in finalizers:
            # A member of this group whose class cannot be loaded: which group it would
            # join is unknown (its class's params may have named this one), so it stays
            # here, and holds the group (LBC fails the group of such a member).
            out.errors[key] = problem
            out.class_errors.add(key)
            continue
        if not ours or group_key_of(view, class_groups) != group:
            out.leaving.append({"ingress": key, "finalizer": finalizer if finalizer in finalizers else ""})
            continue
        try:
            ing = parse_ingress(obj)
        except ObjectError as e:
            out.errors[key] = str(e)
            continue
        except Exception as e:  # noqa: BLE001  # one object's defect is its own error (module docstring)
            out.errors[key] = unexpected(e)
            out.internal[key] = internal(e)
            continue
        if problem is not None:
            out.errors[key] = problem
            out.class_errors.add(key)
            continue
        out.live.append(replace(ing, class_params=class_params_of(obj, classes)))
    return out


def groups_of(
    objects: Iterable[Mapping[str, Any]],
    *,
    classes: Mapping[str, IngressClass],
    ingress_class: str,
    class_groups: Mapping[str, str] | None = None,
) -> dict[str, list[str]]:
    """Group key → keys of the Ingresses of ours that belong to it (deleting ones too);
    an object without a namespace and a name has no key, and no group."""
    out: dict[str, list[str]] = {}
    infos = _infos(classes)
    for obj in objects:
        view = routing_view(obj)
        namespace, name = view["metadata"].get("namespace"), view["metadata"].get("name")
        if namespace and name and ingress_is_ours(view, classes=infos, configured=ingress_class):
            out.setdefault(group_key_of(view, class_groups), []).append(f"{namespace}/{name}")
    return out


def _infos(classes: Mapping[str, IngressClass]) -> dict[str, ClassInfo]:
    return {name: c.info for name, c in classes.items()}


def with_last_good(
    live: list[Ingress],
    failed: Mapping[str, str],
    last_good: Mapping[str, Mapping[str, Any] | None],
    classes: Mapping[str, IngressClass] | None = None,
) -> tuple[list[Ingress], dict[str, str]]:
    """Better than LBC: the live members with each failed one replaced by its last version
    that built, or left out if it never had one; a last version is read with its class's
    IngressClassParams (``classes``), as it was built (without them, a class's
    ``scheme: internal`` would read as the default scheme, and the load balancer be
    replaced). Returns the members and, per failed member, what became of it (for its
    Warning)."""
    members = [i for i in live if i.key not in failed]
    fate: dict[str, str] = {}
    for key in sorted(failed):
        good = last_good.get(key)
        try:
            replacement = parse_ingress(good) if good is not None else None
            if replacement is not None and good is not None:
                replacement = replace(replacement, class_params=class_params_of(good, classes or {}))
        except Exception:  # noqa: BLE001  # an unreadable last good version is as good as none
            replacement = None
        if replacement is not None and not replacement.deleting:
            members.append(replacement)
            fate[key] = "its last valid version stays in service until it is fixed"
        else:
            fate[key] = "it is left out of the load balancer until it is fixed"
    return members, fate
