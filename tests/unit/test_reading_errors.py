"""Issue 15 / ADR 0010: reading a Service or an IngressClassParams a member needs fails in
one of three ways, each reported as what it is (:mod:`albatross.model.assemble`):

- missing: the documented wording (docs/annotations.md: a missing Service is a 503
  "Backend service does not exist", as LBC's default ``tolerateNonExistentBackendService``;
  missing params are LBC's ``ingressclassparams.elbv2.k8s.aws "<name>" not found``);
- malformed: the user's error, naming the object and the field;
- a defect of ours while reading it: an internal error naming the object, never worded as
  the member's fault, and it holds up no other member.

Also: a failed member's last good version is built with its class's IngressClassParams,
as it was built the first time (a class's ``scheme: internal`` must not read as the
annotation's ``internet-facing``: that would replace the load balancer); and a member
whose IngressClass turned invalid holds its group as it is (LBC fails the group)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from albatross.controller import reconcile
from albatross.k8s.errors import ObjectError
from albatross.k8s.service import parse_service
from albatross.model import assemble
from tests.helpers import load_event
from tests.unit.test_assemble import GROUP, NS, Objects, member
from tests.unit.test_member_errors import CONFIG

A = "alb.ingress.kubernetes.io/"
PARAMS_REF = {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": "team-params"}
CLASS: dict[str, Any] = {
    "metadata": {"name": "team"},
    "spec": {"controller": "ingress.k8s.aws/alb", "parameters": PARAMS_REF},
}


def params(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "IngressClassParams",
        "metadata": {"name": "team-params"},
        "spec": dict(spec),
    }


def forwarding_to(name: str, path: str, service: str, **kw: Any) -> dict[str, Any]:
    obj = member(name, path, **kw)
    obj["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = service
    return obj


def of_class(obj: dict[str, Any]) -> dict[str, Any]:
    obj["spec"]["ingressClassName"] = "team"
    return obj


def assembled(
    source: Objects, *objects: dict[str, Any], last_good: Mapping[str, Mapping[str, Any] | None] | None = None
) -> assemble.Assembly:
    found = {f"{NS}/{o['metadata']['name']}": o for o in objects}
    members = assemble.classify(source=source, group=GROUP, keys=list(found), objects=found, ingress_class="alb")
    return assemble.assemble(
        source=source,
        config=CONFIG,
        group=GROUP,
        members=members,
        last_good=last_good if last_good is not None else dict.fromkeys(found),
    )


def with_service(source: Objects, name: str, spec: Any) -> Objects:
    service = json.loads(json.dumps(load_event("service-upsert")["detail"]["object"]))
    service["metadata"]["name"] = name
    service["spec"] = spec
    source.stored["Service"][f"{NS}/{name}"] = service
    return source


def stack_text(found: assemble.Assembly) -> str:
    assert found.built.stack is not None
    return json.dumps(found.built.stack.to_json())


# --- Services ------------------------------------------------------------------------------


def test_a_missing_service_is_the_documented_503() -> None:
    found = assembled(Objects(), forwarding_to("api", "/api", "gone"), member("web", "/web"))
    assert found.failed == {}
    assert "Backend service does not exist" in stack_text(found)


def test_a_malformed_service_is_the_user_s_error_naming_the_field() -> None:
    source = with_service(Objects(), "broken", {"ports": [{"name": "http"}]})
    found = assembled(source, forwarding_to("api", "/api", "broken"), member("web", "/web"))
    assert found.failed == {
        f"{NS}/api": f"service {NS}/broken cannot be read: Service {NS}/broken: spec.ports[0].port missing"
    }
    assert found.internal == {}
    assert reconcile._warning(f"{NS}/api", found).startswith("Failed build model due to service")
    assert found.built.members == (f"{NS}/web",)


def test_a_defect_reading_a_service_is_internal_and_names_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    real = parse_service

    def broken(obj: Mapping[str, Any]) -> Any:
        if obj["metadata"]["name"] == "odd":
            raise KeyError("a defect")
        return real(obj)

    monkeypatch.setattr(assemble, "parse_service", broken)
    source = with_service(Objects(), "odd", {"ports": [{"name": "http", "port": 80}]})
    found = assembled(source, forwarding_to("api", "/api", "odd"), member("web", "/web"))
    assert found.internal == {f"{NS}/api": f"KeyError: 'a defect', reading Service {NS}/odd"}
    assert found.held == {}
    assert found.built.members == (f"{NS}/web",)  # the others build
    message = reconcile._warning(f"{NS}/api", found)  # the Warning's wording is what is tested
    assert message.startswith("Albatross failed to build the model due to an internal error (KeyError: 'a defect', ")
    assert "not an error in this Ingress" in message
    assert "Failed build model due to" not in message


# --- IngressClassParams --------------------------------------------------------------------


def test_missing_params_are_lbc_s_not_found() -> None:
    found = assembled(Objects(classes=[CLASS]), of_class(member("api", "/api")), member("web", "/web"))
    assert found.failed == {
        f"{NS}/api": 'invalid ingress class: ingressclassparams.elbv2.k8s.aws "team-params" not found'
    }
    assert found.internal == {}


def test_malformed_params_are_the_user_s_error_naming_the_field() -> None:
    source = Objects(classes=[CLASS], params=[params({"scheme": ["internal"]})])
    found = assembled(source, of_class(member("api", "/api")), member("web", "/web"))
    assert found.failed == {
        f"{NS}/api": "invalid ingress class: ingressclassparams.elbv2.k8s.aws team-params cannot be read: "
        "IngressClassParams team-params: scheme must be a string"
    }
    assert found.internal == {}


def test_a_defect_reading_params_is_internal_and_names_them(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(obj: Mapping[str, Any]) -> Any:
        raise ZeroDivisionError("a defect")

    monkeypatch.setattr(assemble, "parse_params", broken)
    source = Objects(classes=[CLASS], params=[params({"scheme": "internal"})])
    found = assembled(source, of_class(member("api", "/api")), member("web", "/web"))
    assert found.internal == {f"{NS}/api": "ZeroDivisionError: a defect, reading IngressClassParams team-params"}
    assert found.failed[f"{NS}/api"].startswith("unexpected ZeroDivisionError (an Albatross defect; please report it)")
    assert found.built.members == (f"{NS}/web",)


# --- last good versions and invalid classes ------------------------------------------------


def test_a_failed_member_s_last_good_version_keeps_its_class_s_params() -> None:
    source = Objects(classes=[CLASS], params=[params({"scheme": "internal"})])
    good = of_class(member("api", "/api"))  # its own annotation says internet-facing: the params win
    bad = of_class(member("api", "/api", {A + "target-type": "pod"}))
    found = assembled(source, bad, last_good={f"{NS}/api": good})
    assert set(found.failed) == {f"{NS}/api"}
    assert found.held == {}
    assert found.built.members == (f"{NS}/api",)
    text = stack_text(found)
    assert '"Scheme": "internal"' in text
    assert "internet-facing" not in text


def test_a_member_whose_class_turned_invalid_holds_the_group() -> None:
    invalid = {**CLASS, "spec": {**CLASS["spec"], "parameters": {**PARAMS_REF, "apiGroup": "example.com"}}}
    source = Objects(classes=[invalid], params=[params({"scheme": "internal"})])
    api = of_class(member("api", "/api"))
    reason = "invalid ingress class: IngressClass team references unknown parameters"
    held = assembled(source, api, member("web", "/web"), last_good={f"{NS}/api": api, f"{NS}/web": None})
    assert held.held == {f"{NS}/api": reason}
    assert held.fate[f"{NS}/api"] == assemble.HELD
    # one that never built owns nothing yet: it only stays out, as LBC tolerates it
    new = assembled(source, api, member("web", "/web"))
    assert new.held == {}
    assert new.failed == {f"{NS}/api": reason}
    assert new.built.members == (f"{NS}/web",)


def test_a_member_whose_ingress_class_is_gone_holds_the_group() -> None:
    """LBC keeps a member whose IngressClass is gone in its group and fails the group
    (its issue 2731: the class may have been deleted by accident); so does Albatross,
    with LBC's words, on a member that was built before."""
    api = of_class(member("api", "/api"))
    api["metadata"]["finalizers"] = ["group.ingress.k8s.aws/shop"]
    reason = 'invalid ingress class: ingressclasses.networking.k8s.io "team" not found'
    held = assembled(Objects(), api, member("web", "/web"), last_good={f"{NS}/api": api, f"{NS}/web": None})
    assert held.held == {f"{NS}/api": reason}
    assert held.fate[f"{NS}/api"] == assemble.HELD


