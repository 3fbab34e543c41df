"""Typed view of a Node: what instance-mode targets need (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from albatross.k8s.errors import ObjectError

EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
# Cluster Autoscaler's taint on a node it is about to remove.
TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler"


@dataclass(frozen=True)
class Node:
    name: str
    labels: Mapping[str, str]
    instance_id: str | None  # from spec.providerID (aws:///<zone>/<instance id>)
    ready: bool
    unschedulable: bool
    taints: tuple[str, ...]

    def serves(self) -> bool:
        """Whether the node may take load balancer traffic: ready, not cordoned, not
        excluded by label, not being removed by the autoscaler, and an EC2 instance."""
        return (
            self.instance_id is not None
            and self.ready
            and not self.unschedulable
            and EXCLUDE_LABEL not in self.labels
            and TO_BE_DELETED_TAINT not in self.taints
        )


def parse_node(obj: Mapping[str, Any]) -> Node:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if not isinstance(meta, Mapping) or not isinstance(spec, Mapping) or not isinstance(status, Mapping):
        raise ObjectError("malformed Node")
    provider = str(spec.get("providerID") or "")
    instance = provider.rsplit("/", 1)[-1] if provider.startswith("aws://") else ""
    conditions = status.get("conditions") or []
    ready = any(isinstance(c, Mapping) and c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    taints = tuple(str(t.get("key")) for t in spec.get("taints") or [] if isinstance(t, Mapping))
    return Node(
        name=str(meta.get("name", "")),
        labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
        instance_id=instance if instance.startswith("i-") else None,
        ready=ready,
        unschedulable=bool(spec.get("unschedulable")),
        taints=taints,
    )
