"""The forwarder's list → watch loop against the Kubernetes API double: only managed
Ingresses are sent, unchanged content is not re-sent, and a change or deletion missed
across a 410 Gone is sent exactly once after the relist."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s

from albatross.contract import ObjectChange
from albatross.local.kube import KubeDouble
from albatross_forwarder.kube import INGRESSES, Kube
from albatross_forwarder.main import is_managed
from albatross_forwarder.watch import Gone, Watcher
from tests.k8s_typing import body


def ingress(name: str, cls: str = "alb") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {"ingressClassName": cls}}


@pytest.fixture
def sent() -> list[ObjectChange]:
    return []


@pytest.fixture
def watcher(api: k8s.ApiClient, sent: list[ObjectChange]) -> Watcher:
    return Watcher(
        kind="Ingress",
        source=Kube(api.configuration).collection(INGRESSES),
        cluster="c",
        emit=sent.append,
        wanted=lambda o: is_managed(o, "alb"),
        watch_timeout=1,
        page_size=2,
    )


def test_list_sends_managed_ingresses_only_and_pages(
    api: k8s.ApiClient, watcher: Watcher, sent: list[ObjectChange]
) -> None:
    net = k8s.NetworkingV1Api(api)
    for name in ("a", "b", "c"):
        net.create_namespaced_ingress("default", body(ingress(name)))
    net.create_namespaced_ingress("default", body(ingress("other", cls="nginx")))
    watcher.relist()
    assert sorted((c.key, c.action) for c in sent) == [
        ("default/a", "upsert"),
        ("default/b", "upsert"),
        ("default/c", "upsert"),
    ]
    watcher.relist()
    assert len(sent) == 3  # nothing changed: nothing re-sent


def test_changes_and_deletions_missed_across_410_are_sent_once(
    api: k8s.ApiClient, kube: KubeDouble, watcher: Watcher, sent: list[ObjectChange]
) -> None:
    net = k8s.NetworkingV1Api(api)
    net.create_namespaced_ingress("default", body(ingress("keep")))
    net.create_namespaced_ingress("default", body(ingress("gone")))
    rv = watcher.relist()
    sent.clear()
    # while nobody watched: one deleted, one changed, one left our class
    net.create_namespaced_ingress("default", body(ingress("leaves")))
    rv = watcher.watch(rv)
    net.delete_namespaced_ingress("gone", "default")
    net.patch_namespaced_ingress("keep", "default", {"metadata": {"labels": {"v": "2"}}})
    net.patch_namespaced_ingress("leaves", "default", {"spec": {"ingressClassName": "nginx"}})
    kube.cluster.compacted = kube.cluster.resource_version()
    with pytest.raises(Gone):
        watcher.watch(rv)
    watcher.relist()
    assert sorted((c.key, c.action) for c in sent) == [
        ("default/gone", "delete"),
        ("default/keep", "upsert"),
        ("default/leaves", "delete"),
        ("default/leaves", "upsert"),
    ]
    deleted = next(c for c in sent if c.key == "default/gone")
    assert int(deleted.resource_version) > 0
    assert deleted.object["metadata"]["name"] == "gone"


def test_changes_made_while_the_connection_was_down_are_sent_once_on_resume(
    api: k8s.ApiClient, watcher: Watcher, sent: list[ObjectChange]
) -> None:
    """A watch that ends (server timeout, a dropped connection) resumes from the last
    resourceVersion it saw: what changed meanwhile arrives once, nothing is re-sent."""
    net = k8s.NetworkingV1Api(api)
    net.create_namespaced_ingress("default", body(ingress("a")))
    rv = watcher.relist()
    rv = watcher.watch(rv)  # ends after the server's timeoutSeconds (1 s)
    sent.clear()
    # while no watch was open
    net.create_namespaced_ingress("default", body(ingress("b")))
    net.patch_namespaced_ingress("a", "default", {"metadata": {"labels": {"v": "2"}}})
    net.delete_namespaced_ingress("b", "default")
    rv = watcher.watch(rv)
    watcher.watch(rv)  # and again: nothing new
    assert [(c.key, c.action) for c in sent] == [
        ("default/b", "upsert"),
        ("default/a", "upsert"),
        ("default/b", "delete"),
    ]
