"""LBC's frontend NLB (``alb.ingress.kubernetes.io/enable-frontend-nlb``, ADR 0012) in the
model: expected values from LBC's ``model_build_frontend_nlb.go`` and its tests, not from
Albatross's output. The NLB ``FrontendNlb`` is named after the ALB (its first 28
characters and ``-nlb``), takes the controller's default scheme (not the ALB's) unless
``frontend-nlb-scheme`` says, and the ALB's IP address type, subnets and security groups
unless its own annotations say; per ALB listen port of a member (or per mapped port) a TCP
listener ``FrontendNlb-ls-TCP-<port>`` forwards to a TCP target group of type ``alb``
``FrontendNlb-tg-TCP-<port>`` (named ``k8s-<ns, 7>-<name, 7>-<hash, 6>-nlb``), whose health
check is HTTP on the traffic port with the Ingress target groups' defaults."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from albatross.k8s.ingress import GroupID, parse_ingress
from albatross.model import assemble, frontend_nlb
from albatross.model.builder import BuildResult
from tests.unit.test_assemble import GROUP, NS, Objects, member
from tests.unit.test_lbc_parity import error
from tests.unit.test_member_errors import CONFIG
from tests.unit.test_model_features import ing, resources, run

A = "alb.ingress.kubernetes.io/"
ON = {"enable-frontend-nlb": "true"}
NLB_TG = "AWS::ElasticLoadBalancingV2::TargetGroup"


def lbc_tg_name(cluster: str, group: str, namespace: str, name: str, port: int) -> str:
    """LBC's buildFrontendNlbTargetGroupName."""
    digest = hashlib.sha256(f"{cluster}{group}{port}{port}albTCPTCP".encode()).hexdigest()[:6]
    return f"k8s-{namespace[:7]}-{name[:7]}-{digest}-nlb"


def props(result: BuildResult, rid: str) -> dict[str, Any]:
    found: dict[str, Any] = resources(result)[rid]["properties"]
    return found


def group_of(*annotations: dict[str, str]) -> BuildResult:
    """One explicit group ``shop`` of Ingresses ``a``, ``b``, ... with these annotations."""
    members = [ing(name, annotations=a, group="shop") for name, a in zip("abcd", annotations, strict=False)]
    return run(*members, group=GroupID(namespace="", name="shop"))


def errors_of(result: BuildResult) -> set[str]:
    assert result.stack is None
    return {e.reason for e in result.errors}


def test_the_nlb_its_listener_target_group_and_the_alb_registered() -> None:
    result = run(ing(annotations=ON))
    alb = props(result, "LoadBalancer")
    nlb = props(result, "FrontendNlb")
    assert nlb["Name"] == alb["Name"][:28] + "-nlb"
    assert (nlb["Type"], nlb["Scheme"], nlb["IpAddressType"]) == ("network", "internal", alb["IpAddressType"])
    assert alb["Scheme"] == "internet-facing"  # the NLB does not follow the ALB's scheme
    assert (nlb["Subnets"], nlb["SecurityGroups"]) == (alb["Subnets"], alb["SecurityGroups"])
    listener = props(result, "FrontendNlb-ls-TCP-80")
    assert (listener["Port"], listener["Protocol"], listener["LoadBalancerArn"]) == (80, "TCP", {"$ref": "FrontendNlb"})
    [action] = listener["DefaultActions"]
    assert action["ForwardConfig"]["TargetGroups"] == [{"TargetGroupArn": {"$ref": "FrontendNlb-tg-TCP-80"}}]
    tg = props(result, "FrontendNlb-tg-TCP-80")
    assert tg["Name"] == lbc_tg_name("c", "game-2048/game-2048", "game204", "game204", 80)
    assert {k: tg[k] for k in ("Protocol", "Port", "TargetType", "VpcId")} == {
        "Protocol": "TCP",
        "Port": 80,
        "TargetType": "alb",
        "VpcId": "vpc-0abc",
    }
    assert {k: v for k, v in tg.items() if k.startswith("Health") or "Threshold" in k or k == "Matcher"} == {
        "HealthCheckEnabled": True,
        "HealthCheckProtocol": "HTTP",
        "HealthCheckPort": "traffic-port",
        "HealthCheckPath": "/",
        "HealthCheckIntervalSeconds": 15,
        "HealthCheckTimeoutSeconds": 5,
        "HealthyThresholdCount": 2,
        "UnhealthyThresholdCount": 2,
        "Matcher": {"HttpCode": "200"},
    }
    tags = {t["Key"]: t["Value"] for t in tg["Tags"]}
    assert tags["ingress.k8s.aws/resource"] == "FrontendNlb-tg-TCP-80"
    assert resources(result)["FrontendNlb-tg-TCP-80/alb"] == {
        "type": "AWS::ElasticLoadBalancingV2::AlbTarget",
        "properties": {
            "TargetGroupArn": {"$ref": "FrontendNlb-tg-TCP-80"},
            "TargetId": {"$ref": "LoadBalancer"},
            "Port": 80,
        },
    }


