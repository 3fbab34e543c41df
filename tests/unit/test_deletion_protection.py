"""The deletion protection decision (albatross.plan.protection), held to LBC's behaviour:
pkg/ingress/model_builder.go fails the build of a group when an Ingress being deleted
carries ``load-balancer-attributes`` with ``deletion_protection.enabled`` parsed true by
Go's strconv.ParseBool, with "deletion_protection is enabled, cannot delete the ingress:
<name>" (its model_builder_test.go case "Ingress - deletion protection enabled error",
Ingress ``default/hello-ingress``); a value ParseBool refuses is the build's error. And to
AWS's: DeleteLoadBalancer is refused while the attribute is on, whoever set it."""

from __future__ import annotations

from typing import Any

import pytest

from albatross.k8s.params import parse_params
from albatross.model.stack import LISTENER, LISTENER_RULE, LOAD_BALANCER, TARGET_GROUP, Resource, Stack
from albatross.plan import protection
from albatross.plan.actual import Actual, ActualResource
from albatross.plan.planner import Step, plan

ARN = (
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/k8s-default-helloing-0123456789/"
    "50dc6c495c0c9188"
)
LISTENER_ARN = ARN.replace(":loadbalancer/", ":listener/") + "/f2f7dc8efc522ab2"
ANNOTATION = "alb.ingress.kubernetes.io/load-balancer-attributes"


def ingress(value: str | None = None, *, deleting: bool = True, class_name: str | None = None) -> dict[str, Any]:
    """LBC's test Ingress: default/hello-ingress, being deleted, with its finalizer."""
    meta: dict[str, Any] = {
        "namespace": "default",
        "name": "hello-ingress",
        "annotations": {ANNOTATION: value} if value is not None else {},
        "finalizers": ["ingress.k8s.aws/resources"],
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"ingressClassName": class_name} if class_name else {}}


def params(value: str) -> Any:
    return parse_params(
        {
            "metadata": {"name": "protected"},
            "spec": {"loadBalancerAttributes": [{"key": "deletion_protection.enabled", "value": value}]},
        }
    )


def load_balancer(attributes: list[dict[str, str]] | None = None, name: str = "k8s-default-helloing-0123456789") -> Any:
    props: dict[str, Any] = {"Name": name, "Scheme": "internet-facing", "Type": "application"}
    if attributes is not None:
        props["Attributes"] = attributes
    return ActualResource(id="LoadBalancer", type=LOAD_BALANCER, physical_id=ARN, properties=props)


def stack_of(lb: ActualResource) -> Actual:
    """A load balancer with a listener, a rule and a target group: what a teardown deletes."""
    listener = ActualResource(
        id="80", type=LISTENER, physical_id=LISTENER_ARN, properties={"LoadBalancerArn": ARN, "Port": 80}
    )
    rule = ActualResource(
        id="80:1", type=LISTENER_RULE, physical_id=LISTENER_ARN + "/rule/1", properties={"ListenerArn": LISTENER_ARN}
    )
    tg = ActualResource(id="default/hello-ingress-svc:80", type=TARGET_GROUP, physical_id="tg-arn", properties={})
    return Actual(resources=(lb, listener, rule, tg))


class Reader:
    """The load balancer's protection in AWS, counting the reads."""

    def __init__(self, on: bool) -> None:
        self.on, self.reads = on, 0

    def __call__(self, lb: ActualResource) -> bool:
        self.reads += 1
        return self.on


def teardown(lb: ActualResource | None = None) -> list[Step]:
    return plan(None, stack_of(lb or load_balancer()))


def test_a_deleting_ingress_stating_protection_fails_the_build_with_lbcs_message() -> None:
    statements = [protection.statement(ingress("deletion_protection.enabled=true"), None)]
    aws = Reader(on=False)  # LBC refuses on the annotation alone, whatever AWS holds
    verdict = protection.decide(steps=teardown(), desired=None, statements=statements, protected=aws)
    [refusal] = verdict.refusals
    assert refusal.reason == "FailedBuildModel"
    assert refusal.cause == "deletion_protection is enabled, cannot delete the ingress: hello-ingress"
    assert refusal.load_balancer.physical_id == ARN
    assert ANNOTATION in refusal.release
    assert "deletion_protection.enabled=false" in refusal.release
    assert verdict.lift == ()
    assert aws.reads == 0


