"""Target groups: one per (Ingress, Service, port), with LBC's port rules, health check
defaults and annotation handling (a Service's annotations win over its Ingress's). Tags,
as LBC: the controller's default tags, then IngressClassParams tags, then the Service's
``tags``, then the Ingress's, key by key; the ownership tags over all.

ALB's target optimizer, as LBC reads it: ``target-control-port.<service>.<port>`` (the
backend's Service name and port as the path names them) gives the target group a
``TargetControlPort``, the port of the agent on each target (``ip`` targets only, as
LBC refuses it on ``instance`` ones). AWS takes it only when the
target group is created, so it is part of the name (LBC's formula, the port joining the
hash only when set): a changed port is a new target group, and the old one is replaced."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from albatross.k8s.annotations import PREFIX, Annotations, digits
from albatross.k8s.errors import AnnotationError, ObjectError
from albatross.k8s.ingress import GroupID, Ingress
from albatross.k8s.service import Service, ServicePort
from albatross.model import names
from albatross.model.config import ControllerConfig
from albatross.model.stack import TARGET_GROUP, Resource

TARGET_TYPES = ("instance", "ip")
BACKEND_PROTOCOLS = ("HTTP", "HTTPS")
PROTOCOL_VERSIONS = ("HTTP1", "HTTP2", "GRPC")


@dataclass(frozen=True)
class BackendRef:
    ingress: Ingress
    service: str  # name, in the Ingress's namespace
    port_number: int | None
    port_name: str | None

    @property
    def port_text(self) -> str:
        return str(self.port_number) if self.port_number is not None else str(self.port_name)


def _health_port(a: Annotations, svc: Service, target_type: str) -> str:
    raw = a.raw("healthcheck-port")
    if raw is None or raw == "traffic-port":
        return "traffic-port"
    number = digits(raw)
    if number is not None:
        if not 1 <= number <= 65535:
            raise AnnotationError(PREFIX + "healthcheck-port", raw, "must be traffic-port or a port in 1..65535")
        return str(number)
    port = svc.port(number=None, name=raw)
    if port is None:
        raise AnnotationError(
            PREFIX + "healthcheck-port",
            raw,
            f"failed to resolve healthCheckPort: unable to find port {raw} on service {svc.key}",
        )
    if target_type == "instance":
        if port.node_port is None:
            raise AnnotationError(PREFIX + "healthcheck-port", raw, f"port {raw} of {svc.key} has no nodePort")
        return str(port.node_port)
    if not isinstance(port.target_port, int):
        raise AnnotationError(
            PREFIX + "healthcheck-port",
            raw,
            "cannot use named healthCheckPort for IP TargetType when service's targetPort is a named port",
        )
    return str(port.target_port)


def _control_port(a: Annotations, ref: BackendRef, target_type: str) -> int | None:
    """``target-control-port.<service>.<port>`` for this backend, or None. LBC refuses it
    on an instance target group."""
    name = f"target-control-port.{ref.service}.{ref.port_text}"
    raw = a.raw(name)
    if raw is None:
        return None
    port = a.integer(name, default=0, low=1, high=65535)
    if target_type == "instance":
        raise AnnotationError(
            PREFIX + name, raw, "target control port is not supported for instance target target group"
        )
    return port


def _attributes(a: Annotations) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted((a.string_map("target-group-attributes") or {}).items())]


def target_port(port: ServicePort, target_type: str, svc: Service) -> int:
    """LBC: the NodePort for instance targets, the numeric targetPort for ip targets, and
    1 for a named targetPort (the port is then taken per endpoint)."""
    if target_type == "instance":
        if port.node_port is None:
            raise ObjectError(
                "TargetGroup port is empty. When using Instance targets, your service be must of type "
                f"'NodePort' or 'LoadBalancer' (service {svc.key})"
            )
        return port.node_port
    return port.target_port if isinstance(port.target_port, int) else 1


def _choice(a: Annotations, name: str, allowed: tuple[str, ...], default: str, reason: str) -> str:
    """An annotation that must be one of ``allowed``; ``reason`` is LBC's message for
    another value (``{value}`` stands for it)."""
    value = a.raw(name)
    if value is None:
        return default
    if value not in allowed:
        raise AnnotationError(PREFIX + name, value, reason.format(value=value))
    return value


def _tags(
    config: ControllerConfig, ingress: Annotations, service: Service, class_tags: Mapping[str, str]
) -> dict[str, str]:
    ingress_tags, service_tags = ingress.string_map("tags") or {}, service.annotations.string_map("tags") or {}
    for key in {**ingress_tags, **service_tags}:
        if key in config.external_managed_tags:
            raise ObjectError(f"external managed tag key {key} cannot be specified")
    return {**ingress_tags, **service_tags, **class_tags, **config.default_tags}


def build(
    *,
    config: ControllerConfig,
    group: GroupID,
    ref: BackendRef,
    service: Service,
    dualstack: bool,
    traffic_from: Any = None,
    class_tags: Mapping[str, str] | None = None,
    class_target_type: str | None = None,
) -> tuple[str, Resource]:
    """(resource id, target group) for one backend. ``traffic_from``: the security group
    (id or ref) the targets must admit, or None when Albatross does not manage the backend
    rules; ``class_tags`` and ``class_target_type``: the Ingress's IngressClassParams
    tags and targetType (which wins over the annotations, as in LBC)."""
    a = ref.ingress.annotations.under(service.annotations)
    if class_target_type is not None:
        if class_target_type not in TARGET_TYPES:
            raise ObjectError(f"unknown targetType: {class_target_type} (IngressClassParams)")
        target_type = class_target_type
    else:
        target_type = _choice(a, "target-type", TARGET_TYPES, config.default_target_type, "unknown targetType: {value}")
    if target_type == "ip" and not config.enable_ip_target_type:
        raise AnnotationError(
            PREFIX + "target-type", "ip", "unsupported targetType: ip when EnableIPTargetType is false"
        )
    protocol = _choice(
        a, "backend-protocol", BACKEND_PROTOCOLS, "HTTP", "backend protocol must be within [HTTP, HTTPS]: {value}"
    )
    version = _choice(
        a,
        "backend-protocol-version",
        PROTOCOL_VERSIONS,
        "HTTP1",
        "backend protocol version must be within [HTTP1, HTTP2, GRPC]: {value}",
    )
    port = service.port(number=ref.port_number, name=ref.port_name)
    if port is None:
        raise ObjectError(f"unable to find port {ref.port_text} on service {service.key}")
    tg_port = target_port(port, target_type, service)
    ipv6 = "IPv6" in service.ip_families and target_type == "ip"
    if ipv6 and not dualstack:
        raise ObjectError("unsupported IPv6 configuration, lb not dual-stack")
    grpc = version == "GRPC"
    codes = a.string("success-codes") or ("12" if grpc else "200")
    control_port = _control_port(a, ref, target_type)
    rid = names.target_group_id(
        ingress_namespace=ref.ingress.namespace, ingress_name=ref.ingress.name, service=ref.service, port=ref.port_text
    )
    name = names.target_group_name(
        cluster=config.cluster,
        group=group,
        ingress_namespace=ref.ingress.namespace,
        ingress_name=ref.ingress.name,
        service_namespace=service.namespace,
        service_name=service.name,
        service_uid=service.uid,
        service_port=ref.port_text,
        target_port=tg_port,
        target_type=target_type,
        protocol=protocol,
        protocol_version=version,
        target_control_port=control_port,
    )
    tracking = names.stack_tags(cluster=config.cluster, group=group, resource_id=rid)
    tags = {**_tags(config, ref.ingress.annotations, service, class_tags or {}), **tracking}
    properties: dict[str, Any] = {
        "Name": name,
        "Protocol": protocol,
        "ProtocolVersion": version,
        "Port": tg_port,
        "TargetType": target_type,
        "VpcId": config.vpc_id,
        "IpAddressType": "ipv6" if ipv6 else "ipv4",
        "HealthCheckEnabled": True,
        "HealthCheckPath": a.string("healthcheck-path") or ("/AWS.ALB/healthcheck" if grpc else "/"),
        "HealthCheckPort": _health_port(a, service, target_type),
        "HealthCheckProtocol": _choice(
            a, "healthcheck-protocol", BACKEND_PROTOCOLS, protocol, "healthCheckProtocol must be within [HTTP, HTTPS]"
        ),
        "HealthCheckIntervalSeconds": a.integer("healthcheck-interval-seconds", default=15, low=5, high=300),
        "HealthCheckTimeoutSeconds": a.integer("healthcheck-timeout-seconds", default=5, low=2, high=120),
        "HealthyThresholdCount": a.integer("healthy-threshold-count", default=2, low=2, high=10),
        "UnhealthyThresholdCount": a.integer("unhealthy-threshold-count", default=2, low=2, high=10),
        "Matcher": {"GrpcCode": codes} if grpc else {"HttpCode": codes},
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
    }
    if control_port is not None:
        properties["TargetControlPort"] = control_port
    attributes = _attributes(a)
    if attributes:
        properties["Attributes"] = attributes
    binding: dict[str, Any] = {
        "service": service.key,
        "servicePortNumber": ref.port_number,
        "servicePortName": ref.port_name,
        "targetType": target_type,
    }
    if ipv6:
        binding["ipAddressType"] = "ipv6"  # targets come from the IPv6 EndpointSlices
    if traffic_from is not None:
        ports = [{"Protocol": "TCP", "Port": tg_port if tg_port != 1 else port.target_port}]
        health = properties["HealthCheckPort"]
        if health != "traffic-port" and str(health) != str(ports[0]["Port"]):
            ports.append({"Protocol": "TCP", "Port": int(health)})
        # the load balancer talks to each target's agent on its control port too (LBC
        # opens it from the same source)
        if control_port is not None and all(p["Port"] != control_port for p in ports):
            ports.append({"Protocol": "TCP", "Port": control_port})
        binding["networking"] = {"ingress": [{"from": [{"securityGroup": traffic_from}], "ports": ports}]}
    node_labels = a.string_map("target-node-labels")
    if node_labels and target_type == "instance":
        binding["nodeSelector"] = {"matchLabels": node_labels}
    if a.boolean("multi-cluster-target-group", False):
        # shared with other clusters: only the targets this cluster registered are ever
        # deregistered (albatross.controller.phases.sync_targets, ADR 0013)
        binding["multiCluster"] = True
    return rid, Resource(type=TARGET_GROUP, properties=properties, binding=binding)
