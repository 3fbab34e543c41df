"""Issue 14, items 2 and 4 at the model's level: values an API server accepts (every
annotation value is a string to it, and JSON inside one is not its business) are one
Ingress's error naming the annotation, never an exception; a defect of ours that one
Ingress's values reach is that Ingress's error too; an Ingress whose spec cannot be read
can still leave its group (its finalizer goes).

Before the fix every case of ``CRASHES`` raised out of ``build`` (ValueError "invalid
literal for int()", TypeError, RecursionError), which in the controller meant a
reconcile failing on every delivery until the work queue dead-lettered the group."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from albatross.k8s.ingress import GroupID, parse_ingress
from albatross.k8s.ingress_class import parse_ingress_class
from albatross.k8s.service import parse_service
from albatross.model import load_balancer as lb
from albatross.model import rules
from albatross.model.builder import BuildResult, build
from albatross.model.config import ControllerConfig
from albatross.model.discovery import Discovery
from albatross.model.group import members_of
from tests.helpers import load_event

A = "alb.ingress.kubernetes.io/"
CONFIG = ControllerConfig(cluster="my-cluster", vpc_id="vpc-0abc")
DISCOVERY = Discovery(
    subnets=tuple(
        {
            "SubnetId": f"subnet-{z}",
            "AvailabilityZone": f"us-east-1{z}",
            "Tags": [{"Key": "kubernetes.io/role/elb", "Value": "1"}, {"Key": "kubernetes.io/role/internal-elb"}],
        }
        for z in "ab"
    )
)


def ingress(name: str = "game-2048", annotations: dict[str, str] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = copy.deepcopy(load_event("ingress-upsert")["detail"]["object"])
    obj["metadata"]["name"] = name
    obj["metadata"]["annotations"].update(annotations or {})
    return obj


def use_annotation(obj: dict[str, Any]) -> dict[str, Any]:
    """The Ingress's one path sent to its ``actions.game-2048`` annotation."""
    path = obj["spec"]["rules"][0]["http"]["paths"][0]
    path["backend"] = {"service": {"name": "game-2048", "port": {"name": "use-annotation"}}}
    return obj


def run(*objects: dict[str, Any]) -> BuildResult:
    service = parse_service(load_event("service-upsert")["detail"]["object"])
    return build(
        config=CONFIG,
        group=GroupID(namespace="", name="shop"),
        ingresses=[parse_ingress(o) for o in objects],
        services={service.key: service},
        discovery=DISCOVERY,
    )


def forward(tuple_: dict[str, Any], **config: Any) -> str:
    return json.dumps({"type": "forward", "forwardConfig": {"targetGroups": [tuple_], **config}})


GOOD_TUPLE = {"serviceName": "game-2048", "servicePort": 80}
# (annotation, value, whether the path must use the annotation, a text the reason shows)
CRASHES = {
    "weight-not-a-number": ("actions.game-2048", forward({**GOOD_TUPLE, "weight": "x"}), True, "weight"),
    "weight-a-list": ("actions.game-2048", forward({**GOOD_TUPLE, "weight": [1]}), True, "weight"),
    "stickiness-duration-text": (
        "actions.game-2048",
        forward(GOOD_TUPLE, targetGroupStickinessConfig={"enabled": True, "durationSeconds": "1h"}),
        True,
        "durationSeconds",
    ),
    "service-port-superscript": (
        "actions.game-2048",
        forward({"serviceName": "game-2048", "servicePort": "²"}),
        True,
        "unable to find port ²",
    ),
    "healthcheck-port-superscript": ("healthcheck-port", "²", False, "²"),
    "capacity-superscript": ("minimum-load-balancer-capacity", "CapacityUnits=²", False, "CapacityUnits=²"),
    "conditions-nested": ("conditions.game-2048", "[" * 3000 + "]" * 3000, False, "nested deeper"),
    "actions-nested": ("actions.game-2048", "[" * 3000 + "]" * 3000, True, "nested deeper"),
    "oidc-nested": ("auth-idp-oidc", "[" * 3000 + "]" * 3000, False, "nested deeper"),
    "listen-ports-nested": ("listen-ports", "[" * 3000 + "]" * 3000, False, "nested deeper"),
    "mtls-nested": ("mutual-authentication", "[" * 3000 + "]" * 3000, False, "failed to parse"),
    "weight-infinity": (
        "actions.game-2048",
        forward(GOOD_TUPLE).replace("80}", '80, "weight": Infinity}'),
        True,
        "Infinity",
    ),
    "service-port-too-long": (
        "actions.game-2048",
        forward(GOOD_TUPLE).replace(": 80", ": " + "9" * 5000),
        True,
        "not valid JSON",
    ),
}


