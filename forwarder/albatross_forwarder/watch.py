"""Our own list → watch loop for one kind.

The client's informer either re-sends everything or hides a 410 behind one silent
retry; this loop keeps only ``key → (resourceVersion, content hash)``, resumes a dropped
watch from the last resourceVersion with jittered backoff, and on 410 Gone lists again
and compares, so changes *and deletions* missed meanwhile are sent once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes.watch.watch import iter_resp_lines

from albatross.contract import ObjectChange, object_key, trim

log = logging.getLogger("albatross.forwarder.watch")

ListFn = Callable[..., Any]
Emit = Callable[[ObjectChange], None]


class Gone(Exception):
    """The watch's resourceVersion is too old: list again."""


@dataclass
class Seen:
    rv: str
    digest: str
    stub: Mapping[str, Any]  # enough metadata to name the object in a delete event


def _digest(obj: Mapping[str, Any]) -> str:
    body = {k: v for k, v in obj.items() if k != "metadata"}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in ("resourceVersion", "generation")}
    return hashlib.sha256(json.dumps([body, meta], sort_keys=True).encode()).hexdigest()


def _stub(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    keep = {k: meta[k] for k in ("name", "namespace", "labels", "annotations", "uid") if k in meta}
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": keep}


class Watcher:
    def __init__(
        self,
        *,
        kind: str,
        list_fn: ListFn,
        cluster: str,
        emit: Emit,
        wanted: Callable[[Mapping[str, Any]], bool] = lambda _: True,
        on_object: Callable[[Mapping[str, Any]], None] | None = None,
        on_delete: Callable[[str], None] | None = None,
        watch_timeout: int = 300,
        page_size: int = 500,
        namespaces: Collection[str] = (),
    ) -> None:
        self.kind = kind
        self.list_fn = list_fn
        self.cluster = cluster
        self.emit = emit
        self.wanted = wanted
        self.on_object = on_object
        self.on_delete = on_delete
        self.watch_timeout = watch_timeout
        self.page_size = page_size
        self.namespaces = frozenset(namespaces)  # empty: every namespace
        self.seen: dict[str, Seen] = {}
        self.synced = threading.Event()
        # the resourceVersion up to which every change has been taken into ``seen``
        # (a Resync's ``asOf``: newer objects are not judged by it)
        self.position = "0"
        self.relists = 0
        self.restarts = 0
        self._stop = threading.Event()
        self._relist = threading.Event()
        self._response: Any = None

    def fresh(self) -> Watcher:
        """A watcher like this one with no memory (a new leader lists everything again)."""
        return Watcher(
            kind=self.kind,
            list_fn=self.list_fn,
            cluster=self.cluster,
            emit=self.emit,
            wanted=self.wanted,
            on_object=self.on_object,
            on_delete=self.on_delete,
            watch_timeout=self.watch_timeout,
            page_size=self.page_size,
            namespaces=self.namespaces,
        )

    def _in_scope(self, obj: Mapping[str, Any]) -> bool:
        """Objects of namespaces not watched do not exist for this watcher (cluster-scoped
        ones have no namespace and always do)."""
        namespace = (obj.get("metadata") or {}).get("namespace")
        return not (self.namespaces and namespace and namespace not in self.namespaces)

    # --- sending --------------------------------------------------------------------

    def _upsert(self, obj: Mapping[str, Any]) -> None:
        if self._stop.is_set() or not self._in_scope(obj):
            return  # a stopped watcher (a replica no longer leading) sends nothing more
        if self.on_object is not None:
            self.on_object(obj)
        key = object_key(obj)
        if not self.wanted(obj):
            if key in self.seen:  # it was ours and no longer is: the cloud side must know
                self._delete(key, obj)
            return
        trimmed = trim(obj, self.kind)
        rv = str(trimmed["metadata"].get("resourceVersion", "0"))
        digest = _digest(trimmed)
        known = self.seen.get(key)
        if known is not None and known.digest == digest:
            known.rv = rv
            return
        self.seen[key] = Seen(rv=rv, digest=digest, stub=_stub(trimmed))
        self.emit(
            ObjectChange(
                cluster=self.cluster, kind=self.kind, action="upsert", key=key, resource_version=rv, object=trimmed
            )
        )

    def _delete(self, key: str, obj: Mapping[str, Any] | None, rv: str | None = None) -> None:
        if self._stop.is_set() or (obj is not None and not self._in_scope(obj)):
            return
        if self.on_delete is not None:
            self.on_delete(key)
        known = self.seen.pop(key, None)
        if known is None:
            return
        body = trim(obj, self.kind) if obj is not None else dict(known.stub)
        version = rv or str((body.get("metadata") or {}).get("resourceVersion") or known.rv)
        self.emit(
            ObjectChange(
                cluster=self.cluster, kind=self.kind, action="delete", key=key, resource_version=version, object=body
            )
        )

    # --- list and watch -----------------------------------------------------------

    def relist(self) -> str:
        """List everything (paginated); send what changed and what vanished."""
        self.relists += 1
        live: set[str] = set()
        token: str | None = None
        rv = "0"
        while True:
            kwargs: dict[str, Any] = {"limit": self.page_size, "_preload_content": False, "_request_timeout": (5, 120)}
            if token:
                kwargs["_continue"] = token
            resp = self.list_fn(**kwargs)
            page = json.loads(resp.data)
            for item in page.get("items", []):
                item.setdefault("kind", self.kind)
                if not self._in_scope(item):
                    continue
                live.add(object_key(item))
                self._upsert(item)
            rv = str(page.get("metadata", {}).get("resourceVersion", rv))
            token = page.get("metadata", {}).get("continue")
            if not token:
                break
        for key in sorted(set(self.seen) - live):
            self._delete(key, None, rv)
        self.position = rv
        self.synced.set()
        return rv

    def watch(self, rv: str) -> str:
        """Stream events from ``rv`` until the server ends the watch; returns the last rv."""
        resp = self.list_fn(
            watch=True,
            resource_version=rv,
            allow_watch_bookmarks=True,
            timeout_seconds=self.watch_timeout,
            _preload_content=False,
            _request_timeout=(5, self.watch_timeout + 30),
        )
        self._response = resp
        if self._relist.is_set():  # asked for while this watch was being opened
            resp.release_conn()
            self._response = None
            return rv
        try:
            lines: Iterator[str] = iter_resp_lines(resp)  # type: ignore[no-untyped-call]  # the client's helper is untyped
            for line in lines:
                if self._stop.is_set():
                    break
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise Gone(obj.get("message", "410 Gone"))
                    raise RuntimeError(f"watch error: {obj.get('message')}")
                rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                if kind != "BOOKMARK":
                    obj.setdefault("kind", self.kind)
                    if kind == "DELETED":
                        self._delete(object_key(obj), obj, rv)
                    else:
                        self._upsert(obj)
                self.position = rv
        finally:
            resp.release_conn()
            self._response = None
        return rv

    def relist_soon(self) -> None:
        """List again now (what is wanted changed, e.g. an IngressClass arrived)."""
        self._relist.set()
        resp = self._response
        if resp is not None:
            with contextlib.suppress(Exception):  # ends the current watch; run() lists again
                resp.shutdown()

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
        resp = self._response
        if resp is not None:
            with contextlib.suppress(Exception):  # best effort: the connection may be gone already
                resp.shutdown()
