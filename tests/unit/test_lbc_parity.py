"""LBC behaviours the model builder matches (issue 15), one test per behaviour. Expected
values come from LBC's documentation and code (``pkg/ingress/config_types.go``,
``model_build_listener_rules.go``, ``pkg/annotations/parser.go``) and from the ELBv2 API
reference, not from Albatross's own output."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from albatross.k8s.annotations import Annotations
from albatross.k8s.ingress import GroupID, parse_ingress
from albatross.k8s.params import parse_params
from albatross.k8s.service import parse_service
from albatross.model.builder import BuildResult, build
from albatross.model.discovery import Discovery, DiscoveryError
from albatross.plan.compare import action_key
from tests.unit.test_model_builder import DISCOVERY
from tests.unit.test_model_features import CONFIG, ing, resources, run, svc

A = "alb.ingress.kubernetes.io/"


def only_path(obj: dict[str, Any], path: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with one path, to the backend ``path`` names."""
    obj["spec"]["rules"] = [{"http": {"paths": [path]}}]
    return obj


def annotated(service: str, **annotations: str) -> dict[str, Any]:
    """An Ingress whose one path (no host, no path of its own) goes to ``service``."""
    backend = {"service": {"name": service, "port": {"number": 80}}}
    return only_path(ing(annotations=annotations), {"pathType": "ImplementationSpecific", "backend": backend})


def error(result: BuildResult) -> str:
    assert result.stack is None
    [found] = result.errors
    return found.reason


# -- 1. conditions with regexValues (ELBv2 RuleCondition: HostHeaderConfig, HttpHeaderConfig and
#       PathPatternConfig each take Values or RegexValues) ---------------------------------------


def test_regex_values_of_host_header_http_header_and_path_pattern_conditions() -> None:
    conditions = [
        {"field": "host-header", "hostHeaderConfig": {"regexValues": ["^(.+)\\.example\\.com$"]}},
        {"field": "http-header", "httpHeaderConfig": {"httpHeaderName": "User-Agent", "regexValues": [".+Chrome.+"]}},
        {"field": "path-pattern", "pathPatternConfig": {"regexValues": ["^/api/v[0-9]+/.*$"]}},
    ]
    obj = annotated("game-2048", **{"conditions.game-2048": json.dumps(conditions)})
    rule = resources(run(obj))["80:1"]["properties"]
    # LBC: the annotation's other conditions first, then host, then path
    assert rule["Conditions"] == [
        {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "User-Agent", "RegexValues": [".+Chrome.+"]}},
        {"Field": "host-header", "HostHeaderConfig": {"RegexValues": ["^(.+)\\.example\\.com$"]}},
        {"Field": "path-pattern", "PathPatternConfig": {"RegexValues": ["^/api/v[0-9]+/.*$"]}},
    ]


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        (
            {"field": "host-header", "hostHeaderConfig": {"values": ["a.example.com"], "regexValues": ["^b$"]}},
            "invalid hostHeaderConfig: precisely one of values and regexValues can be specified",
        ),
        (
            {"field": "path-pattern", "pathPatternConfig": {"values": ["/a"], "regexValues": ["^/b$"]}},
            "invalid pathPatternConfig: precisely one of values and regexValues can be specified",
        ),
        (
            {
                "field": "http-header",
                "httpHeaderConfig": {"httpHeaderName": "X", "values": ["a"], "regexValues": ["b"]},
            },
            "invalid httpHeaderConfig: precisely one of values and regexValues can be specified",
        ),
        (
            {"field": "http-header", "httpHeaderConfig": {"httpHeaderName": "X", "regexValues": []}},
            "invalid httpHeaderConfig: values or regexValues must be specified",
        ),
        (
            {"field": "host-header", "hostHeaderConfig": {}},
            "invalid hostHeaderConfig: values or regexValues must be specified",
        ),
    ],
)
def test_one_condition_takes_values_or_regex_values_not_both(condition: dict[str, Any], reason: str) -> None:
    obj = annotated("game-2048", **{"conditions.game-2048": json.dumps([condition])})
    assert error(run(obj)).startswith(reason)


