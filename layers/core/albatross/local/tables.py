"""Server-side ``Table`` output for the Kubernetes API double (:mod:`albatross.local.kube`).

``kubectl get`` asks for ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...``
and prints the columns the API server sends. These are the columns and cell values
the real API server's printers give the kinds the double serves (Kubernetes'
``pkg/printers/internalversion``): Ingress (Name, Class, Hosts, Address, Ports, Age),
IngressClass (Name, Controller, Parameters, Age), Pod (Name, Ready, Status, Restarts,
Age; wide: IP, Node, Nominated Node, Readiness Gates), Deployment (Name, Ready,
Up-to-date, Available, Age; wide: Containers, Images, Selector), EndpointSlice (Name,
AddressType, Ports, Endpoints, Age), Event, Service, Namespace, Node, Secret, ConfigMap
and Lease. Wide columns have priority 1 (kubectl shows them with ``-o wide``); the
server always fills them, and never clips an address (it prints as wide).

A custom resource is printed as the API server prints one (apiextensions' table
convertor): its name, then its CRD's ``additionalPrinterColumns`` (:data:`CRD_COLUMNS`),
or only its age for a CRD that has none. A kind with no printer here is answered as a
plain list, and kubectl prints its own NAME and AGE, as it would for an API server
without tables.

Each row carries the object as ``includeObject`` asks: ``Metadata`` (the default) a
``PartialObjectMetadata``, ``Object`` the whole object, ``None`` nothing.
"""

from __future__ import annotations

import datetime
import decimal
import math
import re
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


