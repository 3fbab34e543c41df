"""OIDC client credentials (ADR 0005): read the Secrets that managed Ingresses name,
copy them into Secrets Manager and send only the copy's ARN and version.

Only Secrets named in the ``auth-idp-oidc`` annotation of a managed Ingress, or of a
Service one forwards to, are read, each by name: the forwarder never lists or watches
Secrets, so its RBAC is ``get`` on Secrets and nothing more (Secrets it is not told
about it never reads). A Secret is read when an Ingress or Service naming it changes
(or is listed), again on every Resync (a rotated Secret is noticed within
``RESYNC_SECONDS``), and every ``RETRY_SECONDS`` while it is missing or its copy failed
(a Secret created after the Ingress naming it). Which Secrets an object names is
:func:`albatross.contract.needs.oidc_secrets`, the model's reading of the annotation.
The client id and secret, read as LBC reads them (the legacy ``clientId`` key too,
trailing newlines trimmed: :func:`albatross.contract.oidc.credentials`), go into
``albatross/<cluster>/<namespace>/<name>`` (created with the cluster tag, or given a new
version only when the Secret changed: the version token is derived from its uid and
resourceVersion, never from the values). A Secret that is deleted or no longer named
has its copy scheduled for deletion. The events say ``Secret`` and carry names and the
reference; a Secret's data never leaves this process except towards Secrets Manager.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from albatross.contract import CLUSTER_TAG, ObjectChange, object_key
from albatross.contract.needs import oidc_secrets
from albatross.contract.oidc import change_object, copy_name, credentials, version_token
from albatross_forwarder.watch import Emit, Watcher

log = logging.getLogger("albatross.forwarder.secrets")
RECOVERY_DAYS = 7
RETRY_SECONDS = 30  # a Secret missing, unreadable or not copied is read again this much later

# (namespace, name) → the Secret as the API server returns it, or None when there is none
Fetch = Callable[[str, str], Mapping[str, Any] | None]


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class SecretCopier:
    """Follows which Secrets the forwarded Ingresses and Services name, reads each by
    name, and sends a reference-only change for each copy it makes.

    Per leadership term (:meth:`begin_term`): what is named, what was sent, and a worker
    (:meth:`run`) that reads what is due. :meth:`refresh` reads everything named, for
    the Resync, and :meth:`resync_part` is the Resync's view of the kind ``Secret``."""

    def __init__(
        self, *, cluster: str, emit: Emit, client: Callable[[], Any], fetch: Fetch, retry_seconds: float = RETRY_SECONDS
    ) -> None:
        self.cluster = cluster
        self.emit = emit
        self.fetch = fetch
        self.retry_seconds = retry_seconds
        self._make_client = client
        self._client: Any = None
        self._lock = threading.Lock()  # references, what is due
        self._sync = threading.Lock()  # one read-copy-send at a time; what was sent
        self._wake = threading.Event()
        self.references: dict[tuple[str, str], set[str]] = {}  # (kind, key) → Secrets it names
        self.referenced: frozenset[str] = frozenset()
        self._due: dict[str, float] = {}  # Secret → when to read it (monotonic)
        self.sent: dict[str, str] = {}  # Secret → the resourceVersion sent this term
        self.position = "0"  # the highest resourceVersion read this term
        self._stopped: threading.Event = threading.Event()  # the current term's end
        self.copied = 0
        self.failed = 0
        self.reads = 0

    # --- which Secrets are named --------------------------------------------------------

    def follow(self, watcher: Watcher) -> None:
        """Learn the Secrets named by what ``watcher`` forwards (an object it does not
        want names none), keeping the watcher's own hooks. Each change of an object
        that names a Secret reads that Secret again."""
        before_object, before_delete = watcher.on_object, watcher.on_delete
        kind, wanted = watcher.kind, watcher.wanted

        def on_object(obj: Mapping[str, Any]) -> None:
            if before_object is not None:
                before_object(obj)
            self._set((kind, object_key(obj)), oidc_secrets(obj) if wanted(obj) else set())

        def on_delete(key: str) -> None:
            if before_delete is not None:
                before_delete(key)
            self._set((kind, key), set())

        watcher.on_object, watcher.on_delete = on_object, on_delete

    def _set(self, source: tuple[str, str], named: set[str]) -> None:
        with self._lock:
            before = self.referenced
            if named:
                self.references[source] = named
            else:
                self.references.pop(source, None)
            self.referenced = frozenset().union(*self.references.values())
            # read what is named (again: it may have changed), let go of what no longer is
            due = named | (before - self.referenced)
            now = time.monotonic()
            for key in due:
                self._due[key] = now
        if due:
            self._wake.set()

    def begin_term(self, stopped: threading.Event) -> None:
        """A new leadership term: its watchers list everything again, so nothing learnt
        or sent before counts; ``stopped`` is set when the term ends."""
        with self._sync, self._lock:
            self.references, self.referenced, self._due = {}, frozenset(), {}
            self.sent, self.position, self._stopped = {}, "0", stopped

    # --- reading and copying --------------------------------------------------------------

    def run(self, until: threading.Event) -> None:
        """The term's worker: read each Secret when it is due."""
        while not until.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            with self._lock:
                now = time.monotonic()
                ready = sorted(k for k, at in self._due.items() if at <= now)
                for key in ready:
                    del self._due[key]
            for key in ready:
                self.sync(key, until)

    def refresh(self, term: threading.Event) -> None:
        """Read every Secret named now (and let go of those sent but no longer named),
        before a Resync of ``term``: a rotated Secret is copied and sent by then."""
        with self._lock:
            keys = sorted(self.referenced | set(self.sent))
        for key in keys:
            self.sync(key, term)

    def resync_part(self) -> tuple[list[str], str]:
        """The Resync's keys of kind ``Secret`` (each sent this term and still named) and
        its asOf mark (the highest resourceVersion read: a stored Secret newer than that
        is not judged)."""
        versions, position = self.resync_versions()
        return sorted(versions), position

    def resync_versions(self) -> tuple[dict[str, str], str]:
        """:meth:`resync_part` with the resourceVersion sent of each key."""
        with self._sync:
            return dict(self.sent), self.position

    def resend(self, key: str, term: threading.Event) -> str:
        """Ingest lost the change of Secret ``key`` sent this term (``term``: its end
        signal): read it and send it again (copying it again writes the same version),
        or its delete when it is gone or no longer named. Only a Secret sent this term;
        anything else is ``not-forwarded`` and read by no one. Returns ``sent``,
        ``deleted``, ``not-forwarded`` or ``failed`` (the read or the copy: logged,
        counted, and the Secret read again later, as any)."""
        with self._sync:
            if term is not self._stopped or term.is_set() or key not in self.sent:
                return "not-forwarded"
            failed = self.failed
            try:
                self._sync_one(key, again=True)
            except Exception as e:  # noqa: BLE001  # any failure: this Secret waits, the others go on
                self.failed += 1
                log.error("reading Secret %s failed (%s); retrying in %ds", key, _why(e), self.retry_seconds)
                self._later(key)
            if self.failed > failed:
                return "failed"
            return "sent" if key in self.sent else "deleted"

    def sync(self, key: str, term: threading.Event) -> None:
        """For ``term`` (its end signal), bring what was sent of Secret ``key`` up to
        date: read it if it is named, copy and send it if it changed, send its delete if
        it is gone or no longer named. Never raises: a failure is logged, counted and
        tried again later."""
        with self._sync:
            if term is not self._stopped or term.is_set():
                return  # a term that ended (or another's) sends nothing more
            try:
                self._sync_one(key)
            except Exception as e:  # noqa: BLE001  # any failure: this Secret waits, the others go on
                self.failed += 1
                log.error("reading Secret %s failed (%s); retrying in %ds", key, _why(e), self.retry_seconds)
                self._later(key)

    def _sync_one(self, key: str, *, again: bool = False) -> None:
        """``again``: copy and send it even if the version read is the one sent."""
        if key not in self.referenced:
            self._gone(key)
            return
        namespace, name = key.split("/", 1)
        self.reads += 1
        secret = self.fetch(namespace, name)
        if secret is None:
            if key not in self.sent:
                log.info("Secret %s is named but not found; looking again in %ds", key, self.retry_seconds)
            self._gone(key)
            self._later(key)
            return
        rv = str((secret.get("metadata") or {}).get("resourceVersion") or "0")
        if rv.isdigit() and int(rv) > int(self.position):
            self.position = rv
        if again or self.sent.get(key) != rv:
            self._copy(key, rv, secret)

    def _later(self, key: str) -> None:
        with self._lock:
            if key in self.referenced:
                self._due.setdefault(key, time.monotonic() + self.retry_seconds)

    def _gone(self, key: str) -> None:
        """The Secret is deleted or no longer named: drop its copy, send the delete."""
        rv = self.sent.pop(key, None)
        if rv is None:
            return
        self._drop(copy_name(cluster=self.cluster, key=key))
        namespace, name = key.split("/", 1)
        stub = {"metadata": {"name": name, "namespace": namespace, "resourceVersion": rv}}
        self.emit(self._change(key, rv, change_object(stub), action="delete"))

    def _copy(self, key: str, rv: str, secret: Mapping[str, Any]) -> None:
        values, missing = credentials(secret)
        if missing:
            log.warning("Secret %s lacks %s: not copied", key, " and ".join(missing))
            self.sent[key] = rv
            self.emit(self._change(key, rv, change_object(secret, missing=missing)))
            return
        name = copy_name(cluster=self.cluster, key=key)
        try:
            arn, version = self._store(name, values, version_token(secret, values))
        except Exception as e:  # noqa: BLE001  # any failure: this Secret waits, the others go on
            self.failed += 1
            log.error(
                "copying Secret %s to Secrets Manager failed (%s); retrying in %ds", key, _why(e), self.retry_seconds
            )
            self._later(key)
            return
        self.copied += 1
        self.sent[key] = rv
        self.emit(self._change(key, rv, change_object(secret, arn=arn, version=version)))

    def _change(self, key: str, rv: str, obj: Mapping[str, Any], action: str = "upsert") -> ObjectChange:
        return ObjectChange(
            cluster=self.cluster,
            kind="Secret",
            action="delete" if action == "delete" else "upsert",
            key=key,
            resource_version=rv,
            object=obj,
        )

    def client(self) -> Any:
        if self._client is None:
            self._client = self._make_client()
        return self._client

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


def _why(error: Exception) -> str:
    """What failed, never what was read: an AWS error code, an HTTP status, or the type."""
    if isinstance(error, ClientError):
        return _code(error)
    status = getattr(error, "status", None)
    return f"HTTP {status}" if status else type(error).__name__
