"""Pod readiness gates, wired (docs/adr/0014-pod-readiness-gates.md): what the targets
sync, the readiness poll queue and a reconcile send, with the rules of
:mod:`albatross.model.readiness` and the poll of :mod:`albatross.controller.readiness`.

* :class:`Gates`: where the conditions go (the write-back queue, as ``podCondition``
  messages the forwarder judges and applies) and where the timed polls go (the readiness
  queue: standard, so each message has its own ``DelaySeconds``).
* :func:`after_sync`: a target group's gated targets after its registrations: their
  first conditions from the health the sync read before registering (a target it just
  registered gets LBC's ``Elb.RegistrationInProgress`` without a read), and the first
  poll, due when those targets can first be healthy.
* :func:`poll_message`: one poll of the readiness queue: one DescribeTargetHealth for the
  target group's pending targets (pods gone or terminating are dropped), the conditions
  that changed, and the next poll one health-check interval on while any is not True.
* :func:`send_gates`: after an apply, the ``readinessGates`` write-backs that tell the
  webhook which Services' pods to gate on which target groups, per labelled namespace.
* :func:`release`: the pods of a target group that no longer serves them (it left the
  model, or its binding went) get their gate ``True`` with LBC's "Target Group Binding
  is deleted", so they do not stay unready.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from albatross.aws import clients
from albatross.aws.errors import Retryable, aws_errors
from albatross.contract import bindings
from albatross.contract.readiness import (
    PodCondition,
    ReadinessWriteBack,
    condition_type,
    differs,
    gates_of,
    inject_enabled,
    pod_condition,
)
from albatross.contract.reading import listed, mapping
from albatross.controller import readiness
from albatross.controller.settings import Settings
from albatross.model.readiness import (
    MAX_DELAY_SECONDS,
    GatedTarget,
    Settled,
    deleted,
    gates_writebacks,
    service_gates,
)
from albatross.model.stack import TARGET_GROUP, Resource, Stack
from albatross.model.targets import Target, slice_pods
from albatross.store.table import Store

logger = Logger(child=True)

# LBC's health check defaults: a target group that does not say (a user's, bound) is read so
DEFAULT_INTERVAL, DEFAULT_THRESHOLD = 15, 2


@dataclass(frozen=True)
class Gates:
    """Where readiness gates' messages go (an empty URL: not sent)."""

    cluster: str
    writeback_queue_url: str
    poll_queue_url: str
    clock: float = 1.0  # seconds per second of the health checks (scaled offline)

    @classmethod
    def of(cls, settings: Settings) -> Gates:
        return cls(
            settings.cluster,
            settings.writeback_queue_url,
            settings.readiness_queue_url,
            settings.readiness_clock_seconds,
        )

    def delay(self, seconds: int) -> int:
        """An SQS message timer for ``seconds`` of the health checks: whole seconds, 1-900."""
        return max(1, min(MAX_DELAY_SECONDS, math.ceil(seconds * self.clock)))


def gate_of(group: str, target_group: Resource) -> str:
    """The condition type of a target group's gate: LBC's binding name, which for an
    Ingress's target group is the target group's name (ADR 0014 "Names")."""
    binding = bindings.binding_of(group)
    return condition_type(binding.split("/", 1)[1] if binding else str(target_group.properties.get("Name", "")))


def health_checks(target_group: Resource) -> tuple[int, int]:
    """(HealthCheckIntervalSeconds, HealthyThresholdCount) of a target group."""
    props = target_group.properties
    return (
        int(props.get("HealthCheckIntervalSeconds") or DEFAULT_INTERVAL),
        int(props.get("HealthyThresholdCount") or DEFAULT_THRESHOLD),
    )


def shown(pod: Mapping[str, Any], gate: str) -> PodCondition | None:
    """The condition ``gate`` as the pod shows it (None: not set)."""
    for c in listed(mapping(pod.get("status")).get("conditions")):
        found = mapping(c)
        if found.get("type") == gate:
            return PodCondition(
                gate, str(found.get("status", "")), str(found.get("reason") or ""), str(found.get("message") or "")
            )
    return None


def pod_key(pod: Mapping[str, Any]) -> str:
    meta = mapping(pod.get("metadata"))
    return f"{meta.get('namespace')}/{meta.get('name')}"


def gated_targets(wanted: Iterable[Target], addresses: Mapping[str, Mapping[str, Any]], gate: str) -> list[GatedTarget]:
    """The targets of ``wanted`` whose pods wait on ``gate`` (``addresses``: address → pod,
    :func:`albatross.model.targets.gated_addresses`)."""
    out = []
    for address, port in sorted(wanted):
        pod = addresses.get(address)
        if pod is not None:
            uid = str(mapping(pod.get("metadata")).get("uid") or "")
            out.append(GatedTarget(pod_key(pod), uid, (address, port), gate, shown(pod, gate)))
    return out


def after_sync(
    gates: Gates | None,
    *,
    target_group_arn: str,
    target_group: Resource,
    targets: Sequence[GatedTarget],
    seen: Mapping[Target, Mapping[str, Any]],
) -> int:
    """Send the first conditions of a target group's gated targets and schedule its first
    poll; returns the conditions sent. ``seen``: the health the sync read before it
    registered (a target absent from it was just registered)."""
    if gates is None or not targets:
        return 0
    interval, threshold = health_checks(target_group)
    settled = readiness.after_registration(targets, seen, interval=interval, healthy_threshold=threshold)
    _send(gates, settled, target_group_arn=target_group_arn, interval=interval, threshold=threshold)
    return len(settled.conditions)


