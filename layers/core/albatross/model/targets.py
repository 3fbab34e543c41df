"""Desired targets of a target group: the ready endpoints of its Service (ip mode), or
the instances of the Nodes that may serve (instance mode).

Pure. A target is ``(Id, Port)`` as RegisterTargets takes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Set
from typing import Any

from albatross.k8s.node import Node
from albatross.k8s.service import EndpointSlice, Service

Target = tuple[str, int]


def digest(targets: Set[Target]) -> str:
    """A short hash of a target set, to tell whether it changed since it was registered."""
    text = "\n".join(f"{i} {p}" for i, p in sorted(targets))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ip_targets(*, binding: Mapping[str, Any], service: Service | None, slices: Iterable[EndpointSlice]) -> set[Target]:
    """Ready endpoint addresses on the port the Service port maps to, per slice, from the
    slices of the target group's address family."""
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
            if endpoint.ready and not endpoint.terminating:
                out.update((address, target_port) for address in endpoint.addresses)
    return out


def instance_targets(*, binding: Mapping[str, Any], port: int, nodes: Iterable[Node]) -> set[Target]:
    """The instances of the Nodes that serve and match the binding's node selector
    (``target-node-labels``), on the target group's port (the Service's NodePort)."""
    wanted = dict((binding.get("nodeSelector") or {}).get("matchLabels") or {})
    return {
        (str(n.instance_id), port) for n in nodes if n.serves() and all(n.labels.get(k) == v for k, v in wanted.items())
    }
