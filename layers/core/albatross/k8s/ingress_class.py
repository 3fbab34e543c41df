"""IngressClass view. Which Ingresses a class makes ours, which one is the default and
which IngressClassParams it names are :mod:`albatross.contract.membership`'s rules,
shared with the forwarder; this view checks the object's shape on top."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from albatross.contract.membership import PARAMS_API_GROUP as PARAMS_API_GROUP
from albatross.contract.membership import ClassInfo, class_info, class_of
from albatross.k8s.errors import ObjectError, as_mapping, as_strings, text
from albatross.k8s.ingress import routing_view


@dataclass(frozen=True)
class IngressClass:
    name: str
    info: ClassInfo
    params: str | None  # the IngressClassParams name, when it refers to one

    @property
    def params_error(self) -> str | None:
        """Why ``spec.parameters`` names no IngressClassParams LBC would load (another
        kind or API group): LBC's "references unknown parameters"."""
        return self.info.params_error


def parse_ingress_class(obj: Mapping[str, Any]) -> IngressClass:
    """Build the view; raise ObjectError on a malformed object."""
    if not isinstance(obj, Mapping):
        raise ObjectError("an IngressClass must be an object")
    meta = as_mapping(obj.get("metadata"), "IngressClass metadata")
    name = text(meta.get("name"), "IngressClass metadata.name")
    if not name:
        raise ObjectError("IngressClass needs metadata.name")
    where = f"IngressClass {name}"
    as_strings(meta.get("annotations"), f"{where}: metadata.annotations")
    spec = as_mapping(obj.get("spec"), f"{where}: spec")
    text(spec.get("controller"), f"{where}: spec.controller")
    ref = as_mapping(spec.get("parameters"), f"{where}: spec.parameters")
    for field in ("apiGroup", "kind", "name"):
        text(ref.get(field), f"{where}: spec.parameters.{field}")
    # the shapes are checked: class_info reads the fields in those types
    info = class_info(obj)
    return IngressClass(name=name, info=info, params=info.params)


def class_params_of(obj: Mapping[str, Any], classes: Mapping[str, IngressClass]) -> str | None:
    """The IngressClassParams name that applies to an Ingress: that of its class (the one
    ``spec.ingressClassName`` names, or the default class when it names none); none under
    the legacy annotation, as in LBC."""
    name = class_of(routing_view(obj), {n: c.info for n, c in classes.items()})
    known = classes.get(name) if name else None
    return known.params if known is not None else None
