"""ADR 0014's mechanism, composed from its parts before it is wired into the system: the
workload stand-in's gated pods (``albatross.local.pods``), the registration rule and the
poll (``albatross.model.readiness``, ``albatross.controller.readiness``) and the local
AWS's target health (``albatross.local.mends.target_health``). The loop below plays the
targets sync and the write-back path; everything it decides, the rules decide.

A rolling update of 3 pods with maxUnavailable 0 keeps 3 healthy targets at every
instant with gates (Kubernetes' promise: replicas - maxUnavailable), and drops to 0
without them when it outpaces the health checks (as ``targets-rolling-update`` measures
on the whole offline system). Time is a hand-moved clock: nothing waits."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from albatross.aws import clients
from albatross.contract.readiness import PodCondition
from albatross.controller import readiness as poller
from albatross.local.mends import target_health
from albatross.local.pods import DRAINING, GATED, READY, STOPPING, Pod, Workloads, pod_ip
from albatross.local.system import make_vpc
from albatross.model import readiness
from albatross.model.readiness import GatedTarget

INTERVAL, THRESHOLD = 15, 2  # LBC's health check defaults
REPLICAS, MAX_UNAVAILABLE = 3, 0  # the stand-in's rollout
GATE = "target-health.elbv2.k8s.aws/rollout"
NODES = ["node-a"]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def deployment(revision: str, *, gated: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "i"}]}
    if gated:
        spec["readinessGates"] = [{"conditionType": GATE}]
    template = {"metadata": {"annotations": {"revision": revision}}, "spec": spec}
    return {"metadata": {"namespace": "default", "name": "web"}, "spec": {"replicas": REPLICAS, "template": template}}


def as_pod(p: Pod) -> dict[str, Any]:
    """The pod as the forwarder would send it: gates, ContainersReady, deletion."""
    meta: dict[str, Any] = {"name": p.name, "namespace": "default", "uid": p.name}
    if p.phase in (DRAINING, STOPPING):
        meta["deletionTimestamp"] = "now"
    ready = "True" if p.phase in (GATED, READY) else "False"
    return {
        "metadata": meta,
        "spec": {"readinessGates": [{"conditionType": g} for g in p.gates]},
        "status": {"conditions": [{"type": "ContainersReady", "status": ready}]},
    }


def roll(*, gated: bool) -> int:
    """Roll the Deployment once and return the fewest healthy targets at any instant."""
    elbv2 = clients.elbv2()
    arn = str(
        elbv2.create_target_group(
            Name="rollout",
            Protocol="HTTP",
            Port=80,
            VpcId=make_vpc("rollout"),
            TargetType="ip",
            HealthCheckIntervalSeconds=INTERVAL,
            HealthyThresholdCount=THRESHOLD,
        )["TargetGroups"][0]["TargetGroupArn"]
    )
    clock, w = Clock(), Workloads()
    shown: dict[str, PodCondition] = {}  # what each pod shows, by name (the write-back applied)
    pending: dict[str, GatedTarget] = {}  # by pod name: gated targets to read again
    due: float | None = None

    def targets() -> dict[tuple[str, int], Pod]:
        pods = {pod_ip("default", "web", p.address): p for p in w.pods("default", "web")}
        endpoints = w.endpoints("default", "web", family="IPv4")
        return {
            (e["addresses"][0], 80): pods[e["addresses"][0]]
            for e in endpoints
            if readiness.registrable(e, as_pod(pods[e["addresses"][0]]), GATE if gated else None)
        }

    def gated_target(target: tuple[str, int], p: Pod) -> GatedTarget:
        return GatedTarget(f"default/{p.name}", p.name, target, GATE, shown.get(p.name))

    def written(settled: readiness.Settled, covered: list[GatedTarget]) -> None:
        """The write-backs applied to the pods, the next read scheduled."""
        nonlocal due
        for t, c in settled.conditions:
            shown[t.uid] = c
            w.set_condition("default", t.uid, GATE, status=c.status == "True")
        for t in covered:
            pending.pop(t.uid, None)
        pending.update({t.uid: t for t in settled.pending})
        if settled.delay is not None:
            due = clock.now + settled.delay if due is None else min(due, clock.now + settled.delay)

    def sync() -> None:
        """The targets sync: register what the rules say, then the first conditions."""
        want = targets()
        listed = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        have = {
            (t["Target"]["Id"], int(t["Target"]["Port"])): dict(t["TargetHealth"])
            for t in listed
            if t["TargetHealth"]["State"] != "draining"
        }
        add, remove = sorted(set(want) - set(have)), sorted(set(have) - set(want))
        if add:
            elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": i, "Port": p} for i, p in add])
        if remove:
            elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": i, "Port": p} for i, p in remove])
        if gated:
            fresh = [gated_target(t, want[t]) for t in add if GATE in want[t].gates]
            settled = poller.after_registration(fresh, have, interval=INTERVAL, healthy_threshold=THRESHOLD)
            written(settled, fresh)

    def deliver_poll() -> None:
        """The poll's timed message arrives: one read, its write-backs applied."""
        nonlocal due
        assert due is not None, "gated pods wait on a condition nobody will read"
        clock.now, due = max(clock.now, due), None
        live = {p.name for p in w.pods("default", "web")}
        asked = [replace(t, shown=shown.get(t.uid)) for t in pending.values() if t.uid in live]
        written(poller.poll(arn, asked, interval=INTERVAL, healthy_threshold=THRESHOLD), list(pending.values()))

    with target_health(time_scale=1.0, clock=clock) as health:
        # the start: 3 pods registered, healthy, ready
        w.observe([deployment("1", gated=gated)], NODES)
        sync()
        clock.now += THRESHOLD * INTERVAL
        if gated:
            deliver_poll()
        w.step(NODES)
        assert [p.phase for p in w.pods("default", "web")] == [READY] * REPLICAS
        start = clock.now
        w.observe([deployment("2", gated=gated)], NODES)
        for _ in range(200):  # bounded; a 3-pod rollout needs far fewer rounds
            changed = w.step(NODES)
            sync()
            clock.now += 1  # a step of the rollout takes a second
            if changed:
                continue
            if not w.moving():
                break
            deliver_poll()
        assert not w.moving()
        assert [p.revision for p in w.pods("default", "web")] == [1] * REPLICAS
        return health.floor(arn, start, clock.now)


def test_with_gates_a_rollout_keeps_every_promised_target_healthy(moto_endpoint: str) -> None:
    assert roll(gated=True) >= REPLICAS - MAX_UNAVAILABLE


def test_without_gates_the_same_rollout_leaves_no_healthy_target(moto_endpoint: str) -> None:
    assert roll(gated=False) == 0
