"""A Resync's versions and ingest's answer to it, the ``resend`` write-back (issue 14,
item 8): both parse into what they say or raise ContractError, whatever they hold; the
stored samples and what the builders make follow the JSON schemas."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from albatross.contract import (
    RESEND_MAX_KEYS,
    ContractError,
    Resync,
    WriteBack,
    parse_detail,
    parse_writeback,
    resend_messages,
)
from albatross.contract.claim import claim_check
from tests.helpers import load_event, load_schema


def resync_detail(**fields: Any) -> dict[str, Any]:
    detail: dict[str, Any] = load_event("resync", "v2")["detail"]
    detail.update(fields)
    return detail


def test_versions_round_trip_as_one_list_per_kind_in_the_order_of_its_keys() -> None:
    resync = Resync(
        cluster="c",
        keys={"Ingress": ["shop/web", "shop/api"], "Node": []},
        as_of={"Ingress": "90", "Node": "90"},
        versions={"Ingress": {"shop/api": "17", "shop/web": "42"}, "Node": {}},
    )
    detail = resync.to_detail()
    assert detail["versions"] == {"Ingress": ["42", "17"], "Node": []}
    jsonschema.validate(detail, load_schema("resync.v2"))
    assert parse_detail(detail) == resync
    # a Resync too big for an entry carries its versions through the payload bucket too
    claim, body = claim_check(detail, bucket="b")
    assert json.loads(body)["versions"] == detail["versions"]
    jsonschema.validate(claim.to_detail(), load_schema("resync.v2"))


def test_a_resync_without_versions_still_parses() -> None:
    """Older forwarders send keys only: such a Resync asks for nothing again."""
    for version in ("v1", "v2"):
        detail = load_event("resync", version)["detail"]
        detail.pop("versions", None)
        parsed = parse_detail(detail)
        assert isinstance(parsed, Resync)
        assert parsed.versions is None


@pytest.mark.parametrize(
    ("versions", "message"),
    [
        ([], "must map kinds"),
        ("48102", "must map kinds"),
        ({"Pod": []}, "a kind detail.keys does not list"),
        ({"IngressClass": []}, "a kind detail.keys does not list"),  # listed kinds only
        ({"Ingress": []}, "one resourceVersion for each of its keys"),
        ({"Ingress": ["1", "2"]}, "one resourceVersion for each of its keys"),
        ({"Ingress": "48102"}, "one resourceVersion for each of its keys"),
        ({"Ingress": [48102]}, "decimal resourceVersions"),
        ({"Ingress": [None]}, "decimal resourceVersions"),
        ({"Ingress": [["1"]]}, "decimal resourceVersions"),
        ({"Ingress": ["-1"]}, "decimal resourceVersions"),
        ({"Ingress": [""]}, "decimal resourceVersions"),
        ({"Ingress": ["1e3"]}, "decimal resourceVersions"),
        ({"Ingress": ["²"]}, "decimal resourceVersions"),  # str.isdigit() says yes, int() says no
        ({"Ingress": ["٣"]}, "decimal resourceVersions"),  # an Arabic-Indic digit: int() takes it, DynamoDB not
        ({"Ingress": ["1" * 39]}, "decimal resourceVersions"),  # past DynamoDB's 38 digits
    ],
)
def test_malformed_versions_are_refused(versions: Any, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        parse_detail(resync_detail(versions=versions))


def test_versions_never_travel_beside_a_claim_check() -> None:
    detail = load_event("resync-claim", "v2")["detail"]
    with pytest.raises(ContractError, match="objectRef"):
        parse_detail({**detail, "versions": {}})


@pytest.mark.parametrize("value", ["²", "1" * 39, "٣"])
def test_versions_ingest_cannot_compare_are_refused_wherever_they_are(value: str) -> None:
    """asOf and a change's resourceVersion too: ingest compares them as integers and
    stores them as DynamoDB numbers."""
    with pytest.raises(ContractError, match="asOf"):
        parse_detail(resync_detail(asOf={"Ingress": value}))
    change = load_event("ingress-upsert", "v2")["detail"]
    with pytest.raises(ContractError, match="not a decimal revision"):
        parse_detail({**change, "resourceVersion": value})


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=14), inner, max_size=3),
    max_leaves=12,
)
KIND = st.sampled_from(["Ingress", "Service", "EndpointSlice", "Secret", "Namespace", "Node", "Pod", ""])
VERSION = st.sampled_from(["1", "48102", "0", "", "²", "-1", "1" * 39]) | st.text(max_size=4) | st.integers()


@settings(max_examples=300, deadline=None, derandomize=True)
@given(versions=JSON | st.dictionaries(KIND, JSON | st.lists(VERSION, max_size=6), max_size=4))
def test_any_versions_parse_into_what_the_schema_admits_or_are_refused(versions: Any) -> None:
    detail = resync_detail(versions=versions)
    try:
        parsed = parse_detail(detail)
    except ContractError:
        return
    assert isinstance(parsed, Resync)
    jsonschema.validate(detail, load_schema("resync.v2"))
    for kind, by_key in (parsed.versions or {}).items():
        assert set(by_key) == set(detail["keys"][kind])
        assert all(v.isascii() and v.isdigit() and len(v) <= 38 for v in by_key.values())


# --- resend --------------------------------------------------------------------------


def test_resends_name_at_most_the_cap_each_and_every_key_once() -> None:
    stale = {
        "EndpointSlice": [f"shop/web-{i:03}" for i in range(180)],
        "Ingress": ["shop/web", "shop/web"],  # asked twice, named once
        "Node": [f"node-{i}" for i in range(30)],
    }
    messages = resend_messages("c", stale)
    assert [sum(len(keys) for keys in m.objects.values()) for m in messages] == [100, 100, 11]
    named = [(kind, key) for m in messages for kind, keys in m.objects.items() for key in keys]
    assert sorted(named) == sorted({(kind, key) for kind, keys in stale.items() for key in keys})
    for message in messages:
        body = json.loads(message.to_body())
        jsonschema.validate(body, load_schema("writeback.v1"))
        assert "ingress" not in body
        assert parse_writeback(message.to_body()) == message
    assert resend_messages("c", {}) == []


def test_the_stored_resend_sample_is_what_the_builder_makes() -> None:
    body = load_event("writeback-resend")
    [made] = resend_messages(body["cluster"], body["objects"])
    assert json.loads(made.to_body()) == body


def resend(objects: Any) -> str:
    return json.dumps({"schemaVersion": "1", "type": "resend", "cluster": "c", "objects": objects})


@pytest.mark.parametrize(
    ("objects", "message"),
    [
        (None, "must map kinds"),
        ({}, "must map kinds"),
        (["Ingress"], "must map kinds"),
        ({"": ["a/b"]}, "kind names"),
        ({"K" * 64: ["a/b"]}, "kind names"),
        ({"Ingress": "a/b"}, "list of keys"),
        ({"Ingress": {"a/b": "1"}}, "list of keys"),
        ({"Ingress": [7]}, "name or namespace/name"),
        ({"Ingress": [""]}, "name or namespace/name"),
        ({"Ingress": ["a/b/c"]}, "name or namespace/name"),
        ({"Ingress": ["/b"]}, "name or namespace/name"),
        ({"Ingress": ["a/"]}, "name or namespace/name"),
        ({"Ingress": ["n/" + "x" * 254]}, "name or namespace/name"),
        ({"Ingress": [f"a/{i}" for i in range(RESEND_MAX_KEYS + 1)]}, f"more than {RESEND_MAX_KEYS} keys"),
        ({"Ingress": [f"a/{i}" for i in range(60)], "Service": [f"a/{i}" for i in range(41)]}, "more than"),
    ],
)
def test_a_malformed_resend_is_refused(objects: Any, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        parse_writeback(resend(objects))


def test_a_resend_of_a_kind_this_build_does_not_know_still_parses() -> None:
    """A newer ingest may ask for a kind an older forwarder does not forward: the
    forwarder drops and counts that kind, and does the rest."""
    parsed = parse_writeback(resend({"Gateway": ["shop/web"], "Ingress": ["shop/web"]}))
    assert parsed == WriteBack(
        type="resend", cluster="c", ingress="", objects={"Gateway": ("shop/web",), "Ingress": ("shop/web",)}
    )


@settings(max_examples=300, deadline=None, derandomize=True)
@given(objects=JSON | st.dictionaries(KIND, JSON | st.lists(st.text(max_size=8) | JSON, max_size=5), max_size=4))
def test_any_resend_parses_into_at_most_the_cap_or_is_refused(objects: Any) -> None:
    body = resend(objects)
    try:
        parsed = parse_writeback(body)
    except ContractError:
        return
    jsonschema.validate(json.loads(body), load_schema("writeback.v1"))
    keys = [key for listed in parsed.objects.values() for key in listed]
    assert len(keys) <= RESEND_MAX_KEYS
    assert all(key.count("/") <= 1 and all(key.split("/")) for key in keys)
