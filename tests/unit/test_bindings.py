"""TargetGroupBindings as the contract reads them (albatross.contract.bindings): which are
served, the spec as LBC defines it (its docs, guide/targetgroupbinding), what makes a
target group bindable (LBC's validating webhook's checks, and the cluster tag the IAM
policy requires), and the binding write-backs against their JSON schema."""

from __future__ import annotations

import ast
import copy
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from kubernetes.client.configuration import Configuration

from albatross.contract import bindings, parse_detail
from albatross.contract.bindings import BindingError, BindingWriteBack, BindingWriteBackError
from albatross_forwarder.kube import Kube
from albatross_forwarder.writeback import WriteBackConsumer
from tests.helpers import load_event, load_schema
from tests.unit.test_model_builder import ingress, run, service, stack_json

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/checkout-tf/6a4ecf7bfae473c1"


def binding(**spec: Any) -> dict[str, Any]:
    """LBC's sample: serviceRef and a target group ARN, plus ``spec``."""
    return {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": {"name": "my-tgb", "namespace": "shop", "uid": "u-1", "generation": 3},
        "spec": {"serviceRef": {"name": "awesome-service", "port": 80}, "targetGroupARN": ARN, **spec},
    }


def target_group(**fields: Any) -> dict[str, Any]:
    return {"TargetGroupArn": ARN, "TargetType": "ip", "VpcId": "vpc-1", "IpAddressType": "ipv4", **fields}


TAGGED = {"elbv2.k8s.aws/cluster": "c1"}


def test_the_stored_binding_event_parses_and_its_spec_reads() -> None:
    change = parse_detail(load_event("targetgroupbinding-upsert", "v2")["detail"])
    assert change.kind == bindings.KIND  # type: ignore[union-attr]  # an object change, asserted by the kind
    spec = bindings.parse_spec(change.object)  # type: ignore[union-attr]  # as above
    assert (spec.service, spec.port, spec.target_type) == ("shop/checkout", 80, "ip")
    assert spec.networking == (bindings.IngressRule(sources=("sg-0b6a41a2fd959623f",), ports=(("TCP", 8080),)),)


def test_lbc_sample_reads_with_lbcs_defaults() -> None:
    spec = bindings.parse_spec(binding())
    assert spec.key == "shop/my-tgb"
    assert (spec.service, spec.port, spec.target_group_arn) == ("shop/awesome-service", 80, ARN)
    # targetType and vpcID come from the target group (LBC's mutating webhook fills them in)
    assert (spec.target_type, spec.vpc_id, spec.ip_address_type) == (None, "", None)
    assert spec.multi_cluster is False
    assert spec.generation == 3


def test_the_arn_wins_over_the_name_as_in_lbc() -> None:
    assert bindings.parse_spec(binding(targetGroupName="checkout-tf")).target_group_name == ""
    by_name = binding(targetGroupName="checkout-tf")
    del by_name["spec"]["targetGroupARN"]
    assert bindings.parse_spec(by_name).target_group_name == "checkout-tf"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"targetGroupARN": None}, "targetGroupARN or spec.targetGroupName"),
        ({"serviceRef": {"port": 80}}, "serviceRef.name"),
        ({"serviceRef": {"name": "s", "port": 70000}}, "not a port"),
        ({"targetType": "lambda"}, "not instance or ip"),
        ({"ipAddressType": "dualstack"}, "not ipv4 or ipv6"),
        # LBC's validator: "TargetGroupBinding cannot set NodeSelector when TargetType is ip"
        ({"targetType": "ip", "nodeSelector": {"matchLabels": {"a": "b"}}}, "cannot set NodeSelector"),
        ({"nodeSelector": {"matchExpressions": [{"key": "a", "operator": "Exists"}]}}, "matchExpressions"),
        ({"networking": {"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": []}]}}, "ipBlock"),
        ({"networking": {"ingress": [{"from": [], "ports": [{"port": 80}]}]}}, "names no source"),
        ({"multiClusterTargetGroup": "yes"}, "true or false"),
        ({"iamRoleArnToAssume": "arn:aws:iam::155642222660:role/tg-management-role"}, "another account"),
    ],
)
def test_specs_albatross_cannot_serve_say_why(change: dict[str, Any], message: str) -> None:
    with pytest.raises(BindingError, match=message):
        bindings.parse_spec(binding(**change))


