"""Issue 14, items 2-4, through the whole offline system: whatever one Ingress holds, it
is that Ingress's Warning and the rest of its group moves on (ADR 0002), and deleting it
always works.

Before the fix: the ``healthcheck-port: "²"`` member made every reconcile of the group
raise (``int("²")``) until the work queue dead-lettered it, with no Warning, and the other
member's change waited; the new bad member froze the group ("its part of the existing
load balancer is unknown") although Albatross had made that load balancer; the Ingress
with a ``resource`` backend kept its finalizer for ever."""

from __future__ import annotations

import copy
from typing import Any

from kubernetes import client as k8s
from kubernetes import utils

from albatross.local.demo import ingress_gone, ingress_hostname
from albatross.local.system import LocalSystem
from tests.e2e.test_last_good import A, member, paths, shop, warnings
from tests.e2e.test_slice import ROOT
from tests.k8s_typing import body, must

NS = "game-2048"


def with_path(obj: dict[str, Any], path: str) -> dict[str, Any]:
    """``obj`` with one more Prefix path to the same Service."""
    out = copy.deepcopy(obj)
    paths_ = out["spec"]["rules"][0]["http"]["paths"]
    extra = copy.deepcopy(paths_[0])
    extra["path"] = path
    paths_.append(extra)
    return out


def start_group(system: LocalSystem) -> k8s.NetworkingV1Api:
    """The 2048 app and the explicit group ``shop`` of ``api`` (/api) and ``web`` (/web),
    built and served."""
    utils.create_from_yaml(system.api(), str(ROOT / "examples/2048/2048.yaml"))  # type: ignore[no-untyped-call]  # untyped in the client
    net = k8s.NetworkingV1Api(system.api())
    net.create_namespaced_ingress(NS, body(member("api", "/api")))
    net.create_namespaced_ingress(NS, body(member("web", "/web")))
    system.wait_for("both members", lambda: ingress_hostname(system, NS, "api") and ingress_hostname(system, NS, "web"))
    system.wait_for("both rules", lambda: paths(system) == [["/api", "/api/*"], ["/web", "/web/*"]])
    return net


def add_path_to_web(net: k8s.NetworkingV1Api) -> None:
    web = with_path(member("web", "/web"), "/shop")
    net.patch_namespaced_ingress("web", NS, {"spec": web["spec"]})


def test_a_value_that_crashed_the_builder_is_a_warning_and_the_group_moves_on(system: LocalSystem) -> None:
    net = start_group(system)
    lb_before = shop(system)
    net.patch_namespaced_ingress("api", NS, {"metadata": {"annotations": {A + "healthcheck-port": "²"}}})
    add_path_to_web(net)

    [message] = system.wait_for("the Warning on api", lambda: warnings(system, "api"))
    assert "alb.ingress.kubernetes.io/healthcheck-port" in message
    assert "²" in message
    assert "last valid version stays in service" in message
    expected = [["/api", "/api/*"], ["/shop", "/shop/*"], ["/web", "/web/*"]]
    system.wait_for("web's new rule", lambda: paths(system) == expected)
    assert shop(system) == lb_before
    assert warnings(system, "web") == []


def test_a_new_bad_member_does_not_join_and_does_not_freeze_the_group(system: LocalSystem) -> None:
    net = start_group(system)
    new = member("new", "/new")
    new["metadata"]["annotations"][A + "target-type"] = "pod"
    net.create_namespaced_ingress(NS, body(new))
    add_path_to_web(net)

    [message] = system.wait_for("the Warning on new", lambda: warnings(system, "new"))
    assert "alb.ingress.kubernetes.io/target-type" in message
    assert "pod" in message
    assert "left out of the load balancer until it is fixed" in message
    expected = [["/api", "/api/*"], ["/shop", "/shop/*"], ["/web", "/web/*"]]
    system.wait_for("web's new rule", lambda: paths(system) == expected)
    assert ingress_hostname(system, NS, "new") is None
    assert warnings(system, "web") == []
    assert warnings(system, "api") == []


def test_an_ingress_with_a_resource_backend_is_a_warning_and_can_be_deleted(system: LocalSystem) -> None:
    net = start_group(system)
    resource = {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "static"}
    net.patch_namespaced_ingress("api", NS, {"spec": {"defaultBackend": {"resource": resource}}})

    [message] = system.wait_for("the Warning on api", lambda: warnings(system, "api"))
    assert "spec.defaultBackend" in message  # the wording: tests/unit/test_member_errors.py
    finalizers = must(k8s.NetworkingV1Api(system.api()).read_namespaced_ingress("api", NS).metadata).finalizers
    assert finalizers == ["group.ingress.k8s.aws/shop"]

    # its last good version served until now; deleting it takes its rules away, then its finalizer
    net.delete_namespaced_ingress("api", NS)
    system.wait_for("api's rules to go", lambda: paths(system) == [["/web", "/web/*"]])
    system.wait_for("the Ingress to be released", lambda: ingress_gone(system, NS, "api"))
    assert ingress_hostname(system, NS, "web")