def test_a_spec_host_with_a_regex_host_condition_is_an_error() -> None:
    # LBC's own case (model_build_listener_rules_test.go): the rule's host and the
    # annotation's regular expressions would make one condition with both
    condition = {
        "field": "host-header",
        "hostHeaderConfig": {"regexValues": ["^another-example.com$", "^yet-another-example.com$"]},
    }
    obj = annotated("game-2048", **{"conditions.game-2048": json.dumps([condition])})
    obj["spec"]["rules"][0]["host"] = "example.com"
    assert error(run(obj)) == (
        "host condition must specify exactly one of Values and RegexValues, got both Values [example.com] "
        "and RegexValues [^another-example.com$ ^yet-another-example.com$]"
    )


def test_a_regex_path_with_a_plain_path_condition_is_an_error() -> None:
    condition = {"field": "path-pattern", "pathPatternConfig": {"values": ["/v2/*"]}}
    obj = ing(annotations={"use-regex-path-match": "true", "conditions.game-2048": json.dumps([condition])})
    obj["spec"]["rules"][0]["http"]["paths"][0].update(path="/^/v1/.*$", pathType="ImplementationSpecific")
    assert error(run(obj)) == (
        "path condition must specify exactly one of Values and RegexValues, got both Values [/v2/*] "
        "and RegexValues [^/v1/.*$]"
    )


def _redirect_then(*later: dict[str, Any]) -> dict[str, Any]:
    """An Ingress whose first path redirects requests matching ``^/old/.*$`` to HTTPS,
    then ``later`` paths to the Service."""
    redirect = {"type": "redirect", "redirectConfig": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}
    obj = ing(annotations={"use-regex-path-match": "true", "actions.to-https": json.dumps(redirect)})
    app = {"service": {"name": "game-2048", "port": {"number": 80}}}
    first = {
        "path": "/^/old/.*$",
        "pathType": "ImplementationSpecific",
        "backend": {"service": {"name": "to-https", "port": {"name": "use-annotation"}}},
    }
    # spec.rules keep their order (within one, LBC puts Prefix paths first)
    obj["spec"]["rules"] = [{"http": {"paths": [first]}}] + [
        {"http": {"paths": [{**p, "backend": app}]}} for p in later
    ]
    return obj


