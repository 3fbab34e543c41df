"""The forwarder sends only the Services (and EndpointSlices) a managed Ingress needs;
when an Ingress starts referencing a Service, the Service's current state is sent."""

from __future__ import annotations

from kubernetes import client as k8s

from albatross.local.demo import ingress_hostname
from albatross.local.system import LocalSystem
from albatross.store.table import Store
from tests.e2e.test_slice import NAME, NS, ready_2048
from tests.k8s_typing import body


def stored(system: LocalSystem, kind: str, key: str) -> bool:
    return key in Store(str(system.output("StateTableName"))).get_objects(kind, [key])


def test_only_needed_services_are_forwarded(system: LocalSystem) -> None:
    ready_2048(system)
    core = k8s.CoreV1Api(system.api())
    spec = {"selector": {"app": "x"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    core.create_namespaced_service(NS, body({"metadata": {"name": "unused"}, "spec": spec}))
    core.create_namespaced_service(NS, body({"metadata": {"name": "later"}, "spec": spec}))
    system.wait_for("the 2048 Service stored", lambda: stored(system, "Service", f"{NS}/{NAME}"))
    assert not stored(system, "Service", f"{NS}/unused")
    assert not stored(system, "Service", f"{NS}/later")
    # an Ingress of ours starts sending traffic to "later": its state is sent then
    paths = [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": NAME, "port": {"number": 80}}}},
        {"path": "/later", "pathType": "Prefix", "backend": {"service": {"name": "later", "port": {"number": 80}}}},
    ]
    k8s.NetworkingV1Api(system.api()).patch_namespaced_ingress(
        NAME, NS, {"spec": {"rules": [{"http": {"paths": paths}}]}}
    )
    system.wait_for("the newly needed Service stored", lambda: stored(system, "Service", f"{NS}/later"))
    assert not stored(system, "Service", f"{NS}/unused")
    assert ingress_hostname(system, NS, NAME)