@pytest.mark.parametrize("value", [None, "false", "False", "0", "f"])
def test_not_asking_for_one_builds_the_alb_alone(value: str | None) -> None:
    found = resources(run(ing(annotations={} if value is None else {"enable-frontend-nlb": value})))
    assert "LoadBalancer" in found
    assert not [rid for rid in found if rid.startswith("FrontendNlb")]


def test_a_value_strconv_parse_bool_refuses_is_lbc_s_error() -> None:
    reason = error(run(ing(annotations={"enable-frontend-nlb": "yes"})))
    assert reason.startswith(f"failed to parse bool annotation, {A}enable-frontend-nlb: yes")


def test_members_that_set_the_switch_must_agree() -> None:
    assert errors_of(group_of(ON, {"enable-frontend-nlb": "false"})) == {"conflicting enable frontend NLB values"}
    # one that does not set it does not disagree
    assert "FrontendNlb" in resources(group_of(ON, {}))


def test_frontend_nlb_scheme() -> None:
    assert props(run(ing(annotations={**ON, "frontend-nlb-scheme": "internet-facing"})), "FrontendNlb")["Scheme"] == (
        "internet-facing"
    )
    reason = error(run(ing(annotations={**ON, "frontend-nlb-scheme": "public"})))
    assert reason.startswith("unknown scheme: public")
    conflict = errors_of(
        group_of({**ON, "frontend-nlb-scheme": "internal"}, {"frontend-nlb-scheme": "internet-facing"})
    )
    assert conflict == {"conflicting scheme: map[internal:{} internet-facing:{}]"}


def test_frontend_nlb_subnets_and_security_groups() -> None:
    result = run(ing(annotations={**ON, "frontend-nlb-security-groups": "sg-manual1, sg-manual2"}))
    assert props(result, "FrontendNlb")["SecurityGroups"] == ["sg-manual1", "sg-manual2"]
    conflict = errors_of(group_of({**ON, "frontend-nlb-subnets": "subnet-1,subnet-2"}, {"frontend-nlb-subnets": "x"}))
    assert conflict == {"conflicting subnets: [subnet-1 subnet-2] | [x]"}
    # the same subnets in another order agree
    same = group_of(
        {**ON, "frontend-nlb-subnets": "subnet-0aaa,subnet-0bbb"}, {"frontend-nlb-subnets": "subnet-0bbb,subnet-0aaa"}
    )
    assert props(same, "FrontendNlb")["Subnets"] == ["subnet-0aaa", "subnet-0bbb"]
    groups = errors_of(
        group_of({**ON, "frontend-nlb-security-groups": "sg-1,sg-2"}, {"frontend-nlb-security-groups": "sg-2,sg-1"})
    )
    assert groups == {"conflicting securityGroups: [sg-1 sg-2] | [sg-2 sg-1]"}


def test_one_listener_per_alb_listen_port_of_each_member() -> None:
    result = group_of(
        {**ON, "listen-ports": '[{"HTTP": 80}, {"HTTP": 8080}]'},
        {"listen-ports": '[{"HTTP": 81}]'},
    )
    found = resources(result)
    assert sorted(rid for rid in found if rid.startswith("FrontendNlb-ls-")) == [
        "FrontendNlb-ls-TCP-80",
        "FrontendNlb-ls-TCP-8080",
        "FrontendNlb-ls-TCP-81",
    ]
    assert props(result, "FrontendNlb-tg-TCP-81")["Name"] == lbc_tg_name("c", "shop", "", "shop", 81)


def test_the_port_mapping_maps_nlb_ports_to_the_member_s_alb_ports_only() -> None:
    result = run(
        ing(
            annotations={
                **ON,
                "listen-ports": '[{"HTTP": 80}, {"HTTP": 8080}]',
                # 9999 is not an ALB port of this Ingress: skipped, as LBC does
                "frontend-nlb-listener-port-mapping": "9090=8080,7070=9999",
            }
        )
    )
    found = resources(result)
    assert sorted(rid for rid in found if rid.startswith("FrontendNlb-ls-")) == ["FrontendNlb-ls-TCP-9090"]
    assert found["FrontendNlb-tg-TCP-9090/alb"]["properties"]["Port"] == 8080
    assert props(result, "FrontendNlb-tg-TCP-9090")["Port"] == 9090


def test_one_nlb_port_maps_to_one_alb_port() -> None:
    reasons = errors_of(
        group_of(
            {**ON, "listen-ports": '[{"HTTP": 80}]'},
            {"listen-ports": '[{"HTTP": 8080}]', "frontend-nlb-listener-port-mapping": "80=8080"},
        )
    )
    assert reasons == {
        "failed to merge NLB listenPort config for port: 80: conflicting Target Port, config 2: 8080, previous: 80"
    }


