"""Service and EndpointSlice views: the ports a backend names and the endpoints behind them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from albatross.k8s.annotations import Annotations
from albatross.k8s.errors import ObjectError

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


def parse_service(obj: Mapping[str, Any]) -> Service:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    ports: list[ServicePort] = []
    for i, raw in enumerate(spec.get("ports") or []):
        port = raw.get("port") if isinstance(raw, Mapping) else None
        if not isinstance(port, int):
            raise ObjectError(f"Service {meta.get('namespace')}/{meta.get('name')}: spec.ports[{i}].port missing")
        target = raw.get("targetPort", port)
        ports.append(
            ServicePort(
                name=str(raw.get("name", "")),
                port=port,
                target_port=target if isinstance(target, int) else str(target),
                node_port=raw.get("nodePort") if isinstance(raw.get("nodePort"), int) else None,
                protocol=str(raw.get("protocol", "TCP")),
            )
        )
    return Service(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        type=str(spec.get("type", "ClusterIP")),
        ports=tuple(ports),
        annotations=Annotations(meta.get("annotations")),
        ip_families=tuple(str(f) for f in spec.get("ipFamilies") or ("IPv4",)),
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
    meta = obj.get("metadata") or {}
    service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    if not isinstance(service, str) or not service:
        raise ObjectError(f"EndpointSlice {meta.get('name')} has no {SERVICE_NAME_LABEL} label")
    ports = {
        str(p.get("name", "")): int(p["port"])
        for p in obj.get("ports") or []
        if isinstance(p, Mapping) and isinstance(p.get("port"), int)
    }
    endpoints = []
    for raw in obj.get("endpoints") or []:
        conditions = raw.get("conditions") or {}
        ready = _flag(conditions, "ready", True)
        endpoints.append(
            Endpoint(
                addresses=tuple(str(a) for a in raw.get("addresses") or ()),
                ready=ready,
                serving=_flag(conditions, "serving", ready),
                terminating=_flag(conditions, "terminating", False),
            )
        )
    return EndpointSlice(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        service=service,
        address_type=str(obj.get("addressType", "IPv4")),
        ports=ports,
        endpoints=tuple(endpoints),
    )
