"""Pod readiness gates (docs/adr/0014-pod-readiness-gates.md): the names both sides share
with LBC, and the write-back messages that carry gates and conditions to the forwarder.

LBC's names, kept so that a cluster can switch either way without touching a pod:

* the namespace label that asks for gates (:data:`INJECT_LABEL` = :data:`INJECT_ENABLED`);
* the condition type of a target group's gate, ``target-health.elbv2.k8s.aws/<binding>``
  (:func:`condition_type`). LBC's binding for an Ingress's target group is named as the
  target group, and Albatross names target groups as LBC does;
* the legacy prefix of the v1 controller's gates, which injection removes.

Write-backs (:class:`ReadinessWriteBack`), judged by the forwarder before it acts:

* ``readinessGates``: for one IngressGroup and one namespace, each gated Service's pod
  selector and the condition types its pods are to be gated on (the group's ``ip``-mode
  target groups): all the webhook needs to answer. Groups write their own key
  (:func:`gates_key`), so two groups that serve one Service never undo each other;
* ``podCondition``: set one target-health condition on one pod.

Standard library only: the forwarder image ships this package alone.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from albatross.contract.reading import listed, mapping

PREFIX = "target-health.elbv2.k8s.aws"
LEGACY_PREFIX = "target-health.alb.ingress.k8s.aws"
INJECT_LABEL = "elbv2.k8s.aws/pod-readiness-gate-inject"
INJECT_ENABLED = "enabled"
# Where the forwarder keeps the gates to inject (a key per namespace and IngressGroup,
# :func:`gates_key`), in its own namespace.
GATES_CONFIGMAP = "albatross-readiness-gates"
STATUSES = ("True", "False", "Unknown")
# A condition type is a qualified name (the API server validates readiness gates so): a
# DNS prefix, "/", and a name of at most 63 characters.
_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
# Longer than anything AWS or LBC puts in a TargetHealth's reason or description.
MAX_TEXT = 1024


def condition_type(binding: str) -> str:
    """The condition type of the gate for a binding (for an Ingress: its target group's
    name), as LBC builds it."""
    return f"{PREFIX}/{binding}"


def is_gate(value: object) -> bool:
    """Whether ``value`` is a target-health condition type (LBC's prefix, a valid name)."""
    if not isinstance(value, str) or not value.startswith(PREFIX + "/"):
        return False
    return bool(_NAME.fullmatch(value[len(PREFIX) + 1 :]))


def gates_key(namespace: str, group: str) -> str:
    """The gates ConfigMap's key for one group's gates in one namespace: the namespace (a
    DNS label, so it holds no dot) and a digest of the group's id (a ConfigMap key holds
    only ``[-._a-zA-Z0-9]``)."""
    return f"{namespace}.{hashlib.sha256(group.encode()).hexdigest()[:16]}"


def namespace_of_key(key: str) -> str:
    return key.rsplit(".", 1)[0]


def inject_enabled(namespace_labels: Mapping[str, Any]) -> bool:
    """Whether a namespace with these labels asks for gates."""
    return namespace_labels.get(INJECT_LABEL) == INJECT_ENABLED


def gates_of(pod: Mapping[str, Any]) -> list[str]:
    """The target-health condition types a pod is gated on (``spec.readinessGates``)."""
    gates = listed(mapping(pod.get("spec")).get("readinessGates"))
    types = (mapping(g).get("conditionType") for g in gates)
    return [str(t) for t in types if is_gate(t)]


@dataclass(frozen=True)
class PodCondition:
    """One target-health condition, as the pod's ``status.conditions`` holds it (no time:
    the forwarder stamps ``lastTransitionTime`` when the status changes)."""

    type: str
    status: str
    reason: str = ""
    message: str = ""


def differs(pod: Mapping[str, Any], wanted: PodCondition) -> bool:
    """Whether ``pod``'s ``status.conditions`` lack ``wanted`` (same type, status, reason
    and message: LBC patches only then); a pod not gated on it never needs it."""
    if wanted.type not in gates_of(pod):
        return False
    for found in listed(mapping(pod.get("status")).get("conditions")):
        c = mapping(found)
        if c.get("type") == wanted.type:
            same = (c.get("status"), c.get("reason") or "", c.get("message") or "")
            return same != (wanted.status, wanted.reason, wanted.message)
    return True


# --- write-back: the cloud side → the forwarder ------------------------------------------

WRITEBACK_TYPES = ("podCondition", "readinessGates")


class ReadinessWriteBackError(ValueError):
    """A readiness write-back does not follow the contract."""


@dataclass(frozen=True)
class ServiceGates:
    """A Service's pod selector and the gates its pods get (its ``ip``-mode target groups')."""

    selector: Mapping[str, str]
    gates: tuple[str, ...]

    def selects(self, labels: Mapping[str, Any]) -> bool:
        """Whether a pod with ``labels`` is the Service's (an empty selector selects none,
        as LBC's webhook reads it)."""
        return bool(self.selector) and all(labels.get(k) == v for k, v in self.selector.items())


@dataclass(frozen=True)
class ReadinessWriteBack:
    """``podCondition``: set ``condition`` on ``pod`` (namespace/name, of ``uid``).
    ``readinessGates``: the Services of ``namespace`` that ``group`` gates (name → selector
    and gates), all of them: a Service left out has none of that group's."""

    type: str
    cluster: str
    pod: str = ""
    uid: str = ""
    condition: PodCondition | None = None
    namespace: str = ""
    group: str = ""
    services: Mapping[str, ServiceGates] = field(default_factory=dict)

    def to_body(self) -> str:
        body: dict[str, Any] = {"schemaVersion": "1", "type": self.type, "cluster": self.cluster}
        if self.type == "podCondition" and self.condition is not None:
            c = self.condition
            body.update(pod=self.pod, uid=self.uid)
            body["condition"] = {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message}
        else:
            body.update(namespace=self.namespace, group=self.group)
            body["services"] = {
                name: {"selector": dict(g.selector), "gates": list(g.gates)} for name, g in self.services.items()
            }
        return json.dumps(body, separators=(",", ":"), sort_keys=True)


def pod_condition(*, cluster: str, pod: str, uid: str, condition: PodCondition) -> ReadinessWriteBack:
    return ReadinessWriteBack(type="podCondition", cluster=cluster, pod=pod, uid=uid, condition=condition)


def readiness_gates(
    *, cluster: str, group: str, namespace: str, services: Mapping[str, ServiceGates]
) -> ReadinessWriteBack:
    return ReadinessWriteBack(
        type="readinessGates",
        cluster=cluster,
        namespace=namespace,
        group=group,
        services={
            name: ServiceGates(dict(sorted(g.selector.items())), tuple(sorted(set(g.gates))))
            for name, g in sorted(services.items())
        },
    )


def _text(data: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = data.get(name, "" if not required else None)
    if not isinstance(value, str) or (required and not value) or len(value) > MAX_TEXT:
        raise ReadinessWriteBackError(f"write-back {name} must be a {'non-empty ' if required else ''}string")
    return value


def parse_readiness_writeback(body: str) -> ReadinessWriteBack | None:
    """The readiness write-back ``body`` holds; None when it is none (the other types:
    :func:`albatross.contract.parse_writeback`); a malformed one raises
    ReadinessWriteBackError."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON: parse_writeback says so
    if not isinstance(data, dict) or data.get("type") not in WRITEBACK_TYPES:
        return None
    if data.get("schemaVersion") != "1":
        raise ReadinessWriteBackError(f"unsupported write-back schemaVersion {data.get('schemaVersion')!r}")
    cluster = _text(data, "cluster")
    if data["type"] == "podCondition":
        pod, uid = _text(data, "pod"), _text(data, "uid")
        if pod.count("/") != 1 or "" in pod.split("/"):
            raise ReadinessWriteBackError(f"write-back pod {pod[:100]!r} is not namespace/name")
        raw = mapping(data.get("condition"))
        kind = raw.get("type")
        if not is_gate(kind):
            raise ReadinessWriteBackError(f"write-back condition type {str(kind)[:100]!r} is not {PREFIX}/<name>")
        status = raw.get("status")
        if status not in STATUSES:
            raise ReadinessWriteBackError(f"write-back condition status {str(status)[:20]!r} is not True/False/Unknown")
        condition = PodCondition(
            type=str(kind),
            status=str(status),
            reason=_text(raw, "reason", required=False),
            message=_text(raw, "message", required=False),
        )
        return pod_condition(cluster=cluster, pod=pod, uid=uid, condition=condition)
    namespace, group, services = _text(data, "namespace"), _text(data, "group"), data.get("services")
    if not _NAME.fullmatch(namespace) or "." in namespace:
        raise ReadinessWriteBackError(f"write-back namespace {namespace[:100]!r} is not a namespace name")
    shape = "write-back services must map Service names to a selector and gates"
    if not isinstance(services, dict):
        raise ReadinessWriteBackError(shape)
    out: dict[str, ServiceGates] = {}
    for name, value in services.items():
        entry = value if isinstance(value, dict) else {}
        selector, gates = entry.get("selector"), entry.get("gates")
        if not isinstance(name, str) or not _NAME.fullmatch(name) or not isinstance(gates, list):
            raise ReadinessWriteBackError(shape)
        if not isinstance(selector, dict) or not all(isinstance(v, str) for v in selector.values()):
            raise ReadinessWriteBackError(f"write-back services.{name}.selector must map labels to values")
        if not all(is_gate(t) for t in gates):
            raise ReadinessWriteBackError(f"write-back services.{name}.gates must be {PREFIX}/<name> types")
        out[name] = ServiceGates(selector={str(k): v for k, v in selector.items()}, gates=tuple(gates))
    return readiness_gates(cluster=cluster, group=group, namespace=namespace, services=out)
