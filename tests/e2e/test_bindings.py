"""A TargetGroupBinding through the whole offline system (ADR 0013): a target group made by
hand, tagged for the cluster, and a binding naming it and a Service no Ingress uses. The
forwarder sends the binding and the Service's endpoints, ingest routes them to the
targets queue, the reconcile function registers the pods, and the binding's status and
Event come back through the write-back queue; scaling moves the targets, and deleting the
binding deregisters them and leaves the target group as it was made."""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s

from albatross.aws import clients
from albatross.contract import bindings
from albatross.local.kube import pod_ip
from albatross.local.system import LocalSystem
from tests.k8s_typing import body

NS, NAME = "shop", "checkout"
GROUP, VERSION, PLURAL = bindings.API_GROUP, bindings.API_VERSION, bindings.PLURAL


def workload(api: k8s.ApiClient) -> None:
    labels = {"app": NAME}
    k8s.CoreV1Api(api).create_namespace(body({"metadata": {"name": NS}}))
    container = {"name": "app", "image": "app", "ports": [{"name": "http", "containerPort": 8080}]}
    k8s.AppsV1Api(api).create_namespaced_deployment(
        NS,
        body(
            {
                "metadata": {"name": NAME, "namespace": NS},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
                },
            }
        ),
    )
    service = {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
    k8s.CoreV1Api(api).create_namespaced_service(NS, body({"metadata": {"name": NAME}, "spec": service}))


def registered(arn: str) -> set[tuple[str, int]]:
    health = clients.elbv2().describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {
        (t["Target"]["Id"], t["Target"]["Port"]) for t in health if t.get("TargetHealth", {}).get("State") != "draining"
    }


def pods(count: int) -> set[tuple[str, int]]:
    return {(pod_ip(NS, NAME, i), 8080) for i in range(count)}


def test_a_binding_keeps_a_hand_made_target_group_registered(system: LocalSystem) -> None:
    api = system.api()
    workload(api)
    made = clients.elbv2().create_target_group(
        Name="checkout-tf",
        Protocol="HTTP",
        Port=80,
        VpcId=system.vpc_id,
        TargetType="ip",
        Tags=[{"Key": bindings.CLUSTER_TAG, "Value": system.cluster}],
    )["TargetGroups"][0]
    arn = made["TargetGroupArn"]
    [before] = clients.elbv2().describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]
    custom = k8s.CustomObjectsApi(api)
    tgb = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": bindings.KIND,
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {"serviceRef": {"name": NAME, "port": 80}, "targetGroupARN": arn},
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, tgb)
    system.wait_for("the pods registered", lambda: registered(arn) == pods(2))

    def observed() -> Any:
        found = custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, NAME)
        assert isinstance(found, dict)
        return (found.get("status") or {}).get("observedGeneration") == 1

    system.wait_for("the binding's observedGeneration", observed)
    events = k8s.CoreV1Api(api).list_namespaced_event(NS).items
    assert ("Normal", "SuccessfullyReconciled") in {
        (e.type, e.reason) for e in events if e.involved_object.kind == bindings.KIND
    }

    k8s.AppsV1Api(api).patch_namespaced_deployment(NAME, NS, {"spec": {"replicas": 3}})
    system.wait_for("the new pod registered", lambda: registered(arn) == pods(3))

    custom.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, NAME)
    system.wait_for("the targets deregistered", lambda: registered(arn) == set())
    [after] = clients.elbv2().describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]
    assert after == before
