"""OIDC client credentials (ADR 0005): copy the Secrets that managed Ingresses name into
Secrets Manager and send only the copy's ARN and version.

Only Secrets named in the ``auth-idp-oidc`` annotation of a managed Ingress, or of a
Service one forwards to, are copied: ``clientID`` and ``clientSecret`` go into
``albatross/<cluster>/<namespace>/<name>`` (created with the cluster tag, or given a new
version only when the Secret changed: the version token is derived from its uid and
resourceVersion, never from the values). A Secret
that is deleted or no longer named has its copy scheduled for deletion. The events say
``Secret`` and carry names and the reference; a Secret's data never leaves this process
except towards Secrets Manager.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from albatross.contract import CLUSTER_TAG, ObjectChange, object_key
from albatross.contract.oidc import change_object, copy_name, credentials, oidc_secrets, version_token
from albatross_forwarder.watch import Emit, Source, Watcher

log = logging.getLogger("albatross.forwarder.secrets")
RECOVERY_DAYS = 7
RETRY_SECONDS = 30  # a copy that failed is tried again by a list this much later


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class SecretCopier:
    """Follows which Secrets the forwarded Ingresses and Services name, and turns the
    Secret watcher's changes into copies plus reference-only events."""

    def __init__(
        self, *, cluster: str, emit: Emit, client: Callable[[], Any], watchers: Callable[[], Sequence[Watcher]]
    ) -> None:
        """``watchers``: the forwarder's current watchers (each leadership term has new
        ones), among them the Secret watcher and those :meth:`follow` was given."""
        self.cluster = cluster
        self.emit = emit
        self._make_client = client
        self._client: Any = None
        self._watchers = watchers
        self._lock = threading.Lock()
        self.references: dict[tuple[str, str], set[str]] = {}  # (kind, key) → Secrets it names
        self._terms: dict[tuple[str, str], Watcher | None] = {}  # the Secret watcher current when set
        self.referenced: frozenset[str] = frozenset()
        self.copied = 0
        self.failed = 0

    def current(self, kind: str) -> Watcher | None:
        return next((w for w in self._watchers() if w.kind == kind), None)

    # --- which Secrets are needed -----------------------------------------------------

    def follow(self, watcher: Watcher) -> None:
        """Learn the Secrets named by what ``watcher`` forwards (an object it does not
        want names none), keeping the watcher's own hooks."""
        before_object, before_delete = watcher.on_object, watcher.on_delete

        def on_object(obj: Mapping[str, Any]) -> None:
            if before_object is not None:
                before_object(obj)
            named = oidc_secrets(obj) if watcher.wanted(obj) else set()
            self._set((watcher.kind, object_key(obj)), named)

        def on_delete(key: str) -> None:
            if before_delete is not None:
                before_delete(key)
            self._set((watcher.kind, key), set())

        watcher.on_object, watcher.on_delete = on_object, on_delete

    def wanted(self, secret: Mapping[str, Any]) -> bool:
        return object_key(secret) in self.referenced

    def _set(self, source: tuple[str, str], named: set[str]) -> None:
        secrets = self.current("Secret")
        with self._lock:
            if named:
                self.references[source], self._terms[source] = named, secrets
            else:
                self.references.pop(source, None)
                self._terms.pop(source, None)
            changed = self._update()
        if changed and secrets is not None:
            secrets.relist_soon()  # send a newly named Secret now, let go of an unnamed one

    def _update(self) -> bool:
        now = frozenset().union(*self.references.values())
        changed, self.referenced = now != self.referenced, now
        return changed

    def prune(self) -> None:
        """Forget what was learnt in earlier leadership terms (each term has a new Secret
        watcher). Called once the current term's Ingresses and Services have listed:
        every object still naming a Secret has said so again by then, and an object
        deleted between terms sent no delete here."""
        current = self.current("Secret")
        with self._lock:
            for source, term in list(self._terms.items()):
                if term is not current:
                    del self.references[source], self._terms[source]
            self._update()

    # --- copies -------------------------------------------------------------------------

    def client(self) -> Any:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def on_change(self, change: ObjectChange) -> None:
        """The Secret watcher's emit: copy (or drop the copy), then send the reference."""
        name = copy_name(cluster=self.cluster, key=change.key)
        if change.action == "delete":
            self._drop(name)
            self.emit(_replace(change, change_object(change.object)))
            return
        values, missing = credentials(change.object)
        if missing:
            log.warning("Secret %s lacks %s: not copied", change.key, " and ".join(missing))
            self.emit(_replace(change, change_object(change.object, missing=missing)))
            return
        try:
            arn, version = self._store(name, values, version_token(change.object, values))
        except Exception as e:  # noqa: BLE001  # any failure: this Secret waits, the others go on
            # Raising would end the watcher's list midway: later Secrets never copied, the
            # kind never synced, so no Resync at all. Forget this one and list again later.
            self.failed += 1
            secrets = self.current("Secret")
            if secrets is not None:
                secrets.seen.pop(change.key, None)
                timer = threading.Timer(RETRY_SECONDS, secrets.relist_soon)
                timer.daemon = True
                timer.start()
            log.error(
                "copying Secret %s to Secrets Manager failed (%s); retrying in %ds",
                change.key,
                _code(e) if isinstance(e, ClientError) else type(e).__name__,
                RETRY_SECONDS,
            )
            return
        self.copied += 1
        self.emit(_replace(change, change_object(change.object, arn=arn, version=version)))

    def _store(self, name: str, values: Mapping[str, str], token: str) -> tuple[str, str]:
        """Create the copy, or add a version; a write of the same Secret version (same token)
        creates nothing. A copy scheduled for deletion is restored first."""
        sm, body = self.client(), json.dumps(dict(values), sort_keys=True)
        try:
            made = sm.create_secret(
                Name=name,
                SecretString=body,
                ClientRequestToken=token,
                Description="OIDC client credentials copied by the Albatross forwarder (ADR 0005)",
                Tags=[{"Key": CLUSTER_TAG, "Value": self.cluster}],
            )
            return str(made["ARN"]), str(made["VersionId"])
        except ClientError as e:
            # exists, or (InvalidRequestException) exists and is scheduled for deletion
            if _code(e) not in ("ResourceExistsException", "InvalidRequestException"):
                raise
        if "DeletedDate" in sm.describe_secret(SecretId=name):
            sm.restore_secret(SecretId=name)
        put = sm.put_secret_value(SecretId=name, SecretString=body, ClientRequestToken=token)
        return str(put["ARN"]), str(put["VersionId"])

    def _drop(self, name: str) -> None:
        try:
            self.client().delete_secret(SecretId=name, RecoveryWindowInDays=RECOVERY_DAYS)
        except ClientError as e:
            if _code(e) not in ("ResourceNotFoundException", "InvalidRequestException"):  # gone, or going
                log.warning("scheduling the deletion of %s failed (%s); it stays", name, _code(e))


