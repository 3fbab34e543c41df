"""The Kubernetes API double, driven by the official client."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import watch

from albatross.local.kube import KINDS, KubeDouble
from tests.k8s_typing import body, must

INGRESS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"ingressClassName": "alb"},
}


def test_create_get_status_and_finalizers(api: k8s.ApiClient) -> None:
    net = k8s.NetworkingV1Api(api)
    created = net.create_namespaced_ingress("default", body(INGRESS))
    assert must(created.metadata).uid
    assert must(created.metadata).resource_version
    net.patch_namespaced_ingress("web", "default", [{"op": "add", "path": "/metadata/finalizers", "value": ["f/x"]}])
    net.patch_namespaced_ingress_status(
        "web", "default", {"status": {"loadBalancer": {"ingress": [{"hostname": "h"}]}}}
    )
    # a spec update through the main resource does not touch status
    net.patch_namespaced_ingress("web", "default", {"metadata": {"labels": {"a": "b"}}, "status": {"loadBalancer": {}}})
    got = net.read_namespaced_ingress("web", "default")
    assert must(must(must(got.status).load_balancer).ingress)[0].hostname == "h"
    net.delete_namespaced_ingress("web", "default")
    deleting = net.read_namespaced_ingress("web", "default")
    assert must(deleting.metadata).deletion_timestamp is not None
    net.patch_namespaced_ingress(
        "web",
        "default",
        [
            {"op": "test", "path": "/metadata/finalizers/0", "value": "f/x"},
            {"op": "remove", "path": "/metadata/finalizers/0"},
        ],
    )
    with pytest.raises(k8s.exceptions.ApiException) as gone:
        net.read_namespaced_ingress("web", "default")
    assert gone.value.status == 404


def test_stale_resource_version_is_a_conflict(api: k8s.ApiClient) -> None:
    net = k8s.NetworkingV1Api(api)
    first = net.create_namespaced_ingress("default", body(INGRESS))
    net.patch_namespaced_ingress("web", "default", {"metadata": {"labels": {"v": "2"}}})
    stale = api.sanitize_for_serialization(first)  # type: ignore[no-untyped-call]  # untyped in the client
    stale["metadata"]["labels"] = {"v": "3"}
    with pytest.raises(k8s.exceptions.ApiException) as conflict:
        net.replace_namespaced_ingress("web", "default", stale)
    assert conflict.value.status == 409


def test_watch_resumes_from_a_resource_version_and_reports_410(api: k8s.ApiClient, kube: KubeDouble) -> None:
    net = k8s.NetworkingV1Api(api)
    listed = net.list_ingress_for_all_namespaces()
    rv = must(must(listed.metadata).resource_version)
    net.create_namespaced_ingress("default", body(INGRESS))
    events: list[tuple[str, Any]] = []
    stream: Any = watch.Watch().stream  # type: ignore[no-untyped-call]  # untyped in the client
    for event in stream(net.list_ingress_for_all_namespaces, resource_version=rv, timeout_seconds=1):
        events.append((event["type"], event["object"].metadata.name))
    assert events == [("ADDED", "web")]
    kube.cluster.compacted = int(rv) + 5
    resp: Any = net.list_ingress_for_all_namespaces(
        watch=True, resource_version=rv, timeout_seconds=1, _preload_content=False
    )
    first = json.loads(resp.data.splitlines()[0])
    assert (first["type"], first["object"]["code"]) == ("ERROR", 410)


def test_endpoints_follow_the_deployment(api: k8s.ApiClient) -> None:
    apps, core, disc = k8s.AppsV1Api(api), k8s.CoreV1Api(api), k8s.DiscoveryV1Api(api)
    labels = {"app": "web"}
    apps.create_namespaced_deployment(
        "default",
        body(
            {
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "containers": [
                                {"name": "c", "image": "i", "ports": [{"name": "http", "containerPort": 8080}]}
                            ]
                        },
                    },
                },
            }
        ),
    )
    core.create_namespaced_service(
        "default",
        body(
            {
                "metadata": {"name": "web"},
                "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
            }
        ),
    )
    slices = disc.list_namespaced_endpoint_slice("default").items
    assert len(slices) == 1
    assert len(must(slices[0].endpoints)) == 2
    assert must(slices[0].ports)[0].port == 8080
    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 5}})
    assert len(must(disc.list_namespaced_endpoint_slice("default").items[0].endpoints)) == 5


def test_injected_faults_and_concurrent_watchers(api: k8s.ApiClient, kube: KubeDouble) -> None:
    net = k8s.NetworkingV1Api(api)
    kube.inject(503)
    with pytest.raises(k8s.exceptions.ApiException) as failed:
        net.list_ingress_for_all_namespaces()
    assert failed.value.status == 503
    seen: list[str] = []

    def watch_once() -> None:
        stream: Any = watch.Watch().stream  # type: ignore[no-untyped-call]  # untyped in the client
        for event in stream(net.list_namespaced_ingress, "default", resource_version="100", timeout_seconds=1):
            seen.append(event["object"].metadata.name)

    threads = [threading.Thread(target=watch_once) for _ in range(3)]
    for t in threads:
        t.start()
    net.create_namespaced_ingress("default", body(INGRESS))
    for t in threads:
        t.join(timeout=10)
    assert seen == ["web", "web", "web"]


def named(name: str) -> dict[str, Any]:
    return {**INGRESS, "metadata": {"name": name, "namespace": "default"}}


def test_lists_come_in_pages_of_one_snapshot(api: k8s.ApiClient, kube: KubeDouble) -> None:
    net = k8s.NetworkingV1Api(api)
    for name in ("a", "b", "c", "d", "e"):
        net.create_namespaced_ingress("default", body(named(name)))
    first = net.list_namespaced_ingress("default", limit=2)
    token, rv = must(first.metadata)._continue, must(first.metadata).resource_version
    assert [must(i.metadata).name for i in first.items] == ["a", "b"]
    assert token
    # changes after the first page do not show in the later pages of the same list
    net.delete_namespaced_ingress("d", "default")
    net.create_namespaced_ingress("default", body(named("f")))
    names, pages = [], 1
    while token:
        page = net.list_namespaced_ingress("default", limit=2, _continue=token)
        assert must(page.metadata).resource_version == rv
        names += [must(i.metadata).name for i in page.items]
        token, pages = must(page.metadata)._continue, pages + 1
    assert (names, pages) == (["c", "d", "e"], 3)
    whole = net.list_namespaced_ingress("default")  # no limit: everything, as of now
    assert [must(i.metadata).name for i in whole.items] == ["a", "b", "c", "e", "f"]
    assert must(whole.metadata)._continue is None
    # a snapshot older than the compaction horizon is gone; a garbled token is refused
    token = must(net.list_namespaced_ingress("default", limit=2).metadata)._continue
    kube.cluster.compacted = kube.cluster.resource_version() + 1
    for bad, status in ((token, 410), ("not-a-token", 400)):
        with pytest.raises(k8s.exceptions.ApiException) as refused:
            net.list_namespaced_ingress("default", limit=2, _continue=bad)
        assert refused.value.status == status


def test_bookmarks_never_pass_a_change_made_while_the_stream_scans(
    api: k8s.ApiClient, kube: KubeDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change made just after a stream's scan found nothing (here, on purpose, by the
    scan itself, 50 times) is still sent: the bookmark that follows must not pass it."""
    net = k8s.NetworkingV1Api(api)
    ingresses = next(k for k in KINDS if k.kind == "Ingress")
    net.create_namespaced_ingress("default", body(INGRESS))
    cluster, scan = kube.cluster, kube.cluster.events_since
    rv = cluster.resource_version()
    made: list[str] = []

    def events_since(plural: str, namespace: str | None, since: int) -> list[tuple[int, str, dict[str, Any]]]:
        found = scan(plural, namespace, since)
        if not found and plural == "ingresses" and len(made) < 50:
            patch = {"metadata": {"labels": {"n": str(len(made))}}}
            changed = cluster.patch(ingresses, "default", "web", "application/merge-patch+json", patch, status=False)
            made.append(changed["metadata"]["resourceVersion"])
        return found

    monkeypatch.setattr(cluster, "events_since", events_since)
    resp: Any = net.list_namespaced_ingress(
        "default",
        watch=True,
        resource_version=str(rv),
        allow_watch_bookmarks=True,
        timeout_seconds=2,
        _preload_content=False,
    )
    modified = [
        event["object"]["metadata"]["resourceVersion"]
        for event in map(json.loads, resp.data.splitlines())
        if event["type"] == "MODIFIED"
    ]
    assert len(made) == 50
    assert modified == made


