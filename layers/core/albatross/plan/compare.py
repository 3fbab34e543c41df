"""Per resource type: how a desired resource pairs with an actual one, and which of its
properties can change in place, in comparable form (so the two shapes AWS returns for
rule conditions and actions compare equal). Each kind holds its own
(:mod:`albatross.kinds`, ADR 0011); this module names them for their callers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from albatross.kinds import KINDS, kind_of
from albatross.kinds.actions import action_key
from albatross.kinds.base import Props, attributes_differ, tag_changes
from albatross.kinds.listener import certificate_sets
from albatross.kinds.listener_rule import condition_key, oidc_version
from albatross.kinds.load_balancer import PROTECTION_KEYS, protection_view, stated_protections
from albatross.kinds.security_group import permissions
from albatross.kinds.target_group import HEALTH_FIELDS

__all__ = [
    "HEALTH_FIELDS",
    "IDENTITY",
    "PROTECTION_KEYS",
    "Props",
    "action_key",
    "attributes_differ",
    "certificate_sets",
    "condition_key",
    "mutable_view",
    "oidc_version",
    "permissions",
    "protection_view",
    "stated_protections",
    "tag_changes",
]


def mutable_view(type_: str, props: Props) -> dict[str, Any]:
    """The properties that an update call can change, in comparable form."""
    return kind_of(type_).mutable_view(props)


# The property whose change cannot be made in place: a different value means replace.
IDENTITY: Mapping[str, Callable[[Props], Any]] = {k.type: k.identity for k in KINDS}
