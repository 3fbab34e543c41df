"""The contract's readers of user-written objects never raise (issue 14, item 1).

The forwarder calls them on every object it lists or watches: which Services and
Secrets an Ingress names, its class, its group's finalizer, the trimmed copy it sends.
An annotation (a string of up to 256 KiB, which the API server does not parse) may hold
anything: JSON nested past the parser's depth (RecursionError, not a ValueError), JSON
of the wrong shape, numbers too long to convert, or no JSON at all. Each names nothing
and raises nothing; the model reports it on the Ingress. A seeded fuzz run feeds them
arbitrary JSON objects too."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from albatross.contract import (
    ClassInfo,
    ContractError,
    class_info,
    finalizer_for,
    group_name_of,
    ingress_is_ours,
    object_key,
    params_group,
    params_name,
    parse_detail,
    parse_writeback,
    services_of,
    trim,
)
from albatross.contract.oidc import AUTH_IDP_OIDC, oidc_secrets
from tests.helpers import load_event

A = "alb.ingress.kubernetes.io/"
DEEP_ARRAY = "[" * 3000 + "]" * 3000
DEEP_OBJECT = '{"forwardConfig":' * 3000 + "{}" + "}" * 3000
BAD_VALUES = [
    DEEP_ARRAY,
    DEEP_OBJECT,
    '{"secretName": ' + DEEP_ARRAY + "}",
    "{",
    "",
    "null",
    "[]",
    '"a string"',
    "1" * 5000,  # more digits than int() converts (a ValueError from the parser)
    "1e999999",
    '{"forwardConfig": []}',
    '{"forwardConfig": {"targetGroups": {"serviceName": "x"}}}',
    '{"forwardConfig": {"targetGroups": [1, null, "x", [], {"serviceName": 7}, {"serviceName": ""}]}}',
    '{"ForwardConfig": {"TargetGroups": "web"}}',
    '{"secretName": 7}',
    '{"secretName": ["oidc"]}',
    '{"secretName": ""}',
    " " * (256 * 1024 + 1),  # longer than all of an object's annotations may be
]


def ingress(annotations: Mapping[str, Any], *, namespace: Any = "shop") -> dict[str, Any]:
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    return {
        "metadata": {"name": "x", "namespace": namespace, "annotations": dict(annotations)},
        "spec": {"ingressClassName": "alb", "defaultBackend": backend},
    }


@pytest.mark.parametrize("value", BAD_VALUES, ids=range(len(BAD_VALUES)))
def test_a_malformed_annotation_names_nothing_and_raises_nothing(value: str) -> None:
    good = json.dumps({"type": "forward", "forwardConfig": {"targetGroups": [{"serviceName": "canary"}]}})
    obj = ingress({A + "actions.bad": value, A + "actions.good": good, AUTH_IDP_OIDC: value})
    assert services_of(obj) == {"shop/web", "shop/canary"}  # the backend and the good action only
    assert oidc_secrets(obj) == set()


def test_values_that_are_not_strings_name_nothing() -> None:
    for value in (None, 7, ["x"], {"secretName": "oidc"}):
        obj = ingress({A + "actions.a": value, AUTH_IDP_OIDC: value})
        assert services_of(obj) == {"shop/web"}
        assert oidc_secrets(obj) == set()


def test_the_well_formed_names_are_still_read() -> None:
    action = {"type": "forward", "forwardConfig": {"targetGroups": [{"serviceName": "a"}, {"serviceName": "b"}]}}
    legacy = {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"ServiceName": "c"}]}}
    obj = ingress(
        {
            A + "actions.x": json.dumps(action),
            A + "actions.y": json.dumps(legacy),
            AUTH_IDP_OIDC: json.dumps({"issuer": "https://idp", "secretName": "oidc"}),
        }
    )
    assert services_of(obj) == {"shop/web", "shop/a", "shop/b", "shop/c"}
    assert oidc_secrets(obj) == {"shop/oidc"}


@pytest.mark.parametrize(
    "obj",
    [
        {"metadata": [], "spec": []},
        {"metadata": {"namespace": 7, "annotations": []}, "spec": {"rules": 7}},
        {"metadata": {"namespace": "n", "annotations": "x"}, "spec": {"rules": [7, {"http": []}]}},
        {"metadata": {"namespace": "n"}, "spec": {"rules": [{"http": {"paths": {"a": 1}}}], "defaultBackend": 1}},
        {"metadata": {"namespace": "n"}, "spec": {"ingressClassName": ["alb"]}},
        {"metadata": {"annotations": {7: "x", A + "group.name": 7}}, "spec": {"ingressClassName": {"a": 1}}},
    ],
)
def test_fields_of_the_wrong_shape_are_read_as_absent(obj: dict[str, Any]) -> None:
    classes = {"alb": ClassInfo(controller="ingress.k8s.aws/alb", is_default=False)}
    assert services_of(obj) <= {"n/web"}
    assert oidc_secrets(obj) == set()
    assert finalizer_for(obj, {"alb": "g"}) in ("ingress.k8s.aws/resources", "group.ingress.k8s.aws/g")
    assert ingress_is_ours(obj, classes=classes, configured="alb") is False
    trim(obj)
    with pytest.raises(ContractError):
        object_key(obj)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        *("name", "namespace", "annotations", "rules", "http", "paths", "backend", "service", "defaultBackend"),
        *("ingressClassName", "group", "parameters", "controller", "conditions", "serviceName", "forwardConfig"),
        *(A + "actions.a", AUTH_IDP_OIDC, A + "group.name", "kubernetes.io/ingress.class", "targetGroups"),
    ]
)
# objects built from the names the readers look for, with values of any shape
SHAPED = st.recursive(
    JSON,
    lambda inner: st.dictionaries(KEYS, inner | JSON.map(json.dumps), max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(metadata=SHAPED, spec=SHAPED, status=SHAPED)
def test_no_object_makes_a_reader_raise(metadata: Any, spec: Any, status: Any) -> None:
    obj = {"metadata": metadata, "spec": spec, "status": status}
    classes = {"alb": ClassInfo(controller="ingress.k8s.aws/alb", is_default=False)}
    assert isinstance(services_of(obj), set)
    assert isinstance(oidc_secrets(obj), set)
    assert isinstance(finalizer_for(obj, {"alb": "g"}), str)
    group_name_of(obj)
    ingress_is_ours(obj, classes=classes, configured="alb")
    class_info(obj)
    params_name(obj)
    params_group(obj)
    trim(obj)
    trim(obj, "Node")
    with contextlib.suppress(ContractError):  # the one reader that refuses: no name, no key
        object_key(obj)


@pytest.mark.parametrize("body", [DEEP_ARRAY, '{"type": ' + DEEP_OBJECT + "}", "{", "1" * 5000, "[]"])
def test_a_write_back_body_of_any_shape_is_a_contract_error(body: str) -> None:
    with pytest.raises(ContractError):
        parse_writeback(body)


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("labels", ["a"]),
        ("labels", {"a": 1}),
        ("annotations", "x"),
        ("annotations", {"a": {"b": "c"}}),
    ],
)
def test_an_object_whose_metadata_no_api_server_would_give_is_refused_whole(where: str, value: Any) -> None:
    event = load_event("endpointslice-upsert")
    event["detail"]["object"]["metadata"][where] = value
    with pytest.raises(ContractError, match=f"metadata.{where}"):
        parse_detail(event["detail"])


@pytest.mark.parametrize("part", ["spec", "status"])
def test_an_object_whose_spec_or_status_is_not_an_object_is_refused(part: str) -> None:
    event = load_event("ingress-upsert")
    event["detail"]["object"][part] = [1]
    with pytest.raises(ContractError, match=f"object.{part}"):
        parse_detail(event["detail"])
