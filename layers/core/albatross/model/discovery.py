"""AWS facts the model builder needs, gathered by ``albatross.aws.discovery``.

Shapes follow the boto3 responses (DescribeSubnets ``Subnets`` items) so a user can
write them by hand for ``albatross plan --offline``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class DiscoveryError(ValueError):
    """A discovery file cannot be used; the message names the key."""


@dataclass(frozen=True)
class Discovery:
    subnets: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    certificates: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    security_groups: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    backend_security_group_id: str | None = None
    existing_load_balancers: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    web_acls: Sequence[Mapping[str, Any]] = field(default_factory=tuple)  # WAFv2 ListWebACLs items

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Discovery:
        lists = {
            "subnets": "subnets",
            "certificates": "certificates",
            "securityGroups": "security_groups",
            "existingLoadBalancers": "existing_load_balancers",
            "webACLs": "web_acls",
        }
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in lists:
                if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
                    raise DiscoveryError(f"{key} must be a list of objects")
                values[lists[key]] = tuple(value)
            elif key == "backendSecurityGroupId":
                values["backend_security_group_id"] = str(value) if value else None
            else:
                raise DiscoveryError(f"unknown discovery key {key!r}")
        return cls(**values)