@pytest.mark.parametrize("case", sorted(CRASHES))
def test_values_that_crashed_the_builder_are_the_ingress_s_error(case: str) -> None:
    annotation, value, via_action, shown = CRASHES[case]
    obj = ingress(annotations={A + annotation: value})
    if annotation == "auth-idp-oidc":
        obj["metadata"]["annotations"][A + "auth-type"] = "oidc"
        obj["metadata"]["annotations"][A + "listen-ports"] = '[{"HTTPS": 443}]'
        obj["metadata"]["annotations"][A + "certificate-arn"] = "arn:aws:acm:us-east-1:111122223333:certificate/x"
    result = run(use_annotation(obj) if via_action else obj)
    [error] = result.errors
    assert error.ingress == "game-2048/game-2048"
    assert f"(annotation {A}{annotation}" in error.reason
    assert shown in error.reason
    assert len(error.reason) < 1200  # a 6000-character value is shown cut, not whole


def test_a_listener_attributes_name_with_a_superscript_port_is_named() -> None:
    result = run(
        ingress(annotations={A + "listener-attributes.HTTP-²": "routing.http.drop_invalid_header_fields.enabled=true"})
    )
    [error] = result.errors
    assert f"annotation {A}listener-attributes.HTTP-²" in error.reason


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("12", True),
        ("-12", True),
        ("+12", True),  # Go's strconv.ParseInt takes a sign
        ("١٢", False),  # Arabic-Indic digits: Python's int() reads 12, LBC's strconv refuses
        ("1_2", False),  # Python's int() reads 12, Go's ParseInt (base 10) refuses
        ("²", False),
        (" 12 ", True),  # annotation values are trimmed first
    ],
)
def test_integers_are_read_as_lbc_reads_them(value: str, valid: bool) -> None:
    result = run(ingress(annotations={A + "group.name": "shop", A + "group.order": value}))
    assert (result.errors == ()) == valid, result.errors
    if not valid:
        assert f"annotation {A}group.order" in result.errors[0].reason


@pytest.mark.parametrize(
    ("tuple_", "config", "reason"),
    [
        ({**GOOD_TUPLE, "weight": 1000}, {}, "weight must be within [0, 999]"),  # ALB's range
        ({**GOOD_TUPLE, "weight": True}, {}, "weight must be an integer"),
        ({**GOOD_TUPLE, "weight": 5.5}, {}, "weight must be an integer"),
        ({"serviceName": ["game-2048"], "servicePort": 80}, {}, "serviceName must be a string"),
        ({"serviceName": "game-2048", "servicePort": [80]}, {}, "servicePort must be a number or a name"),
        ({"targetGroupARN": 7}, {}, "targetGroupARN must be a string"),
        (GOOD_TUPLE, {"targetGroupStickinessConfig": {"enabled": "false"}}, "enabled must be true or false"),
        (GOOD_TUPLE, {"targetGroupStickinessConfig": {"durationSeconds": 0}}, "durationSeconds must be within"),
        (GOOD_TUPLE, {"targetGroupStickinessConfig": []}, "targetGroupStickinessConfig must be a JSON object"),
    ],
)
def test_forward_fields_are_checked_for_their_json_type(tuple_: Any, config: dict[str, Any], reason: str) -> None:
    result = run(use_annotation(ingress(annotations={A + "actions.game-2048": forward(tuple_, **config)})))
    [error] = result.errors
    assert reason in error.reason
    assert f"annotation {A}actions.game-2048" in error.reason


def test_a_string_service_port_of_digits_is_a_number_as_in_lbc() -> None:
    """LBC reads servicePort with intstr.Parse (for the old controller's sake): "80" is port 80."""
    result = run(
        use_annotation(ingress(annotations={A + "actions.game-2048": forward({**GOOD_TUPLE, "servicePort": "80"})}))
    )
    assert result.errors == ()


