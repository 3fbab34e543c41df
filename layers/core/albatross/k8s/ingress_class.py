"""IngressClass view; LBC's class selection itself lives in the contract
(:func:`albatross.contract.ingress_is_ours`), shared with the forwarder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from albatross.contract import LEGACY_CLASS_ANNOTATION, ClassInfo, class_info
from albatross.k8s.errors import ObjectError, as_mapping, as_strings, text
from albatross.k8s.ingress import routing_view

PARAMS_API_GROUP = "elbv2.k8s.aws"


@dataclass(frozen=True)
class IngressClass:
    name: str
    info: ClassInfo
    params: str | None  # the IngressClassParams name, when it refers to one


def parse_ingress_class(obj: Mapping[str, Any]) -> IngressClass:
    """Build the view; raise ObjectError on a malformed object."""
    if not isinstance(obj, Mapping):
        raise ObjectError("an IngressClass must be an object")
    meta = as_mapping(obj.get("metadata"), "IngressClass metadata")
    name = text(meta.get("name"), "IngressClass metadata.name")
    if not name:
        raise ObjectError("IngressClass needs metadata.name")
    where = f"IngressClass {name}"
    annotations = as_strings(meta.get("annotations"), f"{where}: metadata.annotations")
    spec = as_mapping(obj.get("spec"), f"{where}: spec")
    controller = text(spec.get("controller"), f"{where}: spec.controller")
    ref = as_mapping(spec.get("parameters"), f"{where}: spec.parameters")
    is_params = ref.get("apiGroup") == PARAMS_API_GROUP and ref.get("kind") == "IngressClassParams"
    params = text(ref.get("name"), f"{where}: spec.parameters.name") if is_params else None
    # class_info reads only what was checked above, in the types checked
    info = class_info({"metadata": {"name": name, "annotations": annotations}, "spec": {"controller": controller}})
    return IngressClass(name=name, info=info, params=params or None)


def class_params_of(obj: Mapping[str, Any], classes: Mapping[str, IngressClass]) -> str | None:
    """The IngressClassParams name that applies to an Ingress: its ``spec.ingressClassName``
    class's (none under the legacy annotation, or without a class, as in LBC)."""
    view = routing_view(obj)
    if view["metadata"]["annotations"].get(LEGACY_CLASS_ANNOTATION):
        return None
    name = view["spec"].get("ingressClassName")
    known = classes.get(name) if name else None
    return known.params if known is not None else None
