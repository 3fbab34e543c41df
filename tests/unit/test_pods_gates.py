"""The workload stand-in's readiness gates (``albatross.local.pods``), as Kubernetes runs
them (Pod lifecycle, "Pod readiness gate"): a pod whose template has readiness gates is
ready only once every gate's condition is True, and a Deployment's rollout counts only
ready pods as available, so with maxUnavailable 0 an old pod waits for its replacement's
gates."""

from __future__ import annotations

from typing import Any

from albatross.local.pods import DRAINING, GATED, READY, STARTING, STOPPING, Workloads

GATE = "target-health.elbv2.k8s.aws/k8s-default-web-0123456789"
NODES = ["node-a"]


def deployment(*, replicas: int, revision: str = "1", gated: bool = True) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "i"}]}
    if gated:
        spec["readinessGates"] = [{"conditionType": GATE}]
    template = {"metadata": {"annotations": {"revision": revision}}, "spec": spec}
    return {"metadata": {"namespace": "default", "name": "web"}, "spec": {"replicas": replicas, "template": template}}


def phases(w: Workloads) -> list[str]:
    return [p.phase for p in w.pods("default", "web")]


def ready_endpoints(w: Workloads) -> int:
    return sum(1 for e in w.endpoints("default", "web", family="IPv4") if e["conditions"]["ready"])


def pass_gates(w: Workloads) -> None:
    for pod in w.pods("default", "web"):
        assert w.set_condition("default", pod.name, GATE, status=True)


def test_a_gated_pod_is_not_ready_until_its_gate_passes() -> None:
    w = Workloads()
    w.observe([deployment(replicas=2)], NODES)
    assert phases(w) == [GATED, GATED]
    assert ready_endpoints(w) == 0
    assert not w.step(NODES)  # nothing passes a gate by itself
    assert w.moving()
    pass_gates(w)
    assert w.step(NODES)
    assert phases(w) == [READY, READY]
    assert ready_endpoints(w) == 2
    assert not w.moving()


def test_a_condition_that_goes_false_makes_the_pod_unready_again() -> None:
    w = Workloads()
    w.observe([deployment(replicas=1)], NODES)
    pass_gates(w)
    w.step(NODES)
    [pod] = w.pods("default", "web")
    w.set_condition("default", pod.name, GATE, status=False)
    w.step(NODES)
    assert phases(w) == [GATED]
    assert not w.set_condition("default", "web-99", GATE, status=True)  # no such pod


def test_an_ungated_template_is_ready_at_once() -> None:
    w = Workloads()
    w.observe([deployment(replicas=2, gated=False)], NODES)
    assert phases(w) == [READY, READY]


def test_a_rollout_removes_no_old_pod_before_its_replacement_passes_its_gate() -> None:
    w = Workloads()
    w.observe([deployment(replicas=2)], NODES)
    pass_gates(w)
    w.step(NODES)
    w.observe([deployment(replicas=2, revision="2")], NODES)
    seen = []
    for _ in range(40):  # bounded: a rollout of 2 pods settles well within it
        changed = w.step(NODES)
        seen.append(phases(w))
        if not changed:
            # the rollout waits on the gate: pass the new pods' gates (as the load
            # balancer's health checks would) and go on
            if not w.moving():
                break
            pass_gates(w)
    # maxUnavailable 0: never fewer than 2 ready pods; maxSurge 1: never more than 3 pods
    assert all(step.count(READY) >= 2 for step in seen), seen
    assert all(sum(1 for p in step if p in (STARTING, GATED, READY)) <= 3 for step in seen), seen
    assert GATED in {p for step in seen for p in step}  # the new pods did wait on their gates
    assert {DRAINING, STOPPING} <= {p for step in seen for p in step}
    assert [p.revision for p in w.pods("default", "web")] == [1, 1]
    assert phases(w) == [READY, READY]
