"""The forwarder's part of pod readiness gates (ADR 0014), against the Kubernetes API
double: with ``readiness_gates`` it sends only pods gated on a target group, trimmed to
what registration reads; it sets a gate's condition as a strategic merge patch of the
pod's status (so the kubelet's conditions stay) only when the write-back is one
Albatross could have asked; and it stores a group's gates in the ConfigMap its webhook
answers from. Then the webhook serves them over TLS, as the API server would call it.

Expected values are Kubernetes' and LBC's: the condition type is
``target-health.elbv2.k8s.aws/<target group>``, the pod's other conditions survive the
patch, and a pod whose readiness gate's condition is True becomes Ready."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.request
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from albatross.aws import clients
from albatross.contract.readiness import (
    GATES_CONFIGMAP,
    PodCondition,
    ServiceGates,
    gates_key,
    pod_condition,
    readiness_gates,
)
from albatross.local.kube import KubeDouble
from tests.functional.forwarding import Bus, Forwarders, metric, wait_for
from tests.functional.test_readiness_webhook import certificate
from tests.k8s_typing import body, must

NS = "default"
GATE = "target-health.elbv2.k8s.aws/k8s-default-web-0123456789"
OTHER = "target-health.elbv2.k8s.aws/k8s-default-api-9876543210"


def deployment(name: str, *, gates: list[str]) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "i"}]}
    if gates:
        spec["readinessGates"] = [{"conditionType": g} for g in gates]
    return {
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }


def conditions(api: k8s.ApiClient, pod: str) -> dict[str, dict[str, Any]]:
    found = k8s.CoreV1Api(api).read_namespaced_pod(pod, NS).to_dict()
    return {c["type"]: c for c in (found.get("status") or {}).get("conditions") or []}


def send(forwarders: Forwarders, message: Any) -> None:
    clients.sqs().send_message(QueueUrl=forwarders.writeback_url, MessageBody=message.to_body())


def test_gated_pods_are_sent_and_their_gates_set_as_albatross_asks(
    forwarders: Forwarders, kube: KubeDouble, tmp_path: Path
) -> None:
    api = forwarders.api()
    apps = k8s.AppsV1Api(api)
    apps.create_namespaced_deployment(NS, body(deployment("web", gates=[GATE])))
    apps.create_namespaced_deployment(NS, body(deployment("plain", gates=[])))
    pods = {must(p.metadata).name: p for p in k8s.CoreV1Api(api).list_namespaced_pod(NS).items}
    assert set(pods) == {"web-0", "plain-0"}
    uid = str(must(pods["web-0"].metadata).uid)
    bus = Bus("readiness")
    certificate(tmp_path, 1)
    forwarder = forwarders.make(bus, webhook_cert_dir=str(tmp_path), webhook_port=0, webhook_address="127.0.0.1")

    # only the gated pod, trimmed: its gates, ContainersReady (the kubelet's other
    # conditions and the containers are not the cloud side's business)
    sent = wait_for("the gated pod sent", lambda: bus.changes("Pod"))
    assert [c["key"] for c in sent] == [f"{NS}/web-0"]
    pod = sent[0]["object"]
    assert pod["spec"] == {"readinessGates": [{"conditionType": GATE}]}
    assert pod["status"]["conditions"] == [{"type": "ContainersReady", "status": "True"}]
    assert pod["metadata"]["uid"] == uid
    resync = wait_for("the first Resync", bus.resyncs)[0]
    assert resync["keys"]["Pod"] == [f"{NS}/web-0"]

    # refused: a pod not gated on that type, another pod of the same name, a pod gone
    send(forwarders, pod_condition(cluster="c", pod=f"{NS}/web-0", uid=uid, condition=PodCondition(OTHER, "True")))
    send(forwarders, pod_condition(cluster="c", pod=f"{NS}/web-0", uid="other", condition=PodCondition(GATE, "True")))
    send(forwarders, pod_condition(cluster="c", pod=f"{NS}/gone", uid="x", condition=PodCondition(GATE, "True")))
    for reason in ("not-gated", "uid-mismatch", "pod-gone"):
        wait_for(reason, lambda r=reason: metric(forwarder, "writebacks_refused_total", reason=r) == 1)  # type: ignore[misc]  # a default binds the loop's value
    assert GATE not in conditions(api, "web-0")

    # applied: LBC's first condition of a target just registered, then healthy
    registering = PodCondition(GATE, "False", "Elb.RegistrationInProgress", "Target registration is in progress")
    send(forwarders, pod_condition(cluster="c", pod=f"{NS}/web-0", uid=uid, condition=registering))
    found = must(wait_for("the condition set", lambda: conditions(api, "web-0").get(GATE)))
    assert (found["status"], found["reason"], found["message"]) == (
        "False",
        "Elb.RegistrationInProgress",
        "Target registration is in progress",
    )
    assert conditions(api, "web-0")["ContainersReady"]["status"] == "True"  # merged by type, not replaced
    send(forwarders, pod_condition(cluster="c", pod=f"{NS}/web-0", uid=uid, condition=PodCondition(GATE, "True")))
    wait_for("the gate passed", lambda: conditions(api, "web-0").get(GATE, {}).get("status") == "True")
    passed = conditions(api, "web-0")[GATE]
    assert passed.get("reason") is None  # the old reason and message go
    assert passed.get("message") is None
    kube.cluster.step()  # the kubelet sees the gate pass
    assert conditions(api, "web-0")["Ready"]["status"] == "True"

    # a group's gates: stored under its key, read back by every replica's webhook
    services = {"web": ServiceGates({"app": "web"}, (GATE,))}
    send(forwarders, readiness_gates(cluster="c", group="g", namespace=NS, services=services))
    wait_for("the webhook's table", lambda: forwarder.gates(NS))
    stored = must(k8s.CoreV1Api(api).read_namespaced_config_map(GATES_CONFIGMAP, NS).data)
    assert set(stored) == {gates_key(NS, "g")}
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "r1",
            "operation": "CREATE",
            "namespace": NS,
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "object": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}},
        },
    }
    assert forwarder.webhook is not None
    context = ssl.create_default_context(cafile=str(tmp_path / "tls.crt"))
    request = urllib.request.Request(
        f"https://127.0.0.1:{forwarder.webhook.port}/mutate-v1-pod",
        data=json.dumps(review).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, context=context, timeout=10) as answer:  # noqa: S310  # https on 127.0.0.1
        response = json.loads(answer.read())["response"]
    patch = json.loads(base64.b64decode(response["patch"]))
    assert patch == [{"op": "add", "path": "/spec/readinessGates", "value": [{"conditionType": GATE}]}]
    assert metric(forwarder, "webhook_requests_total", result="patched") == 1

    # the group gates nothing there any more: its key goes, and so do the gates
    send(forwarders, readiness_gates(cluster="c", group="g", namespace=NS, services={}))
    wait_for("the key removed", lambda: not forwarder.gates(NS))
