"""Typed view of a Node: what instance-mode targets need (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from albatross.k8s.errors import ObjectError, as_list, as_mapping

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
    """Build the view; raise ObjectError on a malformed object."""
    if not isinstance(obj, Mapping):
        raise ObjectError("malformed Node: not an object")
    meta = as_mapping(obj.get("metadata"), "Node metadata")
    spec = as_mapping(obj.get("spec"), "Node spec")
    status = as_mapping(obj.get("status"), "Node status")
    provider = spec.get("providerID")
    provider = provider if isinstance(provider, str) else ""
    instance = provider.rsplit("/", 1)[-1] if provider.startswith("aws://") else ""
    conditions = as_list(status.get("conditions"), "Node status.conditions")
    ready = any(isinstance(c, Mapping) and c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    taints = tuple(str(t.get("key")) for t in as_list(spec.get("taints"), "Node spec.taints") if isinstance(t, Mapping))
    return Node(
        name=str(meta.get("name", "")),
        labels={k: v for k, v in as_mapping(meta.get("labels"), "Node metadata.labels").items() if isinstance(v, str)},
        instance_id=instance if instance.startswith("i-") else None,
        ready=ready,
        unschedulable=bool(spec.get("unschedulable")),
        taints=taints,
    )
