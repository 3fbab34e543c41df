"""Which Ingresses are Albatross's, which IngressGroup each one joins, and in which order:
LBC's rules, in the one place both sides read them. Pure, standard library only.

The forwarder decides with it which Ingresses to send and which finalizer to add; ingest
which group to record a change under; the reconcile and ``albatross plan`` which stored
Ingresses are live members of a group. They cannot disagree, since they call the same
functions (a finalizer the forwarder adds and the reconcile never removes would keep a
deleted Ingress forever).

The rules, as LBC's ingress group and class loaders apply them
(``pkg/ingress/group_loader.go``, ``class_loader.go``, ``class_annotation_matcher.go``):

* **Ours.** The legacy ``kubernetes.io/ingress.class`` annotation, when present (even
  empty), decides alone: it must equal the configured class (or, when the configured
  class is empty, ``alb``). Otherwise the IngressClass named by ``spec.ingressClassName``
  must have the controller ``ingress.k8s.aws/alb``; an Ingress naming no class takes the
  default IngressClass (the one annotated
  ``ingressclass.kubernetes.io/is-default-class: "true"``; with several, none: LBC refuses
  to choose), and with no default class it is ours only when the configured class is
  empty (LBC's ``--ingress-class=""``). An Ingress whose class cannot be loaded (named
  and unknown, or several default classes) stays ours while it carries one of our
  finalizers: LBC keeps such a member and fails its group. Beyond LBC, while the named
  IngressClass is unknown here it counts as ours when its name is the configured class:
  events are not ordered, and an Ingress must not leave its group because its class's
  event is late.
* **Group.** The IngressClassParams of the Ingress's class, when they set a valid
  ``spec.group.name``, decide (ADR 0004); else a valid ``alb.ingress.kubernetes.io/
  group.name`` names an explicit group; else the Ingress is alone in its implicit group
  ``<namespace>/<name>``. An invalid name puts the Ingress in its implicit group, where
  the build reports it (LBC leaves it out of every group, silently). A group name is
  lowercase alphanumerics, ``-`` and ``.``, starting and ending alphanumeric, at most 63
  characters. The annotation is read trimmed, as Albatross reads every annotation (LBC
  reads it as written); ``spec.group.name`` is a field, read as written.
* **Order.** ``alb.ingress.kubernetes.io/group.order``, an integer within [-1000, 1000]
  (0 when absent); members are taken by order, then by the text ``namespace/name``.
* **Class parameters.** An IngressClass's ``spec.parameters`` must name an
  ``elbv2.k8s.aws`` ``IngressClassParams``; anything else makes the class invalid (LBC:
  "references unknown parameters"), which the model reports on its Ingresses.
* **Finalizer.** ``group.ingress.k8s.aws/<group>`` for an explicit group,
  ``ingress.k8s.aws/resources`` for an implicit one (LBC's, so a migrated Ingress keeps
  its own).

Every function here takes any JSON shape an object may have and never raises (but
:func:`group_order`, whose refusal is the member's error): a field of an unexpected type
reads as absent (the model reports malformed Ingresses; these rules only route them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from albatross.contract.reading import mapping

CONTROLLER = "ingress.k8s.aws/alb"
LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
# What the legacy annotation must say when the configured class is empty (LBC's matcher).
LEGACY_DEFAULT_CLASS = "alb"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
PARAMS_API_GROUP = "elbv2.k8s.aws"
PARAMS_KIND = "IngressClassParams"
GROUP_NAME_ANNOTATION = "alb.ingress.kubernetes.io/group.name"
GROUP_ORDER_ANNOTATION = "alb.ingress.kubernetes.io/group.order"
IMPLICIT_FINALIZER = "ingress.k8s.aws/resources"
EXPLICIT_FINALIZER_PREFIX = "group.ingress.k8s.aws/"
MAX_GROUP_NAME = 63
MIN_GROUP_ORDER, MAX_GROUP_ORDER = -1000, 1000
# In a class → group map (:func:`class_groups`), the key of the default IngressClass's
# group: the group of an Ingress naming no class. No IngressClass is named "".
DEFAULT_CLASS = ""

_GROUP_NAME_CHARACTERS = re.compile(r"([a-z0-9][-a-z0-9.]*)?[a-z0-9]")
# The same rule with the length in it, for callers that match a pattern.
GROUP_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$")
# What Go's strconv.ParseInt reads in base 10: a sign, ASCII digits (then within int64).
_INT = re.compile(r"[+-]?[0-9]+")
_INT64_DIGITS = 19  # leading zeros aside: any more digits are out of range


def group_name_error(name: str) -> str | None:
    """LBC's complaint about an IngressGroup name (``group.name`` or IngressClassParams
    ``spec.group.name``), or None when the name is valid."""
    if not _GROUP_NAME_CHARACTERS.fullmatch(name):
        return (
            "invalid ingress group: groupName must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character"
        )
    if len(name) > MAX_GROUP_NAME:
        return f"invalid ingress group: groupName must be no more than {MAX_GROUP_NAME} characters"
    return None


def valid_group_name(name: Any) -> bool:
    return isinstance(name, str) and group_name_error(name) is None


# --- IngressClasses and their IngressClassParams ----------------------------------------


@dataclass(frozen=True)
class ClassInfo:
    """What membership needs of an IngressClass: its controller, whether it is the
    default class, and the IngressClassParams it names (``params_error`` says why its
    ``spec.parameters`` name none LBC would load)."""

    controller: str
    is_default: bool
    params: str | None = None
    params_error: str | None = None


def _params_ref(ingress_class: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The IngressClassParams name ``spec.parameters`` gives, and why it gives none when
    it names something else (LBC: "references unknown parameters", the class invalid)."""
    ref = mapping(ingress_class.get("spec")).get("parameters")
    if ref is None:
        return None, None
    ref = mapping(ref)
    name = ref.get("name")
    if ref.get("apiGroup") == PARAMS_API_GROUP and ref.get("kind") == PARAMS_KIND and isinstance(name, str) and name:
        return name, None
    class_name = mapping(ingress_class.get("metadata")).get("name")
    return None, f"invalid ingress class: IngressClass {class_name!s:.253} references unknown parameters"


