"""The backend security group rules a target group's targets need (LBC's
TargetGroupBinding networking, the ``networking`` entry of a target group's binding).

The traffic source (the backend security group, or the load balancer's managed one) may
reach each target's port, and a health check port the binding names, on the security
group that guards the target: the one of the ENI that holds a pod's address (ip
targets), or of the instance's primary ENI (instance targets). Finding those groups is
I/O (:mod:`albatross.aws.networking`); here they come in as ``placed``.

Pure. A rule is ``(IpProtocol, port, source security group id)``; a target group needs
a set of rules per target security group.

The shared backend security group is LBC's (pkg/networking/backend_sg_provider.go): one
per cluster, attached to every load balancer next to its managed (frontend) group, and
the source of every backend rule, so that a node security group holds one rule per
port, not one per load balancer. Its name, description and tags are LBC's, so that the
group LBC made is found and adopted as it is, and the one Albatross makes is LBC's too.
Backend rules sourced from it that LBC made (described
``elbv2.k8s.aws/targetGroupBinding=shared``) are this cluster's, like Albatross's own.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from albatross.model.names import TAG_CLUSTER
from albatross.model.stack import ref_target
from albatross.model.targets import Target

Rule = tuple[str, int, str]

BACKEND_GROUP_DESCRIPTION = "[k8s] Shared Backend SecurityGroup for LoadBalancer"
TAG_BACKEND_RESOURCE = "elbv2.k8s.aws/resource"  # LBC's key; value: BACKEND_RESOURCE
BACKEND_RESOURCE = "backend-sg"
# LBC's description of the backend rules it makes (its networking manager)
LBC_RULE_DESCRIPTION = "elbv2.k8s.aws/targetGroupBinding=shared"


def backend_group_name(cluster: str) -> str:
    """LBC's: ``k8s-traffic-<cluster without non-alphanumerics, at most 232>-<first 10 hex
    of sha256(cluster)>`` (at most 255 characters, EC2's limit for a group name)."""
    digest = hashlib.sha256(cluster.encode()).hexdigest()[:10]
    return f"k8s-traffic-{re.sub(r'[^A-Za-z0-9]', '', cluster)[:232]}-{digest}"


def backend_group_tags(cluster: str) -> dict[str, str]:
    """LBC's two tags: the cluster (the stacks' cluster key) and the group's role."""
    return {TAG_CLUSTER: cluster, TAG_BACKEND_RESOURCE: BACKEND_RESOURCE}


def _sources(entry: Mapping[str, Any], physical: Mapping[str, str]) -> list[str]:
    """The security group ids of an ingress entry's peers (a ``$ref`` resolved through
    ``physical``; one not created yet is left out)."""
    out = []
    for peer in entry.get("from") or []:
        group = (peer or {}).get("securityGroup")
        rid = ref_target(group)
        resolved = physical.get(rid, "") if rid is not None else str(group or "")
        if resolved:
            out.append(resolved)
    return out


def spec_digest(binding: Mapping[str, Any], physical: Mapping[str, str]) -> str:
    """A short hash of the binding's networking with its sources resolved ("" when it
    has none), so that a new source or port is told from what was applied."""
    ingress = (binding.get("networking") or {}).get("ingress") or []
    if not ingress:
        return ""
    resolved = [{"from": _sources(e, physical), "ports": e.get("ports") or []} for e in ingress]
    return hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()[:12]


def needs(
    *, binding: Mapping[str, Any], physical: Mapping[str, str], placed: Mapping[str, str], targets: Iterable[Target]
) -> dict[str, frozenset[Rule]]:
    """The rules per target security group. ``placed``: target id → the security group
    that guards it ("" when unknown: no rule). A named port (ip targets behind a named
    ``targetPort``) is each target's own port."""
    out: dict[str, set[Rule]] = {}
    for entry in (binding.get("networking") or {}).get("ingress") or []:
        sources = _sources(entry, physical)
        for target_id, target_port in targets:
            group = placed.get(target_id, "")
            if not group:
                continue
            for port in entry.get("ports") or []:
                number = port.get("Port")
                protocol = str(port.get("Protocol", "TCP")).lower()
                value = number if isinstance(number, int) else target_port
                out.setdefault(group, set()).update((protocol, value, source) for source in sources)
    return {group: frozenset(rules) for group, rules in out.items() if rules}
