"""The kinds of stack resource, one module each (ADR 0011), and their registry.

:data:`KINDS` lists them in dependency order: what others refer to comes first. Creates
and updates run in this order, deletes in reverse; the planner, the applier and the
discovery loop over it and hold no per-kind branch.
"""

from __future__ import annotations

from albatross.kinds import alb_target, listener, listener_rule, load_balancer, security_group, target_group
from albatross.kinds.base import Kind

KINDS: tuple[Kind, ...] = (
    security_group.KIND,
    target_group.KIND,
    load_balancer.KIND,
    listener.KIND,
    alb_target.KIND,  # the ALB's listener on its port exists first (ADR 0012)
    listener_rule.KIND,
)
CREATE_ORDER = tuple(k.type for k in KINDS)
DELETE_ORDER = tuple(reversed(CREATE_ORDER))
_BY_TYPE = {k.type: k for k in KINDS}


def kind_of(type_: str) -> Kind:
    """The kind of a resource type; an unknown type is a defect (no module for it)."""
    try:
        return _BY_TYPE[type_]
    except KeyError:
        raise ValueError(f"unknown resource type {type_}") from None


def children_of(type_: str) -> tuple[Kind, ...]:
    """The kinds that hang directly under resources of ``type_``."""
    return tuple(k for k in KINDS if k.parent_type == type_)


def roots() -> tuple[Kind, ...]:
    """The kinds found by tags (no parent), in the order discovery reads them: the load
    balancer first, then what it uses (the reverse of :data:`KINDS`)."""
    return tuple(k for k in reversed(KINDS) if k.parent_type is None)
