"""Server-side ``Table`` output for the Kubernetes API double (:mod:`albatross.local.kube`).

``kubectl get`` asks for ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...``
and prints the columns the API server sends. These are the columns and cell values
the real API server's printers give the kinds the double serves (Kubernetes'
``pkg/printers/internalversion``): Ingress (Name, Class, Hosts, Address, Ports, Age),
IngressClass (Name, Controller, Parameters, Age), Pod (Name, Ready, Status, Restarts,
Age; wide: IP, Node, Nominated Node, Readiness Gates), Event, Service, Namespace, Node,
Secret, ConfigMap and Lease. Wide columns have priority 1 (kubectl shows them with
``-o wide``); the server always fills them, and never clips an address (it prints as
wide). A kind with no printer here (Deployment, EndpointSlice, the CRDs) is answered
as a plain list, and kubectl prints its own NAME and AGE, as it would for an API
server without tables.

Each row carries the object as ``includeObject`` asks: ``Metadata`` (the default) a
``PartialObjectMetadata``, ``Object`` the whole object, ``None`` nothing.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Column = tuple[str, str, str, int]  # name, type, description, priority
Row = Callable[[Mapping[str, Any]], list[Any]]

_NAME: Column = ("Name", "string", "Name must be unique within a namespace.", 0)
_AGE: Column = (
    "Age",
    "string",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
    0,
)
NONE = "<none>"
INCLUDE = ("None", "Object", "Metadata")


def _get(obj: Mapping[str, Any], path: str) -> Any:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _parse_time(text: Any) -> datetime.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """A duration as Kubernetes prints ages (apimachinery's ``HumanDuration``)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"  # a second of clock skew reads as now
    if s < 60 * 2:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = (s % 3600) // 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def since(text: Any, now: datetime.datetime | None = None) -> str:
    """How long ago a timestamp was, or ``<unknown>`` for none (the printers' wording)."""
    then = _parse_time(text)
    if then is None:
        return "<unknown>"
    return human_duration(((now or datetime.datetime.now(datetime.UTC)) - then).total_seconds())


def _age(obj: Mapping[str, Any]) -> str:
    return since(_get(obj, "metadata.creationTimestamp"))


def _labels(selector: Any) -> str:
    if not isinstance(selector, Mapping) or not selector:
        return NONE
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def _balancer_addresses(obj: Mapping[str, Any]) -> list[str]:
    """An Ingress's or a Service's ``status.loadBalancer.ingress`` points, sorted (both
    printers show them the same way)."""
    return sorted(
        {
            str(i.get("ip") or i.get("hostname"))
            for i in _get(obj, "status.loadBalancer.ingress") or []
            if isinstance(i, Mapping) and (i.get("ip") or i.get("hostname"))
        }
    )


def _text(name: str, description: str, priority: int = 0) -> Column:
    """A string column (every column the printers here send is one); priority 1: wide only."""
    return (name, "string", description, priority)


def _name_then(*cells: Callable[[Mapping[str, Any]], Any]) -> Row:
    """A row of the object's name, ``cells`` of it, then its age: the printers' short kinds."""
    return lambda obj: [_get(obj, "metadata.name"), *(cell(obj) for cell in cells), _age(obj)]


# --- the kinds --------------------------------------------------------------------------


def _ingress(obj: Mapping[str, Any]) -> list[Any]:
    hosts = [str(r.get("host")) for r in _get(obj, "spec.rules") or [] if isinstance(r, Mapping) and r.get("host")]
    rules = len(_get(obj, "spec.rules") or [])
    shown = ",".join(hosts[:3]) if hosts else "*"
    if rules > 3 and hosts:  # the printer names three hosts, then counts the other rules
        shown += f" + {rules - 3} more..."
    return [
        _get(obj, "metadata.name"),
        _get(obj, "spec.ingressClassName") or NONE,
        shown,
        ",".join(_balancer_addresses(obj)),
        "80, 443" if _get(obj, "spec.tls") else "80",
        _age(obj),
    ]


def _ingress_class(obj: Mapping[str, Any]) -> list[Any]:
    params = _get(obj, "spec.parameters")
    shown = NONE
    if isinstance(params, Mapping):
        shown = str(params.get("kind", ""))
        if params.get("apiGroup"):
            shown += f".{params['apiGroup']}"
        shown += f"/{params.get('name', '')}"
    return [_get(obj, "metadata.name"), _get(obj, "spec.controller") or "", shown, _age(obj)]


def _pod(obj: Mapping[str, Any]) -> list[Any]:
    containers = _get(obj, "spec.containers") or []
    statuses = [s for s in _get(obj, "status.containerStatuses") or [] if isinstance(s, Mapping)]
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
    reason = str(_get(obj, "status.reason") or _get(obj, "status.phase") or "")
    for s in statuses:
        waiting = (s.get("state") or {}).get("waiting")
        if isinstance(waiting, Mapping) and waiting.get("reason"):
            reason = str(waiting["reason"])
    if _get(obj, "metadata.deletionTimestamp"):
        reason = "Terminating"
    gates = [g.get("conditionType") for g in _get(obj, "spec.readinessGates") or [] if isinstance(g, Mapping)]
    passed = {
        c.get("type")
        for c in _get(obj, "status.conditions") or []
        if isinstance(c, Mapping) and c.get("status") == "True"
    }
    return [
        _get(obj, "metadata.name"),
        f"{ready}/{len(containers)}",
        reason,
        str(restarts),
        _age(obj),
        _get(obj, "status.podIP") or NONE,
        _get(obj, "spec.nodeName") or NONE,
        _get(obj, "status.nominatedNodeName") or NONE,
        f"{sum(1 for g in gates if g in passed)}/{len(gates)}" if gates else NONE,
    ]


def _event(obj: Mapping[str, Any]) -> list[Any]:
    first = obj.get("firstTimestamp") or obj.get("eventTime")
    last = _get(obj, "series.lastObservedTime") or obj.get("lastTimestamp") or obj.get("eventTime")
    involved = obj.get("involvedObject") or {}
    source = str(_get(obj, "source.component") or obj.get("reportingComponent") or "")
    if _get(obj, "source.host"):
        source += f", {_get(obj, 'source.host')}"
    count = _get(obj, "series.count") or obj.get("count") or 1
    return [
        since(last),
        obj.get("type") or "",
        obj.get("reason") or "",
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        involved.get("fieldPath") or "",
        source,
        (obj.get("message") or "").strip(),
        since(first),
        str(count),
        _get(obj, "metadata.name"),
    ]


def _service_ports(obj: Mapping[str, Any]) -> str:
    ports = []
    for p in _get(obj, "spec.ports") or []:
        if not isinstance(p, Mapping):
            continue
        protocol = p.get("protocol") or "TCP"
        node = f":{p['nodePort']}" if p.get("nodePort") else ""
        ports.append(f"{p.get('port')}{node}/{protocol}")
    return ",".join(ports) or NONE


def _service(obj: Mapping[str, Any]) -> list[Any]:
    kind = _get(obj, "spec.type") or "ClusterIP"
    external = list(_get(obj, "spec.externalIPs") or [])
    if kind == "LoadBalancer":
        shown = ",".join(_balancer_addresses(obj) + external) or "<pending>"
    elif kind == "ExternalName":
        shown = str(_get(obj, "spec.externalName") or "")
    else:
        shown = ",".join(external) or NONE
    return [
        _get(obj, "metadata.name"),
        kind,
        _get(obj, "spec.clusterIP") or NONE,
        shown,
        _service_ports(obj),
        _age(obj),
        _labels(_get(obj, "spec.selector")),
    ]


def _node(obj: Mapping[str, Any]) -> list[Any]:
    ready = next(
        (c for c in _get(obj, "status.conditions") or [] if isinstance(c, Mapping) and c.get("type") == "Ready"), None
    )
    status = "Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"
    if _get(obj, "spec.unschedulable"):
        status += ",SchedulingDisabled"
    labels = _get(obj, "metadata.labels") or {}
    roles = sorted(
        {k.removeprefix("node-role.kubernetes.io/") for k in labels if k.startswith("node-role.kubernetes.io/")}
        | ({str(labels["kubernetes.io/role"])} if labels.get("kubernetes.io/role") else set())
    )
    addresses = _get(obj, "status.addresses") or []

    def address(kind: str) -> str:
        return next((str(a["address"]) for a in addresses if isinstance(a, Mapping) and a.get("type") == kind), NONE)

    info = _get(obj, "status.nodeInfo") or {}
    return [
        _get(obj, "metadata.name"),
        status,
        ",".join(r for r in roles if r) or NONE,
        _age(obj),
        info.get("kubeletVersion") or "",
        address("InternalIP"),
        address("ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


PRINTERS: dict[str, tuple[Sequence[Column], Row]] = {
    "Ingress": (
        (
            _NAME,
            _text("Class", "The name of the IngressClass resource that should be used for additional configuration"),
            _text("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
            _text("Address", "Address is a list containing ingress points for the load-balancer"),
            _text("Ports", "Ports of TLS configurations that open"),
            _AGE,
        ),
        _ingress,
    ),
    "IngressClass": (
        (
            _NAME,
            _text("Controller", "Controller that is responsible for handling this class"),
            _text("Parameters", "A reference to a resource with additional parameters"),
            _AGE,
        ),
        _ingress_class,
    ),
    "Pod": (
        (
            _NAME,
            _text("Ready", "The aggregate readiness state of this pod for accepting traffic."),
            _text("Status", "The aggregate status of the containers in this pod."),
            _text("Restarts", "The number of times the containers in this pod have been restarted."),
            _AGE,
            _text("IP", "IP address allocated to the pod.", 1),
            _text("Node", "NodeName is the name of the node the pod is scheduled on.", 1),
            _text("Nominated Node", "The node the scheduler nominated for the pod.", 1),
            _text("Readiness Gates", "The pod's readiness gates: how many are passed, of how many.", 1),
        ),
        _pod,
    ),
    "Event": (
        (
            _text("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
            _text("Type", "Type of this event (Normal, Warning)."),
            _text("Reason", "The reason for the transition into the object's current status."),
            _text("Object", "The object that this event is about."),
            _text("Subobject", "The part of the object this event is about (its field path).", 1),
            _text("Source", "The component reporting this event.", 1),
            _text("Message", "A human-readable description of the status of this operation."),
            _text("First Seen", "The time at which the event was first recorded.", 1),
            _text("Count", "The number of times this event has occurred.", 1),
            _text("Name", "Name must be unique within a namespace.", 1),
        ),
        _event,
    ),
    "Service": (
        (
            _NAME,
            _text("Type", "How the Service is exposed."),
            _text("Cluster-IP", "The IP address of the service."),
            _text("External-IP", "The service's external addresses."),
            _text("Port(s)", "The ports that are exposed by this service."),
            _AGE,
            _text("Selector", "Route service traffic to pods with label keys and values matching this selector.", 1),
        ),
        _service,
    ),
    "Namespace": (
        (_NAME, _text("Status", "The status of the namespace"), _AGE),
        # the API server sets status.phase Active on every new namespace
        _name_then(lambda obj: _get(obj, "status.phase") or "Active"),
    ),
    "Node": (
        (
            _NAME,
            _text("Status", "The status of the node"),
            _text("Roles", "The roles of the node"),
            _AGE,
            _text("Version", "Kubelet Version reported by the node."),
            _text("Internal-IP", "List of addresses reachable to the node.", 1),
            _text("External-IP", "List of addresses reachable to the node.", 1),
            _text("OS-Image", "OS Image reported by the node.", 1),
            _text("Kernel-Version", "Kernel Version reported by the node.", 1),
            _text("Container-Runtime", "ContainerRuntime Version reported by the node.", 1),
        ),
        _node,
    ),
    "Secret": (
        (
            _NAME,
            _text("Type", "Used to facilitate programmatic handling of secret data."),
            _text("Data", "The number of keys of the secret's data."),
            _AGE,
        ),
        _name_then(lambda obj: obj.get("type") or "Opaque", lambda obj: str(len(obj.get("data") or {}))),
    ),
    "ConfigMap": (
        (_NAME, _text("Data", "The number of keys of the ConfigMap's data."), _AGE),
        _name_then(lambda obj: str(len(obj.get("data") or {}) + len(obj.get("binaryData") or {}))),
    ),
    "Lease": (
        (_NAME, _text("Holder", "The identity of the holder of a current lease."), _AGE),
        _name_then(lambda obj: _get(obj, "spec.holderIdentity") or ""),
    ),
}


def wanted(accept: str | None) -> str | None:
    """The Table version (``v1`` or ``v1beta1``) an Accept header asks for first, or None
    when it prefers plain JSON (or names no Table)."""
    for media in (accept or "").split(","):
        kind, *params = (p.strip() for p in media.split(";"))
        values = dict(p.split("=", 1) for p in params if "=" in p)
        if kind not in ("application/json", "*/*"):
            continue
        if values.get("as") == "Table" and values.get("g") == "meta.k8s.io" and values.get("v") in ("v1", "v1beta1"):
            return values["v"]
        if "as" not in values:
            return None  # plain JSON comes before any Table
    return None


def table(
    kind: str,
    items: Sequence[Mapping[str, Any]],
    *,
    version: str,
    include: str,
    metadata: Mapping[str, Any],
) -> dict[str, Any] | None:
    """The Table of ``items`` of ``kind``, or None for a kind with no printer here."""
    printer = PRINTERS.get(kind)
    if printer is None:
        return None
    columns, row = printer
    rows = []
    for obj in items:
        out: dict[str, Any] = {"cells": row(obj)}
        if include == "Object":
            out["object"] = obj
        elif include == "Metadata":
            out["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": f"meta.k8s.io/{version}",
                "metadata": obj.get("metadata") or {},
            }
        rows.append(out)
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": dict(metadata),
        "columnDefinitions": [
            {"name": n, "type": t, "format": "name" if n == "Name" else "", "description": d, "priority": p}
            for n, t, d, p in columns
        ],
        "rows": rows,
    }
