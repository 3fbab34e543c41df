"""The model builder for the foundation slice. A base stack is kept as JSON
(``golden/2048.json``); each case is a small change to the input and the expected
change to that JSON, and a failure prints the difference."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from albatross.k8s.ingress import Backend, GroupID, parse_ingress
from albatross.k8s.ingress import Path as IngressPath
from albatross.k8s.service import parse_service
from albatross.model.builder import BuildResult, build, path_values
from albatross.model.config import ControllerConfig
from albatross.model.discovery import Discovery
from tests.helpers import json_diff, load_event

GOLDEN = Path(__file__).parent / "golden" / "2048.json"
CONFIG = ControllerConfig(cluster="my-cluster", vpc_id="vpc-0abc")


def _subnet(sid: str, zone: str, role: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    tags = {f"kubernetes.io/role/{role}": "1", **(extra or {})}
    return {
        "SubnetId": sid,
        "AvailabilityZone": zone,
        "VpcId": "vpc-0abc",
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }


DISCOVERY = Discovery(
    subnets=(
        _subnet("subnet-b", "us-east-1a", "elb"),
        _subnet("subnet-a", "us-east-1a", "elb"),  # the lower id wins in its zone
        _subnet("subnet-c", "us-east-1b", "elb"),
        _subnet("subnet-x", "us-east-1c", "elb", {"kubernetes.io/cluster/other": "owned"}),  # another cluster's
        _subnet("subnet-p", "us-east-1a", "internal-elb"),
        _subnet("subnet-q", "us-east-1b", "internal-elb"),
    )
)


def ingress() -> dict[str, Any]:
    return copy.deepcopy(load_event("ingress-upsert")["detail"]["object"])


def service() -> dict[str, Any]:
    return copy.deepcopy(load_event("service-upsert")["detail"]["object"])


def run(ing: dict[str, Any], svc: dict[str, Any] | None = None, discovery: Discovery = DISCOVERY) -> BuildResult:
    services = {} if svc is None else {"game-2048/game-2048": parse_service(svc)}
    return build(
        config=CONFIG,
        group=GroupID(namespace="game-2048", name="game-2048"),
        ingresses=[parse_ingress(ing)],
        services=services,
        discovery=discovery,
    )


def stack_json(result: BuildResult) -> dict[str, Any]:
    assert result.stack is not None, result.errors
    return result.stack.to_json()


def test_base_stack_matches_golden() -> None:
    actual = stack_json(run(ingress(), service()))
    expected = json.loads(GOLDEN.read_text())
    assert actual == expected, json_diff(expected, actual)


def _annotate(**values: str) -> Callable[[dict[str, Any]], None]:
    def patch(ing: dict[str, Any]) -> None:
        ing["metadata"]["annotations"].update(
            {f"alb.ingress.kubernetes.io/{k.replace('_', '-')}": v for k, v in values.items()}
        )

    return patch


def _set(stack: dict[str, Any], path: str, value: Any) -> None:
    rid, *keys = path.split("|")
    node = stack["resources"][rid]["properties"]
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value


CASES: list[tuple[str, Callable[[dict[str, Any]], None], dict[str, Any]]] = [
    (
        "default scheme is internal, on internal-elb subnets",
        lambda ing: ing["metadata"]["annotations"].pop("alb.ingress.kubernetes.io/scheme"),
        {"LoadBalancer|Scheme": "internal", "LoadBalancer|Subnets": ["subnet-p", "subnet-q"]},
    ),
    (
        "Exact path",
        lambda ing: ing["spec"]["rules"][0]["http"]["paths"][0].update(path="/play", pathType="Exact"),
        {"80:1|Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/play"]}}]},
    ),
    (
        "host rule",
        lambda ing: ing["spec"]["rules"][0].update(host="game.example.com"),
        {
            "80:1|Conditions": [
                {"Field": "host-header", "HostHeaderConfig": {"Values": ["game.example.com"]}},
                {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}},
            ]
        },
    ),
]


@pytest.mark.parametrize(("title", "change", "expected_changes"), CASES, ids=[c[0] for c in CASES])
def test_cases_as_patches(
    title: str, change: Callable[[dict[str, Any]], None], expected_changes: dict[str, Any]
) -> None:
    ing = ingress()
    change(ing)
    expected = json.loads(GOLDEN.read_text())
    for path, value in expected_changes.items():
        _set(expected, path, value)
    actual = stack_json(run(ing, service()))
    if "LoadBalancer|Scheme" in expected_changes:  # the scheme is in the name's hash
        expected["resources"]["LoadBalancer"]["properties"]["Name"] = actual["resources"]["LoadBalancer"]["properties"][
            "Name"
        ]
        assert (
            actual["resources"]["LoadBalancer"]["properties"]["Name"]
            != json.loads(GOLDEN.read_text())["resources"]["LoadBalancer"]["properties"]["Name"]
        )
    assert actual == expected, json_diff(expected, actual)


def test_missing_service_gets_a_503_rule_and_no_target_group() -> None:
    actual = stack_json(run(ingress(), None))
    assert [r["type"] for r in actual["resources"].values()].count("AWS::ElasticLoadBalancingV2::TargetGroup") == 0
    action = actual["resources"]["80:1"]["properties"]["Actions"][0]
    assert action["FixedResponseConfig"]["StatusCode"] == "503"


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        ({"scheme": "sideways"}, "unknown scheme: sideways (annotation alb.ingress.kubernetes.io/scheme)"),
        ({"ip-address-type": "v6"}, "unknown IPAddressType: v6 (annotation alb.ingress.kubernetes.io/ip-address-type)"),
        ({"target-type": "pod"}, "unknown targetType: pod (annotation alb.ingress.kubernetes.io/target-type)"),
        ({"backend-protocol": "GRPC"}, "backend protocol must be within [HTTP, HTTPS]: GRPC"),
        ({"backend-protocol-version": "HTTP3"}, "backend protocol version must be within [HTTP1, HTTP2, GRPC]: HTTP3"),
        ({"healthcheck-protocol": "TCP"}, "healthCheckProtocol must be within [HTTP, HTTPS]"),
        ({"auth-type": "saml"}, "unknown authType: saml"),
        ({"inbound-cidrs": "10.0.0.1"}, "invalid CIDR address: 10.0.0.1"),
        (
            {"mutual-authentication": '[{"port": 443, "mode": "verify"}]'},
            "trustStore is required when mutualAuthentication mode is verify for port 443",
        ),
        (
            {"group.order": "1001"},
            "explicit Ingress group order must be within [-1000:1000], Ingress: game-2048/game-2048, order: 1001",
        ),
        (
            {"group.order": "first"},
            "failed to load Ingress group order for ingress: game-2048/game-2048: failed to parse int64 annotation, "
            'alb.ingress.kubernetes.io/group.order: first: strconv.ParseInt: parsing "first": invalid syntax',
        ),
    ],
)
def test_bad_annotations_are_member_errors(annotations: dict[str, str], message: str) -> None:
    ing = ingress()
    ing["metadata"]["annotations"].update({f"alb.ingress.kubernetes.io/{k}": v for k, v in annotations.items()})
    result = run(ing, service())
    assert result.stack is None
    assert [e.ingress for e in result.errors] == ["game-2048/game-2048"]
    assert message in result.errors[0].reason


def test_instance_target_type_needs_a_node_port() -> None:
    ing = ingress()
    ing["metadata"]["annotations"]["alb.ingress.kubernetes.io/target-type"] = "instance"
    result = run(ing, service())
    assert result.stack is None
    assert (
        "TargetGroup port is empty. When using Instance targets, your service be must of type 'NodePort' or "
        "'LoadBalancer'" in result.errors[0].reason
    )
    svc = service()
    svc["spec"].update(type="NodePort")
    svc["spec"]["ports"][0]["nodePort"] = 31080
    tg = next(r for r in stack_json(run(ing, svc))["resources"].values() if r["type"].endswith("TargetGroup"))
    assert (tg["properties"]["Port"], tg["properties"]["TargetType"]) == (31080, "instance")


def test_too_few_subnets_is_an_error_not_a_crash() -> None:
    result = run(ingress(), service(), Discovery(subnets=DISCOVERY.subnets[:2]))
    assert result.stack is None
    assert result.errors[0].reason.startswith(
        "couldn't auto-discover subnets: subnets count less than minimal required count: 1 < 2"
    )


def test_path_values_follow_lbc() -> None:
    backend = Backend(service="s", port_number=80, port_name=None)
    assert path_values(IngressPath(host=None, path="/", path_type="Prefix", backend=backend)) == ["/*"]
    assert path_values(IngressPath(host=None, path="/api/", path_type="Prefix", backend=backend)) == ["/api", "/api/*"]
    assert path_values(IngressPath(host=None, path="/x*", path_type="ImplementationSpecific", backend=backend)) == [
        "/x*"
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["scheme", "target-type", "group.order", "group.name", "unknown"]),
        st.text(max_size=20),
        max_size=4,
    )
)
def test_arbitrary_annotation_values_never_crash(values: dict[str, str]) -> None:
    ing = ingress()
    ing["metadata"]["annotations"] = {f"alb.ingress.kubernetes.io/{k}": v for k, v in values.items()}
    result = run(ing, service())
    assert (result.stack is None) == bool(result.errors)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    spec=st.dictionaries(st.sampled_from(["rules", "defaultBackend", "tls", "ingressClassName"]), _json, max_size=3),
    annotations=st.dictionaries(
        st.sampled_from(
            [
                "listen-ports",
                "actions.game-2048",
                "conditions.game-2048",
                "certificate-arn",
                "ssl-redirect",
                "tags",
                "inbound-cidrs",
                "healthcheck-port",
                "auth-type",
                "auth-idp-oidc",
                "mutual-authentication",
                "transforms.game-2048",
            ]
        ),
        st.text(max_size=30) | _json.map(json.dumps),
        max_size=4,
    ),
)
def test_malformed_objects_never_crash_the_builder(spec: dict[str, Any], annotations: dict[str, str]) -> None:
    from albatross.k8s.errors import ObjectError

    obj = ingress()
    obj["spec"] = spec
    obj["metadata"]["annotations"] = {f"alb.ingress.kubernetes.io/{k}": v for k, v in annotations.items()}
    try:
        view = parse_ingress(obj)
    except ObjectError:
        return  # a clear error is the expected outcome for a malformed spec
    result = build(
        config=CONFIG,
        group=GroupID(namespace="game-2048", name="game-2048"),
        ingresses=[view],
        services={"game-2048/game-2048": parse_service(service())},
        discovery=DISCOVERY,
    )
    assert (result.stack is None) == bool(result.errors) or result.members == ()
