"""The forwarder's Secrets Manager copies against moto (ADR 0005): a copy is created with
the cluster tag, the same Secret version makes no new version, a rotation does; a deleted
Secret's copy is scheduled for deletion and restored if the Secret comes back; what is
sent carries the reference only. Which Secrets are read follows the Ingresses the
watcher forwards, and each is read by name: the forwarder never lists or watches
Secrets (issue 14, item 12), so a running forwarder's requests for Secrets are GETs of
the named ones only, a rotation is taken at the next Resync, a Secret created after the
Ingress naming it is found, and one no longer named is let go."""

from __future__ import annotations

import base64
import threading
from collections.abc import Mapping
from typing import Any

import pytest
from kubernetes import client as k8s

from albatross.aws import clients
from albatross.contract import ObjectChange, parse_detail
from albatross.local.faults import Fault, inject
from albatross.local.kube import KubeDouble
from albatross_forwarder.kube import Stream
from albatross_forwarder.secrets import SecretCopier
from albatross_forwarder.watch import Watcher
from tests.functional.forwarding import Bus, Forwarders, wait_for
from tests.k8s_typing import body

KEY = "shop/oidc"
NAME = f"albatross/c/{KEY}"
OIDC = "alb.ingress.kubernetes.io/auth-idp-oidc"


class Unlisted:
    """The source of watchers that are only driven by hand here."""

    def list(self, *, limit: int, cont: str | None = None) -> Mapping[str, Any]:
        raise AssertionError("not listed in these tests")

    def watch(self, *, rv: str, timeout: int) -> Stream:
        raise AssertionError("not watched in these tests")


def secret(client_secret: str | None, rv: str = "1", name: str = "oidc", uid: str = "u-1") -> dict[str, Any]:
    data = {"clientID": base64.b64encode(b"client").decode()}
    if client_secret is not None:
        data["clientSecret"] = base64.b64encode(client_secret.encode()).decode()
    meta = {"name": name, "namespace": "shop", "uid": uid, "resourceVersion": rv, "labels": {"a": "b"}}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": data, "type": "Opaque"}