def test_an_etcd_restore_takes_objects_and_versions_back(api: k8s.ApiClient, kube: KubeDouble) -> None:
    """Restored from a backup: the objects as they were, the counter back at the backup's
    version (the next change reuses versions clients saw), and a watch from a version
    the restored cluster never reached ends with 410 Gone, so its client lists again."""
    net = k8s.NetworkingV1Api(api)
    net.create_namespaced_ingress("default", body(INGRESS))
    backup = kube.cluster.resource_version()
    net.patch_namespaced_ingress("web", "default", {"metadata": {"labels": {"after": "backup"}}})
    net.create_namespaced_ingress("default", body({**INGRESS, "metadata": {"name": "later", "namespace": "default"}}))
    seen = kube.cluster.resource_version()

    kube.cluster.restore(backup)
    listed = net.list_namespaced_ingress("default")
    assert [(must(i.metadata).name, must(i.metadata).labels) for i in listed.items] == [("web", None)]
    assert must(listed.metadata).resource_version == str(backup)
    changed = net.patch_namespaced_ingress("web", "default", {"metadata": {"labels": {"after": "restore"}}})
    assert int(must(must(changed.metadata).resource_version)) == backup + 1 <= seen
    resp: Any = net.list_ingress_for_all_namespaces(
        watch=True, resource_version=str(seen), timeout_seconds=1, _preload_content=False
    )
    first = json.loads(resp.data.splitlines()[0])
    assert (first["type"], first["object"]["code"]) == ("ERROR", 410)
