"""The event contract: every stored event passes the current parser and its JSON schema;
malformed details are rejected with a message naming the field."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import jsonschema
import pytest

from albatross.contract import (
    ClaimError,
    ContractError,
    ObjectClaim,
    PayloadRef,
    Resync,
    ResyncClaim,
    WriteBack,
    class_groups,
    finalizer_for,
    group_name_of,
    oidc,
    parse_detail,
    parse_writeback,
    put_events_entry,
    trim,
)
from albatross.contract.claim import claim_check, open_claim
from tests.helpers import event_names, load_event, load_schema

VERSIONS = ("v1", "v2")
OBJECT_EVENTS = [(v, n) for v in VERSIONS for n in event_names(v) if not n.startswith("writeback-")]
WRITEBACKS = [n for n in event_names() if n.startswith("writeback-")]


@pytest.mark.parametrize(("version", "name"), OBJECT_EVENTS)
def test_stored_events_parse_and_match_schema(version: str, name: str) -> None:
    event = load_event(name, version)
    detail = event["detail"]
    parsed = parse_detail(detail)
    assert f"v{parsed.schema_version}" == version
    schema = f"resync.{version}" if detail["kind"] == "Resync" else f"object-change.{version}"
    jsonschema.validate(detail, load_schema(schema))
    assert event["detail-type"] == detail["kind"]
    if not isinstance(parsed, Resync):
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
        ({"schemaVersion": "3"}, "unsupported schemaVersion"),
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


def test_a_claim_check_round_trips_and_names_the_stored_claim() -> None:
    detail = load_event("ingress-upsert", "v2")["detail"]
    stored = load_event("ingress-upsert-claim", "v2")["detail"]
    claim, body = claim_check(detail, bucket=stored["objectRef"]["bucket"])
    assert claim.to_detail() == stored  # same change, same bytes: same key, so a retried PUT is idempotent
    assert claim.ref.key.startswith("objects/my-cluster/Ingress/game-2048/game-2048/1042-")
    assert open_claim(claim, body) == parse_detail(detail)


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda b: b.replace(b"internet-facing", b"internal"), "has sha256"),
        (lambda b: b[:-1], "has sha256"),
    ],
)
def test_a_payload_that_does_not_match_its_hash_is_refused(tamper: Any, message: str) -> None:
    detail = load_event("ingress-upsert", "v2")["detail"]
    claim, body = claim_check(detail, bucket="b")
    with pytest.raises(ClaimError, match=message):
        open_claim(claim, tamper(body))


def test_a_payload_of_another_change_is_refused_even_with_its_own_hash() -> None:
    detail = load_event("ingress-upsert", "v2")["detail"]
    claim, _ = claim_check(detail, bucket="b")
    other = {**detail, "resourceVersion": "1043", "object": {**detail["object"]}}
    other["object"]["metadata"] = {**detail["object"]["metadata"], "resourceVersion": "1043"}
    _, body = claim_check(other, bucket="b")
    forged = ObjectClaim(**{**claim.__dict__, "ref": PayloadRef("b", claim.ref.key, hashlib.sha256(body).hexdigest())})
    with pytest.raises(ClaimError, match="holds my-cluster/Ingress/upsert/game-2048/game-2048/1043"):
        open_claim(forged, body)
    with pytest.raises(ClaimError, match="not a valid detail"):
        open_claim(
            ObjectClaim(**{**claim.__dict__, "ref": PayloadRef("b", "k", hashlib.sha256(b"{").hexdigest())}), b"{"
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {
                "object": {
                    "metadata": {"name": "oidc-client", "namespace": "game-2048"},
                    "data": {"clientSecret": "eA=="},
                }
            },
            "not data",
        ),
        (
            {"object": {"metadata": {"name": "oidc-client", "namespace": "game-2048", "annotations": {}}}},
            "not metadata.annotations",
        ),
        (
            {
                "object": {
                    "metadata": {"name": "oidc-client", "namespace": "game-2048"},
                    "secretsManager": {"secretArn": "x"},
                }
            },
            "secretsManager must be",
        ),
        ({"schemaVersion": "1"}, "detail.kind 'Secret' is not one of"),
    ],
)
def test_a_secret_change_carries_only_a_reference(change: dict[str, Any], message: str) -> None:
    detail = {**load_event("secret-upsert", "v2")["detail"], **change}
    with pytest.raises(ContractError, match=message):
        parse_detail(detail)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(detail, load_schema("object-change.v2"))


def test_version_1_has_no_claim_checks_and_write_backs_stay_at_1() -> None:
    claim = {**load_event("ingress-upsert-claim", "v2")["detail"], "schemaVersion": "1"}
    with pytest.raises(ContractError, match=r"detail\.object must be a JSON object"):
        parse_detail(claim)
    both = {**load_event("ingress-upsert-claim", "v2")["detail"], "object": {"metadata": {"name": "x"}}}
    with pytest.raises(ContractError, match="both object and objectRef"):
        parse_detail(both)
    assert json.loads(WriteBack(type="status", cluster="c", ingress="a/b").to_body())["schemaVersion"] == "1"


def test_oidc_secret_names_and_copies() -> None:
    ingress = {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "annotations": {"alb.ingress.kubernetes.io/auth-idp-oidc": '{"issuer": "i", "secretName": "oidc"}'},
        }
    }
    assert oidc.oidc_secrets(ingress) == {"shop/oidc"}
    assert (
        oidc.oidc_secrets({"metadata": {"name": "x", "namespace": "n", "annotations": {oidc.AUTH_IDP_OIDC: "{"}}})
        == set()
    )
    assert oidc.copy_name(cluster="c", key="shop/oidc") == "albatross/c/shop/oidc"
    secret = {
        "metadata": {"name": "oidc", "namespace": "shop", "uid": "u1", "resourceVersion": "7"},
        "data": {"clientID": "aWQ=", "clientSecret": "c2VjcmV0"},
    }
    values, missing = oidc.credentials(secret)
    assert (values, missing) == ({"clientID": "id", "clientSecret": "secret"}, [])
    token = oidc.version_token(secret, values)
    assert token == oidc.version_token(secret, dict(values))  # the same Secret version: the same copy version
    rotated = {**secret, "metadata": {**secret["metadata"], "resourceVersion": "8"}}
    assert token != oidc.version_token(rotated, {**values, "clientSecret": "rotated"})
    # the token travels in events and rule tags: it must not be a function of the values
    assert token == oidc.version_token(secret, {**values, "clientSecret": "guess"})
    assert oidc.credentials({"data": {"clientID": "aWQ=", "clientSecret": "not base64!"}})[1] == ["clientSecret"]
    body = oidc.change_object(secret, arn="arn:aws:secretsmanager:r:1:secret:x", version=token)
    assert "data" not in body
    assert set(body["metadata"]) == {"name", "namespace", "resourceVersion"}
    assert oidc.reference_of(body) == ("arn:aws:secretsmanager:r:1:secret:x", token)


def test_a_resync_too_big_for_one_entry_travels_by_claim_check_too() -> None:
    detail = load_event("resync", "v2")["detail"]
    stored = load_event("resync-claim", "v2")["detail"]
    claim, body = claim_check(detail, bucket=stored["objectRef"]["bucket"])
    assert claim.to_detail() == stored
    assert claim.ref.key.startswith("objects/my-cluster/Resync/")
    assert open_claim(claim, body) == parse_detail(detail)
    _, change = claim_check(load_event("ingress-upsert", "v2")["detail"], bucket="b")
    with pytest.raises(ClaimError, match="is not a Resync"):
        open_claim(
            ResyncClaim(cluster="my-cluster", ref=PayloadRef("b", "k", hashlib.sha256(change).hexdigest())), change
        )
