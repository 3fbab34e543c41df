"""Names, tags and finalizers, compatible with the AWS Load Balancer Controller (LBC).

This docstring is the spec; every literal below appears once in the core.

Tags on every resource Albatross creates (and the only way it recognises its own):

* ``elbv2.k8s.aws/cluster`` = the cluster name (``ingress.k8s.aws/cluster`` on stacks made
  by early LBC v2 releases, which are recognised too);
* ``ingress.k8s.aws/stack`` = the IngressGroup: ``namespace/name`` for an implicit group,
  the group name for an explicit one;
* ``ingress.k8s.aws/resource`` = the resource id within the stack: ``LoadBalancer``,
  ``ManagedLBSecurityGroup``, ``<ns>/<ingress>-<service>:<port as written>`` for a target
  group, ``<port>`` for a listener, ``<port>:<priority>`` for a rule; a frontend NLB (ADR
  0012) is ``FrontendNlb``, its listeners ``FrontendNlb-ls-TCP-<port>`` and its target
  groups ``FrontendNlb-tg-TCP-<port>`` (LBC's ids).

A rule with an ``authenticate-oidc`` action also carries
``albatross.k8s.aws/oidc-secret-version`` = the version of the Secrets Manager copy its
client credentials came from (ADR 0005): AWS never shows a rule's client secret, so this
tag is how a rotated Secret is told from an applied one.

Names (``h(x...)`` = first 10 hex characters of sha256 over the plain concatenation,
``san(s)`` = ``s`` without non-alphanumeric characters):

* load balancer: ``k8s-<san(ns)[:8]>-<san(name)[:8]>-h(cluster, "ns/name", scheme)`` for
  an implicit group, ``k8s-<san(group)[:17]>-h(cluster, group, scheme)`` for an explicit
  one. The scheme is in the hash, so a scheme change means a new load balancer;
* managed security group: the same shapes with ``h(cluster, groupID)``;
* target group: ``k8s-<san(svcNs)[:8]>-<san(svcName)[:8]>-h(cluster, groupID, ingNs,
  ingName, svcUID, servicePort, tgPort, targetType, protocol, protocolVersion)``;
* frontend NLB: the load balancer's name cut to 28 characters, then ``-nlb``; its target
  group for NLB port ``p``: ``k8s-<san(ns)[:7]>-<san(name)[:7]>-<hash6>-nlb``, ``hash6``
  the first 6 hex characters of sha256 over ``cluster, groupID, p, p, "alb", "TCP",
  "TCP"`` (an explicit group's namespace is empty, as in LBC).

Finalizers: ``ingress.k8s.aws/resources`` on members of an implicit group,
``group.ingress.k8s.aws/<group>`` on members of an explicit one.

Backend security group rules (the inbound rules that let the load balancer reach the
targets, on the targets' security groups) carry the description
``albatross.k8s.aws/cluster=<cluster>``; only rules with this cluster's are ever revoked.
Not LBC's ``elbv2.k8s.aws/targetGroupBinding=shared``: LBC (during a migration) or a
second cluster on the same node group would revoke ours, and we theirs. A rule with the
same protocol, port and source under any other description counts as made.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from albatross import contract
from albatross.k8s.ingress import GroupID

TAG_CLUSTER = contract.CLUSTER_TAG
# Early LBC v2 releases tagged the cluster under this key; their stacks are ours too.
LEGACY_TAG_CLUSTER = "ingress.k8s.aws/cluster"
TAG_STACK = "ingress.k8s.aws/stack"
TAG_RESOURCE = "ingress.k8s.aws/resource"
TAG_OIDC_CREDENTIALS_VERSION = "albatross.k8s.aws/oidc-secret-version"

LOAD_BALANCER_ID = "LoadBalancer"  # the ALB
MANAGED_SG_ID = "ManagedLBSecurityGroup"
FRONTEND_NLB_ID = "FrontendNlb"
_FRONTEND_LISTENER = f"{FRONTEND_NLB_ID}-ls-"

# The finalizers are part of the cluster contract (the forwarder adds them).
IMPLICIT_FINALIZER = contract.IMPLICIT_FINALIZER
EXPLICIT_FINALIZER_PREFIX = contract.EXPLICIT_FINALIZER_PREFIX

_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


def short_hash(*parts: str) -> str:
    return hashlib.sha256("".join(parts).encode()).hexdigest()[:10]


def sanitize(text: str) -> str:
    return _NOT_ALNUM.sub("", text)


def _group_name(group: GroupID, digest: str) -> str:
    if group.explicit:
        return f"k8s-{sanitize(group.name)[:17]}-{digest}"
    return f"k8s-{sanitize(group.namespace)[:8]}-{sanitize(group.name)[:8]}-{digest}"


def load_balancer_name(*, cluster: str, group: GroupID, scheme: str) -> str:
    return _group_name(group, short_hash(cluster, str(group), scheme))


def security_group_name(*, cluster: str, group: GroupID) -> str:
    return _group_name(group, short_hash(cluster, str(group)))


def target_group_name(
    *,
    cluster: str,
    group: GroupID,
    ingress_namespace: str,
    ingress_name: str,
    service_namespace: str,
    service_name: str,
    service_uid: str,
    service_port: str,
    target_port: int,
    target_type: str,
    protocol: str,
    protocol_version: str,
    target_control_port: int | None = None,
) -> str:
    """LBC's hashed target group name. A target control port joins the hash only when
    set (as in LBC), so target groups without one keep their names, and a changed port,
    which AWS cannot modify, names a new target group: the old one is replaced."""
    digest = short_hash(
        cluster,
        str(group),
        ingress_namespace,
        ingress_name,
        service_uid,
        service_port,
        str(target_port),
        target_type,
        protocol,
        protocol_version,
        *((str(target_control_port),) if target_control_port is not None else ()),
    )
    return f"k8s-{sanitize(service_namespace)[:8]}-{sanitize(service_name)[:8]}-{digest}"


def target_group_id(*, ingress_namespace: str, ingress_name: str, service: str, port: str) -> str:
    return f"{ingress_namespace}/{ingress_name}-{service}:{port}"


def listener_id(port: int) -> str:
    return str(port)


def frontend_nlb_listener_id(port: int, protocol: str = "TCP") -> str:
    return f"{_FRONTEND_LISTENER}{protocol}-{port}"


def frontend_nlb_target_group_id(port: int, protocol: str = "TCP") -> str:
    return f"{FRONTEND_NLB_ID}-tg-{protocol}-{port}"


def alb_target_id(target_group_id: str) -> str:
    """The ALB's registration in a frontend NLB target group (no tag: not LBC's id)."""
    return f"{target_group_id}/alb"


def listener_id_under(load_balancer_id: str, *, port: int, protocol: str) -> str:
    """A listener's resource id by the load balancer it hangs under: the ALB's by its port,
    the frontend NLB's as LBC names them (an NLB listener on port 80 is not the ALB's
    ``80``)."""
    return listener_id(port) if load_balancer_id == LOAD_BALANCER_ID else frontend_nlb_listener_id(port, protocol)


def load_balancer_of_listener(listener_rid: str) -> str:
    """The resource id of the load balancer a listener's resource id hangs under."""
    return FRONTEND_NLB_ID if listener_rid.startswith(_FRONTEND_LISTENER) else LOAD_BALANCER_ID


