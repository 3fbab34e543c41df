"""No single object stops the forwarder (issue 14, item 1).

An Ingress whose ``actions.*`` or ``auth-idp-oidc`` annotation is JSON nested deeper
than Python's parser goes once made every Ingress list fail: Ingresses created after it
got no finalizer and reached no bus, even after a restart. Here such Ingresses sit in
the cluster while good ones are created after them; and an object whose handling
raises for any other reason is logged, counted and skipped while the watch goes on."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from kubernetes import client as k8s

from albatross.contract import IMPLICIT_FINALIZER
from albatross_forwarder.main import Forwarder
from tests.functional.forwarding import NS, Bus, Forwarders, create_ingress, ingress, metric, wait_for
from tests.k8s_typing import body

A = "alb.ingress.kubernetes.io/"
# nested far past the interpreter's recursion limit, as the API server accepts it (a string)
DEEP = "[" * 3000 + "]" * 3000


def crafted(name: str, annotation: str) -> dict[str, Any]:
    obj = ingress(name)
    obj["metadata"]["annotations"] = {annotation: DEEP}
    return obj


def finalizers(api: k8s.ApiClient, name: str) -> list[str]:
    found = k8s.NetworkingV1Api(api).read_namespaced_ingress(name, NS)
    return list((found.metadata and found.metadata.finalizers) or [])


def reached(bus: Bus, key: str) -> bool:
    return any(d["key"] == key and d["action"] == "upsert" for d in bus.changes("Ingress"))


def test_deeply_nested_annotations_stop_no_watch_and_no_restart(forwarders: Forwarders) -> None:
    api = forwarders.api()
    net = k8s.NetworkingV1Api(api)
    for name, annotation in (("deep-action", A + "actions.forward"), ("deep-oidc", A + "auth-idp-oidc")):
        net.create_namespaced_ingress(NS, body(crafted(name, annotation)))
    bus = Bus("a")
    first = forwarders.make(bus)
    wait_for("the first Resync", bus.resyncs)
    # the crafted ones are managed Ingresses like any other: forwarded, with a finalizer
    # (their annotations name no Service and no Secret; the model reports them)
    for name in ("deep-action", "deep-oidc"):
        assert IMPLICIT_FINALIZER in wait_for(f"{name}'s finalizer", lambda n=name: finalizers(api, n))  # type: ignore[misc]  # default binds the loop value
        assert reached(bus, f"{NS}/{name}")

    create_ingress(api, "after")  # through the watch, after the crafted ones
    wait_for("the later Ingress's finalizer", lambda: IMPLICIT_FINALIZER in finalizers(api, "after"))
    wait_for("the later Ingress on the bus", lambda: reached(bus, f"{NS}/after"))
    assert metric(first, "objects_skipped_total", kind="Ingress") == 0

    first.stop()  # a restart lists them all again
    bus_b = Bus("b")
    forwarders.make(bus_b)
    [resync] = wait_for("the restarted forwarder's Resync", bus_b.resyncs)
    assert {f"{NS}/deep-action", f"{NS}/deep-oidc", f"{NS}/after"} <= set(resync["keys"]["Ingress"])
    create_ingress(api, "after-restart")
    wait_for("the next Ingress's finalizer", lambda: IMPLICIT_FINALIZER in finalizers(api, "after-restart"))
    wait_for("the next Ingress on the bus", lambda: reached(bus_b, f"{NS}/after-restart"))


def poisoned(forwarder: Forwarder, name: str) -> None:
    """Make handling the Ingress ``name`` raise, as a bug on one object's data would."""
    watcher = forwarder.watchers[0]
    before = watcher.on_object

    def on_object(obj: Mapping[str, Any]) -> None:
        if (obj.get("metadata") or {}).get("name") == name:
            raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")
        if before is not None:
            before(obj)

    watcher.on_object = on_object


def test_an_object_whose_handling_raises_is_skipped_and_counted(
    forwarders: Forwarders, caplog: pytest.LogCaptureFixture
) -> None:
    api = forwarders.api()
    create_ingress(api, "listed-poison")
    create_ingress(api, "listed-good")
    bus = Bus("a")
    forwarder = forwarders.make(bus, start=False, lease_duration=15)  # one term, on a loaded machine too
    poisoned(forwarder, "listed-poison")
    poisoned(forwarder, "watched-poison")
    forwarder.start()
    [resync] = wait_for("the first Resync", bus.resyncs)
    # the list went on past it (the skipped one is not forwarded, nor taken as deleted)
    assert resync["keys"]["Ingress"] == [f"{NS}/listed-good"]
    create_ingress(api, "watched-poison")
    create_ingress(api, "watched-good")
    wait_for("the Ingress after the poisoned one", lambda: reached(bus, f"{NS}/watched-good"))
    assert IMPLICIT_FINALIZER in finalizers(api, "watched-good")
    # each list counts the listed one again, the watch the watched one (before the good one)
    assert metric(forwarder, "objects_skipped_total", kind="Ingress") >= 2
    assert f"Ingress {NS}/listed-poison (listed) skipped: handling it raised RecursionError" in caplog.text
    assert f"Ingress {NS}/watched-poison (ADDED) skipped: handling it raised RecursionError" in caplog.text
    assert not reached(bus, f"{NS}/listed-poison")
    assert not reached(bus, f"{NS}/watched-poison")
    term = forwarder._term
    assert term is not None
    assert term.watchers[0].restarts == 0  # skipped, not a failed watch resumed
    text = json.dumps([d for d in bus.drain() if d.get("kind") == "Ingress"])
    assert "poison" not in text
