"""The workload stand-in of the Kubernetes API double: each Deployment's pods, and the
EndpointSlices the endpoints controller would publish for them.

Each Deployment's pods are kept here with only what endpoints show (the double publishes
each as a Pod object from it): an address, a node, a template revision and a phase:

* ``starting``: created, not ready yet (``ready: false, serving: false``);
* ``gated``: its containers are ready, but a readiness gate of its template
  (``spec.readinessGates``) is not passed: not ready either (``ready: false, serving:
  false``). A gate passes when something sets its condition ``True``
  (:meth:`Workloads.set_condition`, what LBC or Albatross does for target health); the
  pod is ``ready`` from the next step, and ``gated`` again from the next step after a
  condition goes ``False``;
* ``ready``: ``ready: true, serving: true``;
* ``draining``: deleted but still passing its readiness probe (``ready: false,
  serving: true, terminating: true``);
* ``stopping``: deleted and no longer serving (``ready: false, serving: false,
  terminating: true``). It is gone after the next step.

A replica count change outside a rollout happens at once: new pods are ready right
away (``gated`` when their template has readiness gates), and removed pods (newest
first) vanish at once. A pod template change starts a
rolling update (maxSurge 1, maxUnavailable 0: a ``gated`` pod is not available, so an
old pod waits for its replacement's gates). An eviction (``kubectl drain``) deletes
a node's pods and starts replacements on other nodes. Both move one phase per
:meth:`Workloads.step`, which the double runs on a timer or a test calls by hand, so
every intermediate EndpointSlice can be seen.

Addresses come from a per-Deployment pool (:func:`pod_ip`). Pods take indexes in
creation order and skip indexes still in use, so the first ``n`` pods of a Deployment
get ``pod_ip(..., 0)`` to ``pod_ip(..., n - 1)``. A replacement always gets a new
address.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

STARTING, GATED, READY, DRAINING, STOPPING = "starting", "gated", "ready", "draining", "stopping"
ADDRESSES = 1000  # addresses per Deployment (pod_ip keeps them distinct)

_CONDITIONS = {
    STARTING: {"ready": False, "serving": False, "terminating": False},
    GATED: {"ready": False, "serving": False, "terminating": False},
    READY: {"ready": True, "serving": True, "terminating": False},
    DRAINING: {"ready": False, "serving": True, "terminating": True},
    STOPPING: {"ready": False, "serving": False, "terminating": True},
}


def pod_ip(namespace: str, deployment: str, index: int, family: str = "IPv4") -> str:
    """The address with pool index ``index`` of a Deployment (10.0.0.0/16, or fd00::/64
    for IPv6); distinct for up to 1,000 indexes."""
    digest = int(hashlib.sha256(f"{namespace}/{deployment}".encode()).hexdigest(), 16)
    if family == "IPv6":
        return f"fd00::{1 + digest % 200:x}:{10 + index:x}"
    base = 10 + index  # up to a thousand indexes and more stay inside 10.0.0.0/16
    return f"10.0.{1 + (digest % 50) * 4 + base // 256}.{base % 256}"


@dataclass
class Pod:
    name: str
    address: int  # index in the Deployment's address pool
    revision: int  # the pod template revision it runs
    node: str | None
    phase: str
    gates: tuple[str, ...] = ()  # the condition types of its template's readiness gates
    conditions: dict[str, bool] = field(default_factory=dict)  # condition type → status True

    @property
    def live(self) -> bool:
        """Not deleted (starting, gated or ready)."""
        return self.phase in (STARTING, GATED, READY)

    @property
    def passed(self) -> bool:
        """Every readiness gate's condition is True (so: none)."""
        return all(self.conditions.get(g, False) for g in self.gates)


@dataclass
class _Pods:
    """One Deployment's pods, oldest first."""

    template: str  # the pod template, as canonical JSON
    replicas: int
    gates: tuple[str, ...] = ()  # its readiness gates' condition types
    revision: int = 0
    created: int = 0
    pods: list[Pod] = field(default_factory=list)

    def moving(self) -> bool:
        return any(p.phase != READY or p.revision != self.revision for p in self.pods)


