"""Our own list → watch loop for one kind.

The client's informer either re-sends everything or hides a 410 behind one silent
retry; this loop keeps only ``key → (content hash, resourceVersion, delete stub)`` in one
``bytes`` per object (:class:`Seen`, the stub compressed), lists page by page (waiting
while the sender's backlog is full), resumes a dropped watch from
the last resourceVersion with jittered backoff, and on 410 Gone lists again and
compares, so changes *and deletions* missed meanwhile are sent once.

No single object can stop a watch: an error raised while handling one object (its data,
or a bug its data reaches, e.g. JSON nested past the parser's depth) is logged, counted
in ``skipped`` and the object left out, and the list or watch goes on. Only errors of
talking to the API server end a watch, which resumes and so handles the object again.

The resourceVersion remembered is that of the content last *sent* (an update that
changed nothing sent leaves it): the Resync lists it, and ingest asks for an object
again (:meth:`Watcher.resend`) when what it holds is older, so a change whose delivery
was lost is sent once more, read afresh, whether or not it changed since.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import threading
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, Protocol

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from albatross.contract import ObjectChange, object_key, trim
from albatross_forwarder.kube import Stream

log = logging.getLogger("albatross.forwarder.watch")

Emit = Callable[[ObjectChange], None]


class Source(Protocol):
    """Where a watcher lists and watches its kind (:class:`albatross_forwarder.kube.Collection`)."""

    def list(self, *, limit: int, cont: str | None = None) -> Mapping[str, Any]: ...

    def watch(self, *, rv: str, timeout: int) -> Stream: ...


class Gone(Exception):
    """The watch's resourceVersion is too old: list again."""


# Not an object's fault: the API server or the network failed a call made while handling
# it (a finalizer patch). These end the watch, which resumes from where it was, so the
# object is handled again; anything else raised on one object skips that object only.
TRANSIENT: tuple[type[Exception], ...] = (ApiException, HTTPError, OSError)


DIGEST_BYTES = 16
# Backlog: the sender's entries not yet accepted above which a watcher waits before the
# next object. Unbounded, a 100,000-object list queued ~18,000 entries (some 35 MiB of
# Detail JSON) faster than PutEvents took them; 1,000 entries is a few MiB and 100 calls.
MAX_BACKLOG = 1_000


class Packer:
    """Compresses the delete stubs of one watcher's objects against a dictionary: the
    first stub it packs. Stubs of one kind share most of their text (apiVersion, kind,
    label and annotation keys, the namespace), so each shrinks to what is its own (raw
    deflate, no header): the benchmark's Ingress stubs, about 550 bytes of JSON, to
    under 50."""

    def __init__(self) -> None:
        self.zdict: bytes | None = None

    def pack(self, stub: Mapping[str, Any]) -> bytes:
        text = json.dumps(stub, separators=(",", ":")).encode()
        if self.zdict is None:
            self.zdict = text  # set once: every blob packed since is read with it
        squeeze = zlib.compressobj(wbits=-15, zdict=self.zdict)
        return squeeze.compress(text) + squeeze.flush()

    def unpack(self, blob: bytes) -> dict[str, Any]:
        inflate = zlib.decompressobj(wbits=-15, zdict=self.zdict or b"")
        stub: dict[str, Any] = json.loads(inflate.decompress(blob) + inflate.flush())
        return stub


class Seen(bytes):
    """What a watcher remembers of an object it sent, packed in one ``bytes``: the
    content digest (16 bytes), the resourceVersion sent, a NUL, and the stub a delete
    event carries when the object vanished unseen (a list no longer has it), compact
    JSON compressed by the watcher's :class:`Packer`: about 60 bytes of data for the
    benchmark's objects (an Ingress's took 620 uncompressed), about 200 an object in
    all with the ``bytes`` header, the key and the dict entry."""

    __slots__ = ()

    @classmethod
    def of(cls, digest: bytes, rv: str, stub: bytes) -> Seen:
        return cls(digest + rv.encode() + b"\0" + stub)

    @property
    def digest(self) -> bytes:
        return self[:DIGEST_BYTES]

    @property
    def rv(self) -> str:
        return self[DIGEST_BYTES : self.index(0, DIGEST_BYTES)].decode()

    def packed_stub(self) -> bytes:
        return bytes(self[self.index(0, DIGEST_BYTES) + 1 :])


