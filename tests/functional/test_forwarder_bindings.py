"""The forwarder and TargetGroupBindings, against the Kubernetes API double (which serves
the CRD forwarder/deploy/components/targetgroupbinding-crd ships) through the official
client: a user's binding is sent with the Service it names and that Service's slices,
though no Ingress needs them; the bindings LBC generated for its own stacks are not; the
cloud side's binding write-backs set status.observedGeneration and record Events on the
binding, and crafted ones (another uid, a foreign reason, LBC's generated binding,
another cluster) are refused and counted."""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s

from albatross.aws import clients
from albatross.contract import bindings
from tests.functional.forwarding import Bus, Forwarders, metric, wait_for
from tests.k8s_typing import body

NS = "shop"
GROUP, VERSION, PLURAL = bindings.API_GROUP, bindings.API_VERSION, bindings.PLURAL


def tgb(name: str, service: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TargetGroupBinding",
        "metadata": {"name": name, "namespace": NS, **({"labels": labels} if labels else {})},
        "spec": {
            "serviceRef": {"name": service, "port": 80},
            "targetGroupARN": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tf/0123456789abcdef",
        },
    }


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "app", "ports": [{"containerPort": 8080}]}]},
            },
        },
    }


def service(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NS},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    }


def as_dict(found: object) -> dict[str, Any]:
    """A custom object as the client returns it (typed ``object``)."""
    assert isinstance(found, dict)
    return found


def test_bindings_are_forwarded_with_their_services_and_told_what_the_cloud_says(forwarders: Forwarders) -> None:
    api = forwarders.api()
    core, apps, custom = k8s.CoreV1Api(api), k8s.AppsV1Api(api), k8s.CustomObjectsApi(api)
    core.create_namespace(body({"metadata": {"name": NS}}))
    for name in ("checkout", "web", "other"):
        apps.create_namespaced_deployment(NS, body(deployment(name)))
        core.create_namespaced_service(NS, body(service(name)))
    mine = custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, tgb("checkout", "checkout"))
    # LBC's binding for its Ingress shop/web: inert under Albatross
    generated = {"ingress.k8s.aws/stack-namespace": NS, "ingress.k8s.aws/stack-name": "web"}
    custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, tgb("k8s-shop-web-0123456789", "web", generated))
    bus = Bus("b")
    forwarder = forwarders.make(bus, lease_duration=60)  # one term: a starved machine must not relist mid-test
    (resync,) = wait_for("the first Resync", bus.resyncs)
    seen: dict[str, set[str]] = {}
    for kind in ("TargetGroupBinding", "Service", "EndpointSlice"):
        seen[kind] = {d["key"] for d in bus.details if d.get("kind") == kind}
    assert seen["TargetGroupBinding"] == {"shop/checkout"}
    assert seen["Service"] == {"shop/checkout"}, "only the Service a served binding names"
    assert {k.split("/")[1].rsplit("-", 1)[0] for k in seen["EndpointSlice"]} == {"checkout"}
    assert resync["keys"]["TargetGroupBinding"] == ["shop/checkout"]

    # the cloud side's word on the binding: its status, an Event on it
    uid = str(as_dict(mine)["metadata"]["uid"])

    def about(binding: str = "shop/checkout", cluster: str = "c", uid: str = uid, **what: Any) -> str:
        return bindings.BindingWriteBack(cluster=cluster, binding=binding, uid=uid, **what).to_body()

    event = {"type": "bindingEvent", "event_type": "Normal", "message": "Successfully reconciled"}
    for message in (
        about(type="bindingStatus", observed_generation=1),
        about(**event, reason="SuccessfullyReconciled"),
        # crafted: another object's uid, a reason Albatross never records on a binding,
        # LBC's generated binding, another cluster
        about(type="bindingStatus", observed_generation=9, uid="someone-else"),
        about(**event, reason="Hacked"),
        about(type="bindingStatus", observed_generation=7, binding="shop/k8s-shop-web-0123456789", uid=""),
        about(type="bindingStatus", observed_generation=8, cluster="other"),
    ):
        clients.sqs().send_message(QueueUrl=forwarders.writeback_url, MessageBody=message)

    def status() -> Any:
        found = as_dict(custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "checkout"))
        return (found.get("status") or {}).get("observedGeneration")

    wait_for("the binding's observedGeneration", lambda: status() == 1)
    on_binding = wait_for(
        "the Event on the binding",
        lambda: [e for e in core.list_namespaced_event(NS).items if e.involved_object.kind == "TargetGroupBinding"],
    )
    assert [(e.reason, e.involved_object.name, e.involved_object.uid) for e in on_binding] == [
        ("SuccessfullyReconciled", "checkout", uid)
    ]
    wait_for(
        "the crafted messages refused",
        lambda: (
            [
                metric(forwarder, "writebacks_refused_total", reason=r)
                for r in ("uid-mismatch", "foreign-reason", "not-managed", "other-cluster")
            ]
            == [1, 1, 1, 1]
        ),
    )
    assert status() == 1
    lbc = as_dict(custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "k8s-shop-web-0123456789"))
    assert "status" not in lbc or not lbc["status"]

    # deleted: its delete goes out, and its Service is no longer needed
    custom.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "checkout")
    wait_for(
        "the binding's delete",
        lambda: any(d["action"] == "delete" for d in bus.changes("TargetGroupBinding") if d["key"] == "shop/checkout"),
        timeout=60,
    )
