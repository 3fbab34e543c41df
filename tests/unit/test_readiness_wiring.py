"""The pure pieces that wire pod readiness gates (ADR 0014), from LBC's documented rules:
which endpoints that are not ready become targets (their pod gated on this very target
group, its containers ready, not terminating: LBC's ``pod_readiness_gate.md``), what the
forwarder sends of a pod (its gates, ``ContainersReady``, their target-health
conditions: nothing the kubelet changes on every probe), and the SQS timer a poll gets
(whole seconds, at most 15 minutes: SQS's DelaySeconds)."""

from __future__ import annotations

from typing import Any

from albatross.contract import trim
from albatross.controller.gates import Gates, gated_targets, shown
from albatross.k8s.service import parse_endpoint_slice, parse_service
from albatross.model.targets import gated_addresses, ip_targets, waiting_pods

GATE = "target-health.elbv2.k8s.aws/k8s-shop-web-0123456789"
OTHER = "target-health.elbv2.k8s.aws/k8s-shop-api-9876543210"


def pod(name: str, *, gates: tuple[str, ...] = (GATE,), ready: bool = True, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "shop", "uid": f"uid-{name}"}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-06T12:00:00Z"
    return {
        "metadata": meta,
        "spec": {"readinessGates": [{"conditionType": g} for g in gates]},
        "status": {"conditions": [{"type": "ContainersReady", "status": str(ready)}]},
    }


def endpoint(address: str, name: str, *, ready: bool, terminating: bool = False) -> dict[str, Any]:
    return {
        "addresses": [address],
        "conditions": {"ready": ready, "serving": ready, "terminating": terminating},
        "targetRef": {"kind": "Pod", "namespace": "shop", "name": name},
    }


SLICE = {
    "metadata": {"name": "web-abcde", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
    "addressType": "IPv4",
    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    "endpoints": [
        endpoint("10.0.0.1", "ready", ready=True),
        endpoint("10.0.0.2", "gated", ready=False),
        endpoint("10.0.0.3", "starting", ready=False),
        endpoint("10.0.0.4", "other-gate", ready=False),
        endpoint("10.0.0.5", "ungated", ready=False),
        endpoint("10.0.0.6", "terminating", ready=False, terminating=True),
        endpoint("10.0.0.7", "deleting", ready=False),
    ],
}
PODS = {
    "shop/gated": pod("gated"),
    "shop/starting": pod("starting", ready=False),
    "shop/other-gate": pod("other-gate", gates=(OTHER,)),
    "shop/ungated": pod("ungated", gates=()),
    "shop/terminating": pod("terminating"),
    "shop/deleting": pod("deleting", deleting=True),
}
SERVICE = {
    "metadata": {"name": "web", "namespace": "shop", "uid": "svc"},
    "spec": {"type": "ClusterIP", "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]},
}


def test_only_pods_gated_on_this_target_group_with_ready_containers_become_targets_before_they_are_ready() -> None:
    # the pods worth reading: endpoints neither ready nor terminating
    assert waiting_pods([SLICE]) == [
        "shop/deleting",
        "shop/gated",
        "shop/other-gate",
        "shop/starting",
        "shop/ungated",
    ]
    found = gated_addresses([SLICE], PODS, GATE)
    assert set(found) == {"10.0.0.2"}
    binding = {"service": "shop/web", "servicePortNumber": 80, "targetType": "ip"}
    wanted = ip_targets(
        binding=binding,
        service=parse_service(SERVICE),
        slices=[parse_endpoint_slice(SLICE)],
        gated=set(found),
    )
    assert wanted == {("10.0.0.1", 8080), ("10.0.0.2", 8080)}
    # the same pods without their gated addresses: only the ready endpoint, as before gates
    assert ip_targets(binding=binding, service=parse_service(SERVICE), slices=[parse_endpoint_slice(SLICE)]) == {
        ("10.0.0.1", 8080)
    }
    [target] = gated_targets(wanted, found, GATE)
    assert (target.pod, target.uid, target.target, target.shown) == (
        "shop/gated",
        "uid-gated",
        ("10.0.0.2", 8080),
        None,
    )


def test_the_condition_a_pod_shows_is_read_back_as_the_forwarder_sent_it() -> None:
    shown_pod = pod("p")
    shown_pod["status"]["conditions"].append(
        {
            "type": GATE,
            "status": "False",
            "reason": "Elb.InitialHealthChecking",
            "message": "Initial health checks in progress",
        }
    )
    condition = shown(shown_pod, GATE)
    assert condition is not None
    assert (condition.status, condition.reason) == ("False", "Elb.InitialHealthChecking")
    assert shown(shown_pod, OTHER) is None


def test_a_pod_is_sent_without_what_changes_on_every_probe() -> None:
    full = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-1",
            "namespace": "shop",
            "uid": "u",
            "resourceVersion": "7",
            "labels": {"app": "web"},
            "managedFields": [{"manager": "kubelet"}],
        },
        "spec": {
            "nodeName": "n1",
            "containers": [{"name": "c", "image": "i"}],
            "readinessGates": [{"conditionType": GATE}],
        },
        "status": {
            "phase": "Running",
            "podIPs": [{"ip": "10.0.0.2"}],
            "containerStatuses": [{"restartCount": 3}],
            "conditions": [
                {"type": "Ready", "status": "False", "lastProbeTime": None},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": "t1"},
                {"type": GATE, "status": "False", "reason": "Elb.RegistrationInProgress", "message": "m"},
                {"type": "PodScheduled", "status": "True"},
            ],
        },
    }
    assert trim(full, "Pod") == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "shop", "uid": "u", "resourceVersion": "7"},
        "spec": {"nodeName": "n1", "readinessGates": [{"conditionType": GATE}]},
        "status": {
            "podIPs": [{"ip": "10.0.0.2"}],
            "conditions": [
                {"type": "ContainersReady", "status": "True"},
                {"type": GATE, "status": "False", "reason": "Elb.RegistrationInProgress", "message": "m"},
            ],
        },
    }


def test_a_polls_timer_is_whole_seconds_within_sqs_bounds() -> None:
    on_aws = Gates("c", "w", "r")
    assert (on_aws.delay(30), on_aws.delay(15), on_aws.delay(3600)) == (30, 15, 900)
    offline = Gates("c", "w", "r", clock=0.05)  # albatross local's time scale
    assert (offline.delay(30), offline.delay(15)) == (2, 1)