def test_a_member_whose_class_named_its_group_and_is_gone_holds_that_group() -> None:
    """The class's IngressClassParams named the group; with the class gone, the group the
    member would join is unknown: it stays in the one its finalizer names, held."""
    source = Objects(classes=[CLASS], params=[params({"group": {"name": GROUP}})])
    api = of_class(member("api", "/api", {A + "group.name": "elsewhere"}))
    api["metadata"]["finalizers"] = [f"group.ingress.k8s.aws/{GROUP}"]
    assert assembled(source, api, last_good={f"{NS}/api": api}).held == {}  # a member, as its class says
    source.classes = []  # the IngressClass is deleted
    found = assemble.classify(
        source=source, group=GROUP, keys=[f"{NS}/api"], objects={f"{NS}/api": api}, ingress_class="alb"
    )
    assert found.leaving == []
    held = assembled(source, api, last_good={f"{NS}/api": api})
    assert held.held == {f"{NS}/api": 'invalid ingress class: ingressclasses.networking.k8s.io "team" not found'}
    # deleted, it leaves as any member does: its finalizer goes once its rules have
    api["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    gone = assemble.classify(
        source=source, group=GROUP, keys=[f"{NS}/api"], objects={f"{NS}/api": api}, ingress_class="alb"
    )
    assert gone.leaving == [{"ingress": f"{NS}/api", "finalizer": f"group.ingress.k8s.aws/{GROUP}"}]