def _send(gates: Gates, settled: Settled, *, target_group_arn: str, interval: int, threshold: int) -> None:
    send_writebacks(gates.writeback_queue_url, readiness.writebacks(gates.cluster, settled))
    if settled.delay is None or not settled.pending or not gates.poll_queue_url:
        return
    body = {
        "targetGroupArn": target_group_arn,
        "interval": interval,
        "threshold": threshold,
        "targets": [[t.pod, t.uid, t.target[0], t.target[1], t.condition_type] for t in settled.pending],
    }
    with aws_errors():
        clients.sqs().send_message(
            QueueUrl=gates.poll_queue_url,
            MessageBody=json.dumps(body, sort_keys=True),
            DelaySeconds=gates.delay(settled.delay),
        )


def send_writebacks(queue_url: str, messages: Sequence[ReadinessWriteBack]) -> None:
    if not queue_url or not messages:
        return
    sqs = clients.sqs()
    for i in range(0, len(messages), 10):
        entries = [{"Id": str(n), "MessageBody": m.to_body()} for n, m in enumerate(messages[i : i + 10])]
        with aws_errors():
            resp = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)  # type: ignore[arg-type]  # entry dicts
        if resp.get("Failed"):
            raise Retryable(f"SQS refused {len(resp['Failed'])} message(s): {resp['Failed'][0].get('Message')}")


def poll_message(body: str, *, gates: Gates, store: Store) -> int:
    """One timed poll (a readiness queue message): returns the conditions sent. Pods that
    are gone, made again under their name, or terminating are no longer read."""
    data = json.loads(body)
    raw = [(str(p), str(u), str(i), int(port), str(t)) for p, u, i, port, t in data["targets"]]
    pods = store.get_objects("Pod", {p for p, *_ in raw})
    live = []
    for key, uid, address, port, gate in raw:
        pod = pods.get(key)
        meta = mapping(pod.get("metadata")) if pod else {}
        if pod is None or meta.get("uid") != uid or meta.get("deletionTimestamp"):
            continue
        live.append(GatedTarget(key, uid, (address, port), gate, shown(pod, gate)))
    if not live:
        return 0
    interval, threshold = int(data["interval"]), int(data["threshold"])
    arn = str(data["targetGroupArn"])
    settled = readiness.poll(arn, live, interval=interval, healthy_threshold=threshold)
    _send(gates, settled, target_group_arn=arn, interval=interval, threshold=threshold)
    logger.info(
        "readiness polled",
        extra={"targetGroup": arn, "targets": len(live), "written": len(settled.conditions), "next": settled.delay},
    )
    return len(settled.conditions)


def send_gates(
    gates: Gates, *, store: Store, group: str, desired: Stack | None, previous: Stack | None
) -> list[ReadinessWriteBack]:
    """After an apply: the ``readinessGates`` write-backs of ``group``: one per labelled
    namespace its ``ip``-mode target groups gate in ``desired`` (sent again by each
    reconcile: a namespace labelled since, a Service's new selector, a ConfigMap
    someone deleted; the same content changes nothing), and an empty one per namespace
    the ``previous`` model (applied before) gated and ``desired`` does not. Nothing when
    no labelled namespace is concerned (a cluster without the webhook hears nothing). A
    namespace whose label went is not asked about: the webhook is not called there."""
    services = {
        str(mapping(tg.binding).get("service", ""))
        for stack in (desired, previous)
        if stack is not None
        for tg in stack.of_type(TARGET_GROUP).values()
        if mapping(tg.binding).get("targetType") == "ip"
    } - {""}
    if not services:
        return []
    namespaces = store.get_objects("Namespace", {s.split("/", 1)[0] for s in services})
    objects = store.get_objects("Service", services)

    def labelled(namespace: str) -> bool:
        return inject_enabled(mapping(mapping(namespaces.get(namespace, {}).get("metadata")).get("labels")))

    now = service_gates(desired, objects, labelled=labelled)
    before = service_gates(previous, objects, labelled=labelled)
    if not now and not before:
        return []
    messages = gates_writebacks(cluster=gates.cluster, group=group, now=now, before=before)
    send_writebacks(gates.writeback_queue_url, messages)
    return messages


def release(
    gates: Gates, *, store: Store, group: str, target_groups: Iterable[Resource], keep: Iterable[Resource] = ()
) -> list[ReadinessWriteBack]:
    """Set ``True`` ("Target Group Binding is deleted", LBC's) the gate of each ``ip``-mode
    target group of ``target_groups`` whose gate none of ``keep`` has, on the pods of its
    Service gated on it that do not show it already. Reads the Service's slices and their
    gated pods, only for such a target group (rare: one left the model)."""
    kept = {gate_of(group, tg) for tg in keep}
    out: list[ReadinessWriteBack] = []
    for tg in target_groups:
        binding = mapping(tg.binding)
        gate = gate_of(group, tg)
        if binding.get("targetType") != "ip" or gate in kept or not binding.get("service"):
            continue
        keys = slice_pods(store.endpoint_slices(str(binding["service"])))
        for key, pod in sorted(store.get_objects("Pod", keys).items()) if keys else []:
            condition = deleted(gate)
            if gate in gates_of(pod) and differs(pod, condition):
                uid = str(mapping(pod.get("metadata")).get("uid") or "")
                out.append(pod_condition(cluster=gates.cluster, pod=key, uid=uid, condition=condition))
    send_writebacks(gates.writeback_queue_url, out)
    return out
