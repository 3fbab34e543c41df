"""Model builder features beyond the base stack, one behaviour per test, including
multi-Ingress groups and LBC's error messages."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

import pytest

from albatross.contract import ClassInfo, ingress_is_ours
from albatross.k8s.ingress import GroupID, parse_ingress
from albatross.k8s.service import parse_service
from albatross.model.builder import BuildResult, build
from albatross.model.config import ControllerConfig
from albatross.model.discovery import Discovery
from tests.helpers import load_event
from tests.unit.test_model_builder import DISCOVERY

CONFIG = ControllerConfig(cluster="c", vpc_id="vpc-0abc")
A = "alb.ingress.kubernetes.io/"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/one"


def ing(name: str = "game-2048", annotations: dict[str, str] | None = None, group: str | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = copy.deepcopy(load_event("ingress-upsert")["detail"]["object"])
    obj["metadata"]["name"] = name
    obj["metadata"]["annotations"] = {A + "scheme": "internet-facing", A + "target-type": "ip"}
    if group:
        obj["metadata"]["annotations"][A + "group.name"] = group
    obj["metadata"]["annotations"].update({A + k: v for k, v in (annotations or {}).items()})
    return obj


def svc(annotations: dict[str, str] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = copy.deepcopy(load_event("service-upsert")["detail"]["object"])
    obj["metadata"]["annotations"] = {A + k: v for k, v in (annotations or {}).items()}
    return obj


def run(
    *objs: dict[str, Any],
    group: GroupID | None = None,
    service: dict[str, Any] | None = None,
    discovery: Discovery = DISCOVERY,
) -> BuildResult:
    return build(
        config=CONFIG,
        group=group or GroupID(namespace="game-2048", name=objs[0]["metadata"]["name"]),
        ingresses=[parse_ingress(o) for o in objs],
        services={"game-2048/game-2048": parse_service(service or svc())},
        discovery=discovery,
    )


def resources(result: BuildResult) -> dict[str, Any]:
    assert result.stack is not None, result.errors
    return {rid: r.to_json() for rid, r in result.stack.resources.items()}


def test_a_certificate_makes_the_default_listener_https() -> None:
    res = resources(run(ing(annotations={"certificate-arn": CERT})))
    listener = res["443"]["properties"]
    assert (listener["Protocol"], listener["SslPolicy"]) == ("HTTPS", "ELBSecurityPolicy-2016-08")
    assert listener["Certificates"] == [{"CertificateArn": CERT}]
    assert "80" not in res
    assert res["ManagedLBSecurityGroup"]["properties"]["IpPermissions"][0]["FromPort"] == 443


def test_ssl_redirect_leaves_http_with_only_a_redirect() -> None:
    result = run(
        ing(
            annotations={
                "certificate-arn": CERT,
                "listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]',
                "ssl-redirect": "443",
            }
        )
    )
    res = resources(result)
    assert res["80"]["properties"]["DefaultActions"] == [
        {"Type": "redirect", "RedirectConfig": {"Port": "443", "Protocol": "HTTPS", "StatusCode": "HTTP_301"}}
    ]
    assert [rid for rid in res if rid.startswith("80:")] == []
    assert "443:1" in res


def test_ssl_redirect_to_a_port_that_is_not_https_is_an_error() -> None:
    result = run(ing(annotations={"ssl-redirect": "80"}))
    assert result.stack is None
    assert result.errors[0].reason == "listener protocol non-SSL for SSLRedirect port: 80"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("[]", "empty listen-ports configuration: `[]`"),
        ('[{"HTTP": 70000}]', "listen port must be within [1, 65535]: 70000"),
        ('[{"TCP": 80}]', "listen protocol must be within [HTTP, HTTPS]: TCP"),
        ("[{", "failed to parse listen-ports configuration: `[{`"),
        ('{"HTTP": 80}', 'failed to parse listen-ports configuration: `{"HTTP": 80}`'),
        ('[{"HTTP": "80"}]', "failed to parse listen-ports configuration"),
    ],
)
def test_bad_listen_ports(value: str, reason: str) -> None:
    result = run(ing(annotations={"listen-ports": value}))
    assert result.stack is None
    assert reason in result.errors[0].reason


def test_group_members_order_priorities_and_one_bad_member_does_not_block() -> None:
    first = ing("b-first", {"group.order": "-5"}, group="shop")
    second = ing("a-second", group="shop")
    broken = ing("c-broken", {"listen-ports": "nope"}, group="shop")
    result = run(second, broken, first, group=GroupID(namespace="", name="shop"))
    res = resources(result)
    assert result.members == ("game-2048/b-first", "game-2048/a-second")
    assert [e.ingress for e in result.errors] == ["game-2048/c-broken"]
    owners = [
        res[f"80:{p}"]["properties"]["Actions"][0]["ForwardConfig"]["TargetGroups"][0]["TargetGroupArn"]["$ref"]
        for p in (1, 2)
    ]
    assert owners == ["game-2048/b-first-game-2048:80", "game-2048/a-second-game-2048:80"]
    assert res["LoadBalancer"]["properties"]["Name"].startswith("k8s-shop-")


def test_exclusive_settings_conflict_on_every_member() -> None:
    a = ing("a", {"scheme": "internal"}, group="shop")
    b = ing("b", group="shop")  # internet-facing
    result = run(a, b, group=GroupID(namespace="", name="shop"))
    assert result.stack is None
    assert {e.ingress for e in result.errors} == {"game-2048/a", "game-2048/b"}
    assert all(e.reason.startswith("conflicting scheme: ") for e in result.errors)


def test_an_exclusive_setting_on_one_member_applies_to_the_group() -> None:
    a = ing("a", {"load-balancer-attributes": "idle_timeout.timeout_seconds=120"}, group="shop")
    b = ing("b", group="shop")
    res = resources(run(a, b, group=GroupID(namespace="", name="shop")))
    assert res["LoadBalancer"]["properties"]["Attributes"] == [{"Key": "idle_timeout.timeout_seconds", "Value": "120"}]


def test_tags_merge_and_conflict() -> None:
    a = ing("a", {"tags": "team=web,cost=1"}, group="shop")
    b = ing("b", {"tags": "env=prod"}, group="shop")
    tags = {
        t["Key"]: t["Value"]
        for t in resources(run(a, b, group=GroupID(namespace="", name="shop")))["LoadBalancer"]["properties"]["Tags"]
    }
    assert {tags["team"], tags["cost"], tags["env"], tags["ingress.k8s.aws/stack"]} == {"web", "1", "prod", "shop"}
    clash = run(a, ing("b", {"tags": "team=api"}, group="shop"), group=GroupID(namespace="", name="shop"))
    assert clash.errors[0].reason == "conflicting tag team: web | api"


def test_paths_are_ordered_exact_then_longest_prefix() -> None:
    obj = ing()
    backend = {"service": {"name": "game-2048", "port": {"number": 80}}}
    obj["spec"]["rules"][0]["http"]["paths"] = [
        {"path": "/", "pathType": "Prefix", "backend": backend},
        {"path": "/a/b", "pathType": "Prefix", "backend": backend},
        {"path": "/exact", "pathType": "Exact", "backend": backend},
        {"path": "/x*", "pathType": "ImplementationSpecific", "backend": backend},
    ]
    res = resources(run(obj))
    values = [res[f"80:{p}"]["properties"]["Conditions"][-1]["PathPatternConfig"]["Values"] for p in range(1, 5)]
    assert values == [["/exact"], ["/a/b", "/a/b/*"], ["/*"], ["/x*"]]


def test_wildcards_in_exact_paths_are_errors() -> None:
    obj = ing()
    obj["spec"]["rules"][0]["http"]["paths"][0].update(path="/a*", pathType="Exact")
    assert run(obj).errors[0].reason == "exact path shouldn't contain wildcards: /a*"


def test_actions_and_conditions_annotations() -> None:
    obj = ing(
        annotations={
            "actions.canary": json.dumps(
                {
                    "type": "forward",
                    "forwardConfig": {
                        "targetGroups": [
                            {"serviceName": "game-2048", "servicePort": "80", "weight": 20},
                            {"targetGroupARN": "arn:tg/x", "weight": 80},
                        ]
                    },
                }
            ),
            "conditions.canary": json.dumps(
                [{"field": "http-header", "httpHeaderConfig": {"httpHeaderName": "X-Canary", "values": ["1"]}}]
            ),
        }
    )
    obj["spec"]["rules"][0]["http"]["paths"][0]["backend"] = {
        "service": {"name": "canary", "port": {"name": "use-annotation"}}
    }
    rule = resources(run(obj))["80:1"]["properties"]
    assert rule["Conditions"][0] == {
        "Field": "http-header",
        "HttpHeaderConfig": {"HttpHeaderName": "X-Canary", "Values": ["1"]},
    }
    assert rule["Actions"][0]["ForwardConfig"]["TargetGroups"] == [
        {"TargetGroupArn": {"$ref": "game-2048/game-2048-game-2048:80"}, "Weight": 20},
        {"TargetGroupArn": "arn:tg/x", "Weight": 80},
    ]


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ({"type": "teleport"}, "unknown action type: teleport"),
        ({"type": "redirect"}, "missing RedirectConfig"),
        ({"type": "fixed-response", "fixedResponseConfig": {}}, "invalid FixedResponseConfig: statusCode is required"),
        (
            {"type": "forward", "forwardConfig": {"targetGroups": [{"targetGroupARN": "a"}, {"targetGroupARN": "b"}]}},
            "invalid ForwardConfig: weight must be set when route to multiple target groups",
        ),
    ],
)
def test_bad_actions_name_the_annotation(action: dict[str, Any], reason: str) -> None:
    obj = ing(annotations={"actions.x": json.dumps(action)})
    obj["spec"]["rules"][0]["http"]["paths"][0]["backend"] = {
        "service": {"name": "x", "port": {"name": "use-annotation"}}
    }
    result = run(obj)
    assert result.stack is None
    assert result.errors[0].reason.startswith(reason)
    assert "(annotation alb.ingress.kubernetes.io/actions.x: " in result.errors[0].reason


def test_a_missing_action_annotation_gives_a_503_rule() -> None:
    obj = ing()
    obj["spec"]["rules"][0]["http"]["paths"][0]["backend"] = {
        "service": {"name": "x", "port": {"name": "use-annotation"}}
    }
    action = resources(run(obj))["80:1"]["properties"]["Actions"][0]
    assert action["FixedResponseConfig"]["MessageBody"] == "Backend action does not exist"


def test_service_annotations_win_and_grpc_defaults() -> None:
    res = resources(
        run(
            ing(annotations={"healthcheck-path": "/ing"}),
            service=svc({"healthcheck-path": "/svc", "backend-protocol-version": "GRPC"}),
        )
    )
    tg = res["game-2048/game-2048-game-2048:80"]["properties"]
    assert (tg["HealthCheckPath"], tg["ProtocolVersion"], tg["Matcher"]) == ("/svc", "GRPC", {"GrpcCode": "12"})
    grpc_default = resources(run(ing(annotations={"backend-protocol-version": "GRPC"})))
    assert grpc_default["game-2048/game-2048-game-2048:80"]["properties"]["HealthCheckPath"] == "/AWS.ALB/healthcheck"


def test_two_default_backends_in_a_group_conflict() -> None:
    a, b = ing("a", group="shop"), ing("b", group="shop")
    for obj in (a, b):
        obj["spec"]["defaultBackend"] = {"service": {"name": "game-2048", "port": {"number": 80}}}
    result = run(a, b, group=GroupID(namespace="", name="shop"))
    assert result.errors[0].reason == "multiple ingress defined default backend: [game-2048/a game-2048/b]"


def test_class_selection_follows_lbc() -> None:
    ours, theirs = ClassInfo("ingress.k8s.aws/alb", False), ClassInfo("k8s.io/ingress-nginx", True)
    named = {"spec": {"ingressClassName": "web"}}
    assert ingress_is_ours(named, classes={"web": ours}, configured="alb")
    assert not ingress_is_ours(named, classes={"web": theirs}, configured="alb")
    assert ingress_is_ours({"spec": {"ingressClassName": "alb"}}, classes={}, configured="alb")
    legacy = {"metadata": {"annotations": {"kubernetes.io/ingress.class": "alb"}}, "spec": {"ingressClassName": "web"}}
    assert ingress_is_ours(legacy, classes={"web": theirs}, configured="alb")  # the annotation wins
    assert not ingress_is_ours({}, classes={"nginx": theirs}, configured="alb")
    # An Ingress without a class takes the default IngressClass (LBC's class loader), here its own.
    assert ingress_is_ours({}, classes={"alb": ClassInfo("ingress.k8s.aws/alb", True)}, configured="alb")


def test_ingress_class_params_override_annotations_and_select_namespaces(tmp_path: Any) -> None:
    from albatross.cli.plan import plan_offline

    klass = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": "shop-alb"},
        "spec": {
            "controller": "ingress.k8s.aws/alb",
            "parameters": {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": "shop"},
        },
    }
    params = {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "IngressClassParams",
        "metadata": {"name": "shop"},
        "spec": {
            "namespaceSelector": {"matchLabels": {"team": "shop"}},
            "scheme": "internal",
            "certificateArn": [CERT],
            "tags": [{"key": "cost", "value": "shop"}],
            "inboundCIDRs": ["10.0.0.0/8"],
        },
    }
    obj = ing()
    obj["spec"]["ingressClassName"] = "shop-alb"  # annotation says internet-facing; params win
    namespace: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "game-2048", "labels": {"team": "shop"}},
    }
    objects = [klass, params, obj, svc(), namespace]
    result = plan_offline(objects, CONFIG, DISCOVERY)
    assert result["errors"] == []
    res = result["stacks"][0]["resources"]
    assert res["LoadBalancer"]["properties"]["Scheme"] == "internal"
    assert res["443"]["properties"]["Certificates"] == [{"CertificateArn": CERT}]
    assert {"Key": "cost", "Value": "shop"} in res["LoadBalancer"]["properties"]["Tags"]
    assert res["ManagedLBSecurityGroup"]["properties"]["IpPermissions"][0]["IpRanges"] == [{"CidrIp": "10.0.0.0/8"}]
    namespace["metadata"]["labels"] = {"team": "other"}
    assert plan_offline(objects, CONFIG, Discovery(subnets=DISCOVERY.subnets))["errors"][0]["reason"] == (
        "invalid ingress class: namespaceSelector of IngressClassParams shop mismatch"
    )


def test_certificates_are_discovered_by_host() -> None:

    certs = (
        {"CertificateArn": "arn:wild", "DomainName": "*.example.com", "Status": "ISSUED"},
        {
            "CertificateArn": "arn:exact",
            "DomainName": "other.org",
            "SubjectAlternativeNames": ["shop.example.com"],
            "Status": "ISSUED",
        },
        {"CertificateArn": "arn:expired", "DomainName": "shop.example.com", "Status": "EXPIRED"},
        {"CertificateArn": "arn:deep", "DomainName": "*.example.com.evil", "Status": "ISSUED"},
    )
    obj = ing(annotations={"listen-ports": '[{"HTTPS": 443}]'})
    obj["spec"]["rules"][0]["host"] = "shop.example.com"
    result = run(obj, discovery=Discovery(subnets=DISCOVERY.subnets, certificates=certs))
    assert resources(result)["443"]["properties"]["Certificates"] == [
        {"CertificateArn": "arn:exact"},
        {"CertificateArn": "arn:wild"},
    ]
    obj["spec"]["rules"][0]["host"] = "a.b.example.com"  # a wildcard covers one label only
    missing = run(obj, discovery=Discovery(subnets=DISCOVERY.subnets, certificates=certs))
    assert missing.errors[0].reason == "no certificate found for host: a.b.example.com"


def test_waf_shield_capacity_and_pools_sit_in_the_load_balancer_entry() -> None:
    res = resources(
        run(
            ing(
                annotations={
                    "wafv2-acl-arn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/x/1",
                    "waf-acl-id": "classic-1",
                    "shield-advanced-protection": "true",
                    "minimum-load-balancer-capacity": "CapacityUnits=100",
                    "customer-owned-ipv4-pool": "ipv4pool-coip-1",
                }
            )
        )
    )
    lb = res["LoadBalancer"]["properties"]
    assert lb["WebACLArn"].endswith("webacl/x/1")
    assert (lb["WafAclId"], lb["ShieldProtection"]) == ("classic-1", True)
    assert lb["MinimumLoadBalancerCapacity"] == {"CapacityUnits": 100}
    assert lb["CustomerOwnedIpv4Pool"] == "ipv4pool-coip-1"


def test_prefix_lists_listener_attributes_and_mutual_tls() -> None:
    res = resources(
        run(
            ing(
                annotations={
                    "certificate-arn": CERT,
                    "security-group-prefix-lists": "pl-1,pl-2",
                    "listener-attributes.HTTPS-443": "routing.http.response.server.enabled=false",
                    "mutual-authentication": '[{"port": 443, "mode": "verify", "trustStore": "arn:ts"}]',
                }
            )
        )
    )
    [rule] = res["ManagedLBSecurityGroup"]["properties"]["IpPermissions"]
    assert "IpRanges" not in rule  # prefix lists alone replace 0.0.0.0/0
    assert rule["PrefixListIds"] == [{"PrefixListId": "pl-1"}, {"PrefixListId": "pl-2"}]
    listener = res["443"]["properties"]
    assert listener["Attributes"] == [{"Key": "routing.http.response.server.enabled", "Value": "false"}]
    assert listener["MutualAuthentication"] == {
        "Mode": "verify",
        "TrustStoreArn": "arn:ts",
        "IgnoreClientCertificateExpiry": False,
    }


def test_regex_paths_and_transforms() -> None:
    obj = ing(
        annotations={
            "use-regex-path-match": "true",
            "transforms.game-2048": json.dumps(
                [
                    {
                        "type": "url-rewrite",
                        "urlRewriteConfig": {"rewrites": [{"regex": "^/api/(.+)$", "replace": "/$1"}]},
                    }
                ]
            ),
        }
    )
    obj["spec"]["rules"][0]["http"]["paths"][0].update(path="/^/api/(.+)$", pathType="ImplementationSpecific")
    rule = resources(run(obj))["80:1"]["properties"]
    assert rule["Conditions"] == [{"Field": "path-pattern", "PathPatternConfig": {"RegexValues": ["^/api/(.+)$"]}}]
    assert rule["Transforms"] == [
        {"Type": "url-rewrite", "UrlRewriteConfig": {"Rewrites": [{"Regex": "^/api/(.+)$", "Replace": "/$1"}]}}
    ]


def test_authentication_on_https_only_and_oidc_secret_by_reference() -> None:
    cognito = {"userPoolARN": "arn:pool", "userPoolClientID": "client", "userPoolDomain": "auth.example.com"}
    both = '[{"HTTP": 80}, {"HTTPS": 443}]'
    res = resources(
        run(
            ing(
                annotations={
                    "certificate-arn": CERT,
                    "listen-ports": both,
                    "auth-type": "cognito",
                    "auth-idp-cognito": json.dumps(cognito),
                }
            )
        )
    )
    https = res["443:1"]["properties"]["Actions"]
    assert [(a["Type"], a["Order"]) for a in https] == [("authenticate-cognito", 1), ("forward", 2)]
    assert https[0]["AuthenticateCognitoConfig"]["SessionTimeout"] == 604800
    assert [a["Type"] for a in res["80:1"]["properties"]["Actions"]] == ["forward"]
    oidc = {
        "issuer": "https://idp",
        "authorizationEndpoint": "https://idp/a",
        "tokenEndpoint": "https://idp/t",
        "userInfoEndpoint": "https://idp/u",
        "secretName": "oidc",
    }
    res = resources(
        run(ing(annotations={"certificate-arn": CERT, "auth-type": "oidc", "auth-idp-oidc": json.dumps(oidc)}))
    )
    config = res["443:1"]["properties"]["Actions"][0]["AuthenticateOidcConfig"]
    assert config["ClientSecret"] == {"$secret": "game-2048/oidc", "key": "clientSecret"}
    broken = run(ing(annotations={"certificate-arn": CERT, "auth-type": "oidc", "auth-idp-oidc": "{}"}))
    assert broken.errors[0].reason == "issuer is required (annotation alb.ingress.kubernetes.io/auth-idp-oidc: `{}`)"


def test_target_node_labels_select_nodes_in_instance_mode() -> None:
    service = svc({"target-type": "instance", "target-node-labels": "pool=web"})
    service["spec"].update(type="NodePort")
    service["spec"]["ports"][0]["nodePort"] = 30080
    tg = resources(run(ing(), service=service))["game-2048/game-2048-game-2048:80"]
    assert tg["binding"]["nodeSelector"] == {"matchLabels": {"pool": "web"}}
    assert tg["properties"]["TargetType"] == "instance"


def test_an_existing_load_balancer_keeps_its_subnets() -> None:

    existing = {
        "stack": "game-2048/game-2048",
        "LoadBalancer": {
            "Scheme": "internet-facing",
            "AvailabilityZones": [{"SubnetId": "subnet-old1"}, {"SubnetId": "subnet-old2"}],
        },
    }
    facts = Discovery(subnets=DISCOVERY.subnets, existing_load_balancers=(existing,))
    result = build(
        config=CONFIG,
        group=GroupID(namespace="game-2048", name="game-2048"),
        ingresses=[parse_ingress(ing())],
        services={"game-2048/game-2048": parse_service(svc())},
        discovery=facts,
    )
    assert resources(result)["LoadBalancer"]["properties"]["Subnets"] == ["subnet-old1", "subnet-old2"]
    # a scheme change means a new load balancer: discovery applies again
    internal = build(
        config=CONFIG,
        group=GroupID(namespace="game-2048", name="game-2048"),
        ingresses=[parse_ingress(ing(annotations={"scheme": "internal"}))],
        services={"game-2048/game-2048": parse_service(svc())},
        discovery=facts,
    )
    assert resources(internal)["LoadBalancer"]["properties"]["Subnets"] == ["subnet-p", "subnet-q"]


def test_backend_security_group_rules_in_the_binding() -> None:
    from albatross.model.config import ControllerConfig as Config

    def binding(config: Config, annotations: dict[str, str]) -> dict[str, Any]:
        result = build(
            config=config,
            group=GroupID(namespace="game-2048", name="game-2048"),
            ingresses=[parse_ingress(ing(annotations=annotations))],
            services={"game-2048/game-2048": parse_service(svc({"healthcheck-port": "9000"}))},
            discovery=DISCOVERY,
        )
        tg: dict[str, Any] = resources(result)["game-2048/game-2048-game-2048:80"]["binding"]
        return tg

    shared = Config(cluster="c", vpc_id="vpc-0abc", backend_sg_id="sg-backend")
    rules = binding(shared, {})["networking"]["ingress"]
    assert rules == [
        {
            "from": [{"securityGroup": "sg-backend"}],
            "ports": [{"Protocol": "TCP", "Port": "http"}, {"Protocol": "TCP", "Port": 9000}],
        }
    ]
    assert "networking" not in binding(shared, {"security-groups": "sg-mine"})  # own groups: rules are theirs
    managed = binding(shared, {"security-groups": "sg-mine", "manage-backend-security-group-rules": "true"})
    assert managed["networking"]["ingress"][0]["from"] == [{"securityGroup": "sg-backend"}]
    no_backend = build(
        config=Config(cluster="c", vpc_id="vpc-0abc", backend_sg_enabled=False),
        group=GroupID(namespace="game-2048", name="game-2048"),
        ingresses=[
            parse_ingress(
                ing(annotations={"security-groups": "sg-mine", "manage-backend-security-group-rules": "true"})
            )
        ],
        services={"game-2048/game-2048": parse_service(svc())},
        discovery=DISCOVERY,
    )
    assert "backendSG feature is required" in no_backend.errors[0].reason


def test_an_invalid_group_name_is_reported_on_the_ingress() -> None:
    result = run(ing(annotations={"group.name": "Shop_Front"}))
    assert result.stack is None
    assert (
        "invalid ingress group: groupName must consist of lower case alphanumeric characters" in result.errors[0].reason
    )


def test_more_ingress_class_params_fields() -> None:
    from albatross.k8s.params import parse_params
    from albatross.model.settings import apply_params, read_member

    params = parse_params(
        {
            "metadata": {"name": "p"},
            "spec": {
                "minimumLoadBalancerCapacity": {"capacityUnits": 200},
                "prefixListsIDs": ["pl-9"],
                "ipamConfiguration": {"ipv4IPAMPoolId": "ipam-pool-1"},
                "listeners": [{"protocol": "HTTP", "port": 80, "listenerAttributes": [{"key": "a", "value": "b"}]}],
                "subnets": {"tags": {"tier": ["edge"]}},
            },
        }
    )
    member = apply_params(read_member(parse_ingress(ing()), CONFIG), params, None)
    assert (member.minimum_capacity, member.prefix_lists, member.ipam_pool) == (200, ("pl-9",), "ipam-pool-1")
    assert member.listener_attributes == {("HTTP", 80): (("a", "b"),)}
    assert member.subnet_tags == {"tier": ("edge",)}
    with pytest.raises(Exception, match="capacityUnits must be a number"):
        parse_params({"metadata": {"name": "bad"}, "spec": {"minimumLoadBalancerCapacity": {"capacityUnits": "lots"}}})


def test_the_rule_optimizer_makes_the_legacy_ssl_redirect_pattern_work() -> None:
    redirect = {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}
    obj = ing(
        annotations={
            "certificate-arn": CERT,
            "listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]',
            "actions.ssl-redirect": json.dumps(redirect),
        }
    )
    app = {"service": {"name": "game-2048", "port": {"number": 80}}}
    obj["spec"]["rules"][0]["http"]["paths"] = [
        {
            "path": "/*",
            "pathType": "ImplementationSpecific",
            "backend": {"service": {"name": "ssl-redirect", "port": {"name": "use-annotation"}}},
        },
        {"path": "/*", "pathType": "ImplementationSpecific", "backend": app},
    ]
    res = resources(run(obj))
    http_rules = sorted(rid for rid in res if rid.startswith("80:"))
    https_rules = sorted(rid for rid in res if rid.startswith("443:"))
    assert http_rules == ["80:1"]  # the app rule is shadowed by the redirect on HTTP
    assert res["80:1"]["properties"]["Actions"][0]["Type"] == "redirect"
    assert https_rules == ["443:1"]  # the redirect would loop on HTTPS: dropped
    assert res["443:1"]["properties"]["Actions"][0]["Type"] == "forward"


def test_a_web_acl_named_by_annotation_is_resolved_from_discovery() -> None:

    acls = ({"Name": "edge", "ARN": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/edge/1"},)

    def lb(annotations: dict[str, str]) -> BuildResult:
        return run(ing(annotations=annotations), discovery=Discovery(subnets=DISCOVERY.subnets, web_acls=acls))

    assert resources(lb({"wafv2-acl-name": "edge"}))["LoadBalancer"]["properties"]["WebACLArn"] == acls[0]["ARN"]
    # none: take any association away (absent would leave it alone)
    assert resources(lb({"wafv2-acl-name": "none"}))["LoadBalancer"]["properties"]["WebACLArn"] == "none"
    assert "WebACLArn" not in resources(lb({}))["LoadBalancer"]["properties"]
    assert lb({"wafv2-acl-name": "missing"}).errors[0].reason == "couldn't find WAFv2 WebACL with name: missing"


def test_services_named_in_actions_are_referenced() -> None:
    from albatross.model.rules import referenced_services

    obj = ing(
        annotations={
            "actions.split": json.dumps(
                {"type": "forward", "forwardConfig": {"targetGroups": [{"serviceName": "blue", "servicePort": 80}]}}
            ),
            "actions.broken": "{",
        }
    )
    obj["spec"]["rules"][0]["http"]["paths"].append(
        {
            "path": "/s",
            "pathType": "Prefix",
            "backend": {"service": {"name": "split", "port": {"name": "use-annotation"}}},
        }
    )
    obj["spec"]["rules"][0]["http"]["paths"].append(
        {
            "path": "/b",
            "pathType": "Prefix",
            "backend": {"service": {"name": "broken", "port": {"name": "use-annotation"}}},
        }
    )
    assert referenced_services(parse_ingress(obj)) == {"game-2048/game-2048", "game-2048/blue"}


def test_ingress_class_params_group_is_parsed_and_validated() -> None:
    from albatross.k8s.params import parse_params

    valid = parse_params({"metadata": {"name": "p"}, "spec": {"group": {"name": "shop.front-1"}}})
    assert (valid.group, valid.group_error) == ("shop.front-1", None)
    bad = parse_params({"metadata": {"name": "p"}, "spec": {"group": {"name": "Shop_Front"}}})
    assert bad.group is None
    assert bad.group_error is not None
    assert bad.group_error.startswith(
        "invalid ingress group: groupName must consist of lower case alphanumeric characters"
    )
    long = parse_params({"metadata": {"name": "p"}, "spec": {"group": {"name": "a" * 64}}})
    assert long.group_error == "invalid ingress group: groupName must be no more than 63 characters"
    assert parse_params({"metadata": {"name": "p"}, "spec": {}}).group is None


def test_an_ingress_class_params_group_replaces_a_bad_group_annotation() -> None:
    from albatross.k8s.params import parse_params

    params = parse_params({"metadata": {"name": "p"}, "spec": {"group": {"name": "shop"}}})
    obj = ing(annotations={"group.name": "Not_Valid"})
    result = build(
        config=CONFIG,
        group=GroupID(namespace="", name="shop"),
        ingresses=[replace(parse_ingress(obj), class_params="p")],
        services={"game-2048/game-2048": parse_service(svc())},
        discovery=DISCOVERY,
        params={"p": params},
    )
    assert result.errors == ()  # LBC ignores the annotation when the class sets the group
    assert result.stack is not None


def test_jwt_validation_and_authentication_are_one_pre_routing_action() -> None:
    jwt = json.dumps({"jwksEndpoint": "https://idp/jwks", "issuer": "https://idp"})
    cognito = {"userPoolARN": "arn:pool", "userPoolClientID": "client", "userPoolDomain": "auth.example.com"}
    res = resources(run(ing(annotations={"certificate-arn": CERT, "jwt-validation": jwt})))
    assert res["443:1"]["properties"]["Actions"][0] == {
        "Type": "jwt-validation",
        "JwtValidationConfig": {"JwksEndpoint": "https://idp/jwks", "Issuer": "https://idp"},
        "Order": 1,
    }
    both = run(
        ing(
            annotations={
                "certificate-arn": CERT,
                "jwt-validation": jwt,
                "auth-type": "cognito",
                "auth-idp-cognito": json.dumps(cognito),
            }
        )
    )
    assert both.errors[0].reason.startswith("jwt-validation cannot be combined with auth-type cognito")
    bad_claim = json.dumps({**json.loads(jwt), "additionalClaims": [{"name": "x", "format": "csv", "values": ["a"]}]})
    assert (
        "claim x: format must be within"
        in run(ing(annotations={"certificate-arn": CERT, "jwt-validation": bad_claim})).errors[0].reason
    )


def test_error_messages_print_values_as_lbc_does() -> None:
    from albatross.k8s.errors import show

    assert show(("a", "b")) == "[a b]"
    assert show({"k": ("v",)}) == "map[k:[v]]"
    assert (show(True), show(False)) == ("true", "false")
    a = ing("a", {"subnets": "subnet-a,subnet-c"}, group="shop")
    b = ing("b", {"subnets": "subnet-p,subnet-q"}, group="shop")
    result = run(a, b, group=GroupID(namespace="", name="shop"))
    assert result.errors[0].reason == (
        "conflicting subnets: game-2048/a: [subnet-a subnet-c] | game-2048/b: [subnet-p subnet-q]"
    )
    shield = run(
        ing("a", {"shield-advanced-protection": "true"}, group="shop"),
        ing("b", {"shield-advanced-protection": "false"}, group="shop"),
        group=GroupID(namespace="", name="shop"),
    )
    assert shield.errors[0].reason == "conflicting shield-advanced-protection: game-2048/a: true | game-2048/b: false"
