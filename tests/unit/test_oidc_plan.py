"""OIDC client credentials in the model and the plan (ADR 0005): references are completed
from stored Secret changes, rules are tagged with the copy's version, and the plan
compares that version, never the secret (which AWS never shows)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from albatross.contract.oidc import change_object
from albatross.model.names import TAG_OIDC_CREDENTIALS_VERSION
from albatross.model.oidc import SecretError, resolve_secrets, secret_keys
from albatross.model.stack import LISTENER_RULE, Stack
from albatross.plan.actual import Actual, ActualResource
from albatross.plan.planner import plan, resolve
from tests.unit.test_model_features import CERT, ing, run

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:albatross/c/game-2048/oidc-AbCdEf"
OIDC = {
    "issuer": "https://idp",
    "authorizationEndpoint": "https://idp/a",
    "tokenEndpoint": "https://idp/t",
    "userInfoEndpoint": "https://idp/u",
    "secretName": "oidc",
}


def built() -> Stack:
    result = run(ing(annotations={"certificate-arn": CERT, "auth-type": "oidc", "auth-idp-oidc": json.dumps(OIDC)}))
    assert result.stack is not None, result.errors
    return result.stack


def secret(version: str, **extra: Any) -> dict[str, Any]:
    meta = {"metadata": {"name": "oidc", "namespace": "game-2048", "resourceVersion": "9"}}
    return {**change_object(meta, arn=ARN, version=version), **extra}


def as_applied(stack: Stack, *, client_id: str = "id-1", tags: bool = True) -> Actual:
    """The stack as AWS shows it after creating it: credentials as values, no secret."""
    out = []
    for rid, res in stack.resources.items():
        props: dict[str, Any] = resolve(dict(res.properties), {r: f"arn:{r}" for r in stack.resources})
        if res.type == LISTENER_RULE:
            actions = []
            for action in props["Actions"]:
                if action["Type"] == "authenticate-oidc":
                    config = {k: v for k, v in action["AuthenticateOidcConfig"].items() if k != "ClientSecret"}
                    action = {**action, "AuthenticateOidcConfig": {**config, "ClientId": client_id}}
                actions.append(action)
            props["Actions"] = actions
        if not tags:
            props.pop("Tags", None)
        out.append(ActualResource(id=rid, type=res.type, physical_id=f"arn:{rid}", properties=props))
    return Actual(resources=tuple(out))


def test_references_are_completed_and_the_rule_tagged_with_the_version() -> None:
    stack = built()
    assert secret_keys(stack) == {"game-2048/oidc"}
    resolved = resolve_secrets(stack, {"game-2048/oidc": secret("v1")})
    assert resolved is not None
    rule = resolved.resources["443:1"].properties
    config = rule["Actions"][0]["AuthenticateOidcConfig"]
    assert config["ClientId"] == {"$secret": "game-2048/oidc", "key": "clientID", "secretArn": ARN, "versionId": "v1"}
    assert config["ClientSecret"]["key"] == "clientSecret"
    assert {"Key": TAG_OIDC_CREDENTIALS_VERSION, "Value": "v1"} in rule["Tags"]
    # everything else as built
    assert {k: v for k, v in resolved.resources.items() if k != "443:1"} == {
        k: v for k, v in stack.resources.items() if k != "443:1"
    }


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ({}, "OIDC client Secret game-2048/oidc not found"),
        ({"game-2048/oidc": secret("v1", missingKeys=["clientSecret"])}, "has no clientSecret key"),
        ({"game-2048/oidc": {"metadata": {"name": "oidc", "namespace": "game-2048"}}}, "no Secrets Manager copy"),
    ],
)
def test_a_missing_or_unusable_secret_is_a_user_error(stored: dict[str, Any], message: str) -> None:
    with pytest.raises(SecretError, match=message):
        resolve_secrets(built(), stored)


def test_the_plan_compares_the_version_not_the_secret() -> None:
    v1 = resolve_secrets(built(), {"game-2048/oidc": secret("v1")})
    v2 = resolve_secrets(built(), {"game-2048/oidc": secret("v2")})
    assert v1 is not None
    assert v2 is not None
    applied = as_applied(v1)
    assert plan(v1, applied) == []  # the ClientId AWS shows and the secret it hides do not matter
    assert plan(v1, as_applied(v1, client_id="changed-out-of-band")) == []
    steps = plan(v2, applied)  # a rotated Secret: a new version, one rule update
    assert [s.describe() for s in steps] == ["update ListenerRule 443:1"]
    # a rule whose version is unknown (adopted, say) is written once, then tagged
    assert [s.describe() for s in plan(v1, as_applied(v1, tags=False))] == ["update ListenerRule 443:1"]