class Workloads:
    """The pods of every Deployment. Not thread-safe: the double calls it under its lock."""

    def __init__(self) -> None:
        self._sets: dict[tuple[str, str], _Pods] = {}

    def pods(self, namespace: str, deployment: str) -> list[Pod]:
        found = self._sets.get((namespace, deployment))
        return list(found.pods) if found else []

    def moving(self) -> bool:
        """A rollout or an eviction is still under way (more steps will change pods)."""
        return any(s.moving() for s in self._sets.values())

    def status(self, namespace: str, deployment: str) -> dict[str, int]:
        """The counts a Deployment's status gives (the deployment controller's): pods not
        deleted, those of the current template, those ready, and available (ready: no
        ``minReadySeconds`` here). A count of 0 is left out, as the API server omits it."""
        found = self._sets.get((namespace, deployment))
        pods = [p for p in found.pods if p.live] if found else []
        counts = {
            "replicas": len(pods),
            "updatedReplicas": sum(p.revision == found.revision for p in pods) if found else 0,
            "readyReplicas": sum(p.phase == READY for p in pods),
            "availableReplicas": sum(p.phase == READY for p in pods),
        }
        return {k: v for k, v in counts.items() if v}

    def observe(self, deployments: Sequence[Mapping[str, Any]], nodes: Sequence[str]) -> None:
        """Follow the Deployments as they are now: a new one gets its pods, ready; a
        deleted one loses them; a new replica count applies at once unless pods are
        moving; a changed template starts a rollout. ``nodes``: where new pods may go."""
        seen: set[tuple[str, str]] = set()
        for d in deployments:
            meta, spec = d.get("metadata") or {}, d.get("spec") or {}
            key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
            seen.add(key)
            template = json.dumps(spec.get("template") or {}, sort_keys=True)
            replicas = int(spec.get("replicas", 1))
            current = self._sets.get(key)
            if current is None:
                current = self._sets[key] = _Pods(template=template, replicas=replicas)
            elif template != current.template:
                current.template, current.revision = template, current.revision + 1
            current.replicas = replicas
            current.gates = _gates(spec)
            if not current.moving():
                while len(current.pods) < replicas:
                    current.pods.append(self._new(key, current, nodes=nodes, phase=GATED if current.gates else READY))
                del current.pods[replicas:]  # the newest go first
        for key in set(self._sets) - seen:
            del self._sets[key]

    def step(self, nodes: Sequence[str]) -> bool:
        """Move every rollout and eviction on by one phase; returns whether any pod changed."""
        changed = False
        for key, current in self._sets.items():
            before = [(p.name, p.phase) for p in current.pods]
            self._step(key, current, nodes=nodes)
            changed |= before != [(p.name, p.phase) for p in current.pods]
        return changed

    def evict(self, node: str, nodes: Sequence[str]) -> bool:
        """Delete the pods on ``node``; replacements start on ``nodes`` at once (the
        ReplicaSet's reaction). Returns whether any pod was evicted."""
        evicted = False
        for key, current in self._sets.items():
            for pod in current.pods:
                if pod.node == node and pod.live:
                    pod.phase, evicted = DRAINING, True
            wanted = current.replicas - sum(1 for p in current.pods if p.live and p.revision == current.revision)
            current.pods += [self._new(key, current, nodes=nodes, phase=STARTING) for _ in range(max(wanted, 0))]
        return evicted

    def set_condition(self, namespace: str, pod: str, condition_type: str, *, status: bool) -> bool:
        """Set a condition of a pod (a readiness gate's, say); returns whether the pod exists.
        Its readiness follows at the next step, as the kubelet's status sync would."""
        for (ns, _), current in self._sets.items():
            for found in current.pods:
                if ns == namespace and found.name == pod:
                    found.conditions[condition_type] = status
                    return True
        return False

    def endpoints(self, namespace: str, deployment: str, *, family: str) -> list[dict[str, Any]]:
        """The EndpointSlice endpoints of a Deployment's pods, oldest first."""
        out = []
        for pod in self.pods(namespace, deployment):
            endpoint: dict[str, Any] = {
                "addresses": [pod_ip(namespace, deployment, pod.address, family)],
                "conditions": dict(_CONDITIONS[pod.phase]),
                "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod.name},
            }
            if pod.node:
                endpoint["nodeName"] = pod.node
            out.append(endpoint)
        return out

    def _new(self, key: tuple[str, str], current: _Pods, *, nodes: Sequence[str], phase: str) -> Pod:
        used = {p.address for p in current.pods}
        address = current.created % ADDRESSES
        while address in used and len(used) < ADDRESSES:
            address = (address + 1) % ADDRESSES
        pod = Pod(
            name=f"{key[1]}-{current.created}",
            address=address,
            revision=current.revision,
            node=nodes[current.created % len(nodes)] if nodes else None,
            phase=phase,
            gates=current.gates,
        )
        current.created += 1
        return pod

    def _step(self, key: tuple[str, str], current: _Pods, *, nodes: Sequence[str]) -> None:
        current.pods = [p for p in current.pods if p.phase != STOPPING]
        for pod in current.pods:
            if pod.phase == DRAINING:
                pod.phase = STOPPING
            elif pod.phase in (STARTING, GATED, READY):  # containers ready from the first step on
                pod.phase = READY if pod.passed else GATED
        ready = [p for p in current.pods if p.phase == READY]
        old = [p for p in ready if p.revision != current.revision]
        if old and len(ready) > current.replicas:  # maxUnavailable 0: a new pod is ready first
            old[-1].phase = DRAINING
        rolling = any(p.live and p.revision != current.revision for p in current.pods)
        fresh = [p for p in current.pods if p.live and p.revision == current.revision]
        missing = current.replicas - len(fresh)
        if missing > 0 and not (rolling and any(p.phase != READY for p in fresh)):
            # maxSurge 1 during a rollout; otherwise the ReplicaSet makes up the count at once
            current.pods += [
                self._new(key, current, nodes=nodes, phase=STARTING) for _ in range(1 if rolling else missing)
            ]
        elif missing < 0 and not rolling:
            for pod in fresh[current.replicas :]:
                current.pods.remove(pod)