def params_name(ingress_class: Mapping[str, Any]) -> str | None:
    """The IngressClassParams an IngressClass points at (``spec.parameters`` of apiGroup
    ``elbv2.k8s.aws``, kind ``IngressClassParams``), if any."""
    return _params_ref(mapping(ingress_class))[0]


def class_info(ingress_class: Mapping[str, Any]) -> ClassInfo:
    """An IngressClass as membership reads it. The default-class annotation counts only
    when it is exactly ``true`` (as the API server's admission and LBC read it)."""
    ingress_class = mapping(ingress_class)
    annotations = mapping(mapping(ingress_class.get("metadata")).get("annotations"))
    controller = mapping(ingress_class.get("spec")).get("controller")
    params, error = _params_ref(ingress_class)
    return ClassInfo(
        controller=controller if isinstance(controller, str) else "",
        is_default=annotations.get(DEFAULT_CLASS_ANNOTATION) == "true",
        params=params,
        params_error=error,
    )


def default_class(classes: Mapping[str, ClassInfo]) -> str | None:
    """The name of the one default IngressClass; None when there is none, or several
    (LBC: "multiple default IngressClasses found", and it uses none)."""
    defaults = [name for name, info in classes.items() if info.is_default]
    return defaults[0] if len(defaults) == 1 else None


def params_group(params: Mapping[str, Any]) -> str | None:
    """The valid group name an IngressClassParams sets (``spec.group.name``, as written:
    a field, not an annotation, so not trimmed), if any."""
    name = mapping(mapping(mapping(params).get("spec")).get("group")).get("name")
    return name if valid_group_name(name) else None


def class_groups_of(classes: Mapping[str, ClassInfo], params_groups: Mapping[str, str]) -> dict[str, str]:
    """IngressClass name → the group its IngressClassParams set (``params_groups``: params
    name → its valid group), and under :data:`DEFAULT_CLASS` the default class's."""
    out = {
        name: params_groups[info.params]
        for name, info in classes.items()
        if info.params is not None and info.params in params_groups
    }
    default = default_class(classes)
    if default is not None and default in out:
        out[DEFAULT_CLASS] = out[default]
    return out