def test_a_health_check_field_set_by_one_member_is_not_set_otherwise_by_another() -> None:
    result = group_of({**ON, "frontend-nlb-healthcheck-path": "/ready"}, {})
    assert props(result, "FrontendNlb-tg-TCP-80")["HealthCheckPath"] == "/ready"  # the other's default yields
    reasons = errors_of(
        group_of({**ON, "frontend-nlb-healthcheck-path": "/a"}, {"frontend-nlb-healthcheck-path": "/b"})
    )
    assert reasons == {
        "failed to merge NLB listenPort config for port: 80: conflicting Path, config 2: /b, previous: /a"
    }
    set_all = run(
        ing(
            annotations={
                **ON,
                "frontend-nlb-healthcheck-protocol": "HTTPS",
                "frontend-nlb-healthcheck-port": "8443",
                "frontend-nlb-healthcheck-interval-seconds": "10",
                "frontend-nlb-healthcheck-timeout-seconds": "6",
                "frontend-nlb-healthcheck-healthy-threshold-count": "3",
                "frontend-nlb-healthcheck-unhealthy-threshold-count": "4",
                "frontend-nlb-healthcheck-success-codes": "200-299",
            }
        )
    )
    tg = props(set_all, "FrontendNlb-tg-TCP-80")
    assert (tg["HealthCheckProtocol"], tg["HealthCheckPort"], tg["Matcher"]) == (
        "HTTPS",
        "8443",
        {"HttpCode": "200-299"},
    )
    assert (
        tg["HealthCheckIntervalSeconds"],
        tg["HealthCheckTimeoutSeconds"],
        tg["HealthyThresholdCount"],
        tg["UnhealthyThresholdCount"],
    ) == (10, 6, 3, 4)


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        ({"frontend-nlb-listener-port-mapping": "x=80"}, "invalid NLB listener port: x"),
        ({"frontend-nlb-listener-port-mapping": "80=y"}, "invalid ALB listener port: y"),
        ({"frontend-nlb-healthcheck-protocol": "TCP"}, "healthCheckProtocol must be within [HTTP, HTTPS]"),
        ({"frontend-nlb-healthcheck-port": "http"}, "failed to resolve healthCheckPort"),
    ],
)
def test_values_lbc_refuses(annotations: dict[str, str], message: str) -> None:
    reason = error(run(ing(annotations={**ON, **annotations})))
    # LBC's message, then which annotation says it (every annotation error's)
    assert reason.startswith(f"failed to compute listenPort config for ingress: game-2048/game-2048: {message} (")


@pytest.mark.parametrize(
    "name",
    ["frontend-nlb-eip-allocations", "frontend-nlb-attributes", "frontend-nlb-tags"],
)
def test_what_albatross_does_not_build_yet_is_an_error_not_ignored(name: str) -> None:
    reason = error(run(ing(annotations={**ON, name: "x=y"})))
    assert reason.startswith(f"{A}{name} is not supported yet")
    # without an NLB asked for, it asks for nothing (as in LBC)
    assert "FrontendNlb" not in resources(run(ing(annotations={name: "x=y"})))


ALB_DNS, NLB_DNS = "alb.example.com", "nlb.example.com"


@pytest.mark.parametrize(
    ("annotations", "nlb", "want"),
    [  # LBC's Test_updateIngressStatus
        ({}, "", (ALB_DNS,)),
        ({}, NLB_DNS, (ALB_DNS, NLB_DNS)),
        ({"frontend-nlb-status-only": "true"}, NLB_DNS, (NLB_DNS,)),
        ({"frontend-nlb-status-only": "true"}, "", (ALB_DNS,)),
        ({"frontend-nlb-status-only": "false"}, NLB_DNS, (ALB_DNS, NLB_DNS)),
    ],
)
def test_the_status_lists_the_alb_then_the_nlb_or_the_nlb_alone(
    annotations: dict[str, str], nlb: str, want: tuple[str, ...]
) -> None:
    ingress = parse_ingress(ing(annotations=annotations))
    assert frontend_nlb.status_hostnames(ALB_DNS, nlb, ingress.annotations) == want


def test_a_status_only_value_strconv_parse_bool_refuses_is_lbc_s_error() -> None:
    reason = error(run(ing(annotations={"frontend-nlb-status-only": "yes"})))
    assert reason.startswith(f"failed to parse bool annotation, {A}frontend-nlb-status-only: yes")


def _assembled(before: dict[str, Any] | None, *, unmodelled: bool) -> assemble.Assembly:
    source = Objects()
    obj = member("shop-a", "/", {A + "enable-frontend-nlb": "true"})
    found = {f"{NS}/shop-a": obj}
    members = assemble.classify(source=source, group=GROUP, keys=list(found), objects=found, ingress_class="alb")
    return assemble.assemble(
        source=source,
        config=CONFIG,
        group=GROUP,
        members=members,
        last_good={f"{NS}/shop-a": before},
        unmodelled=unmodelled,
    )


def test_a_group_lbc_made_with_a_frontend_nlb_is_modelled_with_it() -> None:
    """The NLB is in the model, so adopting the stack keeps it (no delete)."""
    found = _assembled(None, unmodelled=True)
    assert not found.held
    assert not found.failed
    assert found.built.stack is not None
    assert {"LoadBalancer", "FrontendNlb", "FrontendNlb-ls-TCP-80"} <= set(found.built.stack.resources)