class Secrets:
    """The cluster's Secrets as the copier reads them, by name; counts the reads."""

    def __init__(self) -> None:
        self.stored: dict[str, dict[str, Any]] = {}
        self.reads: list[str] = []

    def fetch(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads.append(f"{namespace}/{name}")
        return self.stored.get(f"{namespace}/{name}")


def naming(*names: str, cls: str = "alb", ingress: str = "web") -> dict[str, Any]:
    annotations = {OIDC: '{"secretName": "%s"}' % names[0]} if names else {}  # noqa: UP031  # JSON braces
    return {
        "metadata": {"name": ingress, "namespace": "shop", "annotations": annotations},
        "spec": {"ingressClassName": cls},
    }


class Copier(SecretCopier):
    """The copier, with the end signal of the term it is in (tests drive its terms)."""

    def begin(self) -> threading.Event:
        self.term = threading.Event()
        self.begin_term(self.term)
        return self.term

    def read_all(self) -> None:
        self.refresh(self.term)


@pytest.fixture
def copier(moto_endpoint: str) -> tuple[Copier, Secrets, list[ObjectChange], Watcher]:
    """A copier following an Ingress watcher (driven by hand), in a term of its own."""
    sent: list[ObjectChange] = []
    cluster = Secrets()
    secrets = Copier(cluster="c", emit=sent.append, client=clients.secretsmanager, fetch=cluster.fetch)
    ingresses = Watcher(
        kind="Ingress",
        source=Unlisted(),
        cluster="c",
        emit=lambda _: None,
        wanted=lambda o: (o.get("spec") or {}).get("ingressClassName") == "alb",
    )
    secrets.follow(ingresses)
    secrets.begin()
    return secrets, cluster, sent, ingresses


def changed(watcher: Watcher, obj: Mapping[str, Any]) -> None:
    assert watcher.on_object is not None
    watcher.on_object(obj)


def test_copies_follow_the_secret_and_only_references_are_sent(
    copier: tuple[Copier, Secrets, list[ObjectChange], Watcher],
) -> None:
    secrets, cluster, sent, ingresses = copier
    sm = clients.secretsmanager()
    cluster.stored[KEY] = secret("one")
    changed(ingresses, naming("oidc"))
    secrets.read_all()
    secrets.begin()  # a restarted forwarder: the same Secret version again
    changed(ingresses, naming("oidc"))
    secrets.read_all()
    first = sm.describe_secret(SecretId=NAME)
    assert {"Key": "elbv2.k8s.aws/cluster", "Value": "c"} in first["Tags"]
    assert len(first["VersionIdsToStages"]) == 1
    assert sent[0].object["secretsManager"] == sent[1].object["secretsManager"]
    secrets.read_all()
    assert len(sent) == 2  # unchanged: read again, nothing sent
    cluster.stored[KEY] = secret("two", rv="3")  # rotated
    secrets.read_all()
    assert len(sm.describe_secret(SecretId=NAME)["VersionIdsToStages"]) == 2
    version = sent[2].object["secretsManager"]["versionId"]
    assert sm.get_secret_value(SecretId=NAME, VersionId=version)["SecretString"] == (
        '{"clientID": "client", "clientSecret": "two"}'
    )
    cluster.stored[KEY] = secret(None, rv="4")
    secrets.read_all()
    assert sent[3].object["missingKeys"] == ["clientSecret"]
    del cluster.stored[KEY]  # deleted
    secrets.read_all()
    assert (sent[4].action, sent[4].key, sent[4].resource_version) == ("delete", KEY, "4")
    assert "DeletedDate" in sm.describe_secret(SecretId=NAME)
    assert secrets.resync_part() == ([], "4")
    cluster.stored[KEY] = secret("three", rv="6")  # back again: restored, a new version
    secrets.read_all()
    assert "DeletedDate" not in sm.describe_secret(SecretId=NAME)
    assert secrets.resync_part() == ([KEY], "6")
    for item in sent:
        detail = item.to_detail()
        parse_detail(detail)  # the cloud side accepts it: names and a reference, nothing else
        assert "data" not in detail["object"]
        assert set(detail["object"]["metadata"]) <= {"name", "namespace", "resourceVersion"}


def test_only_secrets_named_by_forwarded_ingresses_are_read(
    copier: tuple[Copier, Secrets, list[ObjectChange], Watcher],
) -> None:
    secrets, cluster, sent, ingresses = copier
    cluster.stored[KEY] = secret("one")
    cluster.stored["shop/other"] = secret("x", name="other", uid="u-2")
    changed(ingresses, naming("other", cls="nginx", ingress="theirs"))  # not forwarded: names nothing
    secrets.read_all()
    assert cluster.reads == []
    changed(ingresses, naming("oidc"))
    secrets.read_all()
    assert cluster.reads == [KEY]
    assert [(c.action, c.key) for c in sent] == [("upsert", KEY)]
    assert ingresses.on_delete is not None
    ingresses.on_delete("shop/web")  # no longer named: its copy goes, and the cloud side hears so
    secrets.read_all()
    assert cluster.reads == [KEY]  # let go of without reading it
    assert [(c.action, c.key) for c in sent] == [("upsert", KEY), ("delete", KEY)]
    assert "DeletedDate" in clients.secretsmanager().describe_secret(SecretId=NAME)


def test_a_new_leadership_term_forgets_what_the_old_one_learnt(
    copier: tuple[Copier, Secrets, list[ObjectChange], Watcher],
) -> None:
    secrets, cluster, sent, ingresses = copier
    cluster.stored[KEY] = secret("one")
    changed(ingresses, naming("oidc"))
    secrets.read_all()
    ended = secrets.begin()
    assert (secrets.referenced, secrets.resync_part()) == (frozenset(), ([], "0"))
    changed(ingresses, naming("oidc"))  # the new term's list names it again
    ended.set()  # ...and the term ends before it is read: a term that ended sends nothing
    secrets.read_all()
    assert len(sent) == 1
    secrets.begin()
    changed(ingresses, naming("oidc"))
    secrets.sync(KEY, ended)  # an earlier term's worker, late: reads nothing for this one
    assert (len(cluster.reads), len(sent)) == (1, 1)
    secrets.read_all()
    assert (len(cluster.reads), len(sent)) == (2, 2)


def test_a_copy_that_fails_holds_up_no_other_secret_and_is_tried_again(
    copier: tuple[Copier, Secrets, list[ObjectChange], Watcher],
) -> None:
    """A refused copy is counted and read again later; the other Secrets go on."""
    secrets, cluster, sent, ingresses = copier
    secrets.retry_seconds = 0.05
    cluster.stored[KEY] = secret("one")
    cluster.stored["shop/other"] = secret("two", name="other", uid="u-2")
    with inject(Fault(service="secretsmanager", operation="CreateSecret", code="AccessDeniedException")) as [fault]:
        changed(ingresses, naming("oidc"))
        changed(ingresses, naming("other", ingress="second"))
        secrets.read_all()
    assert fault.raised == 1
    assert (secrets.failed, secrets.copied) == (1, 1)
    assert [c.key for c in sent] == ["shop/other"]  # the refused one sent nothing, not even a reference
    worker = threading.Thread(target=secrets.run, args=(secrets.term,), daemon=True)
    worker.start()
    try:
        wait_for("the refused copy tried again", lambda: secrets.copied == 2)
    finally:
        secrets.term.set()
        worker.join(timeout=5)
    assert sorted(c.key for c in sent) == ["shop/oidc", "shop/other"]


def test_a_running_forwarder_reads_only_the_named_secrets_by_name(forwarders: Forwarders, kube: KubeDouble) -> None:
    api = forwarders.api()
    core, net = k8s.CoreV1Api(api), k8s.NetworkingV1Api(api)
    core.create_namespace(body({"metadata": {"name": "shop"}}))
    data = dict(secret("one")["data"])
    core.create_namespaced_secret("shop", body({"metadata": {"name": "unrelated"}, "data": data}))
    net.create_namespaced_ingress("shop", body(naming("oidc")))  # names a Secret that does not exist yet
    bus = Bus("a")
    forwarder = forwarders.make(bus, resync_interval=0.5, lease_duration=15)  # one term, on a loaded machine too
    wait_for("the first Resync", bus.resyncs)
    assert bus.changes("Secret") == []

    # created after the Ingress naming it: found at a later read
    core.create_namespaced_secret("shop", body({"metadata": {"name": "oidc"}, "data": data}))
    [first] = wait_for("the Secret's reference", lambda: bus.changes("Secret"))
    assert (first["key"], first["action"]) == (KEY, "upsert")
    wait_for("a Resync that lists it", lambda: bus.resyncs()[-1]["keys"]["Secret"] == [KEY])

    # rotated: taken at the next Resync, no watch needed
    rotated = {**data, "clientSecret": base64.b64encode(b"rotated").decode()}
    core.patch_namespaced_secret("oidc", "shop", body({"data": rotated}))

    def versions() -> set[str]:
        return {d["object"]["secretsManager"]["versionId"] for d in bus.changes("Secret") if d["action"] == "upsert"}

    wait_for("the rotated Secret's new version", lambda: len(versions()) == 2)

    # no longer named: the copy goes and the cloud side hears so
    net.patch_namespaced_ingress("web", "shop", body({"metadata": {"annotations": {OIDC: None}}}))
    wait_for("the Secret let go of", lambda: bus.changes("Secret")[-1]["action"] == "delete", timeout=60)
    assert "DeletedDate" in clients.secretsmanager().describe_secret(SecretId=f"albatross/c/{KEY}")
    wait_for("a Resync without it", lambda: bus.resyncs()[-1]["keys"]["Secret"] == [])

    # the test itself only creates and patches Secrets: every GET is the forwarder's
    reads = [r for r in kube.requests if "/secrets" in r.path and r.method == "GET"]
    assert reads, "the Secret was read"
    assert {r.path for r in reads} == {"/api/v1/namespaces/shop/secrets/oidc"}  # by name: no list, no watch
    assert not any(r.query.get("watch") for r in reads)
    assert forwarder.secrets.reads >= len(reads)  # the double keeps the latest 1000 requests