@pytest.mark.parametrize("value", ["1", "t", "T", "TRUE", "true", "True"])
def test_every_spelling_parsebool_reads_as_true_protects(value: str) -> None:
    statements = [
        protection.statement(ingress(f"idle_timeout.timeout_seconds=60,deletion_protection.enabled={value}"), None)
    ]
    verdict = protection.decide(steps=teardown(), desired=None, statements=statements, protected=Reader(on=False))
    assert [r.reason for r in verdict.refusals] == ["FailedBuildModel"]


@pytest.mark.parametrize("value", ["FaLsE", "yes", "", "on"])
def test_a_value_parsebool_refuses_is_the_builds_error(value: str) -> None:
    [statement] = [protection.statement(ingress(f"deletion_protection.enabled={value}"), None)]
    verdict = protection.decide(steps=teardown(), desired=None, statements=[statement], protected=Reader(on=False))
    [refusal] = verdict.refusals
    assert refusal.reason == "FailedBuildModel"
    assert refusal.cause.startswith(f'strconv.ParseBool: parsing "{value}": invalid syntax')


def test_a_malformed_attributes_annotation_is_the_builds_error() -> None:
    [statement] = [protection.statement(ingress("deletion_protection.enabled"), None)]  # no "="
    assert statement.error is not None
    assert ANNOTATION in statement.error
    verdict = protection.decide(steps=teardown(), desired=None, statements=[statement], protected=Reader(on=False))
    assert [r.reason for r in verdict.refusals] == ["FailedBuildModel"]


def test_protection_on_in_aws_alone_refuses_the_teardown_before_anything_is_deleted() -> None:
    steps = teardown()
    assert {s.type for s in steps} >= {LOAD_BALANCER, TARGET_GROUP}  # a teardown deletes more than the load balancer
    aws = Reader(on=True)
    verdict = protection.decide(
        steps=steps, desired=None, statements=[protection.statement(ingress(), None)], protected=aws
    )
    [refusal] = verdict.refusals
    assert refusal.reason == "FailedDeployModel"
    assert "k8s-default-helloing-0123456789 has deletion protection enabled in AWS" in refusal.cause
    assert f"--load-balancer-arn {ARN} --attributes Key=deletion_protection.enabled,Value=false" in refusal.release
    assert aws.reads == 1


def test_false_on_the_deleting_ingress_releases_it_first() -> None:
    statements = [protection.statement(ingress("deletion_protection.enabled=false"), None)]
    verdict = protection.decide(steps=teardown(), desired=None, statements=statements, protected=Reader(on=True))
    assert not verdict.refused
    assert [lb.physical_id for lb in verdict.lift] == [ARN]


def test_without_protection_anywhere_the_teardown_goes_ahead() -> None:
    for value in (None, "deletion_protection.enabled=false", "idle_timeout.timeout_seconds=60"):
        verdict = protection.decide(
            steps=teardown(),
            desired=None,
            statements=[protection.statement(ingress(value), None)],
            protected=Reader(on=False),
        )
        assert verdict == protection.Verdict()


def test_attributes_discovery_already_read_cost_no_call() -> None:
    aws = Reader(on=True)
    read = load_balancer(
        [
            {"Key": "idle_timeout.timeout_seconds", "Value": "60"},
            {"Key": "deletion_protection.enabled", "Value": "false"},
        ]
    )
    assert protection.decide(steps=teardown(read), desired=None, statements=[], protected=aws) == protection.Verdict()
    protected = load_balancer([{"Key": "deletion_protection.enabled", "Value": "true"}])
    assert protection.decide(steps=teardown(protected), desired=None, statements=[], protected=aws).refused
    assert aws.reads == 0


