"""The Kubernetes API double's workload stand-in, seen through the official client: a
rolling update and a node drain move pods through the EndpointSlice conditions step by
step, and new pods get new addresses."""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s

from albatross.local.kube import KubeDouble
from albatross.local.pods import pod_ip
from tests.k8s_typing import body, must

LABELS = {"app": "web"}


def endpoints(api: k8s.ApiClient) -> list[tuple[str, str, str | None]]:
    """(address, state, node) per endpoint; state: ready, starting, draining, stopping."""
    [found] = k8s.DiscoveryV1Api(api).list_namespaced_endpoint_slice("default").items
    out = []
    for e in found.endpoints or []:
        c = must(e.conditions)
        state = "ready" if c.ready else ("draining" if c.serving else "stopping") if c.terminating else "starting"
        out.append((must(e.addresses)[0], state, e.node_name))
    return out


def deployment(replicas: int) -> Any:
    container = {"name": "c", "image": "i", "ports": [{"name": "http", "containerPort": 8080}]}
    return body(
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": LABELS},
                "template": {"metadata": {"labels": LABELS}, "spec": {"containers": [container]}},
            },
        }
    )


def test_a_rollout_and_a_drain_go_through_terminating_endpoints(api: k8s.ApiClient, kube: KubeDouble) -> None:
    kube.cluster.step_seconds = None
    core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
    for name in ("node-a", "node-b"):
        core.create_node(body({"metadata": {"name": name}}))
    apps.create_namespaced_deployment("default", deployment(2))
    service = {"selector": LABELS, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
    core.create_namespaced_service("default", body({"metadata": {"name": "web"}, "spec": service}))
    ip = [pod_ip("default", "web", i) for i in range(5)]
    assert endpoints(api) == [(ip[0], "ready", "node-a"), (ip[1], "ready", "node-b")]

    apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"metadata": {"labels": {"v": "2"}}}}})
    seen = [endpoints(api)]
    while kube.cluster.step():
        seen.append(endpoints(api))
    # maxSurge 1, maxUnavailable 0: a new pod is ready before an old one terminates
    assert [[state for _, state, _ in step] for step in seen] == [
        ["ready", "ready"],
        ["ready", "ready", "starting"],
        ["ready", "draining", "ready", "starting"],
        ["draining", "stopping", "ready", "ready"],
        ["stopping", "ready", "ready"],
        ["ready", "ready"],
    ]
    assert [a for a, _, _ in seen[-1]] == [ip[2], ip[3]]

    kube.cluster.drain("node-b")
    node = core.read_node("node-b")
    assert must(node.spec).unschedulable
    assert [t.key for t in must(must(node.spec).taints)] == ["node.kubernetes.io/unschedulable"]
    assert endpoints(api) == [(ip[2], "ready", "node-a"), (ip[3], "draining", "node-b"), (ip[4], "starting", "node-a")]
    assert kube.cluster.settle() == 2
    assert endpoints(api) == [(ip[2], "ready", "node-a"), (ip[4], "ready", "node-a")]