def test_a_namespace_of_any_shape_is_read_as_its_labels() -> None:
    """Namespaces are read for IngressClassParams namespace selectors: a stored one whose
    labels are not a map has no labels, so the selector does not match (LBC's mismatch
    error), rather than the assembly failing for the whole group."""
    source = Objects(classes=[CLASS], params=[params({"namespaceSelector": {"matchLabels": {"team": "shop"}}})])
    source.stored["Namespace"] = {NS: {"metadata": {"name": NS, "labels": ["team=shop"]}}}
    found = assembled(source, of_class(member("api", "/api")), member("web", "/web"))
    assert found.failed == {
        f"{NS}/api": "invalid ingress class: namespaceSelector of IngressClassParams team-params mismatch"
    }
    assert found.built.members == (f"{NS}/web",)
    source.stored["Namespace"] = {NS: {"metadata": {"name": NS, "labels": {"team": "shop"}}}}
    assert assembled(source, of_class(member("api", "/api"))).failed == {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"spec": {"ports": ["http"]}}, "Service game-2048/web: spec.ports[0] must be an object"),
        ({"spec": {"ports": [{"name": "http"}]}}, "Service game-2048/web: spec.ports[0].port missing"),
        ({"spec": {"ports": [{"port": "80"}]}}, "Service game-2048/web: spec.ports[0].port must be a number"),
        ({"spec": {"ports": [{"port": True}]}}, "Service game-2048/web: spec.ports[0].port must be a number"),
        (
            {"spec": {"ports": [{"port": 80, "targetPort": [8080]}]}},
            "spec.ports[0].targetPort must be a number or a name",
        ),
        ({"spec": {"ports": {"http": 80}}}, "Service game-2048/web: spec.ports must be a list"),
        ({"spec": ["ports"]}, "Service game-2048/web: spec must be an object"),
        ({"spec": {"type": 7}}, "Service game-2048/web: spec.type must be a string"),
        (
            {"metadata": {"name": "web", "namespace": NS, "annotations": {"a": 1}}},
            "metadata.annotations must map strings",
        ),
        ({"metadata": {"namespace": NS}}, "Service needs metadata.name"),
    ],
)
def test_a_malformed_service_names_its_field(change: dict[str, Any], message: str) -> None:
    """What the user reads in ``service NS/NAME cannot be read: <this>``: the object and
    the field, for each shape the API server would refuse or a hand-written file holds."""
    obj = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NS}, "spec": {}, **change}
    with pytest.raises(ObjectError) as raised:
        parse_service(obj)
    assert message in str(raised.value)
