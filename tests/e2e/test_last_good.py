"""Better than LBC: one bad Ingress does not block its group. In an explicit group, a
member that turns invalid keeps its last good version in service while another member's
change goes through."""

from __future__ import annotations

import copy
from typing import Any

from kubernetes import client as k8s
from kubernetes import utils

from albatross.aws import clients
from albatross.local.demo import ingress_hostname
from albatross.local.system import LocalSystem
from tests.e2e.test_slice import ROOT
from tests.k8s_typing import body

A = "alb.ingress.kubernetes.io/"


def member(name: str, path: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name,
            "namespace": "game-2048",
            "annotations": {A + "group.name": "shop", A + "scheme": "internet-facing", A + "target-type": "ip"},
        },
        "spec": {
            "ingressClassName": "alb",
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": path,
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "game-2048", "port": {"number": 80}}},
                            }
                        ]
                    }
                }
            ],
        },
    }


def shop(system: LocalSystem) -> list[Any]:
    return [
        lb
        for lb in clients.elbv2().describe_load_balancers()["LoadBalancers"]
        if lb["LoadBalancerName"].startswith("k8s-shop-")
    ]


def paths(system: LocalSystem) -> list[list[str]]:
    """The path patterns of the shop group's rules, in priority order."""
    elbv2 = clients.elbv2()
    out = []
    for lb in shop(system):
        for listener in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
            rules = elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
            for rule in sorted((r for r in rules if not r["IsDefault"]), key=lambda r: int(r["Priority"])):
                out.append(
                    next(c["PathPatternConfig"]["Values"] for c in rule["Conditions"] if c["Field"] == "path-pattern")
                )
    return out


def warnings(system: LocalSystem, name: str) -> list[str]:
    items = k8s.CoreV1Api(system.api()).list_namespaced_event("game-2048").items
    return [str(e.message) for e in items if e.involved_object.name == name and e.type == "Warning"]


def test_a_bad_member_keeps_its_last_good_version_and_others_proceed(system: LocalSystem) -> None:
    utils.create_from_yaml(system.api(), str(ROOT / "examples/2048/2048.yaml"))  # type: ignore[no-untyped-call]  # untyped in the client
    net = k8s.NetworkingV1Api(system.api())
    net.create_namespaced_ingress("game-2048", body(member("api", "/api")))
    net.create_namespaced_ingress("game-2048", body(member("web", "/web")))
    system.wait_for(
        "both members",
        lambda: ingress_hostname(system, "game-2048", "api") and ingress_hostname(system, "game-2048", "web"),
    )
    system.wait_for("both rules", lambda: paths(system) == [["/api", "/api/*"], ["/web", "/web/*"]])
    lb_before = shop(system)

    # api turns invalid; web adds a path at the same time
    net.patch_namespaced_ingress("api", "game-2048", {"metadata": {"annotations": {A + "target-type": "pod"}}})
    web = member("web", "/web")
    extra = copy.deepcopy(web["spec"]["rules"][0]["http"]["paths"][0])
    extra["path"] = "/shop"
    net.patch_namespaced_ingress(
        "web",
        "game-2048",
        {"spec": {"rules": [{"http": {"paths": [*web["spec"]["rules"][0]["http"]["paths"], extra]}}]}},
    )

    [message] = system.wait_for("the Warning on api", lambda: warnings(system, "api"))
    assert "alb.ingress.kubernetes.io/target-type" in message
    assert "last valid version stays in service" in message
    # web's new path is served and api's last good rule stays: members by namespace/name,
    # then a member's Prefix paths longest first
    expected = [["/api", "/api/*"], ["/shop", "/shop/*"], ["/web", "/web/*"]]
    system.wait_for("web's new rule", lambda: paths(system) == expected)
    assert shop(system) == lb_before
    assert warnings(system, "web") == []
