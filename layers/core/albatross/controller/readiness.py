"""Pod readiness gates, the cloud side's poll (docs/adr/0014-pod-readiness-gates.md): read
the health of one target group's gated targets once, and say which conditions to write
back, which targets to watch still, and when to look again.

Not wired yet: the targets sync is to call :func:`after_registration` for the gated
targets it registered or listed, and a poll queue's handler :func:`poll` for a target
group's pending ones, each sending the write-backs and, when ``delay`` is set, a
message timed ``delay`` seconds on (ADR 0014, "When").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from albatross.aws import health
from albatross.contract.readiness import ReadinessWriteBack, pod_condition
from albatross.model.readiness import GatedTarget, Settled, Target, settle


def writebacks(cluster: str, settled: Settled) -> list[ReadinessWriteBack]:
    """The ``podCondition`` write-backs of a settle."""
    return [pod_condition(cluster=cluster, pod=t.pod, uid=t.uid, condition=c) for t, c in settled.conditions]


def after_registration(
    targets: Sequence[GatedTarget],
    listed: Mapping[Target, Mapping[str, Any]],
    *,
    interval: int,
    healthy_threshold: int,
) -> Settled:
    """For the gated targets a sync registered (absent from ``listed``, the health it read
    before registering) or found registered (present): their conditions without another
    read, and the first poll when they can first be healthy."""
    known: dict[Target, Mapping[str, Any] | None] = {t.target: listed.get(t.target) for t in targets}
    return settle(targets, known, interval=interval, healthy_threshold=healthy_threshold, registered=True)


def poll(target_group_arn: str, targets: Sequence[GatedTarget], *, interval: int, healthy_threshold: int) -> Settled:
    """One read of the target group's pending targets (one DescribeTargetHealth)."""
    found = health.describe(target_group_arn, sorted({t.target for t in targets}))
    known: dict[Target, Mapping[str, Any] | None] = {t.target: found.get(t.target) for t in targets}
    return settle(targets, known, interval=interval, healthy_threshold=healthy_threshold)
