"""Names and tags follow LBC's formulas, so stacks LBC created are adopted as they are."""

from __future__ import annotations

import hashlib

from albatross.k8s.ingress import GroupID
from albatross.model import names


def _h(*parts: str) -> str:
    return hashlib.sha256("".join(parts).encode()).hexdigest()[:10]


def test_load_balancer_names() -> None:
    implicit = GroupID(namespace="game-2048", name="game-2048")
    assert names.load_balancer_name(cluster="prod", group=implicit, scheme="internet-facing") == (
        "k8s-game2048-game2048-" + _h("prod", "game-2048/game-2048", "internet-facing")
    )
    explicit = GroupID(namespace="", name="a-very-long-group.name-indeed")
    name = names.load_balancer_name(cluster="prod", group=explicit, scheme="internal")
    assert name == "k8s-averylonggroupnam-" + _h("prod", "a-very-long-group.name-indeed", "internal")
    assert len(name) <= 32


def test_scheme_is_part_of_the_name() -> None:
    group = GroupID(namespace="ns", name="web")
    a = names.load_balancer_name(cluster="c", group=group, scheme="internal")
    b = names.load_balancer_name(cluster="c", group=group, scheme="internet-facing")
    assert a != b


def test_security_group_and_target_group_names() -> None:
    group = GroupID(namespace="ns", name="web")
    assert names.security_group_name(cluster="c", group=group) == "k8s-ns-web-" + _h("c", "ns/web")
    tg = names.target_group_name(
        cluster="c",
        group=group,
        ingress_namespace="ns",
        ingress_name="web",
        service_namespace="ns",
        service_name="frontend-service",
        service_uid="uid-1",
        service_port="80",
        target_port=8080,
        target_type="ip",
        protocol="HTTP",
        protocol_version="HTTP1",
    )
    assert tg == "k8s-ns-frontend-" + _h("c", "ns/web", "ns", "web", "uid-1", "80", "8080", "ip", "HTTP", "HTTP1")
    assert len(tg) <= 32


def test_resource_ids_tags_and_finalizers() -> None:
    group = GroupID(namespace="ns", name="web")
    assert (
        names.target_group_id(ingress_namespace="ns", ingress_name="web", service="svc", port="http")
        == "ns/web-svc:http"
    )
    assert names.rule_id(443, 12) == "443:12"
    assert names.stack_tags(cluster="c", group=group, resource_id="LoadBalancer") == {
        "elbv2.k8s.aws/cluster": "c",
        "ingress.k8s.aws/stack": "ns/web",
        "ingress.k8s.aws/resource": "LoadBalancer",
    }
    assert names.finalizer(group) == "ingress.k8s.aws/resources"
    assert names.finalizer(GroupID(namespace="", name="shop")) == "group.ingress.k8s.aws/shop"
    assert str(GroupID.parse("shop")) == "shop"
    assert GroupID.parse("ns/web") == group
