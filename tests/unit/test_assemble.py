"""Issue 15, "one source of truth": one assembly of a group's build
(:mod:`albatross.model.assemble`) for the reconcile and ``plan --offline``, and the error
boundary that tells a user's error from a defect of ours (ADR 0010).

The defect is injected by making a model function raise for one Ingress: that tests the
boundary (what the assembly and the reconcile make of an exception they did not expect),
not the function replaced. A user's error is a real bad annotation, worded as LBC words
it: ``unknown targetType: <value>`` (LBC's ingress model builder), reported by LBC as
``Failed build model due to <error>`` under the reason ``FailedBuildModel``."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from botocore.exceptions import ClientError

from albatross.aws.errors import classify, transient
from albatross.cli.plan import plan_offline
from albatross.controller import reconcile
from albatross.k8s.errors import Internal, ObjectError, PermanentUser, Temporary
from albatross.k8s.ingress import Ingress, Path
from albatross.model import assemble, rules
from albatross.model.discovery import Discovery
from tests.helpers import load_event
from tests.unit.test_member_errors import CONFIG, DISCOVERY  # one stand-in VPC for the member-error tests

A = "alb.ingress.kubernetes.io/"
NS = "game-2048"
# The annotation the injected defect trips on: a value no user would think wrong.
TRIGGER = A + "healthcheck-path"
GROUP = "shop"


def member(name: str, path: str, annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = copy.deepcopy(load_event("ingress-upsert")["detail"]["object"])
    obj["metadata"]["name"] = name
    obj["metadata"]["annotations"].update({A + "group.name": GROUP, **(annotations or {})})
    obj["spec"]["rules"][0]["http"]["paths"][0]["path"] = path
    return obj


class Objects:
    """The assembly's source over a fixed set of objects, recording what it is asked."""

    def __init__(self, *, classes: Sequence[Mapping[str, Any]] = (), params: Sequence[Mapping[str, Any]] = ()) -> None:
        service = load_event("service-upsert")["detail"]["object"]
        self.classes, self.params = list(classes), list(params)
        self.stored: dict[str, dict[str, Mapping[str, Any]]] = {"Service": {f"{NS}/game-2048": service}}
        self.asked: list[str] = []

    def ingress_classes(self) -> Sequence[Mapping[str, Any]]:
        self.asked.append("IngressClass")
        return self.classes

    def class_params(self) -> Sequence[Mapping[str, Any]]:
        self.asked.append("IngressClassParams")
        return self.params

    def objects(self, kind: str, keys: set[str]) -> Mapping[str, Mapping[str, Any]]:
        self.asked.append(kind)
        return {k: v for k, v in self.stored.get(kind, {}).items() if k in keys}

    def discovery(self, ingresses: Sequence[Ingress]) -> Discovery:
        self.asked.append("discovery")
        return DISCOVERY


def assembled(
    *objects: dict[str, Any], last_good: Mapping[str, Mapping[str, Any] | None] | None = None
) -> assemble.Assembly:
    source = Objects()
    found = {f"{NS}/{o['metadata']['name']}": o for o in objects}
    members = assemble.classify(source=source, group=GROUP, keys=list(found), objects=found, ingress_class="alb")
    return assemble.assemble(
        source=source,
        config=CONFIG,
        group=GROUP,
        members=members,
        last_good=last_good if last_good is not None else dict.fromkeys(found),
    )


@pytest.fixture
def defect(monkeypatch: pytest.MonkeyPatch) -> None:
    """A defect of ours reached by one Ingress's (valid) health check path."""
    real = rules.transforms

    def broken(ing: Ingress, path: Path) -> Any:
        if ing.annotations.raw("healthcheck-path") == "/ready":
            raise KeyError("a defect")
        return real(ing, path)

    monkeypatch.setattr(rules, "transforms", broken)


@pytest.mark.usefixtures("defect")
def test_an_injected_defect_is_an_internal_error_and_the_others_build() -> None:
    found = assembled(member("api", "/api", {TRIGGER: "/ready"}), member("web", "/web"))
    assert found.internal == {f"{NS}/api": "KeyError: 'a defect'"}
    assert set(found.failed) == {f"{NS}/api"}
    assert found.held == {}
    assert found.built.members == (f"{NS}/web",)
    assert found.fate == {f"{NS}/api": "it is left out of the load balancer until it is fixed"}