def _selector(selector: Any) -> str:
    """A Deployment's ``spec.selector`` as the API server prints it (apimachinery's label
    selector string): its requirements sorted by key, ``key=value`` for each of
    ``matchLabels``, ``key in (a,b)`` and ``key notin (a,b)`` with the values sorted,
    ``key`` for Exists, ``!key`` for DoesNotExist; empty for no selector or an empty one,
    ``<invalid>`` for an operator there is none of."""
    if not isinstance(selector, Mapping):
        return ""
    requirements = [(str(k), f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for expression in selector.get("matchExpressions") or []:
        key, operator = str(expression.get("key", "")), expression.get("operator")
        values = ",".join(sorted(str(v) for v in expression.get("values") or []))
        if operator == "In":
            requirements.append((key, f"{key} in ({values})"))
        elif operator == "NotIn":
            requirements.append((key, f"{key} notin ({values})"))
        elif operator == "Exists":
            requirements.append((key, key))
        elif operator == "DoesNotExist":
            requirements.append((key, f"!{key}"))
        else:
            return "<invalid>"
    return ",".join(text for _, text in sorted(requirements, key=lambda r: r[0]))


def _deployment(obj: Mapping[str, Any]) -> list[Any]:
    replicas = _get(obj, "spec.replicas")
    desired = 1 if replicas is None else int(replicas)  # the API server defaults spec.replicas to 1
    status = obj.get("status") or {}
    containers = [c for c in _get(obj, "spec.template.spec.containers") or [] if isinstance(c, Mapping)]
    return [
        _get(obj, "metadata.name"),
        f"{int(status.get('readyReplicas') or 0)}/{desired}",
        int(status.get("updatedReplicas") or 0),
        int(status.get("availableReplicas") or 0),
        _age(obj),
        ",".join(str(c.get("name") or "") for c in containers),
        ",".join(str(c.get("image") or "") for c in containers),
        _selector(_get(obj, "spec.selector")),
    ]


def _first_three(shown: list[str]) -> str:
    """The EndpointSlice printer's lists: the first three, then ``+ N more...`` for the
    rest; ``<unset>`` for none."""
    text = ",".join(shown[:3])
    if len(shown) > 3:
        return f"{text} + {len(shown) - 3} more..."
    return text or "<unset>"


def _endpoint_slice(obj: Mapping[str, Any]) -> list[Any]:
    ports = [
        str(p["port"]) if p.get("port") is not None else str(p["name"]) if p.get("name") is not None else "*"
        for p in obj.get("ports") or []
        if isinstance(p, Mapping)
    ]
    addresses = [
        str(address)
        for endpoint in obj.get("endpoints") or []
        if isinstance(endpoint, Mapping)
        for address in endpoint.get("addresses") or []
    ]
    return [
        _get(obj, "metadata.name"),
        obj.get("addressType") or "",
        _first_three(ports),
        _first_three(addresses),
        _age(obj),
    ]


# --- custom resources -------------------------------------------------------------------

# Each CRD's additionalPrinterColumns, as its CRD declares them: TargetGroupBinding's
# from forwarder/deploy/components/targetgroupbinding-crd/targetgroupbindings.yaml (the
# CRD Albatross ships); no CRD of IngressClassParams ships here, so it has none.
CRD_COLUMNS: dict[str, tuple[Mapping[str, Any], ...]] = {
    "TargetGroupBinding": (
        {"name": "SERVICE-NAME", "type": "string", "jsonPath": ".spec.serviceRef.name"},
        {"name": "SERVICE-PORT", "type": "string", "jsonPath": ".spec.serviceRef.port"},
        {"name": "TARGET-TYPE", "type": "string", "jsonPath": ".spec.targetType"},
        {"name": "ARN", "type": "string", "jsonPath": ".spec.targetGroupARN", "priority": 1},
        {"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ),
    "IngressClassParams": (),
}
# What the API server shows of a custom resource whose CRD declares no columns
_CRD_AGE: Mapping[str, Any] = {
    "name": "Age",
    "type": "date",
    "description": _AGE[2],
    "jsonPath": ".metadata.creationTimestamp",
}
_MISSING = object()
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def _json_path(obj: Any, path: str) -> Any:
    """What a CRD column's simple JSONPath (``.a.b``, ``.a[0].b``) finds, or ``_MISSING``."""
    value = obj
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(value, list) or index >= len(value):
                return _MISSING
            value = value[index]
        elif isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def _go_float(value: float) -> str:
    """A float as Go's ``fmt`` prints it (``%v``: the shortest digits that read back as
    the value, with an exponent of two digits or more below 1e-4 and from 1e+06 on)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return f"{sign}0"
    _, digits, exponent = decimal.Decimal(repr(abs(value))).normalize().as_tuple()
    assert isinstance(exponent, int)  # a finite value's
    shown = "".join(map(str, digits))
    point = len(shown) + exponent  # where the decimal point falls in the digits
    if not -4 <= point - 1 < 6:
        rest = f".{shown[1:]}" if len(shown) > 1 else ""
        return f"{sign}{shown[0]}{rest}e{'-' if point < 1 else '+'}{abs(point - 1):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{shown}"
    if point >= len(shown):
        return f"{sign}{shown}{'0' * (point - len(shown))}"
    return f"{sign}{shown[:point]}.{shown[point:]}"


def _go_text(value: Any) -> str:
    """A JSON value as Go's ``fmt`` prints it, as a CRD's string column does."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{_go_text(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_text(v) for v in value) + "]"
    return "<nil>"


def _crd_cell(kind: str, value: Any) -> Any:
    """A custom resource's cell of a column of type ``kind``: a string column prints the
    value; the others send it as JSON of their type, and nothing (a blank cell) for a
    value not of it; a date its age, ``<invalid>`` for one that is no RFC 3339 time."""
    if value is _MISSING or value is None:
        return None
    if kind == "string":
        return _go_text(value)
    if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        if value in ("", "null"):
            return "<unknown>"
        return since(value) if _RFC3339.fullmatch(value) else "<invalid>"
    return None


def custom_resource(columns: Sequence[Mapping[str, Any]]) -> tuple[Sequence[Column], Row]:
    """The printer of a custom resource whose CRD declares these additionalPrinterColumns."""
    shown = tuple(columns) or (_CRD_AGE,)
    definitions = (
        _NAME,
        *(
            (
                str(c["name"]),
                str(c["type"]),
                str(c.get("description") or f"Custom resource definition column (in JSONPath format): {c['jsonPath']}"),
                int(c.get("priority") or 0),
            )
            for c in shown
        ),
    )

    def row(obj: Mapping[str, Any]) -> list[Any]:
        return [
            _get(obj, "metadata.name"),
            *(_crd_cell(str(c["type"]), _json_path(obj, str(c["jsonPath"]))) for c in shown),
        ]

    return definitions, row


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
    "Deployment": (
        (
            _NAME,
            _text("Ready", "Number of the pod with ready state"),
            _text(
                "Up-to-date",
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            _text(
                "Available",
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
            _AGE,
            _text("Containers", "Names of each container in the template.", 1),
            _text("Images", "Images referenced by each container in the template.", 1),
            _text("Selector", "Label selector for pods.", 1),
        ),
        _deployment,
    ),
    "EndpointSlice": (
        (
            _NAME,
            _text("AddressType", "addressType specifies the type of address carried by this EndpointSlice."),
            _text("Ports", "ports specifies the list of network ports exposed by each endpoint in this slice."),
            _text("Endpoints", "endpoints is a list of unique endpoints in this slice."),
            _AGE,
        ),
        _endpoint_slice,
    ),
    **{kind: custom_resource(columns) for kind, columns in CRD_COLUMNS.items()},
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
