"""The Ingress view: class, group membership, rules and backends.

Group identity follows LBC: an Ingress without ``group.name`` forms an implicit group
named ``namespace/name``; with it, it joins the explicit group of that name. The rules
themselves (class, group, order, finalizer) are :mod:`albatross.contract.membership`'s,
shared with the forwarder; here they are applied to a stored object whatever its shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from albatross.contract import membership
from albatross.k8s.annotations import Annotations
from albatross.k8s.errors import ObjectError, as_list, as_mapping, integer

PATH_TYPES = ("Exact", "Prefix", "ImplementationSpecific")


@dataclass(frozen=True)
class GroupID:
    """An IngressGroup: explicit (``name`` only) or implicit (``namespace`` + ``name``)."""

    namespace: str
    name: str

    @property
    def explicit(self) -> bool:
        return not self.namespace

    def __str__(self) -> str:
        return self.name if self.explicit else f"{self.namespace}/{self.name}"

    @classmethod
    def parse(cls, text: str) -> GroupID:
        namespace, _, name = text.rpartition("/")
        return cls(namespace=namespace, name=name)


@dataclass(frozen=True)
class Backend:
    service: str
    port_number: int | None
    port_name: str | None

    @property
    def port_text(self) -> str:
        return str(self.port_number) if self.port_number is not None else str(self.port_name)


@dataclass(frozen=True)
class Path:
    host: str | None
    path: str
    path_type: str
    backend: Backend
    rule: int = 0  # index of the spec.rules entry it comes from


@dataclass(frozen=True)
class Ingress:
    namespace: str
    name: str
    uid: str
    class_name: str | None
    annotations: Annotations
    paths: tuple[Path, ...]
    default_backend: Backend | None
    deleting: bool
    finalizers: tuple[str, ...]
    hostnames: tuple[str, ...]
    tls_hosts: tuple[str, ...] = ()
    class_params: str | None = None  # filled in by the caller that knows the IngressClasses

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def _backend(raw: Any, where: str) -> Backend:
    if not isinstance(raw, Mapping):
        raise ObjectError(f"{where}: backend must be an object")
    service = raw.get("service")
    if service is None and raw.get("resource") is not None:
        raise ObjectError(f'{where}: missing required "service" field (resource backends are not supported)')
    if not isinstance(service, Mapping):
        raise ObjectError(f'{where}: missing required "service" field')
    name = service.get("name")
    port = service.get("port")
    if not isinstance(name, str) or not name or not isinstance(port, Mapping):
        raise ObjectError(f"{where}: backend service needs a name and a port")
    number, port_name = port.get("number"), port.get("name")
    if integer(number) and 0 < number < 65536:
        return Backend(service=name, port_number=number, port_name=None)
    if isinstance(port_name, str) and port_name:
        return Backend(service=name, port_number=None, port_name=port_name)
    raise ObjectError(f"{where}: backend port must have a number in 1..65535 or a name")


def _status_hostnames(status: Any) -> tuple[str, ...]:
    """status.loadBalancer.ingress[].hostname; the status is ours to write, so anything
    unexpected there reads as no address rather than an error."""
    balancer = status.get("loadBalancer") if isinstance(status, Mapping) else None
    entries = balancer.get("ingress") if isinstance(balancer, Mapping) else None
    if not isinstance(entries, list):
        return ()
    return tuple(str(e["hostname"]) for e in entries if isinstance(e, Mapping) and "hostname" in e)


def parse_ingress(obj: Mapping[str, Any]) -> Ingress:
    """Build the view; raise ObjectError on a malformed spec."""
    if not isinstance(obj, Mapping):
        raise ObjectError("an Ingress must be an object")
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        raise ObjectError("Ingress has no metadata")
    namespace, name = meta.get("namespace"), meta.get("name")
    if not isinstance(namespace, str) or not isinstance(name, str) or not namespace or not name:
        raise ObjectError("Ingress needs metadata.namespace and metadata.name")
    spec = as_mapping(obj.get("spec"), "Ingress spec")
    annotations = as_mapping(meta.get("annotations"), "metadata.annotations")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()):
        raise ObjectError("metadata.annotations values must be strings")
    paths: list[Path] = []
    for i, rule in enumerate(as_list(spec.get("rules"), "spec.rules")):
        if not isinstance(rule, Mapping):
            raise ObjectError(f"spec.rules[{i}] must be an object")
        host = rule.get("host")
        http = as_mapping(rule.get("http"), f"spec.rules[{i}].http")
        for j, path in enumerate(as_list(http.get("paths"), f"spec.rules[{i}].http.paths")):
            where = f"spec.rules[{i}].http.paths[{j}]"
            if not isinstance(path, Mapping):
                raise ObjectError(f"{where} must be an object")
            path_type = path.get("pathType", "ImplementationSpecific")
            if not isinstance(path_type, str) or path_type not in PATH_TYPES:
                raise ObjectError(f"{where}.pathType {path_type!r:.80} is not one of {', '.join(PATH_TYPES)}")
            value = path.get("path", "/" if path_type != "ImplementationSpecific" else "")
            if not isinstance(value, str) or (path_type != "ImplementationSpecific" and not value.startswith("/")):
                raise ObjectError(f"{where}.path {value!r:.80} must be an absolute path")
            paths.append(
                Path(
                    host=host if isinstance(host, str) and host else None,
                    path=value,
                    path_type=path_type,
                    backend=_backend(path.get("backend"), where),
                    rule=i,
                )
            )
    default = spec.get("defaultBackend")
    class_name = spec.get("ingressClassName")
    if class_name is not None and not isinstance(class_name, str):
        raise ObjectError("spec.ingressClassName must be a string")
    tls = [t for t in as_list(spec.get("tls"), "spec.tls") if isinstance(t, Mapping)]
    legacy = membership.legacy_class(obj)  # present, the legacy annotation is the class
    status_lb = _status_hostnames(obj.get("status"))
    deleting, finalizers = lifecycle(obj)
    return Ingress(
        namespace=namespace,
        name=name,
        uid=str(meta.get("uid", "")),
        class_name=legacy if legacy is not None else class_name,
        annotations=Annotations(annotations),
        paths=tuple(paths),
        default_backend=_backend(default, "spec.defaultBackend") if default else None,
        deleting=deleting,
        finalizers=finalizers,
        hostnames=status_lb,
        tls_hosts=tuple(h for t in tls for h in as_list(t.get("hosts"), "spec.tls[].hosts") if isinstance(h, str)),
    )


def lifecycle(obj: Mapping[str, Any]) -> tuple[bool, tuple[str, ...]]:
    """Whether the Ingress is being deleted, and its finalizers; read from the metadata
    alone and never an error, so that an Ingress whose spec cannot be read can still go
    (its finalizer removed once its part of the load balancer is gone)."""
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    if not isinstance(meta, Mapping):
        return False, ()
    finalizers = meta.get("finalizers")
    listed = tuple(f for f in finalizers if isinstance(f, str)) if isinstance(finalizers, list) else ()
    return bool(meta.get("deletionTimestamp")), listed


def routing_view(obj: Any) -> dict[str, Any]:
    """What decides where an Ingress belongs (namespace, name, annotations, class,
    finalizers), with every field of the wrong JSON type dropped: the contract's helpers
    (class selection, group names) read it and may assume the types the API server
    guarantees, whatever a stored or hand-written object holds."""
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    meta = meta if isinstance(meta, Mapping) else {}
    spec = obj.get("spec") if isinstance(obj, Mapping) else None
    class_name = spec.get("ingressClassName") if isinstance(spec, Mapping) else None
    annotations = meta.get("annotations")
    view_meta: dict[str, Any] = {
        k: meta[k] for k in ("namespace", "name", "uid") if isinstance(meta.get(k), str) and meta[k]
    }
    view_meta["annotations"] = (
        {k: v for k, v in annotations.items() if isinstance(k, str) and isinstance(v, str)}
        if isinstance(annotations, Mapping)
        else {}
    )
    deleting, finalizers = lifecycle(obj)
    view_meta["finalizers"] = list(finalizers)
    if deleting:
        view_meta["deletionTimestamp"] = str(meta.get("deletionTimestamp"))
    return {"metadata": view_meta, "spec": {"ingressClassName": class_name} if isinstance(class_name, str) else {}}


def group_key_of(obj: Mapping[str, Any], class_groups: Mapping[str, str] | None = None) -> str:
    """The group key for routing work (:func:`albatross.contract.membership.group_key_of`:
    the class's IngressClassParams group, else the annotation's, ADR 0004), read so that
    a malformed spec or group name still reaches the reconcile (in the implicit group),
    which reports it."""
    return membership.group_key_of(routing_view(obj), class_groups)
