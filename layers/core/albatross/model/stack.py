"""The desired stack as plain data, and its one JSON form.

A resource is its CloudFormation-style type plus properties named exactly as the
ELBv2/EC2 create call's request parameters; a reference to another resource of the same
stack is ``{"$ref": "<resource id>"}``. Resource ids are the ``ingress.k8s.aws/resource``
tag values (see :mod:`albatross.model.names`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LOAD_BALANCER = "AWS::ElasticLoadBalancingV2::LoadBalancer"
TARGET_GROUP = "AWS::ElasticLoadBalancingV2::TargetGroup"
LISTENER = "AWS::ElasticLoadBalancingV2::Listener"
LISTENER_RULE = "AWS::ElasticLoadBalancingV2::ListenerRule"
SECURITY_GROUP = "AWS::EC2::SecurityGroup"
# An ALB registered in a target group of type ``alb`` (a frontend NLB's, ADR 0012). Not a
# CloudFormation type (there it is the target group's ``Targets``): a resource of its own
# here, so that it is made once the ALB and its listener exist, and goes before them.
ALB_TARGET = "AWS::ElasticLoadBalancingV2::AlbTarget"


def ref(resource_id: str) -> dict[str, str]:
    return {"$ref": resource_id}


def ref_target(value: Any) -> str | None:
    """The resource id a property value refers to, or None if it is not a reference."""
    if isinstance(value, Mapping) and set(value) == {"$ref"}:
        return str(value["$ref"])
    return None


@dataclass(frozen=True)
class Resource:
    type: str
    properties: Mapping[str, Any]
    binding: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "properties": self.properties}
        if self.binding is not None:
            out["binding"] = self.binding
        return out

    def digest(self) -> str:
        """A short hash of the resource as the model states it (refs unresolved)."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Stack:
    """One IngressGroup's desired resources, keyed by resource id."""

    stack_id: str
    resources: Mapping[str, Resource]

    def of_type(self, type_: str) -> dict[str, Resource]:
        return {rid: r for rid, r in self.resources.items() if r.type == type_}

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack_id,
            "resources": {rid: self.resources[rid].to_json() for rid in sorted(self.resources)},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Stack:
        return cls(
            stack_id=str(data["stack"]),
            resources={
                rid: Resource(type=r["type"], properties=r["properties"], binding=r.get("binding"))
                for rid, r in data["resources"].items()
            },
        )