def _digest(obj: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in obj.items() if k != "metadata"}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in ("resourceVersion", "generation")}
    text = json.dumps([body, meta], sort_keys=True, separators=(",", ":")).encode()
    return hashlib.blake2b(text, digest_size=DIGEST_BYTES).digest()


def _older(rv: str, than: str) -> bool:
    """Whether resourceVersion ``rv`` is older than ``than`` (decimal ones only: others
    are opaque, and not judged)."""
    return rv.isascii() and rv.isdigit() and than.isascii() and than.isdigit() and int(rv) < int(than)


# (namespace or None, name) → the object as the API server has it now, None when it has
# none (404); an API or transport error is raised
Fetch = Callable[[str | None, str], Mapping[str, Any] | None]


def _stub(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    keep = {k: meta[k] for k in ("name", "namespace", "labels", "annotations", "uid") if k in meta}
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": keep}


class Watcher:
    def __init__(
        self,
        *,
        kind: str,
        source: Source,
        cluster: str,
        emit: Emit,
        wanted: Callable[[Mapping[str, Any]], bool] = lambda _: True,
        on_object: Callable[[Mapping[str, Any]], None] | None = None,
        on_delete: Callable[[str], None] | None = None,
        watch_timeout: int = 300,
        page_size: int = 100,
        namespaces: Collection[str] = (),
        before_list: Callable[[], None] | None = None,
        backlog: Callable[[], int] | None = None,
        max_backlog: int = MAX_BACKLOG,
    ) -> None:
        """``page_size``: objects a list page asks for; the parsed page is most of what a
        list holds at once (with 500, RSS peaked about 5 MiB higher at 10,000 objects).
        ``before_list``: called as each full list starts. ``backlog``: entries sent but
        not yet delivered (the sender's); over ``max_backlog``, the watcher waits before
        its next object, so a list never queues more than that in memory."""
        self.kind = kind
        self.source = source
        self.cluster = cluster
        self.emit = emit
        self.wanted = wanted
        self.on_object = on_object
        self.on_delete = on_delete
        self.watch_timeout = watch_timeout
        self.page_size = page_size
        self.namespaces = frozenset(namespaces)  # empty: every namespace
        self.before_list = before_list
        self.backlog = backlog
        self.max_backlog = max_backlog
        self.seen: dict[str, Seen] = {}
        self.packer = Packer()
        # What is sent and remembered changes under this lock: the watch and a resend
        # (the write-back consumer's thread) may handle the same object at once.
        self._lock = threading.RLock()
        self.synced = threading.Event()
        # the resourceVersion up to which every change has been taken into ``seen``
        # (a Resync's ``asOf``: newer objects are not judged by it)
        self.position = "0"
        self.relists = 0
        self.restarts = 0
        self.skipped = 0  # objects whose handling raised: logged and left out
        self._stop = threading.Event()
        self._relist = threading.Event()
        self._stream: Stream | None = None

    def fresh(self) -> Watcher:
        """A watcher like this one with no memory (a new leader lists everything again)."""
        return Watcher(
            kind=self.kind,
            source=self.source,
            cluster=self.cluster,
            emit=self.emit,
            wanted=self.wanted,
            on_object=self.on_object,
            on_delete=self.on_delete,
            watch_timeout=self.watch_timeout,
            page_size=self.page_size,
            namespaces=self.namespaces,
            before_list=self.before_list,
            backlog=self.backlog,
            max_backlog=self.max_backlog,
        )

    def _in_scope(self, obj: Mapping[str, Any]) -> bool:
        """Objects of namespaces not watched do not exist for this watcher (cluster-scoped
        ones have no namespace and always do)."""
        namespace = (obj.get("metadata") or {}).get("namespace")
        return not (self.namespaces and namespace and namespace not in self.namespaces)

    # --- sending --------------------------------------------------------------------

    def _upsert(self, obj: Mapping[str, Any], *, again: bool = False) -> str:
        """Send ``obj`` if it changed (``again``: even if not, unless the watch has sent
        a newer version already); returns what became of it: ``sent``, ``unchanged``,
        ``deleted`` (no longer wanted) or ``not-forwarded``."""
        if self._stop.is_set() or not self._in_scope(obj):
            return "not-forwarded"  # a stopped watcher (a replica no longer leading) sends nothing more
        if self.on_object is not None and not again:
            self.on_object(obj)  # a resend reads what the watch handled already: no side effects again
        key = object_key(obj)
        with self._lock:
            if not self.wanted(obj):
                if key in self.seen:  # it was ours and no longer is: the cloud side must know
                    self._delete(key, obj)
                    return "deleted"
                return "not-forwarded"
            trimmed = trim(obj, self.kind)
            rv = str(trimmed["metadata"].get("resourceVersion", "0"))
            digest = _digest(trimmed)
            known = self.seen.get(key)
            if known is not None and (_older(rv, known.rv) if again else known.digest == digest):
                return "unchanged"
            self.seen[key] = Seen.of(digest, rv, self.packer.pack(_stub(trimmed)))
            self.emit(
                ObjectChange(
                    cluster=self.cluster, kind=self.kind, action="upsert", key=key, resource_version=rv, object=trimmed
                )
            )
            return "sent"

    def send_ahead(self, obj: Mapping[str, Any]) -> str:
        """Send ``obj``, read by another watcher's need before this one lists (the first
        list's order: a Service and its slices ahead of the Ingress needing them), as
        this watcher's own list would: remembered, so that list does not send it again."""
        return self._upsert(obj)

    def _delete(self, key: str, obj: Mapping[str, Any] | None, rv: str | None = None) -> None:
        if self._stop.is_set() or (obj is not None and not self._in_scope(obj)):
            return
        if self.on_delete is not None:
            self.on_delete(key)
        with self._lock:
            known = self.seen.pop(key, None)
            if known is None:
                return
            body = trim(obj, self.kind) if obj is not None else self.packer.unpack(known.packed_stub())
            # without a version of its own: the one last sent (at the same version a
            # deletion wins over the live snapshot in ingest)
            version = rv or str((body.get("metadata") or {}).get("resourceVersion") or known.rv)
            self.emit(
                ObjectChange(
                    cluster=self.cluster,
                    kind=self.kind,
                    action="delete",
                    key=key,
                    resource_version=version,
                    object=body,
                )
            )

    def sent_versions(self) -> dict[str, str]:
        """key → the resourceVersion last sent, of every object remembered (a Resync's
        keys and versions)."""
        with self._lock:
            return {key: seen.rv for key, seen in self.seen.items()}

    def resend(self, key: str, fetch: Fetch) -> str:
        """Read object ``key`` afresh and send it again, changed or not (its delete, when
        it is gone): ingest holds an older version than this watcher sent, a delivery
        was lost. Only an object this watcher forwards (it sent it and remembers it) is
        read; anything else is ``not-forwarded`` and costs no call. Returns ``sent``,
        ``deleted``, ``unchanged`` (the watch has sent a newer version meanwhile) or
        ``not-forwarded``; an API or transport error is raised."""
        if self._stop.is_set() or key not in self.seen:
            return "not-forwarded"
        namespace, _, name = key.rpartition("/")
        found = fetch(namespace or None, name)
        if found is None:
            with self._lock:
                if key not in self.seen:
                    return "not-forwarded"  # the watch saw it go meanwhile, and sent its delete
                self._delete(key, None)
            return "deleted"
        obj = dict(found)
        obj.setdefault("kind", self.kind)
        return self._upsert(obj, again=True)

    # --- list and watch -----------------------------------------------------------

    def relist(self) -> str:
        """List everything (paginated); send what changed and what vanished."""
        self.relists += 1
        if self.before_list is not None:
            self.before_list()
        live: set[str] = set()
        token: str | None = None
        rv = "0"
        while True:
            page = self.source.list(limit=self.page_size, cont=token)
            meta = page.get("metadata") or {}
            rv, token = str(meta.get("resourceVersion", rv)), meta.get("continue")
            # one page in memory at a time, each object let go of once handled
            items = list(reversed(page.get("items") or []))
            del page
            while items:
                self._wait_for_room()
                item = items.pop()
                with self._one_object(item, "listed"):
                    item.setdefault("kind", self.kind)
                    if self._in_scope(item):
                        live.add(object_key(item))  # live even if handling it fails: no delete
                        self._upsert(item)
                del item
            if not token:
                break
        for key in sorted(set(self.seen) - live):
            self._delete(key, None, rv)
        self.position = rv
        self.synced.set()
        return rv

    def watch(self, rv: str) -> str:
        """Stream events from ``rv`` until the server ends the watch; returns the last rv."""
        stream = self._stream = self.source.watch(rv=rv, timeout=self.watch_timeout)
        if self._relist.is_set():  # asked for while this watch was being opened
            stream.release()
            self._stream = None
            return rv
        try:
            for event in stream:
                if self._stop.is_set():
                    break
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise Gone(obj.get("message", "410 Gone"))
                    raise RuntimeError(f"watch error: {obj.get('message')}")
                meta = obj.get("metadata") if isinstance(obj, Mapping) else None
                rv = str((meta.get("resourceVersion") if isinstance(meta, Mapping) else None) or rv)
                if kind != "BOOKMARK":
                    self._wait_for_room()
                    with self._one_object(obj, str(kind)):
                        obj.setdefault("kind", self.kind)
                        if kind == "DELETED":
                            self._delete(object_key(obj), obj, rv)
                        else:
                            self._upsert(obj)
                self.position = rv
        finally:
            stream.release()
            self._stream = None
        return rv

    def _wait_for_room(self) -> None:
        """Wait while the sender holds more than ``max_backlog`` entries (or until stopped):
        what is read meanwhile stays with the API server, not in this process."""
        if self.backlog is None:
            return
        while self.backlog() > self.max_backlog and not self._stop.wait(0.05):
            pass

    @contextlib.contextmanager
    def _one_object(self, obj: Any, how: str) -> Iterator[None]:
        """Handle one object: what it raises (but a failed API call) skips it alone."""
        try:
            yield
        except TRANSIENT:
            raise
        except Exception as e:  # noqa: BLE001  # whatever one object's data causes must not end the watch
            self.skipped += 1
            meta = obj.get("metadata") if isinstance(obj, Mapping) else None
            name = (
                "/".join(str(meta.get(k)) for k in ("namespace", "name") if meta.get(k))
                if isinstance(meta, Mapping)
                else ""
            )
            log.error(
                "%s %s (%s) skipped: handling it raised %s: %s",
                self.kind,
                name or "(unnamed)",
                how,
                type(e).__name__,
                str(e)[:200],
            )

    def relist_soon(self) -> None:
        """List again now (what is wanted changed, e.g. an IngressClass arrived)."""
        self._relist.set()
        stream = self._stream
        if stream is not None:
            stream.close()  # ends the current watch; run() lists again

    def run(self) -> None:
        rv: str | None = None
        failures = 0
        while not self._stop.is_set():
            try:
                if rv is None or self._relist.is_set():
                    self._relist.clear()
                    rv = self.relist()
                rv = self.watch(rv)
                failures = 0
            except Gone:
                log.info("%s watch expired, listing again", self.kind)
                rv = None
            except Exception as e:  # noqa: BLE001  # any transport or server error: back off, resume
                if self._stop.is_set():
                    break
                if self._relist.is_set():
                    continue
                status = getattr(e, "status", None)
                if status == 410:
                    rv = None
                    continue
                if status in (403, 404):
                    # The kind is not served (an optional CRD not installed) or not ours to
                    # read (RBAC): nothing to send; look again later. It counts as listed, so
                    # a Resync still goes out: its asOf for this kind ("0") judges nothing.
                    if not self.synced.is_set():
                        why = "forbidden to this service account" if status == 403 else "not served by this cluster"
                        log.warning("%s is %s; checking again every minute", self.kind, why)
                    self.synced.set()
                    self._stop.wait(60)
                    continue
                failures += 1
                self.restarts += 1
                delay = min(30.0, 0.2 * 2**failures) * random.uniform(0.5, 1.0)  # noqa: S311  # jitter, not crypto
                log.warning("%s watch failed (%s), resuming in %.1fs", self.kind, e, delay)
                self._stop.wait(delay)

    def stop(self) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.close()
