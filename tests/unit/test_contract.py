"""The event contract: every stored event passes the current parser and its JSON schema;
malformed details are rejected with a message naming the field."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from albatross.contract import (
    ContractError,
    ObjectChange,
    Resync,
    WriteBack,
    class_groups,
    finalizer_for,
    group_name_of,
    parse_detail,
    parse_writeback,
    put_events_entry,
    trim,
)
from tests.helpers import event_names, load_event, load_schema

OBJECT_EVENTS = [n for n in event_names() if not n.startswith("writeback-")]
WRITEBACKS = [n for n in event_names() if n.startswith("writeback-")]


@pytest.mark.parametrize("name", OBJECT_EVENTS)
def test_stored_events_parse_and_match_schema(name: str) -> None:
    event = load_event(name)
    detail = event["detail"]
    parsed = parse_detail(detail)
    schema = "resync.v1" if isinstance(parsed, Resync) else "object-change.v1"
    jsonschema.validate(detail, load_schema(schema))
    assert event["detail-type"] == detail["kind"]
    if isinstance(parsed, ObjectChange):
        assert parsed.to_detail() == detail


@pytest.mark.parametrize("name", WRITEBACKS)
def test_stored_writebacks_parse_and_round_trip(name: str) -> None:
    body = load_event(name)
    jsonschema.validate(body, load_schema("writeback.v1"))
    parsed = parse_writeback(json.dumps(body))
    assert json.loads(parsed.to_body()) == body


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schemaVersion": "2"}, "unsupported schemaVersion"),
        ({"kind": "Pod"}, "detail.kind 'Pod'"),
        ({"action": "patch"}, "detail.action 'patch'"),
        ({"resourceVersion": "abc"}, "not a decimal revision"),
        ({"key": "other/name"}, "does not name detail.object"),
        ({"object": []}, "detail.object must be a JSON object"),
        ({"cluster": ""}, "detail.cluster must be a non-empty string"),
    ],
)
def test_malformed_details_are_rejected_with_the_field(change: dict[str, Any], message: str) -> None:
    detail = {**load_event("ingress-upsert")["detail"], **change}
    with pytest.raises(ContractError, match=message):
        parse_detail(detail)


def test_malformed_writebacks_are_rejected() -> None:
    with pytest.raises(ContractError, match="not JSON"):
        parse_writeback("{")
    with pytest.raises(ContractError, match="eventType"):
        parse_writeback('{"schemaVersion":"1","type":"event","cluster":"c","ingress":"a/b","eventType":"Info"}')
    with pytest.raises(ContractError, match="namespace/name"):
        parse_writeback('{"schemaVersion":"1","type":"status","cluster":"c","ingress":"b","hostnames":[]}')


def test_trim_drops_managed_fields_and_last_applied_only() -> None:
    obj: dict[str, Any] = {
        "metadata": {
            "name": "a",
            "managedFields": [{"manager": "kubectl"}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "me"},
        },
        "spec": {"x": 1},
    }
    assert trim(obj) == {"metadata": {"name": "a", "annotations": {"keep": "me"}}, "spec": {"x": 1}}
    assert "managedFields" in obj["metadata"]  # the input is not changed


def test_entry_and_finalizers() -> None:
    detail = load_event("ingress-upsert")["detail"]
    entry = put_events_entry(bus_name="bus", detail=detail)
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == ("albatross.k8s", "Ingress", "bus")
    assert finalizer_for(detail["object"]) == "ingress.k8s.aws/resources"
    grouped = {"metadata": {"annotations": {"alb.ingress.kubernetes.io/group.name": "shop"}}}
    assert finalizer_for(grouped) == "group.ingress.k8s.aws/shop"
    invalid = {"metadata": {"annotations": {"alb.ingress.kubernetes.io/group.name": "Not_Valid"}}}
    assert finalizer_for(invalid) == "ingress.k8s.aws/resources"
    assert WriteBack(type="status", cluster="c", ingress="a/b", hostnames=("h",)).to_body()


def test_the_group_an_ingress_class_params_names_wins_over_the_annotation() -> None:
    ref = {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": "p"}
    classes: list[dict[str, Any]] = [
        {"metadata": {"name": "shared"}, "spec": {"controller": "ingress.k8s.aws/alb", "parameters": ref}},
        {"metadata": {"name": "plain"}, "spec": {"controller": "ingress.k8s.aws/alb"}},
        {"metadata": {"name": "bad"}, "spec": {"parameters": {**ref, "name": "invalid"}}},
    ]
    params = [
        {"metadata": {"name": "p"}, "spec": {"group": {"name": "team-a"}}},
        {"metadata": {"name": "invalid"}, "spec": {"group": {"name": "Not_Valid"}}},
    ]
    grouped = class_groups(classes, params)
    assert grouped == {"shared": "team-a"}

    def ingress(cls: str | None, annotations: dict[str, str]) -> dict[str, object]:
        return {
            "metadata": {"name": "web", "namespace": "shop", "annotations": annotations},
            "spec": {"ingressClassName": cls} if cls else {},
        }

    named = {"alb.ingress.kubernetes.io/group.name": "mine"}
    assert group_name_of(ingress("shared", named), grouped) == "team-a"
    assert finalizer_for(ingress("shared", {}), grouped) == "group.ingress.k8s.aws/team-a"
    assert group_name_of(ingress("plain", named), grouped) == "mine"
    assert group_name_of(ingress("bad", {}), grouped) is None
    # the legacy annotation has no IngressClass, hence no params
    legacy = ingress("shared", {**named, "kubernetes.io/ingress.class": "alb"})
    assert group_name_of(legacy, grouped) == "mine"
    assert finalizer_for(ingress(None, {}), grouped) == "ingress.k8s.aws/resources"
