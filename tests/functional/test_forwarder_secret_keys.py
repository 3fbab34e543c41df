"""The forwarder copies an OIDC Secret as LBC reads it, against moto (issue 15): LBC's
legacy ``clientId`` key, the id's trailing whitespace and the secret's trailing control
characters trimmed (LBC's ``buildAuthenticateOIDCAction``), ``secretName`` found in any
case (Go's decoder). A copy an older forwarder made of the same Secret version, newline
and all, is replaced by a new version rather than refused, and the cloud side trims what
such a copy holds as it reads it."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Any

import pytest

from albatross.aws import clients
from albatross.aws.secrets import materialize
from albatross.contract import ObjectChange, parse_detail
from albatross.model.oidc import REFERENCE
from albatross_forwarder.watch import Watcher
from tests.functional.test_forwarder_secrets import Copier, Secrets, Unlisted, changed

KEY = "shop/oidc"
NAME = f"albatross/c/{KEY}"


def lbc_secret(rv: str = "1", **values: str) -> dict[str, Any]:
    meta = {"name": "oidc", "namespace": "shop", "uid": "u-1", "resourceVersion": rv}
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": encoded, "type": "Opaque"}


def naming_lowercase() -> dict[str, Any]:
    """An Ingress naming the Secret under ``secretname``: LBC's decoder takes it."""
    annotations = {"alb.ingress.kubernetes.io/auth-idp-oidc": json.dumps({"issuer": "i", "secretname": "oidc"})}
    return {"metadata": {"name": "web", "namespace": "shop", "annotations": annotations}, "spec": {}}


Setup = tuple[Copier, Secrets, list[ObjectChange], Watcher]


@pytest.fixture
def copier(moto_endpoint: str) -> Setup:
    sent: list[ObjectChange] = []
    cluster = Secrets()
    copier = Copier(cluster="c", emit=sent.append, client=clients.secretsmanager, fetch=cluster.fetch)
    ingresses = Watcher(kind="Ingress", source=Unlisted(), cluster="c", emit=lambda _: None, wanted=lambda o: True)
    copier.follow(ingresses)
    copier.begin()
    return copier, cluster, sent, ingresses


def copied(version: str) -> dict[str, str]:
    value = clients.secretsmanager().get_secret_value(SecretId=NAME, VersionId=version)["SecretString"]
    return dict(json.loads(value))


def test_the_legacy_key_and_trailing_newlines(copier: Setup) -> None:
    copies, cluster, sent, ingresses = copier
    cluster.stored[KEY] = lbc_secret(clientId="legacy-id\n", clientSecret="s3cr3t\r\n")
    changed(ingresses, naming_lowercase())
    copies.read_all()
    assert cluster.reads == [KEY]  # named by "secretname": read
    [change] = sent
    parse_detail(change.to_detail())
    assert "missingKeys" not in change.object
    assert copied(change.object["secretsManager"]["versionId"]) == {"clientID": "legacy-id", "clientSecret": "s3cr3t"}
    # one key lacking, in either spelling of the id: missingKeys says which, in LBC's name
    for rv, values, missing in (
        ("2", {"clientId": "legacy-id"}, ["clientSecret"]),
        ("3", {"clientSecret": "s3cr3t"}, ["clientID"]),
        ("4", {"clientid": "not-a-key-lbc-reads", "clientSecret": "s3cr3t"}, ["clientID"]),
        ("5", {"clientID": "id", "clientSecret": "\n"}, ["clientSecret"]),
    ):
        cluster.stored[KEY] = lbc_secret(rv, **values)
        copies.read_all()
        parse_detail(sent[-1].to_detail())
        assert (sent[-1].resource_version, sent[-1].object.get("missingKeys")) == (rv, missing)


def first_format_token(secret: dict[str, Any]) -> str:
    """The version token of the first copies (before trimming): the uid and
    resourceVersion alone."""
    meta = secret["metadata"]
    text = "\0".join([meta["uid"], meta["resourceVersion"]])
    return str(uuid.UUID(bytes=hashlib.sha256(text.encode()).digest()[:16]))


def test_a_copy_made_before_trimming_gets_a_new_version(copier: Setup) -> None:
    copies, cluster, sent, ingresses = copier
    secret = lbc_secret(clientID="id", clientSecret="s3cr3t\n")
    # what an older forwarder wrote for this same Secret version
    old = first_format_token(secret)
    clients.secretsmanager().create_secret(
        Name=NAME, SecretString=json.dumps({"clientID": "id", "clientSecret": "s3cr3t\n"}), ClientRequestToken=old
    )
    cluster.stored[KEY] = secret
    changed(ingresses, naming_lowercase())
    copies.read_all()
    assert (copies.failed, copies.copied) == (0, 1)  # not refused as a known token with other values
    [change] = sent
    version = change.object["secretsManager"]["versionId"]
    assert version != old
    assert copied(version) == {"clientID": "id", "clientSecret": "s3cr3t"}
    # a rule still pointing at the old copy gets the trimmed value from the cloud side too
    reference = {REFERENCE: KEY, "key": "clientSecret", "secretArn": change.object["secretsManager"]["secretArn"]}
    assert [materialize({**reference, "versionId": v}) for v in (old, version)] == ["s3cr3t", "s3cr3t"]