def test_a_redirect_on_a_regular_expression_catches_only_that_expression() -> None:
    # ALB matches a regex path condition against the request's path: a redirect rule on
    # ^/old/.*$ catches no request of /app nor of ^/new/.*$, and those rules stay; a
    # later rule on the very same expression is caught, and LBC's optimizer drops it.
    obj = _redirect_then(
        {"path": "/app", "pathType": "Prefix"},
        {"path": "/^/new/.*$", "pathType": "ImplementationSpecific"},
        {"path": "/^/old/.*$", "pathType": "ImplementationSpecific"},
    )
    res = resources(run(obj))
    conditions = [res[rid]["properties"]["Conditions"] for rid in sorted(r for r in res if r.startswith("80:"))]
    assert conditions == [
        [{"Field": "path-pattern", "PathPatternConfig": {"RegexValues": ["^/old/.*$"]}}],
        [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/app", "/app/*"]}}],
        [{"Field": "path-pattern", "PathPatternConfig": {"RegexValues": ["^/new/.*$"]}}],
    ]


# -- 2. authenticationRequestExtraParams (LBC's AuthIDPConfigCognito / AuthIDPConfigOIDC; ELBv2's
#       AuthenticateCognitoConfig / AuthenticateOidcConfig AuthenticationRequestExtraParams) --------

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/one"
EXTRA = {"display": "page", "prompt": "login"}  # LBC's documented example


def test_cognito_extra_params_reach_the_authenticate_action() -> None:
    cognito = {
        "userPoolARN": "arn:aws:cognito-idp:us-west-2:123456789012:userpool/us-west-2_abc",
        "userPoolClientID": "my-client-id",
        "userPoolDomain": "my-domain",
        "authenticationRequestExtraParams": EXTRA,
    }
    obj = ing(annotations={"certificate-arn": CERT, "auth-type": "cognito", "auth-idp-cognito": json.dumps(cognito)})
    [auth, _] = resources(run(obj))["443:1"]["properties"]["Actions"]
    assert auth["Type"] == "authenticate-cognito"
    assert auth["AuthenticateCognitoConfig"]["AuthenticationRequestExtraParams"] == EXTRA


def test_oidc_extra_params_reach_the_authenticate_action() -> None:
    oidc = {
        "issuer": "https://example.com",
        "authorizationEndpoint": "https://authorization.example.com",
        "tokenEndpoint": "https://token.example.com",
        "userInfoEndpoint": "https://userinfo.example.com",
        "secretName": "my-k8s-secret",
        "authenticationRequestExtraParams": EXTRA,
    }
    obj = ing(annotations={"certificate-arn": CERT, "auth-type": "oidc", "auth-idp-oidc": json.dumps(oidc)})
    [auth, _] = resources(run(obj))["443:1"]["properties"]["Actions"]
    assert auth["AuthenticateOidcConfig"]["AuthenticationRequestExtraParams"] == EXTRA
    # without them, no key (AWS's default: none)
    del oidc["authenticationRequestExtraParams"]
    obj = ing(annotations={"certificate-arn": CERT, "auth-type": "oidc", "auth-idp-oidc": json.dumps(oidc)})
    [auth, _] = resources(run(obj))["443:1"]["properties"]["Actions"]
    assert "AuthenticationRequestExtraParams" not in auth["AuthenticateOidcConfig"]


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"prompt": 1}, "authenticationRequestExtraParams must map strings to strings"),
        (["prompt=login"], "authenticationRequestExtraParams must map strings to strings"),
        # ELBv2: up to 10 query parameters
        ({f"p{i}": "v" for i in range(11)}, "authenticationRequestExtraParams takes up to 10 query parameters"),
    ],
)
def test_extra_params_must_be_up_to_ten_strings(extra: Any, reason: str) -> None:
    cognito = {"userPoolARN": "arn:pool", "userPoolClientID": "c", "userPoolDomain": "d"}
    annotation = json.dumps({**cognito, "authenticationRequestExtraParams": extra})
    obj = ing(annotations={"certificate-arn": CERT, "auth-type": "cognito", "auth-idp-cognito": annotation})
    assert error(run(obj)).startswith(reason)


def test_an_authenticate_action_compares_whatever_order_aws_returns_its_fields_in() -> None:
    cognito = {
        "userPoolARN": "arn:pool",
        "userPoolClientID": "c",
        "userPoolDomain": "d",
        "authenticationRequestExtraParams": EXTRA,
    }
    obj = ing(annotations={"certificate-arn": CERT, "auth-type": "cognito", "auth-idp-cognito": json.dumps(cognito)})
    [desired, _] = resources(run(obj))["443:1"]["properties"]["Actions"]
    # DescribeRules answers in the order of the ELBv2 API reference's members (and a map's
    # keys in an order of its own)
    reported: dict[str, Any] = {
        "Type": "authenticate-cognito",
        "AuthenticateCognitoConfig": {
            "UserPoolArn": "arn:pool",
            "UserPoolClientId": "c",
            "UserPoolDomain": "d",
            "SessionCookieName": "AWSELBAuthSessionCookie",
            "Scope": "openid",
            "SessionTimeout": 604800,
            "AuthenticationRequestExtraParams": {"prompt": "login", "display": "page"},
            "OnUnauthenticatedRequest": "authenticate",
        },
        "Order": 1,
    }
    assert action_key(desired) == action_key(reported)
    changed = {**reported, "AuthenticateCognitoConfig": {**reported["AuthenticateCognitoConfig"], "Scope": "email"}}
    assert action_key(desired) != action_key(changed)


# -- 3. actions.* naming a target group by targetGroupName (LBC resolves the name to the ARN with
#       DescribeTargetGroups by name) -------------------------------------------------------------

LEGACY = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/legacy-tg/73e2d6bc24d8a067"
NAMED = Discovery(subnets=DISCOVERY.subnets, target_group_arns={"legacy-tg": LEGACY})


def forward_to(action: dict[str, Any], discovery: Discovery = NAMED) -> BuildResult:
    backend = {"service": {"name": "legacy", "port": {"name": "use-annotation"}}}
    obj = only_path(
        ing(annotations={"actions.legacy": json.dumps(action)}), {"path": "/", "pathType": "Prefix", "backend": backend}
    )
    return run(obj, discovery=discovery)


def test_a_target_group_named_in_a_forward_action_is_resolved_to_its_arn() -> None:
    simple = forward_to({"type": "forward", "targetGroupName": "legacy-tg"})
    [action] = resources(simple)["80:1"]["properties"]["Actions"]
    assert action == {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": LEGACY}]}}
    weighted = forward_to(
        {
            "type": "forward",
            "forwardConfig": {
                "targetGroups": [
                    {"serviceName": "game-2048", "servicePort": 80, "weight": 80},
                    {"targetGroupName": "legacy-tg", "weight": 20},
                ]
            },
        }
    )
    [action] = resources(weighted)["80:1"]["properties"]["Actions"]
    assert action["ForwardConfig"]["TargetGroups"][1] == {"TargetGroupArn": LEGACY, "Weight": 20}


def test_a_target_group_name_that_resolves_to_nothing_is_an_error() -> None:
    result = forward_to({"type": "forward", "targetGroupName": "legacy-tg"}, discovery=DISCOVERY)
    assert error(result).startswith("invalid ForwardConfig: couldn't find targetGroup with name: legacy-tg")


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ({"type": "forward"}, "missing ForwardConfig or TargetGroupARN/TargetGroupName"),
        (
            {"type": "forward", "targetGroupName": "legacy-tg", "forwardConfig": {"targetGroups": []}},
            "either ForwardConfig or TargetGroupARN/TargetGroupName can be specified",
        ),
        (
            {"type": "forward", "forwardConfig": {"targetGroups": [{"weight": 1}]}},
            "invalid ForwardConfig: invalid TargetGroupTuple: missing serviceName or targetGroupARN/targetGroupName",
        ),
        (
            {
                "type": "forward",
                "forwardConfig": {
                    "targetGroups": [{"targetGroupName": "legacy-tg", "serviceName": "game-2048", "servicePort": 80}]
                },
            },
            "invalid ForwardConfig: invalid TargetGroupTuple: "
            "either serviceName or targetGroupARN/targetGroupName can be specified",
        ),
    ],
)
def test_forward_action_validation_follows_lbc(action: dict[str, Any], reason: str) -> None:
    assert error(forward_to(action)).startswith(reason)


def test_a_discovery_file_lists_target_groups_by_name() -> None:
    found = Discovery.from_json({"targetGroups": [{"TargetGroupName": "legacy-tg", "TargetGroupArn": LEGACY}]})
    assert dict(found.target_group_arns) == {"legacy-tg": LEGACY}
    with pytest.raises(DiscoveryError, match=r"targetGroups\[0\]: needs TargetGroupArn"):
        Discovery.from_json({"targetGroups": [{"TargetGroupName": "legacy-tg"}]})


# -- 4. IngressClassParams spec.loadBalancerName: the name of the load balancer of every Ingress
#       of the class, over the load-balancer-name annotation (which LBC then does not read) --------


def with_params(spec: dict[str, Any], *objs: dict[str, Any], group: str = "shop") -> BuildResult:
    """A build of ``objs`` in the explicit group ``group``, the first of the class whose
    IngressClassParams has ``spec``."""
    params = parse_params({"metadata": {"name": "p"}, "spec": spec})
    ingresses = [parse_ingress(o) for o in objs]
    return build(
        config=CONFIG,
        group=GroupID(namespace="", name=group),
        ingresses=[replace(ingresses[0], class_params="p"), *ingresses[1:]],
        services={"game-2048/game-2048": parse_service(svc())},
        discovery=DISCOVERY,
        params={"p": params},
    )


def test_ingress_class_params_name_the_load_balancer_over_the_annotation() -> None:
    obj = ing(annotations={"load-balancer-name": "from-annotation"}, group="shop")
    lb = resources(with_params({"loadBalancerName": "from-params"}, obj))["LoadBalancer"]["properties"]
    assert lb["Name"] == "from-params"
    # the annotation is not read then: one too long for AWS is no error
    obj = ing(annotations={"load-balancer-name": "x" * 40}, group="shop")
    lb = resources(with_params({"loadBalancerName": "from-params"}, obj))["LoadBalancer"]["properties"]
    assert lb["Name"] == "from-params"


def test_a_params_name_and_another_members_annotation_conflict() -> None:
    classed = ing("a-classed", group="shop")
    other = ing("b-other", annotations={"load-balancer-name": "from-annotation"}, group="shop")
    result = with_params({"loadBalancerName": "from-params"}, classed, other)
    assert result.stack is None
    assert {e.reason for e in result.errors} == {
        "conflicting load balancer name: game-2048/a-classed: from-params | game-2048/b-other: from-annotation"
    }


def test_a_params_name_longer_than_32_characters_is_an_error() -> None:
    result = with_params({"loadBalancerName": "x" * 33}, ing(group="shop"))
    assert error(result).startswith("load balancer name cannot be longer than 32 characters (IngressClassParams p")


# -- 5. Escaped commas: LBC's parser takes "\," as a comma within a stringMap value (its own
#       example: a CORS header value in listener-attributes) ----------------------------------------


def test_an_escaped_comma_stays_within_a_string_map_value() -> None:
    obj = ing(
        annotations={
            "certificate-arn": CERT,
            "listener-attributes.HTTPS-443": (
                "routing.http.response.access_control_allow_headers.header_value=testHeader\\,anotherNewValue, "
                "routing.http.response.server.enabled=false"
            ),
        }
    )
    assert resources(run(obj))["443"]["properties"]["Attributes"] == [
        {
            "Key": "routing.http.response.access_control_allow_headers.header_value",
            "Value": "testHeader,anotherNewValue",
        },
        {"Key": "routing.http.response.server.enabled", "Value": "false"},
    ]
    annotations = Annotations({A + "tags": "team=web,allowed=GET\\,POST, owner=platform"})
    assert annotations.string_map("tags") == {"team": "web", "allowed": "GET,POST", "owner": "platform"}


def test_an_escaped_comma_stays_within_a_string_list_item() -> None:
    annotations = Annotations({A + "inbound-cidrs": "10.0.0.0/8, a\\,b ,,c"})
    assert annotations.string_list("inbound-cidrs") == ["10.0.0.0/8", "a,b", "c"]


# -- 6. Booleans as LBC reads them: Go's strconv.ParseBool ---------------------------------------

GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


@pytest.mark.parametrize("value", GO_TRUE + GO_FALSE)
def test_every_spelling_strconv_parse_bool_accepts(value: str) -> None:
    lb = resources(run(ing(annotations={"shield-advanced-protection": value})))["LoadBalancer"]["properties"]
    assert lb["ShieldProtection"] is (value in GO_TRUE)


@pytest.mark.parametrize("value", ["FaLsE", "yes", "no", "on", "tRUE", " true", "true ", ""])
def test_any_other_boolean_is_an_error_naming_the_annotation(value: str) -> None:
    reason = error(run(ing(annotations={"shield-advanced-protection": value})))
    assert reason.startswith(
        f"failed to parse bool annotation, {A}shield-advanced-protection: {value}: "
        f'strconv.ParseBool: parsing "{value}": invalid syntax'
    )


@pytest.mark.parametrize(
    ("name", "value"), [("use-regex-path-match", "yes"), ("manage-backend-security-group-rules", "Y")]
)
def test_every_boolean_annotation_reads_as_strconv_parse_bool(name: str, value: str) -> None:
    obj = ing(annotations={name: value, "security-groups": "sg-0123"})
    obj["spec"]["rules"][0]["http"]["paths"][0].update(path="/^/a$", pathType="ImplementationSpecific")
    assert f"failed to parse bool annotation, {A}{name}: {value}" in error(run(obj))


# -- 7. IngressClassParams subnet ids: LBC asks EC2 for them, and EC2 refuses an id it does not
#       know (InvalidSubnetID.NotFound); an id that is not one of the VPC's is that error -----------


def test_ingress_class_params_subnet_ids_that_do_not_exist_are_an_error() -> None:
    # subnet-a and subnet-c are the VPC's (DISCOVERY); subnet-0gone is not
    result = with_params({"subnets": {"ids": ["subnet-a", "subnet-0gone"]}}, ing(group="shop"))
    assert error(result) == (
        "invalid ingress class: IngressClassParams p names subnet subnet-0gone, which is not a subnet of VPC vpc-0abc"
    )
    lb = resources(with_params({"subnets": {"ids": ["subnet-a", "subnet-c"]}}, ing(group="shop")))["LoadBalancer"]
    assert lb["properties"]["Subnets"] == ["subnet-a", "subnet-c"]


def test_a_params_subnet_error_is_that_class_members_own() -> None:
    # ADR 0002: the member of the class is left out; the group's other member builds
    classed = ing("a-classed", group="shop")
    other = ing("b-other", group="shop")
    result = with_params({"subnets": {"ids": ["subnet-a", "subnet-0gone"]}}, classed, other)
    assert [e.ingress for e in result.errors] == ["game-2048/a-classed"]
    assert result.members == ("game-2048/b-other",)