def test_networking_ports_default_to_the_targets_port() -> None:
    spec = bindings.parse_spec(
        binding(
            networking={"ingress": [{"from": [{"securityGroup": {"groupID": "sg-1"}}], "ports": [{"port": "http"}]}]}
        )
    )
    assert spec.networking[0].ports == (("TCP", None),)
    model = bindings.model_binding(spec, target_group())
    assert model["networking"] == {"ingress": [{"from": [{"securityGroup": "sg-1"}], "ports": [{"Protocol": "TCP"}]}]}


def test_bindings_lbc_generated_for_its_own_stacks_are_not_served() -> None:
    generated = binding()
    generated["metadata"]["labels"] = {"ingress.k8s.aws/stack-namespace": "shop", "ingress.k8s.aws/stack-name": "web"}
    assert not bindings.served(generated)
    assert bindings.service_of(generated) is None
    service = binding()
    service["metadata"]["labels"] = {"service.k8s.aws/stack-name": "web"}
    assert not bindings.served(service)
    assert bindings.served(binding())
    assert bindings.service_of(binding()) == "shop/awesome-service"


@pytest.mark.parametrize(
    ("spec", "found", "tags", "message"),
    [
        ({}, None, TAGGED, "not found"),
        ({}, target_group(VpcId="vpc-other"), TAGGED, "in VPC vpc-other, not vpc-1"),
        ({"vpcID": "vpc-9"}, target_group(), TAGGED, "not vpc-9 \\(spec.vpcID\\)"),
        ({"targetType": "instance"}, target_group(), TAGGED, "has target type ip, the binding says instance"),
        ({}, target_group(TargetType="lambda"), TAGGED, "only instance and ip"),
        ({}, target_group(IpAddressType="ipv6"), TAGGED, "invalid IP address type ipv6"),
        ({}, target_group(), {}, "not tagged elbv2.k8s.aws/cluster=c1"),
        ({}, target_group(), {"elbv2.k8s.aws/cluster": "c2"}, "not tagged elbv2.k8s.aws/cluster=c1"),
        ({}, target_group(), {**TAGGED, "ingress.k8s.aws/stack": "shop/web"}, "belongs to a load balancer's stack"),
    ],
)
def test_a_target_group_that_cannot_be_bound_says_why(
    spec: dict[str, Any], found: dict[str, Any] | None, tags: dict[str, str], message: str
) -> None:
    problem = bindings.target_group_problem(
        bindings.parse_spec(binding(**spec)), found, tags=tags, cluster="c1", vpc_id="vpc-1"
    )
    assert problem is not None
    assert re.search(message, problem), problem


def test_a_tagged_target_group_of_the_clusters_vpc_is_bound_as_our_own_are() -> None:
    spec = bindings.parse_spec(
        binding(
            targetType="instance",
            nodeSelector={"matchLabels": {"pool": "web"}},
            multiClusterTargetGroup=True,
            serviceRef={"name": "awesome-service", "port": "http"},
        )
    )
    found = target_group(TargetType="instance")
    assert bindings.target_group_problem(spec, found, tags=TAGGED, cluster="c1", vpc_id="vpc-1") is None
    assert bindings.model_binding(spec, found) == {
        "service": "shop/awesome-service",
        "servicePortNumber": None,
        "servicePortName": "http",
        "targetType": "instance",
        "nodeSelector": {"matchLabels": {"pool": "web"}},
        "multiCluster": True,
    }


def test_binding_writebacks_round_trip_and_match_the_schema() -> None:
    schema = load_schema("writeback.v1")
    for message in (
        BindingWriteBack(type="bindingStatus", cluster="c1", binding="shop/my-tgb", uid="u-1", observed_generation=3),
        BindingWriteBack(
            type="bindingEvent",
            cluster="c1",
            binding="shop/my-tgb",
            uid="u-1",
            event_type="Warning",
            reason=bindings.INVALID,
            message="target group named x not found",
        ),
    ):
        body = message.to_body()
        jsonschema.validate(json.loads(body), schema)
        assert bindings.parse_binding_writeback(body) == message