def test_the_class_parameters_win_over_the_annotation_as_in_the_model() -> None:
    on = protection.statement(ingress("deletion_protection.enabled=false", class_name="alb"), params("true"))
    assert on.enabled is True
    assert on.source == "IngressClassParams protected loadBalancerAttributes"
    verdict = protection.decide(steps=teardown(), desired=None, statements=[on], protected=Reader(on=False))
    [refusal] = verdict.refusals
    assert refusal.cause == "deletion_protection is enabled, cannot delete the ingress: hello-ingress"
    assert "IngressClassParams protected" in refusal.release
    off = protection.statement(ingress("deletion_protection.enabled=true"), params("false"))
    assert off.enabled is False
    assert protection.decide(steps=teardown(), desired=None, statements=[off], protected=Reader(on=True)).lift


def test_one_member_stating_protection_outweighs_another_releasing_it() -> None:
    keep = protection.statement(ingress("deletion_protection.enabled=true"), None)
    release = protection.statement(
        {
            **ingress("deletion_protection.enabled=false"),
            "metadata": {**ingress("deletion_protection.enabled=false")["metadata"], "name": "other"},
        },
        None,
    )
    verdict = protection.decide(steps=teardown(), desired=None, statements=[release, keep], protected=Reader(on=True))
    assert [r.cause for r in verdict.refusals] == [
        "deletion_protection is enabled, cannot delete the ingress: hello-ingress"
    ]
    assert verdict.lift == ()


def test_a_member_leaving_a_group_whose_load_balancer_stays_is_not_held() -> None:
    """Better than LBC, which fails the whole group's build: no load balancer is deleted."""
    lb = load_balancer()
    desired = Stack(
        stack_id="default/hello-ingress",
        resources={"LoadBalancer": Resource(type=LOAD_BALANCER, properties=dict(lb.properties))},
    )
    steps = plan(desired, stack_of(lb))
    assert not protection.doomed(steps)
    statements = [protection.statement(ingress("deletion_protection.enabled=true"), None)]
    aws = Reader(on=True)
    assert protection.decide(steps=steps, desired=desired, statements=statements, protected=aws) == protection.Verdict()
    assert aws.reads == 0


def replacement(attributes: list[dict[str, str]] | None) -> tuple[list[Step], Stack]:
    """A live group whose load balancer must be replaced (a scheme change: another name)."""
    props: dict[str, Any] = {"Name": "k8s-default-helloing-9876543210", "Scheme": "internal", "Type": "application"}
    if attributes is not None:
        props["Attributes"] = attributes
    desired = Stack(
        stack_id="default/hello-ingress", resources={"LoadBalancer": Resource(type=LOAD_BALANCER, properties=props)}
    )
    return plan(desired, stack_of(load_balancer())), desired


def test_a_replacement_of_a_protected_load_balancer_is_refused() -> None:
    steps, desired = replacement(None)
    assert [s.op for s in steps if s.type == LOAD_BALANCER] == ["create", "delete"]
    verdict = protection.decide(steps=steps, desired=desired, statements=[], protected=Reader(on=True))
    [refusal] = verdict.refusals
    assert refusal.reason == "FailedDeployModel"
    assert "cannot replace it" in refusal.cause
    assert not protection.decide(steps=steps, desired=desired, statements=[], protected=Reader(on=False)).refused


def test_a_replacement_the_model_releases_lifts_the_old_one_first() -> None:
    steps, desired = replacement([{"Key": "deletion_protection.enabled", "Value": "false"}])
    verdict = protection.decide(steps=steps, desired=desired, statements=[], protected=Reader(on=True))
    assert not verdict.refused
    assert [lb.physical_id for lb in verdict.lift] == [ARN]
    steps, desired = replacement([{"Key": "deletion_protection.enabled", "Value": "true"}])
    assert protection.decide(steps=steps, desired=desired, statements=[], protected=Reader(on=True)).refused


def test_a_plan_that_deletes_no_load_balancer_is_never_read() -> None:
    aws = Reader(on=True)
    assert protection.decide(steps=[], desired=None, statements=[], protected=aws) == protection.Verdict()
    assert aws.reads == 0