def _replace(change: ObjectChange, obj: Mapping[str, Any]) -> ObjectChange:
    return ObjectChange(
        cluster=change.cluster,
        kind=change.kind,
        action=change.action,
        key=change.key,
        resource_version=change.resource_version,
        object=obj,
    )


def secret_watcher(
    copier: SecretCopier,
    *,
    source: Source,
    after: Sequence[str],
    watch_timeout: int = 300,
    namespaces: Sequence[str] = (),
) -> Watcher:
    """The Secret watcher. Each list waits for the current watchers of the ``after``
    kinds (Ingress, Service) to have listed, so it, and hence a Resync, already knows
    which Secrets are named; ``source`` should skip Helm release Secrets (big, never
    named) server-side, and pages are small."""
    for kind in after:
        watcher = copier.current(kind)
        if watcher is not None:
            copier.follow(watcher)

    def before_list() -> None:
        for kind in after:
            watcher = copier.current(kind)
            if watcher is not None:
                watcher.synced.wait(60)
        copier.prune()

    return Watcher(
        kind="Secret",
        source=source,
        cluster=copier.cluster,
        emit=copier.on_change,
        wanted=copier.wanted,
        watch_timeout=watch_timeout,
        page_size=50,
        namespaces=namespaces,
        before_list=before_list,
    )
