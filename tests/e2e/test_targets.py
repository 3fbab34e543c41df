"""The targets fast path: an EndpointSlice change registers and deregisters targets of
the target groups bound to its Service without a full reconcile (no load balancer,
listener or rule is read), in one RegisterTargets / DeregisterTargets per chunk. A
rolling update's old pods leave the target group as soon as they are terminating, while
they still run; duplicate and out-of-order EndpointSlice events change nothing. With pod
readiness gates (ADR 0014) the same rollout never has fewer healthy targets than the
Deployment promises: each new pod is registered once its containers are ready, and is
ready only once its target is healthy."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s

from albatross import contract
from albatross.aws import clients
from albatross.aws.calls import CallCounter
from albatross.contract.readiness import condition_type
from albatross.local.kube import pod_ip
from albatross.local.mends import target_health
from albatross.local.system import LocalSystem
from tests.e2e.test_slice import NAME, NS, ready_2048, work_queue_idle

TIME_SCALE = 0.05  # local_system's, which the e2e fixture keeps


@pytest.fixture(autouse=True)
def readiness_gates(monkeypatch: pytest.MonkeyPatch) -> None:
    """The forwarder watches gated pods (what the readiness-webhook component turns on);
    autouse, so it is set before the system starts its forwarder."""
    monkeypatch.setenv("READINESS_GATES", "true")


def targets() -> set[str]:
    elbv2 = clients.elbv2()
    [tg] = elbv2.describe_target_groups()["TargetGroups"]
    found = elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
    return {t["Target"]["Id"] for t in found if t.get("TargetHealth", {}).get("State") != "draining"}


def test_scaling_moves_targets_without_a_full_reconcile(system: LocalSystem) -> None:
    ready_2048(system)
    apps = k8s.AppsV1Api(system.api())
    counter = CallCounter()
    try:
        apps.patch_namespaced_deployment(NAME, NS, {"spec": {"replicas": 5}})
        system.wait_for("five targets", lambda: targets() == {pod_ip(NS, NAME, i) for i in range(5)})
        apps.patch_namespaced_deployment(NAME, NS, {"spec": {"replicas": 2}})
        system.wait_for("two targets", lambda: targets() == {pod_ip(NS, NAME, i) for i in range(2)})
        calls = counter.snapshot()
    finally:
        counter.close()
    ops = {op for (svc, op) in calls if svc == "elasticloadbalancing"}
    assert not ops & {"DescribeLoadBalancers", "DescribeListeners", "DescribeRules"}, calls
    assert calls[("elasticloadbalancing", "RegisterTargets")] == 1
    assert calls[("elasticloadbalancing", "DeregisterTargets")] == 1


def test_a_replaced_target_group_gets_its_targets(system: LocalSystem) -> None:
    ready_2048(system)
    [before] = clients.elbv2().describe_target_groups()["TargetGroups"]
    k8s.NetworkingV1Api(system.api()).patch_namespaced_ingress(
        NAME, NS, {"metadata": {"annotations": {"alb.ingress.kubernetes.io/backend-protocol": "HTTPS"}}}
    )

    def replaced() -> bool:
        found = clients.elbv2().describe_target_groups()["TargetGroups"]
        return len(found) == 1 and found[0]["TargetGroupArn"] != before["TargetGroupArn"]

    system.wait_for("the new target group", replaced)
    system.wait_for("its targets", lambda: targets() == {pod_ip(NS, NAME, i) for i in range(3)})


def endpoint_slice(system: LocalSystem) -> dict[str, Any]:
    """The 2048 Service's EndpointSlice as the API returns it, as plain JSON."""
    [found] = k8s.DiscoveryV1Api(system.api()).list_namespaced_endpoint_slice(NS).items
    return dict(system.api().sanitize_for_serialization(found))  # type: ignore[no-untyped-call]  # untyped


def addresses(
    endpoints: list[dict[str, Any]], *, ready: bool | None = None, terminating: bool | None = None
) -> set[str]:
    return {
        e["addresses"][0]
        for e in endpoints
        if (ready is None or e["conditions"]["ready"] == ready)
        and (terminating is None or e["conditions"]["terminating"] == terminating)
    }


