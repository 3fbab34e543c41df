"""The forwarder's first list sends each Service, and then its EndpointSlices, ahead of
the first Ingress that needs it (issue 16, scale-adopt), against the Kubernetes API
double and moto's EventBridge.

Ingest holds an adopted one-Ingress group until its Ingress, the Services it names and
their slices are stored (the sync hold, docs/architecture.md). Sent after every Ingress,
as the Service and EndpointSlice watchers list only once the Ingresses have, one shared
Service released every such group at once; a Service sent without its slices (an earlier
attempt) let a group be reconciled with no endpoints: its targets deregistered, then
registered again. Read by name as the Ingress list needs them, each Service and its
slices are on the bus before that Ingress is, and the watchers' own lists do not send
them a second time.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s

from tests.functional.forwarding import NS, Bus, Forwarders, ingress, wait_for
from tests.k8s_typing import body


def service(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NS},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def test_each_service_and_its_slices_go_ahead_of_the_first_ingress_needing_it(forwarders: Forwarders) -> None:
    api = forwarders.api()
    net, core, discovery = k8s.NetworkingV1Api(api), k8s.CoreV1Api(api), k8s.DiscoveryV1Api(api)
    net.create_ingress_class(body({"metadata": {"name": "alb"}, "spec": {"controller": "ingress.k8s.aws/alb"}}))
    for name in ("web-1", "web-2", "unused"):
        core.create_namespaced_service(NS, body(service(name)))

    # the endpoints controller (the double's stand-in) gives each Service with a selector a slice
    def listed() -> dict[str, str]:
        found = api.sanitize_for_serialization(discovery.list_namespaced_endpoint_slice(NS))  # type: ignore[no-untyped-call]  # untyped in the client
        return {
            f"{NS}/{s['metadata']['name']}": s["metadata"]["labels"]["kubernetes.io/service-name"]
            for s in found.get("items") or []
        }

    slices = wait_for("the Services' EndpointSlices", lambda: listed() if len(listed()) == 3 else {})
    for name, backend in (("a", "web-1"), ("b", "web-2"), ("c", "web-1")):
        net.create_namespaced_ingress(NS, body(ingress(name, service=backend)))
    bus = Bus("first-list")
    forwarders.make(bus)

    wait_for("the first Resync", bus.resyncs)
    wanted = ("Ingress", "Service", "EndpointSlice")
    sent = [(d["kind"], d["key"]) for d in bus.drain() if d.get("kind") in wanted]
    # each Ingress comes again with the finalizer the forwarder adds: its first one counts
    first = {item: sent.index(item) for item in reversed(sent)}
    assert sorted(key for kind, key in first if kind == "Ingress") == [f"{NS}/a", f"{NS}/b", f"{NS}/c"]
    services = [key for kind, key in sent if kind == "Service"]
    assert sorted(services) == [f"{NS}/web-1", f"{NS}/web-2"], sent  # once each; the unneeded one not at all
    sent_slices = [key for kind, key in sent if kind == "EndpointSlice"]
    needed = sorted(key for key, svc in slices.items() if svc != "unused")
    assert sorted(sent_slices) == needed, sent  # once each, and none of the unneeded Service
    for ing, svc in (("a", "web-1"), ("b", "web-2")):
        # the Service, then its slice, then the first Ingress needing it: nothing in between
        at = first[("Service", f"{NS}/{svc}")]
        (own,) = [key for key, of in slices.items() if of == svc]
        assert first[("EndpointSlice", own)] == at + 1, sent
        assert first[("Ingress", f"{NS}/{ing}")] == at + 2, sent
