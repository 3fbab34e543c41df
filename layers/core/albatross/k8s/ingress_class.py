"""IngressClass view; LBC's class selection itself lives in the contract
(:func:`albatross.contract.ingress_is_ours`), shared with the forwarder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from albatross.contract import ClassInfo, class_info

PARAMS_API_GROUP = "elbv2.k8s.aws"


@dataclass(frozen=True)
class IngressClass:
    name: str
    info: ClassInfo
    params: str | None  # the IngressClassParams name, when it refers to one


def parse_ingress_class(obj: Mapping[str, Any]) -> IngressClass:
    meta = obj.get("metadata") or {}
    ref = (obj.get("spec") or {}).get("parameters") or {}
    is_params = ref.get("apiGroup") == PARAMS_API_GROUP and ref.get("kind") == "IngressClassParams"
    params = ref.get("name") if is_params else None
    return IngressClass(name=str(meta.get("name", "")), info=class_info(obj), params=str(params) if params else None)


def class_params_of(obj: Mapping[str, Any], classes: Mapping[str, IngressClass]) -> str | None:
    """The IngressClassParams name that applies to an Ingress: its ``spec.ingressClassName``
    class's (none under the legacy annotation, or without a class, as in LBC)."""
    if ((obj.get("metadata") or {}).get("annotations") or {}).get("kubernetes.io/ingress.class"):
        return None
    name = (obj.get("spec") or {}).get("ingressClassName")
    known = classes.get(name) if name else None
    return known.params if known is not None else None