def _gates(spec: Mapping[str, Any]) -> tuple[str, ...]:
    template = spec.get("template") or {}
    found = (template.get("spec") or {}).get("readinessGates") or []
    return tuple(str(g["conditionType"]) for g in found if isinstance(g, dict) and g.get("conditionType"))


def endpoint_slice(
    service: Mapping[str, Any], *, deployments: Sequence[Mapping[str, Any]], workloads: Workloads
) -> dict[str, Any]:
    """The one EndpointSlice of a Service: the pods of the Deployments it selects, with
    its ports resolved against their containers' named ports."""
    meta = service["metadata"]
    family = str(((service.get("spec") or {}).get("ipFamilies") or ["IPv4"])[0])
    container_ports: dict[str, int] = {}
    endpoints = []
    for d in sorted(deployments, key=lambda d: str(d["metadata"]["name"])):
        template = (d.get("spec") or {}).get("template") or {}
        for c in (template.get("spec") or {}).get("containers") or []:
            for p in c.get("ports") or []:
                if p.get("name"):
                    container_ports[p["name"]] = int(p["containerPort"])
        endpoints += workloads.endpoints(meta["namespace"], d["metadata"]["name"], family=family)
    ports = []
    for p in (service.get("spec") or {}).get("ports") or []:
        target = p.get("targetPort", p["port"])
        number = container_ports.get(target) if isinstance(target, str) else int(target)
        if number is not None:
            ports.append({"name": p.get("name", ""), "port": number, "protocol": p.get("protocol", "TCP")})
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{meta['name']}-{hashlib.sha256(meta['name'].encode()).hexdigest()[:5]}",
            "namespace": meta["namespace"],
            "labels": {
                "kubernetes.io/service-name": meta["name"],
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
        },
        "addressType": family,
        "ports": ports,
        "endpoints": endpoints,
    }