def test_a_rolling_update_deregisters_each_old_pod_before_it_goes(system: LocalSystem) -> None:
    ready_2048(system)
    cluster = system.kube.cluster
    cluster.step_seconds = None  # the test moves the rollout one step at a time
    old = {pod_ip(NS, NAME, i) for i in range(3)}
    restart = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}}}}
    counter = CallCounter()
    seen_terminating: set[str] = set()
    try:
        k8s.AppsV1Api(system.api()).patch_namespaced_deployment(NAME, NS, restart)  # kubectl rollout restart
        while cluster.step():
            endpoints = endpoint_slice(system)["endpoints"]
            serving = addresses(endpoints, ready=True, terminating=False)
            system.wait_for("this step's targets", lambda s=serving: targets() == s)  # type: ignore[misc]  # bound default
            terminating = addresses(endpoints, terminating=True)
            # still in the slice (the pod has not stopped) and already out of the target group
            assert not targets() & terminating, endpoints
            seen_terminating |= terminating
        calls = counter.snapshot()
    finally:
        counter.close()
    assert seen_terminating == old
    assert targets() == {pod_ip(NS, NAME, i) for i in range(3, 6)}
    assert addresses(endpoint_slice(system)["endpoints"]) == {pod_ip(NS, NAME, i) for i in range(3, 6)}
    # one new pod ready and one old pod terminating per step: one call of each, three times
    assert calls[("elasticloadbalancing", "RegisterTargets")] == 3
    assert calls[("elasticloadbalancing", "DeregisterTargets")] == 3

    # Pod readiness gates: the same rollout, the pods gated on the target group as the
    # webhook gates them, against AWS's health checks (the local model: 2 checks 15 s
    # apart, scaled), never has fewer healthy targets than replicas - maxUnavailable
    [tg] = clients.elbv2().describe_target_groups()["TargetGroups"]
    gate = condition_type(str(tg["TargetGroupName"]))
    template = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "gated"}},
        "spec": {"readinessGates": [{"conditionType": gate}]},
    }
    with target_health(time_scale=TIME_SCALE) as health:
        started = health.clock()
        k8s.AppsV1Api(system.api()).patch_namespaced_deployment(NAME, NS, {"spec": {"template": template}})
        while cluster.workloads.moving():
            # a step that changes nothing: a new pod waits for its gate's condition
            system.wait_for("the gated rollout to move", cluster.step, timeout=60)
        floor = health.floor(str(tg["TargetGroupArn"]), started, health.clock())
    assert floor >= 3
    system.wait_for("the new pods' targets", lambda: targets() == {pod_ip(NS, NAME, i) for i in range(6, 9)})
    pods = k8s.CoreV1Api(system.api()).list_namespaced_pod(NS).items
    passed = [c for p in pods for c in (p.status.conditions or []) if c.type == gate]  # type: ignore[union-attr]  # status is set
    assert sorted(c.status for c in passed) == ["True"] * 3


def slice_entry(system: LocalSystem, obj: dict[str, Any], version: int) -> Any:
    """The PutEvents entry the forwarder would send for an EndpointSlice at ``version``."""
    sent = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(version)}}
    detail = {
        "schemaVersion": contract.SCHEMA_VERSION,
        "cluster": system.cluster,
        "kind": "EndpointSlice",
        "action": "upsert",
        "key": f"{NS}/{obj['metadata']['name']}",
        "resourceVersion": str(version),
        "object": sent,
    }
    return contract.put_events_entry(bus_name=str(system.output("EventBusName")), detail=detail)


def test_duplicate_and_reordered_endpoint_slice_events_leave_the_newest(system: LocalSystem) -> None:
    ready_2048(system)
    first = endpoint_slice(system)  # three pods
    k8s.AppsV1Api(system.api()).patch_namespaced_deployment(NAME, NS, {"spec": {"replicas": 5}})
    system.wait_for("five targets", lambda: targets() == {pod_ip(NS, NAME, i) for i in range(5)})
    system.wait_for("the queues to drain", lambda: work_queue_idle(system))
    second = endpoint_slice(system)
    newest = {**second, "endpoints": second["endpoints"][:4]}
    version = int(second["metadata"]["resourceVersion"]) + 1000
    ingest = system.function("IngestFunction")
    before = system.dispatcher.invocations[ingest]
    counter = CallCounter()
    try:
        # the newest state twice, then an older one after it
        entries = [
            slice_entry(system, newest, version),
            slice_entry(system, newest, version),
            slice_entry(system, first, int(first["metadata"]["resourceVersion"])),
        ]
        clients.events().put_events(Entries=entries)
        system.wait_for("the three events", lambda: system.dispatcher.invocations[ingest] >= before + 3)
        system.wait_for("four targets", lambda: targets() == {pod_ip(NS, NAME, i) for i in range(4)})
        system.wait_for("the queues to drain", lambda: work_queue_idle(system))
        calls = counter.snapshot()
    finally:
        counter.close()
    assert CallCounter.mutating(calls) == 1, calls  # the one DeregisterTargets
    assert calls[("elasticloadbalancing", "DeregisterTargets")] == 1
    assert targets() == {pod_ip(NS, NAME, i) for i in range(4)}