def class_groups(ingress_classes: Iterable[Mapping[str, Any]], params: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """IngressClass name → the group its IngressClassParams name (ADR 0004), from the
    objects themselves (see :func:`class_groups_of`)."""
    by_params = {}
    for p in params:
        name, group = mapping(mapping(p).get("metadata")).get("name"), params_group(p)
        if isinstance(name, str) and group is not None:
            by_params[name] = group
    classes = {}
    for ingress_class in ingress_classes:
        name = mapping(mapping(ingress_class).get("metadata")).get("name")
        if isinstance(name, str) and name:
            classes[name] = class_info(ingress_class)
    return class_groups_of(classes, by_params)


# --- one Ingress --------------------------------------------------------------------------


def _annotations(obj: Any) -> Mapping[str, Any]:
    return mapping(mapping(mapping(obj).get("metadata")).get("annotations"))


def legacy_class(obj: Mapping[str, Any]) -> str | None:
    """The legacy ``kubernetes.io/ingress.class`` annotation's value when present (an
    empty one too: present, it decides), else None."""
    value = _annotations(obj).get(LEGACY_CLASS_ANNOTATION)
    return value if isinstance(value, str) else None


def _class_name(obj: Mapping[str, Any]) -> str | None:
    """``spec.ingressClassName``: a name, "" when set but empty (names no class that
    can exist), None when absent."""
    name = mapping(mapping(obj).get("spec")).get("ingressClassName")
    return name if isinstance(name, str) else None


def uses_ingress_class(obj: Mapping[str, Any]) -> bool:
    """Whether an IngressClass may apply to an Ingress: the one it names, or the default
    class when it names none; not under the legacy annotation."""
    return legacy_class(obj) is None and _class_name(obj) != ""


def class_of(obj: Mapping[str, Any], classes: Mapping[str, ClassInfo]) -> str | None:
    """The IngressClass whose configuration applies to an Ingress: the one it names, or
    the default class when it names none; None under the legacy annotation (which has no
    IngressClass) or when there is no class."""
    if legacy_class(obj) is not None:
        return None
    name = _class_name(obj)
    if name is None:
        return default_class(classes)
    return name or None


def _several_defaults(classes: Mapping[str, ClassInfo]) -> bool:
    return sum(1 for info in classes.values() if info.is_default) > 1


def holds_our_finalizer(obj: Mapping[str, Any]) -> bool:
    """Whether an Ingress carries a finalizer of ours: it is (or was) a group's member."""
    finalizers = mapping(mapping(obj).get("metadata")).get("finalizers")
    return isinstance(finalizers, list) and any(isinstance(f, str) and is_our_finalizer(f) for f in finalizers)


def ingress_is_ours(obj: Mapping[str, Any], *, classes: Mapping[str, ClassInfo], configured: str) -> bool:
    """Whether Albatross manages this Ingress (module docstring: "Ours"). ``classes``:
    the known IngressClasses by name; ``configured``: the controller's class (``alb``).

    An Ingress whose class cannot be loaded (:func:`class_error`: its IngressClass is
    gone, or several classes claim to be the default) stays ours while it carries one of
    our finalizers, as LBC keeps it in its group and fails the group rather than let it
    leave (the class may have been changed by accident: LBC issue 2731); the model
    reports the class error and holds the group."""
    legacy = legacy_class(obj)
    if legacy is not None:
        return legacy == configured or (not configured and legacy == LEGACY_DEFAULT_CLASS)
    name = _class_name(obj)
    if name is None:
        default = default_class(classes)
        if default is not None:
            return classes[default].controller == CONTROLLER
        return holds_our_finalizer(obj) if _several_defaults(classes) else not configured
    known = classes.get(name) if name else None
    if known is not None:
        return known.controller == CONTROLLER
    return (bool(name) and name == configured) or holds_our_finalizer(obj)


def class_error(obj: Mapping[str, Any], classes: Mapping[str, ClassInfo], configured: str) -> str | None:
    """Why the IngressClass an Ingress uses cannot be loaded, in LBC's class loader's
    words ("invalid ingress class" and the like); None when it can, or when none
    applies. A class named like the configured one and not known here is taken to be
    on its way (its event late), not gone."""
    if legacy_class(obj) is not None:
        return None
    name = _class_name(obj)
    if name is None:
        if _several_defaults(classes):
            return "multiple default IngressClasses found"
        name = default_class(classes)
        if name is None:
            return None
    known = classes.get(name)
    if known is None:
        return (
            None
            if name and name == configured
            else f'invalid ingress class: ingressclasses.networking.k8s.io "{name:.253}" not found'
        )
    return known.params_error


def explicit_group(obj: Mapping[str, Any]) -> str | None:
    """The valid ``group.name`` annotation of an Ingress, or None."""
    group = _annotations(obj).get(GROUP_NAME_ANNOTATION)
    return group.strip() if isinstance(group, str) and valid_group_name(group.strip()) else None


def group_name_of(obj: Mapping[str, Any], class_groups: Mapping[str, str] | None = None) -> str | None:
    """The explicit group of an Ingress: its class's IngressClassParams group (which
    overrides the annotation, as in LBC; ``class_groups`` from :func:`class_groups`),
    else its valid ``group.name``; None: its implicit group."""
    if class_groups and legacy_class(obj) is None:
        name = _class_name(obj)
        group = class_groups.get(DEFAULT_CLASS if name is None else name) if name != "" else None
        if group is not None:
            return group
    return explicit_group(obj)


def group_key_of(obj: Mapping[str, Any], class_groups: Mapping[str, str] | None = None) -> str:
    """The key of the group an Ingress joins: the explicit group's name, or
    ``namespace/name`` for its implicit group."""
    group = group_name_of(obj, class_groups)
    if group is not None:
        return group
    meta = mapping(mapping(obj).get("metadata"))
    namespace, name = meta.get("namespace"), meta.get("name")
    return f"{namespace if isinstance(namespace, str) else ''}/{name if isinstance(name, str) else ''}"


def finalizer_for(obj: Mapping[str, Any], class_groups: Mapping[str, str] | None = None) -> str:
    """The LBC finalizer of an Ingress: per explicit group, or the implicit one."""
    group = group_name_of(obj, class_groups)
    return EXPLICIT_FINALIZER_PREFIX + group if group else IMPLICIT_FINALIZER


def is_our_finalizer(name: str) -> bool:
    """Whether ``name`` is a finalizer Albatross adds (and LBC would): the implicit one, or
    the explicit-group prefix followed by a valid group name. The forwarder removes no
    other, whatever a write-back asks."""
    if name == IMPLICIT_FINALIZER:
        return True
    group = name.removeprefix(EXPLICIT_FINALIZER_PREFIX)
    return group != name and valid_group_name(group)


class OrderError(ValueError):
    """A ``group.order`` LBC refuses; the message is LBC's."""


def group_order(obj: Mapping[str, Any]) -> int:
    """An Ingress's ``group.order`` (0 when absent); raises :class:`OrderError` for a
    value that is not an int64 (Go's ``strconv.ParseInt``) or is outside [-1000, 1000]."""
    meta = mapping(mapping(obj).get("metadata"))
    raw = _annotations(obj).get(GROUP_ORDER_ANNOTATION)
    return parse_group_order(raw if isinstance(raw, str) else None, f"{meta.get('namespace')}/{meta.get('name')}")


def parse_group_order(raw: str | None, ingress: str) -> int:
    """A ``group.order`` value (None: absent, 0) of the Ingress ``ingress``
    (``namespace/name``, for LBC's messages), as :func:`group_order` reads it."""
    if raw is None:
        return 0
    text = raw.strip()
    ingress = ingress[:507]
    syntax = _INT.fullmatch(text) is not None
    short = syntax and len(text.lstrip("+-").lstrip("0")) <= _INT64_DIGITS
    number = int(text, 10) if short else None
    if number is None or not -(2**63) <= number < 2**63:
        shown = text[:200]
        raise OrderError(
            f"failed to load Ingress group order for ingress: {ingress}: failed to parse int64 annotation, "
            f'{GROUP_ORDER_ANNOTATION}: {shown}: strconv.ParseInt: parsing "{shown}": '
            f"{'value out of range' if syntax else 'invalid syntax'}"
        )
    if not MIN_GROUP_ORDER <= number <= MAX_GROUP_ORDER:
        raise OrderError(
            f"explicit Ingress group order must be within [{MIN_GROUP_ORDER}:{MAX_GROUP_ORDER}], "
            f"Ingress: {ingress}, order: {number}"
        )
    return number


def member_sort_key(order: int, namespace: str, name: str) -> tuple[int, str]:
    """Where a member goes in its group, as LBC sorts them: by order, then by the text
    ``namespace/name`` (not by namespace, then name: ``a-b/x`` comes before ``a/x``, since
    ``-`` sorts before ``/``)."""
    return order, f"{namespace}/{name}"