def frontend_nlb_name(load_balancer_name: str) -> str:
    """LBC's: as much of the ALB's name as fits 32 characters with ``-nlb`` after it."""
    return load_balancer_name[:28] + "-nlb"


def frontend_nlb_target_group_name(*, cluster: str, group: GroupID, port: int) -> str:
    digest = hashlib.sha256("".join((cluster, str(group), str(port), str(port), "alb", "TCP", "TCP")).encode())
    return f"k8s-{sanitize(group.namespace)[:7]}-{sanitize(group.name)[:7]}-{digest.hexdigest()[:6]}-nlb"


def rule_id(port: int, priority: int) -> str:
    return f"{port}:{priority}"


def finalizer(group: GroupID) -> str:
    return EXPLICIT_FINALIZER_PREFIX + group.name if group.explicit else IMPLICIT_FINALIZER


def backend_rule_description(cluster: str) -> str:
    """Fits a rule description: at most 255 of ``a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*``, as
    the template's ClusterName pattern allows."""
    return f"albatross.k8s.aws/cluster={cluster}"


def stack_tags(*, cluster: str, group: GroupID, resource_id: str) -> dict[str, str]:
    return {TAG_CLUSTER: cluster, TAG_STACK: str(group), TAG_RESOURCE: resource_id}


def owned_by(tags: Mapping[str, str], *, cluster: str, stack: str) -> bool:
    """Whether a resource's tags say it belongs to this cluster's stack."""
    mine = tags.get(TAG_CLUSTER) == cluster or tags.get(LEGACY_TAG_CLUSTER) == cluster
    return mine and tags.get(TAG_STACK) == stack
