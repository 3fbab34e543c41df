"""Which objects an Ingress needs, decided once for the forwarder and the model (issue 15).

LBC reads annotation JSON with Go's ``encoding/json``: "Unmarshal matches incoming object
keys to the keys used by Marshal (either the struct field name or its tag), preferring
an exact match but also accepting a case-insensitive match"; its case folding is
Unicode simple folding, under which LATIN SMALL LETTER LONG S is an ``s`` and KELVIN
SIGN a ``k``, while DOTLESS I has no ASCII partner and ``ß`` is one letter, not two.
When a key names a field twice, the last one decoded stays. The expected values below
come from those rules. The invariant that matters: every Service a rule built by the
model forwards to is one the forwarder sends, and every Secret the model names is one it
copies; it failed (a rule answering 503) while the forwarder read two spellings only."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from albatross.contract import services_of
from albatross.contract.needs import action_services, oidc_secrets, secret_names
from albatross.contract.oidc import credentials
from albatross.contract.reading import field, fields, fold
from albatross.k8s.errors import ObjectError
from albatross.k8s.ingress import parse_ingress
from albatross.model import rules

A = "alb.ingress.kubernetes.io/"
LONG_S, KELVIN, DOTLESS_I = "\u017f", "\u212a", "\u0131"


@pytest.mark.parametrize(
    ("key", "matches"),
    [
        ("serviceName", True),
        ("servicename", True),
        ("SERVICENAME", True),
        ("ServiceName", True),
        ("sERVICEnAME", True),
        (LONG_S + "erviceName", True),  # long s folds to S
        ("serv" + DOTLESS_I + "ceName", False),  # dotless i folds to no ASCII letter
        ("serviceName ", False),
        ("service_name", False),  # encoding/json (v1) ignores no separator
        ("serviceNam", False),
    ],
)
def test_a_key_names_a_field_as_gos_decoder_matches_it(key: str, matches: bool) -> None:
    assert (field({key: "web"}, "serviceName") == "web") is matches


def test_the_two_non_ascii_letters_that_fold_into_ascii() -> None:
    assert fold(KELVIN) == fold("k") == "K"
    assert fold(LONG_S) == fold("s") == "S"
    assert field({"ta" + KELVIN + "e": 1}, "take") == 1
    assert field({"gro\u00df": 1}, "gross") is None  # ß is one letter, never "ss"


def test_the_last_key_naming_a_field_is_the_one_decoded() -> None:
    obj = {"serviceName": "a", "SERVICENAME": "b", "servicename": "c"}
    assert field(obj, "serviceName") == "c"
    assert fields(obj, "serviceName") == ["a", "b", "c"]
    for not_an_object in (None, "serviceName", ["serviceName"], 7):
        assert field(not_an_object, "serviceName") is None
        assert fields(not_an_object, "serviceName") == []


def ingress(annotations: dict[str, str], *, backend: str = "act") -> dict[str, Any]:
    port = {"name": "use-annotation"} if backend == "act" else {"number": 80}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "x", "namespace": "shop", "annotations": annotations},
        "spec": {
            "ingressClassName": "alb",
            "rules": [
                {
                    "http": {
                        "paths": [
                            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": backend, "port": port}}}
                        ]
                    }
                }
            ],
        },
    }


def test_a_forward_written_in_lowercase_is_needed_and_built() -> None:
    action = {"type": "forward", "forwardconfig": {"targetgroups": [{"servicename": "web", "serviceport": 80}]}}
    obj = ingress({A + "actions.act": json.dumps(action)})
    assert services_of(obj) == {"shop/act", "shop/web"}  # the backend's name too: a harmless extra
    ing = parse_ingress(obj)
    assert rules.referenced_services(ing) == {"shop/web"}
    built = rules.action(
        ing, ing.paths[0], lambda s, n, p: {"TargetGroupArn": f"tg-{s}-{n}"}, tolerate_missing_action=False
    )
    assert built == {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": "tg-web-80"}]}}


def test_every_spelling_of_a_field_given_twice_is_needed() -> None:
    action = {
        "forwardConfig": {"targetGroups": [{"serviceName": "first"}]},
        "FORWARDCONFIG": {"TargetGroups": [{"ServiceName": "second"}], "targetgroups": [{"servicename": "third"}]},
    }
    assert action_services(action) == {"first", "second", "third"}


def test_secret_names_in_any_case_and_only_valid_names() -> None:
    for key in ("secretName", "secretname", "SecretName", "SECRETNAME", LONG_S + "ecretName"):
        obj = {
            "metadata": {
                "name": "x",
                "namespace": "shop",
                "annotations": {A + "auth-idp-oidc": json.dumps({key: "oidc"})},
            }
        }
        assert oidc_secrets(obj) == {"shop/oidc"}, key
    # a name no Secret can have (an API server refuses it) is not asked for
    for bad in ("Oidc", "oidc_client", "../oidc", "oidc/x", "-oidc", "oidc.", "a" * 254, "", " oidc"):
        assert secret_names({"secretName": bad}) == set(), bad
    assert secret_names({"secretName": "oidc.client-1"}) == {"oidc.client-1"}
    assert secret_names({"secretName": "a" * 253}) == {"a" * 253}


# --- the invariant, over many Ingresses written every way LBC accepts -------------------

SERVICES = ("web", "api", "canary")
FIELDS = ("type", "forwardConfig", "targetGroups", "serviceName", "servicePort", "weight")


def spelling(rng: random.Random, name: str) -> str:
    """``name`` in a case (and now and then a letter) LBC's decoder takes for it, or, once
    in a while, one it does not take."""
    out = "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in name)
    if rng.random() < 0.1:
        out = out.replace("s", LONG_S).replace("S", LONG_S)
    if rng.random() < 0.05:
        out = out.replace("i", DOTLESS_I)  # not the field any more
    return out


def random_action(rng: random.Random) -> dict[str, Any]:
    def target() -> dict[str, Any]:
        out: dict[str, Any] = {spelling(rng, "serviceName"): rng.choice(SERVICES), spelling(rng, "servicePort"): 80}
        if rng.random() < 0.7:
            out[spelling(rng, "weight")] = rng.randint(0, 10)
        return out

    def config() -> dict[str, Any]:
        return {spelling(rng, "targetGroups"): [target() for _ in range(rng.randint(1, 3))]}

    action: dict[str, Any] = {spelling(rng, "type"): "forward", spelling(rng, "forwardConfig"): config()}
    if rng.random() < 0.2:  # the field again, in another spelling
        action[spelling(rng, "forwardConfig")] = config()
    return action


def test_what_the_model_forwards_to_is_what_the_forwarder_sends() -> None:
    rng = random.Random(15)  # noqa: S311  # reproducible test data, not secrets
    forwarded = 0
    for _ in range(400):
        action = random_action(rng)
        obj = ingress({A + "actions.act": json.dumps(action)})
        sent = services_of(obj)
        ing = parse_ingress(obj)
        referenced = rules.referenced_services(ing)
        assert referenced <= sent, action
        seen: set[str] = set()

        def forward(service: str, number: int | None, name: str | None, seen: set[str] = seen) -> dict[str, Any]:
            seen.add(f"shop/{service}")
            return {"TargetGroupArn": f"tg-{service}"}

        try:
            rules.action(ing, ing.paths[0], forward, tolerate_missing_action=False)
        except ObjectError:
            continue  # an action LBC refuses too (weights missing, say): reported on the Ingress
        assert seen <= referenced, action
        forwarded += bool(seen)
    assert forwarded > 100  # the spellings were mostly ones LBC takes: rules were built


def test_the_secret_the_model_names_is_the_one_the_forwarder_copies() -> None:
    rng = random.Random(5)  # noqa: S311  # reproducible test data, not secrets
    named = 0
    idp = {
        "issuer": "https://idp",
        "authorizationEndpoint": "https://idp/a",
        "tokenEndpoint": "https://idp/t",
        "userInfoEndpoint": "https://idp/u",
    }
    for _ in range(200):
        config = {spelling(rng, k): v for k, v in idp.items()}
        for _ in range(rng.randint(1, 2)):
            config[spelling(rng, "secretName")] = rng.choice(["oidc", "oidc-2"])
        obj = ingress({A + "auth-type": "oidc", A + "auth-idp-oidc": json.dumps(config)}, backend="web")
        ing = parse_ingress(obj)
        try:
            action = rules.authentication(ing, ing.paths[0], None)
        except ObjectError:
            continue  # a required field LBC would not find either
        assert action is not None
        secret = action["AuthenticateOidcConfig"]["ClientSecret"]["$secret"]
        assert secret in oidc_secrets(obj), config
        named += 1
    assert named > 20


# --- hostile input: nothing here raises ---------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from([*FIELDS, "secretName", "SECRETNAME", LONG_S + "ecretname", "x"]), inner, max_size=4
        )
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(value=JSON, data=JSON | st.dictionaries(st.sampled_from(["clientID", "clientId", "clientSecret"]), JSON))
def test_no_value_makes_a_reader_raise(value: Any, data: Any) -> None:
    assert isinstance(action_services(value), set)
    assert isinstance(secret_names(value), set)
    assert isinstance(fields(value, "serviceName"), list)
    field(value, "forwardConfig")
    obj = {
        "metadata": {
            "namespace": "n",
            "annotations": {A + "actions.a": json.dumps(value), A + "auth-idp-oidc": json.dumps(value)},
        }
    }
    assert isinstance(services_of(obj), set)
    assert isinstance(oidc_secrets(obj), set)
    found, missing = credentials({"data": data})
    assert set(found) | set(missing) == {"clientID", "clientSecret"}
