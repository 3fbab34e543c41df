"""The forwarder decides which Ingresses are ours by the membership rules
(:mod:`albatross.contract.membership`, issue 15), against the Kubernetes API double: an
Ingress that names no class is ours when the default IngressClass is ours (LBC's class
loader), and gets its finalizer; a legacy class annotation decides whenever present,
even empty (LBC's group loader), so such an Ingress is not ours though its
``ingressClassName`` is."""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s

from albatross.contract import IMPLICIT_FINALIZER
from tests.functional.forwarding import Bus, Forwarders, wait_for
from tests.k8s_typing import body, must

NS = "default"


def ingress(name: str, *, cls: str | None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}
    if cls is not None:
        spec["ingressClassName"] = cls
    return {"metadata": {"name": name, "namespace": NS, "annotations": annotations or {}}, "spec": spec}


def test_the_default_class_makes_an_ingress_without_a_class_ours(forwarders: Forwarders) -> None:
    api = forwarders.api()
    net = k8s.NetworkingV1Api(api)
    default = {"ingressclass.kubernetes.io/is-default-class": "true"}
    net.create_ingress_class(
        body({"metadata": {"name": "alb", "annotations": default}, "spec": {"controller": "ingress.k8s.aws/alb"}})
    )
    net.create_namespaced_ingress(NS, body(ingress("plain", cls=None)))
    net.create_namespaced_ingress(
        NS, body(ingress("legacy-empty", cls="alb", annotations={"kubernetes.io/ingress.class": ""}))
    )
    bus = Bus("membership")
    forwarders.make(bus)

    resync = wait_for("the first Resync", bus.resyncs)[0]
    assert resync["keys"]["Ingress"] == [f"{NS}/plain"]
    wait_for(
        "our finalizer on the Ingress without a class",
        lambda: IMPLICIT_FINALIZER in (must(net.read_namespaced_ingress("plain", NS).metadata).finalizers or []),
    )
    assert not must(net.read_namespaced_ingress("legacy-empty", NS).metadata).finalizers


def test_an_ingress_without_a_class_gets_the_group_its_default_class_params_set(forwarders: Forwarders) -> None:
    """ADR 0004's amendment: the default IngressClass's IngressClassParams set a group, so
    an Ingress that names no class is in that group, and gets that group's finalizer
    (LBC's ``group.ingress.k8s.aws/<group>``), the one the cloud side expects; the
    implicit finalizer would name another group."""
    api = forwarders.api()
    net = k8s.NetworkingV1Api(api)
    k8s.CustomObjectsApi(api).create_cluster_custom_object(
        "elbv2.k8s.aws",
        "v1beta1",
        "ingressclassparams",
        body(
            {
                "apiVersion": "elbv2.k8s.aws/v1beta1",
                "kind": "IngressClassParams",
                "metadata": {"name": "shop-params"},
                "spec": {"group": {"name": "shop"}},
            }
        ),
    )
    net.create_ingress_class(
        body(
            {
                "metadata": {"name": "alb", "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
                "spec": {
                    "controller": "ingress.k8s.aws/alb",
                    "parameters": {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": "shop-params"},
                },
            }
        )
    )
    net.create_namespaced_ingress(NS, body(ingress("plain", cls=None)))
    net.create_namespaced_ingress(NS, body(ingress("named", cls="alb")))
    forwarders.make(Bus("membership-default-group"))

    def finalizers(name: str) -> list[str]:
        return must(net.read_namespaced_ingress(name, NS).metadata).finalizers or []

    wait_for("the group's finalizer on the Ingress naming the class", lambda: finalizers("named"))
    assert finalizers("named") == ["group.ingress.k8s.aws/shop"]
    wait_for("a finalizer on the Ingress without a class", lambda: finalizers("plain"))
    assert finalizers("plain") == ["group.ingress.k8s.aws/shop"]
