"""Desired targets of a target group: the ready endpoints of its Service (ip mode), or
the instances of the Nodes that may serve (instance mode).

With pod readiness gates (ADR 0014) an endpoint that is not ready is a target too when
its pod is gated on the target group and its containers are ready (LBC's rule,
:func:`albatross.model.readiness.registrable`): its ``Ready`` waits for that very
target's health. :func:`waiting_pods` says which pods to read for that, and
:func:`gated_addresses` which of their addresses qualify.

Pure. A target is ``(Id, Port)`` as RegisterTargets takes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Set
from typing import Any

from albatross.contract.reading import listed, mapping
from albatross.k8s.node import Node
from albatross.k8s.service import EndpointSlice, Service
from albatross.model.readiness import registrable

Target = tuple[str, int]


def digest(targets: Set[Target]) -> str:
    """A short hash of a target set, to tell whether it changed since it was registered."""
    text = "\n".join(f"{i} {p}" for i, p in sorted(targets))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _waiting(raw_slices: Iterable[Mapping[str, Any]]) -> Iterable[tuple[Mapping[str, Any], str]]:
    """Each endpoint that is not ready and not terminating, with its pod's key."""
    for eps in raw_slices:
        namespace = str(mapping(eps.get("metadata")).get("namespace", ""))
        for endpoint in listed(eps.get("endpoints")):
            ref = mapping(mapping(endpoint).get("targetRef"))
            conditions = mapping(mapping(endpoint).get("conditions"))
            waiting = conditions.get("ready", True) is False and conditions.get("terminating") is not True
            if waiting and ref.get("kind") == "Pod" and ref.get("name"):
                yield mapping(endpoint), f"{ref.get('namespace') or namespace}/{ref['name']}"


def slice_pods(raw_slices: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every pod (``namespace/name``) the slices' endpoints name."""
    out = set()
    for eps in raw_slices:
        namespace = str(mapping(eps.get("metadata")).get("namespace", ""))
        for endpoint in listed(eps.get("endpoints")):
            ref = mapping(mapping(endpoint).get("targetRef"))
            if ref.get("kind") == "Pod" and ref.get("name"):
                out.add(f"{ref.get('namespace') or namespace}/{ref['name']}")
    return sorted(out)


def waiting_pods(raw_slices: Iterable[Mapping[str, Any]]) -> list[str]:
    """The pods (``namespace/name``) of the endpoints that are neither ready nor
    terminating: those a readiness gate may make targets."""
    return sorted({key for _, key in _waiting(raw_slices)})


def gated_addresses(
    raw_slices: Iterable[Mapping[str, Any]], pods: Mapping[str, Mapping[str, Any]], gate: str
) -> dict[str, Mapping[str, Any]]:
    """Address → pod, of the endpoints that are not ready but are targets of the target
    group gated by ``gate`` (``pods``: the gated pods by key, as the forwarder sent them)."""
    out: dict[str, Mapping[str, Any]] = {}
    for endpoint, key in _waiting(raw_slices):
        pod = pods.get(key)
        if pod is not None and registrable(endpoint, pod, gate):
            out.update({str(a): pod for a in listed(endpoint.get("addresses"))})
    return out


def ip_targets(
    *,
    binding: Mapping[str, Any],
    service: Service | None,
    slices: Iterable[EndpointSlice],
    gated: Set[str] = frozenset(),
) -> set[Target]:
    """Ready endpoint addresses on the port the Service port maps to, per slice, from the
    slices of the target group's address family; and those of ``gated`` (addresses of
    endpoints not ready, :func:`gated_addresses`)."""
    if service is None:
        return set()
    port = service.port(number=binding.get("servicePortNumber"), name=binding.get("servicePortName"))
    if port is None:
        return set()
    family = "IPv6" if binding.get("ipAddressType") == "ipv6" else "IPv4"
    out: set[Target] = set()
    for eps in slices:
        if eps.address_type != family or port.name not in eps.ports:
            continue
        target_port = eps.ports[port.name]
        for endpoint in eps.endpoints:
            if endpoint.terminating:
                continue
            if endpoint.ready or any(a in gated for a in endpoint.addresses):
                out.update((address, target_port) for address in endpoint.addresses)
    return out


def instance_targets(*, binding: Mapping[str, Any], port: int, nodes: Iterable[Node]) -> set[Target]:
    """The instances of the Nodes that serve and match the binding's node selector
    (``target-node-labels``), on the target group's port (the Service's NodePort)."""
    wanted = dict((binding.get("nodeSelector") or {}).get("matchLabels") or {})
    return {
        (str(n.instance_id), port) for n in nodes if n.serves() and all(n.labels.get(k) == v for k, v in wanted.items())
    }