@pytest.mark.parametrize(
    ("annotation", "value"),
    [
        ("conditions.game-2048", '[{"field": ["host-header"]}]'),  # unhashable: once a TypeError
        (
            "conditions.game-2048",
            '[{"field": "query-string", "queryStringConfig": {"values": [{"key": 1, "value": "x"}]}}]',
        ),
        ("transforms.game-2048", '[{"type": {"url-rewrite": 1}}]'),
        ("transforms.game-2048", '[{"type": "url-rewrite", "urlRewriteConfig": {"rewrites": [{"regex": 1}]}}]'),
        ("actions.game-2048", '{"type": "redirect", "redirectConfig": {"port": 443, "statusCode": "HTTP_301"}}'),
        ("actions.game-2048", '{"type": "forward", "forwardConfig": [1]}'),
        ("mutual-authentication", '[{"port": 443, "mode": ["verify"]}]'),
    ],
)
def test_json_fields_of_the_wrong_type_name_their_annotation(annotation: str, value: str) -> None:
    obj = ingress(annotations={A + annotation: value})
    result = run(use_annotation(obj) if annotation.startswith("actions.") else obj)
    [error] = result.errors
    assert f"annotation {A}{annotation}" in error.reason


def test_an_unexpected_exception_is_its_member_s_error_and_the_others_build(monkeypatch: pytest.MonkeyPatch) -> None:
    real = rules.transforms

    def broken(ing: Any, path: Any) -> Any:
        if ing.name == "bad":
            raise KeyError("a defect")
        return real(ing, path)

    monkeypatch.setattr(rules, "transforms", broken)
    group = {A + "group.name": "shop"}
    result = run(ingress("good", group), ingress("bad", group))
    [error] = result.errors
    assert error.ingress == "game-2048/bad"
    assert error.reason.startswith("unexpected KeyError")
    assert result.stack is not None
    assert result.members == ("game-2048/good",)


def test_an_unexpected_exception_putting_the_group_together_is_every_member_s_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(**_: Any) -> Any:
        raise ZeroDivisionError("a defect")

    monkeypatch.setattr(lb, "load_balancer", broken)
    group = {A + "group.name": "shop"}
    result = run(ingress("one", group), ingress("two", group))
    assert result.stack is None
    assert [(e.ingress, e.reason.split(" (")[0]) for e in result.errors] == [
        ("game-2048/one", "unexpected ZeroDivisionError"),
        ("game-2048/two", "unexpected ZeroDivisionError"),
    ]


@pytest.mark.parametrize(
    ("where", "backend"),
    [
        ("defaultBackend", {"resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "static"}}),
        ("path", {"resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "static"}}),
    ],
)
def test_a_resource_backend_is_a_warning_and_never_blocks_deletion(where: str, backend: dict[str, Any]) -> None:
    obj = ingress()
    if where == "defaultBackend":
        obj["spec"]["defaultBackend"] = backend
    else:
        obj["spec"]["rules"][0]["http"]["paths"][0]["backend"] = backend
    key = "game-2048/game-2048"
    live = members_of(group=key, keys=[key], objects={key: obj}, classes={}, ingress_class="alb")
    assert live.live == []
    assert live.leaving == []
    assert 'missing required "service" field (resource backends are not supported)' in live.errors[key]

    obj["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    gone = members_of(group=key, keys=[key], objects={key: obj}, classes={}, ingress_class="alb")
    assert gone.errors == {}
    assert gone.leaving == [{"ingress": key, "finalizer": "ingress.k8s.aws/resources"}]


def test_an_unreadable_ingress_that_left_the_class_leaves_the_group() -> None:
    obj = ingress()
    obj["spec"]["ingressClassName"] = "nginx"
    obj["spec"]["rules"] = "not a list"
    key = "game-2048/game-2048"
    nginx = parse_ingress_class({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}})
    found = members_of(group=key, keys=[key], objects={key: obj}, classes={"nginx": nginx}, ingress_class="alb")
    assert found.errors == {}
    assert found.leaving == [{"ingress": key, "finalizer": "ingress.k8s.aws/resources"}]
