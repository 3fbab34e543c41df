"""An OIDC Secret read as LBC reads it (issue 15).

LBC (``buildAuthenticateOIDCAction``, and its tests "clientID & clientSecret configured",
"... - legacy clientId", "missing clientID", "missing clientSecret") looks the id up under
``clientID``, and only when the Secret has no such key under ``clientId``, the key of
the AWS ALB Ingress Controller before it; the secret under ``clientSecret``. Keys are
map keys: no other spelling is read. It then takes the id with
``strings.TrimRightFunc(id, unicode.IsSpace)`` and the secret with
``strings.TrimRightFunc(secret, unicode.IsControl)`` (LBC PR 3936: ``echo secret |
base64`` leaves a newline, and RFC 6749 allows none in a client secret). Go's
``unicode.IsSpace`` is Unicode White_Space; ``unicode.IsControl`` is U+0000-U+001F and
U+007F-U+009F. A space is no control character; NUL is not white space."""

from __future__ import annotations

import base64

import pytest

from albatross.contract import SECRET_KEYS
from albatross.contract.oidc import credentials, trimmed
from albatross.model.oidc import SecretError, resolve_secrets
from tests.unit.test_oidc_plan import built, secret


def data(**values: str) -> dict[str, object]:
    return {
        "metadata": {"name": "oidc", "namespace": "my-ns", "uid": "u", "resourceVersion": "1"},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }


@pytest.mark.parametrize(
    ("stored", "values", "missing"),
    [
        ({"clientID": "my-client-id", "clientSecret": "my-client-secret"}, ("my-client-id", "my-client-secret"), []),
        ({"clientId": "my-client-id", "clientSecret": "my-client-secret"}, ("my-client-id", "my-client-secret"), []),
        ({"clientSecret": "my-client-secret"}, (None, "my-client-secret"), ["clientID"]),
        ({"clientID": "my-client-id"}, ("my-client-id", None), ["clientSecret"]),
        ({"clientId": "my-client-id"}, ("my-client-id", None), ["clientSecret"]),
        ({}, (None, None), ["clientID", "clientSecret"]),
        # clientID is looked up first: a Secret with both gives clientID's
        ({"clientID": "new", "clientId": "old", "clientSecret": "s"}, ("new", "s"), []),
        # map keys: no other spelling is read
        ({"clientid": "i", "ClientID": "i", "CLIENTID": "i", "clientSecret": "s"}, (None, "s"), ["clientID"]),
        ({"clientID": "i", "clientsecret": "s", "ClientSecret": "s"}, ("i", None), ["clientSecret"]),
        # a clientID key that is there but empty is the one LBC reads (it does not fall
        # back to clientId): AWS refuses an empty id, so it is reported as lacking
        ({"clientID": "", "clientId": "old", "clientSecret": "s"}, (None, "s"), ["clientID"]),
    ],
)
def test_the_keys_lbc_reads(stored: dict[str, str], values: tuple[str | None, str | None], missing: list[str]) -> None:
    found, lacking = credentials(data(**stored))
    assert (found.get("clientID"), found.get("clientSecret")) == values
    assert lacking == missing
    assert set(found) <= set(SECRET_KEYS)  # the copy holds LBC's two names, whatever the Secret's


@pytest.mark.parametrize(
    ("raw", "client_id"),
    [
        ("my-client-id\n", "my-client-id"),
        ("my-client-id\r\n", "my-client-id"),
        ("my-client-id \t\v\f", "my-client-id"),
        ("my-client-id\u00a0\u2003\u3000\u2028\x85", "my-client-id"),  # Unicode White_Space
        ("  my-client-id", "  my-client-id"),  # only the right end is trimmed
        ("my client id", "my client id"),
        ("my-client-id\x00", "my-client-id\x00"),  # NUL is not white space
        ("my-client-id\u200b", "my-client-id\u200b"),  # ZERO WIDTH SPACE is not White_Space
        ("my-client-id\x1f", "my-client-id\x1f"),  # Python's isspace says yes, Go's IsSpace no
    ],
)
def test_the_id_loses_its_trailing_white_space(raw: str, client_id: str) -> None:
    assert trimmed("clientID", raw) == client_id
    assert credentials(data(clientID=raw, clientSecret="s"))[0]["clientID"] == client_id


@pytest.mark.parametrize(
    ("raw", "client_secret"),
    [
        ("my-client-secret\n", "my-client-secret"),
        ("my-client-secret\r\n", "my-client-secret"),
        ("my-client-secret\t\x00\x7f\x85\x9f", "my-client-secret"),  # C0, DEL and C1
        ("my-client-secret ", "my-client-secret "),  # a space is not a control character
        ("my-client-secret\n ", "my-client-secret\n "),  # trimming stops at the space
        ("my-client-secret\u00a0", "my-client-secret\u00a0"),  # neither is NO-BREAK SPACE
        ("\nmy-client-secret", "\nmy-client-secret"),  # only the right end is trimmed
        ("my\nclient\nsecret", "my\nclient\nsecret"),
    ],
)
def test_the_secret_loses_its_trailing_control_characters(raw: str, client_secret: str) -> None:
    assert trimmed("clientSecret", raw) == client_secret
    assert credentials(data(clientID="i", clientSecret=raw))[0]["clientSecret"] == client_secret


def test_a_value_nothing_is_left_of_is_lacking() -> None:
    assert credentials(data(clientID=" \n", clientSecret="\r\n\x00"))[1] == ["clientID", "clientSecret"]
    assert credentials(data(clientId="\u3000", clientSecret="s"))[1] == ["clientID"]


def test_a_lacking_id_is_reported_with_both_names_lbc_reads() -> None:
    with pytest.raises(SecretError, match=r"has no clientID \(or legacy clientId\) key"):
        resolve_secrets(built(), {"game-2048/oidc": secret("v1", missingKeys=["clientID"])})
    with pytest.raises(SecretError, match=r"has no clientID \(or legacy clientId\) and no clientSecret key"):
        resolve_secrets(built(), {"game-2048/oidc": secret("v1", missingKeys=["clientID", "clientSecret"])})
