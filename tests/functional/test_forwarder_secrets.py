"""The forwarder's Secrets Manager copies against moto (ADR 0005): a copy is created with
the cluster tag, the same Secret version makes no new version, a rotation does; a deleted
Secret's copy is scheduled for deletion and restored if the Secret comes back; what is
sent carries the reference only. Which Secrets are copied follows the Ingresses the
watcher forwards."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import pytest

from albatross.aws import clients
from albatross.contract import ObjectChange, parse_detail
from albatross.local.faults import Fault, inject
from albatross_forwarder.kube import Stream
from albatross_forwarder.secrets import SecretCopier
from albatross_forwarder.watch import Watcher

KEY = "shop/oidc"
NAME = f"albatross/c/{KEY}"


class Unlisted:
    """The source of watchers that are only driven by hand here."""

    def list(self, *, limit: int, cont: str | None = None) -> Mapping[str, Any]:
        raise AssertionError("not listed in these tests")

    def watch(self, *, rv: str, timeout: int) -> Stream:
        raise AssertionError("not watched in these tests")


def secret(client_secret: str | None, rv: str = "1") -> dict[str, Any]:
    data = {"clientID": base64.b64encode(b"client").decode()}
    if client_secret is not None:
        data["clientSecret"] = base64.b64encode(client_secret.encode()).decode()
    meta = {"name": "oidc", "namespace": "shop", "uid": "u-1", "resourceVersion": rv, "labels": {"a": "b"}}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": data, "type": "Opaque"}


def change(obj: dict[str, Any], action: str = "upsert") -> ObjectChange:
    return ObjectChange(
        cluster="c",
        kind="Secret",
        action="upsert" if action == "upsert" else "delete",
        key=KEY,
        resource_version=str(obj["metadata"]["resourceVersion"]),
        object=obj,
    )


@pytest.fixture
def copier(moto_endpoint: str) -> tuple[SecretCopier, list[ObjectChange]]:
    sent: list[ObjectChange] = []
    return SecretCopier(cluster="c", emit=sent.append, client=clients.secretsmanager, watchers=list), sent


def test_copies_follow_the_secret_and_only_references_are_sent(copier: tuple[SecretCopier, list[ObjectChange]]) -> None:
    secrets, sent = copier
    sm = clients.secretsmanager()
    secrets.on_change(change(secret("one")))
    secrets.on_change(change(secret("one")))  # the same version again (a restarted forwarder)
    first = sm.describe_secret(SecretId=NAME)
    assert {"Key": "elbv2.k8s.aws/cluster", "Value": "c"} in first["Tags"]
    assert len(first["VersionIdsToStages"]) == 1
    assert sent[0].object["secretsManager"] == sent[1].object["secretsManager"]
    secrets.on_change(change(secret("two", rv="3")))
    assert len(sm.describe_secret(SecretId=NAME)["VersionIdsToStages"]) == 2
    version = sent[2].object["secretsManager"]["versionId"]
    assert sm.get_secret_value(SecretId=NAME, VersionId=version)["SecretString"] == (
        '{"clientID": "client", "clientSecret": "two"}'
    )
    secrets.on_change(change(secret(None, rv="4")))
    assert sent[3].object["missingKeys"] == ["clientSecret"]
    secrets.on_change(change(secret("two", rv="5"), "delete"))
    assert "DeletedDate" in sm.describe_secret(SecretId=NAME)
    secrets.on_change(change(secret("three", rv="6")))  # back again: restored, a new version
    assert "DeletedDate" not in sm.describe_secret(SecretId=NAME)
    for item in sent:
        detail = item.to_detail()
        parse_detail(detail)  # the cloud side accepts it: names and a reference, nothing else
        assert "data" not in detail["object"]
        assert set(detail["object"]["metadata"]) <= {"name", "namespace", "resourceVersion"}


def test_only_secrets_named_by_forwarded_ingresses_are_wanted(copier: tuple[SecretCopier, list[ObjectChange]]) -> None:
    secrets, _ = copier
    ingresses = Watcher(
        kind="Ingress",
        source=Unlisted(),
        cluster="c",
        emit=lambda _: None,
        wanted=lambda o: (o.get("spec") or {}).get("ingressClassName") == "alb",
    )
    secrets.follow(ingresses)
    annotations = {"alb.ingress.kubernetes.io/auth-idp-oidc": '{"secretName": "oidc"}'}
    ours = {
        "metadata": {"name": "web", "namespace": "shop", "annotations": annotations},
        "spec": {"ingressClassName": "alb"},
    }
    other = {"metadata": {"name": "other", "namespace": "shop", "annotations": annotations}, "spec": {}}
    assert ingresses.on_object is not None
    assert ingresses.on_delete is not None
    ingresses.on_object(other)
    assert not secrets.wanted(secret("x"))
    ingresses.on_object(ours)
    assert secrets.wanted(secret("x"))
    ingresses.on_delete("shop/web")
    assert not secrets.wanted(secret("x"))


def test_a_new_leadership_term_forgets_what_the_old_one_learnt(moto_endpoint: str) -> None:
    def watcher(kind: str) -> Watcher:
        return Watcher(kind=kind, source=Unlisted(), cluster="c", emit=lambda _: None)

    terms = [[watcher("Ingress"), watcher("Secret")]]
    secrets = SecretCopier(cluster="c", emit=lambda _: None, client=clients.secretsmanager, watchers=lambda: terms[-1])
    secrets.follow(terms[-1][0])
    annotations = {"alb.ingress.kubernetes.io/auth-idp-oidc": '{"secretName": "oidc"}'}
    for name in ("stays", "deleted-between-terms"):
        on_object = terms[-1][0].on_object
        assert on_object is not None
        on_object({"metadata": {"name": name, "namespace": "shop", "annotations": annotations}})
    terms.append([w.fresh() for w in terms[-1]])  # a new term: fresh watchers, same hooks
    on_object = terms[-1][0].on_object
    assert on_object is not None
    on_object({"metadata": {"name": "stays", "namespace": "shop", "annotations": annotations}})
    secrets.prune()
    assert set(secrets.references) == {("Ingress", "shop/stays")}
    assert secrets.wanted(secret("x"))


def test_a_copy_that_fails_holds_up_no_other_secret(copier: tuple[SecretCopier, list[ObjectChange]]) -> None:
    """A refused copy is counted and left for a later list; the watcher's list goes on
    (raising would end it midway: later Secrets uncopied, no Resync ever)."""
    secrets, sent = copier
    with inject(Fault(service="secretsmanager", operation="CreateSecret", code="AccessDeniedException")) as [fault]:
        secrets.on_change(change(secret("one")))  # refused: no exception reaches the watcher
        other = secret("two")
        other["metadata"] = {**other["metadata"], "name": "other", "uid": "u-2"}
        secrets.on_change(
            ObjectChange(
                cluster="c", kind="Secret", action="upsert", key="shop/other", resource_version="1", object=other
            )
        )
    assert fault.raised == 1
    assert (secrets.failed, secrets.copied) == (1, 1)
    assert [c.key for c in sent] == ["shop/other"]  # the refused one sent nothing, not even a reference
