"""Service and EndpointSlice views: the ports a backend names and the endpoints behind them.

Reading is total (:mod:`albatross.k8s.errors`): a malformed object raises ObjectError
naming the object and the field, the user's error on each member that needs it; any
other exception is a defect of ours, which the assembly reports as internal
(:mod:`albatross.model.assemble`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from albatross.k8s.annotations import Annotations
from albatross.k8s.errors import ObjectError, as_list, as_mapping, as_strings, integer, text

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class ServicePort:
    name: str
    port: int
    target_port: int | str
    node_port: int | None
    protocol: str


@dataclass(frozen=True)
class Service:
    namespace: str
    name: str
    uid: str
    type: str
    ports: tuple[ServicePort, ...]
    annotations: Annotations = field(default_factory=lambda: Annotations({}))
    ip_families: tuple[str, ...] = ("IPv4",)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def port(self, *, number: int | None, name: str | None) -> ServicePort | None:
        for p in self.ports:
            if (number is not None and p.port == number) or (name is not None and p.name == name):
                return p
        return None


def _meta(obj: Any, kind: str) -> tuple[Mapping[str, Any], str]:
    """An object's metadata and how messages name it."""
    if not isinstance(obj, Mapping):
        raise ObjectError(f"a {kind} must be an object")
    meta = as_mapping(obj.get("metadata"), f"{kind} metadata")
    namespace, name = meta.get("namespace"), meta.get("name")
    if not isinstance(name, str) or not name or not isinstance(namespace, (str, type(None))):
        raise ObjectError(f"{kind} needs metadata.name (and a string metadata.namespace)")
    return meta, f"{kind} {namespace or ''}/{name}"


def parse_service(obj: Mapping[str, Any]) -> Service:
    """Build the view; raise ObjectError on a malformed object."""
    meta, where = _meta(obj, "Service")
    spec = as_mapping(obj.get("spec"), f"{where}: spec")
    ports: list[ServicePort] = []
    for i, raw in enumerate(as_list(spec.get("ports"), f"{where}: spec.ports")):
        if not isinstance(raw, Mapping):
            raise ObjectError(f"{where}: spec.ports[{i}] must be an object")
        port = raw.get("port")
        if port is None:
            raise ObjectError(f"{where}: spec.ports[{i}].port missing")
        if not integer(port):
            raise ObjectError(f"{where}: spec.ports[{i}].port must be a number")
        target = raw.get("targetPort", port)
        if not integer(target) and not isinstance(target, str):
            raise ObjectError(f"{where}: spec.ports[{i}].targetPort must be a number or a name")
        node_port = raw.get("nodePort")
        ports.append(
            ServicePort(
                name=text(raw.get("name"), f"{where}: spec.ports[{i}].name"),
                port=port,
                target_port=target,
                node_port=node_port if integer(node_port) else None,
                protocol=text(raw.get("protocol"), f"{where}: spec.ports[{i}].protocol", "TCP"),
            )
        )
    families = as_list(spec.get("ipFamilies"), f"{where}: spec.ipFamilies")
    return Service(
        namespace=text(meta.get("namespace"), f"{where}: metadata.namespace"),
        name=str(meta["name"]),
        uid=str(meta.get("uid", "")),
        type=text(spec.get("type"), f"{where}: spec.type", "ClusterIP"),
        ports=tuple(ports),
        annotations=Annotations(as_strings(meta.get("annotations"), f"{where}: metadata.annotations")),
        ip_families=tuple(str(f) for f in families) or ("IPv4",),
    )


@dataclass(frozen=True)
class Endpoint:
    addresses: tuple[str, ...]
    ready: bool
    serving: bool
    terminating: bool


@dataclass(frozen=True)
class EndpointSlice:
    namespace: str
    name: str
    service: str
    address_type: str
    ports: Mapping[str, int]
    endpoints: tuple[Endpoint, ...]


def _flag(conditions: Mapping[str, Any], name: str, default: bool) -> bool:
    value = conditions.get(name)
    return default if value is None else bool(value)


def parse_endpoint_slice(obj: Mapping[str, Any]) -> EndpointSlice:
    """Build the view; raise ObjectError on a malformed object."""
    meta, where = _meta(obj, "EndpointSlice")
    service = as_mapping(meta.get("labels"), f"{where}: metadata.labels").get(SERVICE_NAME_LABEL)
    if not isinstance(service, str) or not service:
        raise ObjectError(f"{where} has no {SERVICE_NAME_LABEL} label")
    ports = {
        str(p.get("name") or ""): int(p["port"])
        for p in as_list(obj.get("ports"), f"{where}: ports")
        if isinstance(p, Mapping) and integer(p.get("port"))
    }
    endpoints = []
    for i, raw in enumerate(as_list(obj.get("endpoints"), f"{where}: endpoints")):
        if not isinstance(raw, Mapping):
            raise ObjectError(f"{where}: endpoints[{i}] must be an object")
        conditions = as_mapping(raw.get("conditions"), f"{where}: endpoints[{i}].conditions")
        ready = _flag(conditions, "ready", True)
        endpoints.append(
            Endpoint(
                addresses=tuple(str(a) for a in as_list(raw.get("addresses"), f"{where}: endpoints[{i}].addresses")),
                ready=ready,
                serving=_flag(conditions, "serving", ready),
                terminating=_flag(conditions, "terminating", False),
            )
        )
    return EndpointSlice(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta["name"]),
        service=service,
        address_type=text(obj.get("addressType"), f"{where}: addressType", "IPv4"),
        ports=ports,
        endpoints=tuple(endpoints),
    )