@pytest.mark.usefixtures("defect")
def test_an_internal_error_keeps_the_last_good_version() -> None:
    good = member("api", "/api")
    found = assembled(member("api", "/api", {TRIGGER: "/ready"}), member("web", "/web"), last_good={f"{NS}/api": good})
    assert f"{NS}/api" in found.internal
    assert found.held == {}
    assert sorted(found.built.members) == [f"{NS}/api", f"{NS}/web"]
    assert found.fate[f"{NS}/api"] == "its last valid version stays in service until it is fixed"


@pytest.mark.usefixtures("defect")
def test_the_reconcile_words_an_internal_error_as_albatross_s_fault() -> None:
    found = assembled(member("api", "/api", {TRIGGER: "/ready"}), member("web", "/web"))
    message = reconcile._warning(f"{NS}/api", found)  # the Warning's wording is what is tested
    assert message == (
        "Albatross failed to build the model due to an internal error (KeyError: 'a defect'), "
        "not an error in this Ingress; please report it; it is left out of the load balancer until it is fixed"
    )
    assert "Failed build model due to" not in message


def test_a_bad_annotation_keeps_lbc_s_wording() -> None:
    found = assembled(member("api", "/api", {A + "target-type": "pod"}), member("web", "/web"))
    assert found.internal == {}
    message = reconcile._warning(f"{NS}/api", found)  # the Warning's wording is what is tested
    assert message.startswith("Failed build model due to unknown targetType: pod")


def test_a_defect_putting_the_group_together_is_every_member_s_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from albatross.model import load_balancer

    def broken(**_: Any) -> Any:
        raise ZeroDivisionError("a defect")

    monkeypatch.setattr(load_balancer, "load_balancer", broken)
    found = assembled(member("api", "/api"), member("web", "/web"))
    assert found.internal == dict.fromkeys([f"{NS}/api", f"{NS}/web"], "ZeroDivisionError: a defect")
    assert found.built.stack is None


@pytest.mark.usefixtures("defect")
def test_plan_offline_reports_the_same_assembly() -> None:
    objects = [
        member("api", "/api", {TRIGGER: "/ready"}),
        member("web", "/web"),
        load_event("service-upsert")["detail"]["object"],
    ]
    result = plan_offline(objects, CONFIG, DISCOVERY)
    [error] = result["errors"]
    assert error["ingress"] == f"{NS}/api"
    assert error["reason"].startswith("unexpected KeyError (an Albatross defect; please report it)")
    [stack] = result["stacks"]
    found = assembled(member("api", "/api", {TRIGGER: "/ready"}), member("web", "/web"))
    assert found.built.stack is not None
    assert stack == found.built.stack.to_json()


def test_the_assembly_reads_only_what_the_members_need() -> None:
    """The reconcile's store reads are counted (bench/run.py): no IngressClassParams is
    read when no class names one, no Namespace without a namespace selector."""
    source = Objects()
    obj = member("web", "/web")
    members = assemble.classify(
        source=source, group=GROUP, keys=[f"{NS}/web"], objects={f"{NS}/web": obj}, ingress_class="alb"
    )
    assemble.assemble(source=source, config=CONFIG, group=GROUP, members=members, last_good={f"{NS}/web": None})
    assert source.asked == ["IngressClass", "discovery", "Service"]


def test_three_kinds_of_failure() -> None:
    def client_error(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": "m"}}, "Op")

    throttled, quota = classify(client_error("Throttling")), classify(client_error("TooManyRules"))
    assert isinstance(throttled, Temporary)
    assert transient(throttled)
    assert isinstance(quota, PermanentUser)
    assert not transient(quota)
    assert isinstance(ObjectError("bad"), PermanentUser)
    wrapped = Internal(KeyError("x"))
    assert wrapped.detail == "KeyError: 'x'"
    assert not isinstance(wrapped, (Temporary, PermanentUser))


def test_an_internal_error_raised_on_purpose_names_its_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ing: Ingress, path: Path) -> Any:
        raise Internal(KeyError("a defect"))

    monkeypatch.setattr(rules, "transforms", broken)
    found = assembled(member("api", "/api"))
    assert found.internal == {f"{NS}/api": "KeyError: 'a defect'"}
    assert found.failed[f"{NS}/api"].startswith("unexpected KeyError")