def test_other_writebacks_are_not_binding_writebacks_and_malformed_ones_are_refused() -> None:
    assert bindings.parse_binding_writeback('{"schemaVersion":"1","type":"status"}') is None
    assert bindings.parse_binding_writeback("{") is None
    good = json.loads(
        BindingWriteBack(type="bindingStatus", cluster="c1", binding="a/b", observed_generation=1).to_body()
    )
    for change, message in (
        ({"binding": "no-namespace"}, "namespace/name"),
        ({"observedGeneration": -1}, "whole number"),
        ({"observedGeneration": True}, "whole number"),
        ({"cluster": ""}, "cluster"),
        ({"schemaVersion": "2"}, "schemaVersion"),
    ):
        with pytest.raises(BindingWriteBackError, match=message):
            bindings.parse_binding_writeback(json.dumps({**copy.deepcopy(good), **change}))
    event = {"schemaVersion": "1", "type": "bindingEvent", "cluster": "c1", "binding": "a/b", "eventType": "Info"}
    with pytest.raises(BindingWriteBackError, match="eventType"):
        bindings.parse_binding_writeback(json.dumps(event))


@pytest.mark.parametrize(("value", "shared"), [(None, False), ("true", True), ("false", False), ("1", True)])
def test_the_multi_cluster_annotation_marks_an_ingresss_target_groups_shared(value: str | None, shared: bool) -> None:
    # LBC's docs: alb.ingress.kubernetes.io/multi-cluster-target-group: "true" sets the
    # flag on the binding of each target group of the Ingress
    ing = ingress()
    if value is not None:
        ing["metadata"]["annotations"]["alb.ingress.kubernetes.io/multi-cluster-target-group"] = value
    stack = stack_json(run(ing, service()))
    groups = [r for r in stack["resources"].values() if r["type"] == "AWS::ElasticLoadBalancingV2::TargetGroup"]
    assert groups
    assert all(bool(r["binding"].get("multiCluster")) is shared for r in groups)


def test_an_unparsable_multi_cluster_annotation_is_the_ingresss_error() -> None:
    ing = ingress()
    ing["metadata"]["annotations"]["alb.ingress.kubernetes.io/multi-cluster-target-group"] = "FaLsE"
    result = run(ing, service())
    assert any("strconv.ParseBool" in str(e) for e in result.errors), result.errors


def test_every_reason_the_cloud_side_tells_a_binding_is_one_the_forwarder_records() -> None:
    # _tell(settings, obj, event_type, reason, message): what the forwarder would refuse
    # (foreign-reason) must never be asked
    source = (Path(__file__).resolve().parents[2] / "layers/core/albatross/controller/targets.py").read_text()
    reasons: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_tell":
            reason = node.args[3]
            if isinstance(reason, ast.Constant) and reason.value:
                reasons.append(str(reason.value))
            elif isinstance(reason, ast.Attribute):
                reasons.append(str(getattr(bindings, reason.attr)))
    assert {"SuccessfullyReconciled", "BackendNotFound", bindings.INVALID} <= set(reasons)
    assert set(reasons) <= bindings.EVENT_REASONS


def test_the_forwarder_refuses_binding_writebacks_albatross_could_not_have_asked() -> None:
    consumer = WriteBackConsumer(
        sqs_client=None,
        queue_url="",
        kube=Kube(Configuration()),
        cluster="c1",
        manages=lambda _: True,
        finalizer_of=lambda _: "",
        namespaces=("shop",),
    )
    live = binding()
    live["metadata"]["uid"] = "u-1"
    status = BindingWriteBack(type="bindingStatus", cluster="c1", binding="shop/my-tgb", uid="u-1")
    assert consumer.binding_refusal(status, live) is None
    assert consumer.binding_refusal(replace(status, uid="u-2"), live) == (
        "uid-mismatch",
        "the message is for uid u-2, the binding is u-1",
    )
    elsewhere = copy.deepcopy(live)
    elsewhere["metadata"]["namespace"] = "other"
    assert consumer.binding_refusal(status, elsewhere) == ("not-managed", "not a TargetGroupBinding Albatross serves")
    generated = copy.deepcopy(live)
    generated["metadata"]["labels"] = {"ingress.k8s.aws/stack": "web"}
    assert consumer.binding_refusal(status, generated) == ("not-managed", "not a TargetGroupBinding Albatross serves")
    event = BindingWriteBack(
        type="bindingEvent", cluster="c1", binding="shop/my-tgb", event_type="Warning", reason="X", message="m"
    )
    assert consumer.binding_refusal(event, live) == (
        "foreign-reason",
        "reason 'X' is not one Albatross records on bindings",
    )
    assert consumer.binding_refusal(replace(event, reason="BackendNotFound"), live) is None
