"""Pod readiness gates' rules (ADR 0014), each from LBC's documented behaviour and code
(docs/deploy/pod_readiness_gate.md; pkg/targetgroupbinding/resource_manager.go,
pkg/inject/pod_readiness_gate.go, pkg/backend/endpoint_resolver.go) and the ELBv2 API
reference (TargetHealth): the names, the condition a target's health gives, which
endpoints are registered, when health is read again, the webhook's answer and the
judged status patch."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

import pytest

from albatross.contract.readiness import (
    PodCondition,
    ReadinessWriteBack,
    ReadinessWriteBackError,
    ServiceGates,
    condition_type,
    differs,
    gates_of,
    inject_enabled,
    is_gate,
    parse_readiness_writeback,
    pod_condition,
    readiness_gates,
)
from albatross.model import readiness
from albatross.model.stack import TARGET_GROUP, Resource, Stack
from albatross_forwarder.readiness import admit, refusal, status_patch, store, stored

# LBC's docs show a gate of this name (a target group's name, k8s-<ns>-<svc>-<hash>)
TG = "k8s-readines-perf1000-7848e5026b"
GATE = "target-health.elbv2.k8s.aws/k8s-readines-perf1000-7848e5026b"
OTHER = "target-health.elbv2.k8s.aws/k8s-readines-other-0123456789"
LEGACY = "target-health.alb.ingress.k8s.aws/web_web_80"
NOW = "2026-12-06T18:00:00Z"


def pod(
    *, gates: Sequence[str] = (), conditions: Sequence[dict[str, Any]] = (), labels: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-1", "namespace": "readiness", "uid": "u-1", "labels": labels or {"app": "web"}},
        "spec": {"readinessGates": [{"conditionType": g} for g in gates]},
        "status": {"conditions": list(conditions)},
    }


# --- names ---------------------------------------------------------------------------------


def test_the_condition_type_is_lbcs_prefix_and_the_binding_name() -> None:
    assert condition_type(TG) == GATE
    assert is_gate(GATE)
    assert not is_gate(LEGACY)  # the v1 controller's prefix is not ours
    assert not is_gate("target-health.elbv2.k8s.aws/" + "a" * 64)  # a qualified name's part is 63 at most
    assert not is_gate("target-health.elbv2.k8s.aws/")


def test_only_the_label_value_enabled_asks_for_gates() -> None:
    assert inject_enabled({"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"})
    assert not inject_enabled({"elbv2.k8s.aws/pod-readiness-gate-inject": "true"})
    assert not inject_enabled({})


def test_a_pods_gates_are_its_target_health_readiness_gates() -> None:
    assert gates_of(pod(gates=[GATE, "example.com/other", LEGACY])) == [GATE]


# --- the condition a target's health gives (LBC's updateTargetHealthPodConditionForPod) ----


def test_true_only_when_healthy_with_the_target_healths_reason_and_description() -> None:
    assert readiness.condition(GATE, {"State": "healthy"}) == PodCondition(GATE, "True", "", "")
    initial = {
        "State": "initial",
        "Reason": "Elb.InitialHealthChecking",
        "Description": "Initial health checks in progress",
    }
    assert readiness.condition(GATE, initial) == PodCondition(
        GATE, "False", "Elb.InitialHealthChecking", "Initial health checks in progress"
    )
    unhealthy = {"State": "unhealthy", "Reason": "Target.Timeout", "Description": "Request timed out"}
    assert readiness.condition(GATE, unhealthy).status == "False"


def test_a_target_just_registered_is_registration_in_progress_without_a_read() -> None:
    assert readiness.condition(GATE, None) == PodCondition(
        GATE, "False", "Elb.RegistrationInProgress", "Target registration is in progress"
    )


def test_a_binding_that_goes_leaves_its_pods_passed() -> None:
    assert readiness.deleted(GATE) == PodCondition(GATE, "True", "", "Target Group Binding is deleted")


def test_health_is_read_again_until_the_condition_is_true() -> None:
    assert readiness.needs_probe(readiness.condition(GATE, None))
    assert not readiness.needs_probe(readiness.condition(GATE, {"State": "healthy"}))


def test_a_pod_is_patched_only_when_status_reason_or_message_differ() -> None:
    shown = {"type": GATE, "status": "False", "reason": "Elb.RegistrationInProgress"}
    shown["message"] = "Target registration is in progress"
    gated = pod(gates=[GATE], conditions=[shown])
    assert not differs(gated, readiness.condition(GATE, None))
    assert differs(gated, readiness.condition(GATE, {"State": "healthy"}))
    assert differs(pod(gates=[GATE]), readiness.condition(GATE, None))  # not shown yet
    assert not differs(pod(gates=[OTHER]), readiness.condition(GATE, None))  # not gated on it


# --- which endpoints are targets (LBC's endpoint resolver) --------------------------------

READY = {"conditions": {"ready": True, "serving": True, "terminating": False}}
NOT_READY = {"conditions": {"ready": False, "serving": False, "terminating": False}}
TERMINATING = {"conditions": {"ready": False, "serving": True, "terminating": True}}
CONTAINERS_READY = {"type": "ContainersReady", "status": "True"}


def test_ready_endpoints_are_targets_and_terminating_ones_are_not() -> None:
    assert readiness.registrable(READY, None, None)
    assert readiness.registrable({"conditions": {}}, None, None)  # ready unknown counts as ready
    assert not readiness.registrable(TERMINATING, pod(gates=[GATE], conditions=[CONTAINERS_READY]), GATE)


def test_a_gated_pod_whose_containers_are_ready_is_registered_before_it_is_ready() -> None:
    gated = pod(gates=[GATE], conditions=[CONTAINERS_READY])
    assert readiness.registrable(NOT_READY, gated, GATE)
    assert not readiness.registrable(NOT_READY, gated, OTHER)  # gated on another target group
    assert not readiness.registrable(NOT_READY, gated, None)  # an ungated (or instance-mode) target group
    assert not readiness.registrable(NOT_READY, pod(gates=[GATE]), GATE)  # containers not ready
    assert not readiness.registrable(NOT_READY, pod(conditions=[CONTAINERS_READY]), GATE)  # no gate
    deleting = pod(gates=[GATE], conditions=[CONTAINERS_READY])
    deleting["metadata"]["deletionTimestamp"] = NOW
    assert not readiness.registrable(NOT_READY, deleting, GATE)


def test_health_is_read_when_it_can_first_be_healthy_then_every_interval() -> None:
    # LBC's defaults: 2 checks 15 s apart
    assert readiness.first_poll_seconds(interval=15, healthy_threshold=2) == 30
    assert readiness.next_poll_seconds(interval=15) == 15
    # an SQS message timer is 15 minutes at most
    assert readiness.first_poll_seconds(interval=300, healthy_threshold=10) == 900


# --- write-backs ---------------------------------------------------------------------------


def test_write_backs_round_trip() -> None:
    condition = pod_condition(cluster="c", pod="readiness/web-1", uid="u-1", condition=readiness.condition(GATE, None))
    assert parse_readiness_writeback(condition.to_body()) == condition
    gates = readiness_gates(
        cluster="c",
        group="readiness/web",
        namespace="readiness",
        services={"web": ServiceGates({"app": "web"}, (GATE, OTHER, GATE))},
    )
    assert gates.services["web"].gates == tuple(sorted({GATE, OTHER}))  # each once, in order
    assert parse_readiness_writeback(gates.to_body()) == gates


def test_other_write_backs_are_not_readiness_ones() -> None:
    assert parse_readiness_writeback('{"schemaVersion":"1","type":"status"}') is None
    assert parse_readiness_writeback("not json") is None


@pytest.mark.parametrize(
    "change",
    [
        {"condition": {"type": LEGACY, "status": "True"}},  # another controller's condition
        {"condition": {"type": "Ready", "status": "True"}},  # the kubelet's
        {"condition": {"type": GATE, "status": "yes"}},
        {"pod": "web-1"},
        {"uid": ""},
        {"schemaVersion": "2"},
    ],
)
def test_a_malformed_pod_condition_is_refused(change: dict[str, Any]) -> None:
    body = json.loads(
        pod_condition(
            cluster="c", pod="readiness/web-1", uid="u-1", condition=readiness.condition(GATE, None)
        ).to_body()
    )
    with pytest.raises(ReadinessWriteBackError):
        parse_readiness_writeback(json.dumps({**body, **change}))


# --- the webhook's answer (LBC's pod mutator) ---------------------------------------------

SERVICES = {"web": ServiceGates({"app": "web"}, (GATE,)), "all": ServiceGates({}, (OTHER,))}


def review(obj: dict[str, Any], *, operation: str = "CREATE") -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "req-1",
            "operation": operation,
            "namespace": "readiness",
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "object": obj,
        },
    }


def patch_of(answer: dict[str, Any]) -> list[dict[str, Any]] | None:
    response = answer["response"]
    assert response["uid"] == "req-1"
    assert response["allowed"] is True  # never refuses a pod
    if "patch" not in response:
        return None
    assert response["patchType"] == "JSONPatch"
    return list(json.loads(base64.b64decode(response["patch"])))


def test_a_selected_pod_gets_the_gates_of_its_services_and_loses_legacy_ones() -> None:
    made = pod(gates=[LEGACY, "example.com/own"])
    del made["metadata"]["namespace"]  # a pod being made may not name its namespace
    answer = admit(review(made), {"readiness": SERVICES}.get)  # type: ignore[arg-type]  # dict.get as the lookup
    assert patch_of(answer) == [
        {
            "op": "add",
            "path": "/spec/readinessGates",
            "value": [{"conditionType": "example.com/own"}, {"conditionType": GATE}],
        }
    ]


def test_no_patch_for_a_pod_no_service_selects_one_already_gated_or_an_update() -> None:
    def lookup(ns: str) -> dict[str, ServiceGates]:
        return SERVICES if ns == "readiness" else {}

    assert patch_of(admit(review(pod(labels={"app": "other"})), lookup)) is None  # an empty selector selects none
    assert patch_of(admit(review(pod(gates=[GATE])), lookup)) is None
    assert patch_of(admit(review(pod(), operation="UPDATE"), lookup)) is None
    # legacy gates stay when nothing is added (LBC removes them only with new ones)
    assert patch_of(admit(review(pod(gates=[LEGACY], labels={"app": "other"})), lookup)) is None


def test_the_gates_configmap_round_trips_and_an_emptied_groups_key_is_removed() -> None:
    gates = readiness_gates(
        cluster="c", group="readiness/web", namespace="readiness", services={"web": SERVICES["web"]}
    )
    patch = store(gates)
    assert stored(patch) == {"readiness": {"web": SERVICES["web"]}}
    [key] = patch["data"]
    emptied = readiness_gates(cluster="c", group="readiness/web", namespace="readiness", services={})
    assert store(emptied) == {"data": {key: None}}
    assert stored({"data": {"broken.0123": "{"}}) == {}


def test_two_groups_that_gate_one_service_keep_their_own_keys_and_both_gates() -> None:
    first = readiness_gates(
        cluster="c", group="readiness/web", namespace="readiness", services={"web": SERVICES["web"]}
    )
    other = ServiceGates({"app": "web"}, (OTHER,))
    second = readiness_gates(cluster="c", group="shared", namespace="readiness", services={"web": other})
    data = {**store(first)["data"], **store(second)["data"]}
    assert len(data) == 2  # neither write-back replaces the other's
    assert stored({"data": data})["readiness"]["web"].gates == tuple(sorted({GATE, OTHER}))


# --- the judged status patch ---------------------------------------------------------------


def writeback(condition: PodCondition, uid: str = "u-1") -> ReadinessWriteBack:
    return pod_condition(cluster="c", pod="readiness/web-1", uid=uid, condition=condition)


def test_a_pod_condition_is_applied_only_as_albatross_could_have_asked() -> None:
    wb = writeback(readiness.condition(GATE, None))

    def watched(ns: str) -> bool:
        return ns == "readiness"

    assert refusal(pod(gates=[GATE]), wb, watched=watched) is None
    assert refusal(None, wb, watched=watched) == "pod-gone"
    assert refusal(pod(gates=[GATE]), writeback(wb.condition, uid="u-2"), watched=watched) == "uid-mismatch"  # type: ignore[arg-type]  # set above
    assert refusal(pod(gates=[GATE]), wb, watched=lambda ns: False) == "not-managed"
    assert refusal(pod(gates=[OTHER]), wb, watched=watched) == "not-gated"


def test_the_status_patch_merges_one_condition_with_the_uid_as_precondition() -> None:
    patch = status_patch(pod(gates=[GATE]), readiness.condition(GATE, None), now=NOW)
    assert patch == {
        "metadata": {"uid": "u-1"},
        "status": {
            "conditions": [
                {
                    "type": GATE,
                    "status": "False",
                    "reason": "Elb.RegistrationInProgress",
                    "message": "Target registration is in progress",
                    "lastTransitionTime": NOW,
                }
            ]
        },
    }


def test_the_transition_time_moves_only_with_the_status_and_old_text_is_cleared() -> None:
    shown = {"type": GATE, "status": "False", "reason": "Elb.RegistrationInProgress", "lastTransitionTime": "T0"}
    checking = readiness.condition(GATE, {"State": "initial", "Reason": "Elb.InitialHealthChecking"})
    same_status = status_patch(pod(gates=[GATE], conditions=[shown]), checking, now=NOW)
    assert same_status is not None
    assert same_status["status"]["conditions"][0]["lastTransitionTime"] == "T0"
    healthy = status_patch(
        pod(gates=[GATE], conditions=[shown]), readiness.condition(GATE, {"State": "healthy"}), now=NOW
    )
    assert healthy is not None
    [entry] = healthy["status"]["conditions"]
    assert (entry["status"], entry["reason"], entry["message"], entry["lastTransitionTime"]) == (
        "True",
        None,
        None,
        NOW,
    )
    done = pod(gates=[GATE], conditions=[{"type": GATE, "status": "True"}])
    assert status_patch(done, readiness.condition(GATE, {"State": "healthy"}), now=NOW) is None


# --- settling one target group's gated targets ------------------------------------------


def gated(i: int, shown: PodCondition | None = None) -> readiness.GatedTarget:
    return readiness.GatedTarget(f"readiness/web-{i}", f"u-{i}", (f"10.0.1.{i}", 80), GATE, shown)


def test_settle_writes_back_only_what_pods_do_not_show_and_reads_again_while_any_is_not_true() -> None:
    healthy = readiness.condition(GATE, {"State": "healthy"})
    checking = {
        "State": "initial",
        "Reason": "Elb.InitialHealthChecking",
        "Description": "Initial health checks in progress",
    }
    targets = [gated(1, shown=healthy), gated(2), gated(3, shown=readiness.condition(GATE, checking))]
    health = {targets[0].target: {"State": "healthy"}, targets[2].target: checking}  # 2: not read yet
    settled = readiness.settle(targets, health, interval=15, healthy_threshold=2)
    assert [(t.pod, c) for t, c in settled.conditions] == [("readiness/web-2", readiness.condition(GATE, None))]
    assert [t.pod for t in settled.pending] == ["readiness/web-2", "readiness/web-3"]
    assert settled.delay == 15
    just = readiness.settle([gated(4)], {}, interval=15, healthy_threshold=2, registered=True)
    assert just.delay == 30  # first read when the target can first be healthy
    done = readiness.settle(
        [gated(1, shown=healthy)], {gated(1).target: {"State": "healthy"}}, interval=15, healthy_threshold=2
    )
    assert (done.conditions, done.pending, done.delay) == ([], [], None)


# --- what the webhook is to inject, from a group's desired stack ---------------------------


def test_the_gates_of_a_stack_are_its_ip_target_groups_by_service_in_labelled_namespaces() -> None:
    def tg(name: str, service: str, mode: str) -> Resource:
        return Resource(TARGET_GROUP, {"Name": name}, {"targetType": mode, "service": service, "port": 80})

    stack = Stack(
        "readiness/web",
        {
            "a": tg("k8s-readines-web-aaaaaaaaaa", "readiness/web", "ip"),
            "b": tg("k8s-readines-web-bbbbbbbbbb", "readiness/web", "ip"),  # another port of the same Service
            "c": tg("k8s-readines-nodes-cccccccccc", "readiness/nodes", "instance"),  # no gates for nodes
            "d": tg("k8s-plain-web-dddddddddd", "plain/web", "ip"),  # namespace not labelled
            "e": tg("k8s-readines-all-eeeeeeeeee", "readiness/all", "ip"),  # selects nothing
        },
    )
    services: dict[str, dict[str, Any]] = {
        "readiness/web": {"spec": {"selector": {"app": "web"}}},
        "readiness/nodes": {"spec": {"selector": {"app": "nodes"}}},
        "plain/web": {"spec": {"selector": {"app": "web"}}},
        "readiness/all": {"spec": {}},
    }
    found = readiness.service_gates(stack, services, labelled=lambda ns: ns == "readiness")
    web = ServiceGates(
        {"app": "web"},
        (condition_type("k8s-readines-web-aaaaaaaaaa"), condition_type("k8s-readines-web-bbbbbbbbbb")),
    )
    assert found == {"readiness": {"web": web}}
    sent = readiness.gates_writebacks(cluster="c", group="readiness/web", now=found, before=["readiness", "old"])
    assert [(wb.namespace, dict(wb.services)) for wb in sent] == [("readiness", {"web": web}), ("old", {})]
    assert readiness.service_gates(None, services, labelled=lambda ns: True) == {}
