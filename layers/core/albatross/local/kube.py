"""An HTTP double of the Kubernetes API on 127.0.0.1, for tests and ``albatross local``.

It speaks the real REST protocol, so the official ``kubernetes`` client and ``kubectl
get`` talk to it: list (with ``resourceVersion``; pages of ``limit`` items whose
``continue`` token holds the first page's snapshot, 410 Gone once that is compacted),
watch (newline-delimited JSON over a chunked response, bookmarks, 410 Gone for a version
older than the compaction horizon, or newer than the cluster after an etcd restore,
:meth:`Cluster.restore`), get/create/replace/delete, JSON patch and merge patch
(strategic merge is a merge patch whose ``conditions`` lists merge by ``type``, enough
for metadata and status; a ``metadata.uid`` in a patch is a precondition), the
``status`` subresource, 409 on a stale ``resourceVersion``, finalizers with
``deletionTimestamp``, and discovery documents; over TLS when given a server context
(:func:`kube_double`).

It also stands in for the workload and endpoints controllers: every Service with a
selector gets one EndpointSlice listing the pods of the Deployments it selects
(:mod:`albatross.local.pods`). A template change rolls the pods, :meth:`Cluster.drain`
evicts a node's pods, and both move one step every ``step_seconds`` (or per
:meth:`Cluster.step`), through the ``serving``/``terminating`` endpoint conditions.
The pods are API objects too (``pods``, read-only but for ``pods/status``): each step
publishes them (addresses, node, readiness gates, ``ContainersReady`` and ``Ready``,
``deletionTimestamp`` while terminating), and a readiness gate's condition written to a
pod's status passes the gate (:meth:`albatross.local.pods.Workloads.set_condition`), as
the kubelet would (ADR 0014).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import copy
import datetime
import hashlib
import json
import socket
import ssl
import sys
import threading
import uuid
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from albatross.contract.readiness import PREFIX as GATE_PREFIX
from albatross.local.pods import DRAINING, GATED, READY, Workloads, endpoint_slice
from albatross.local.pods import pod_ip as pod_ip  # tests name addresses through this module
from albatross.local.selectors import Selector, SelectorError
from albatross.local.selectors import parse as parse_selector
from albatross.local.tables import INCLUDE, table, wanted


def _image_id(image: str) -> str:
    """What a kubelet reports as a running container's ``imageID``: the image pinned to
    its digest (``repository@sha256:…``); here a digest of the name, as nothing is pulled."""
    repository = image.split("@", 1)[0].rsplit(":", 1)[0] if image else "unknown"
    return f"{repository}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


KINDS = (
    Kind("", "v1", "namespaces", "Namespace", False),
    Kind("", "v1", "services", "Service", True),
    Kind("", "v1", "events", "Event", True),
    Kind("", "v1", "nodes", "Node", False),
    Kind("", "v1", "secrets", "Secret", True),
    Kind("apps", "v1", "deployments", "Deployment", True),
    Kind("networking.k8s.io", "v1", "ingresses", "Ingress", True),
    Kind("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False),
    Kind("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    Kind("coordination.k8s.io", "v1", "leases", "Lease", True),
    Kind("elbv2.k8s.aws", "v1beta1", "ingressclassparams", "IngressClassParams", False),
    # the CRD forwarder/deploy/components/targetgroupbinding-crd ships (ADR 0013)
    Kind("elbv2.k8s.aws", "v1beta1", "targetgroupbindings", "TargetGroupBinding", True),
    # the workloads' pods (published by the stand-in) and ConfigMaps (the readiness gates')
    Kind("", "v1", "pods", "Pod", True),
    Kind("", "v1", "configmaps", "ConfigMap", True),
)
_BY_PATH = {(k.group, k.version, k.plural): k for k in KINDS}
# What the API server's discovery gives these kinds, so ``kubectl get svc`` and
# ``kubectl get all`` resolve as on a cluster
SHORT_NAMES = {
    "namespaces": ("ns",),
    "services": ("svc",),
    "events": ("ev",),
    "nodes": ("no",),
    "pods": ("po",),
    "configmaps": ("cm",),
    "deployments": ("deploy",),
    "ingresses": ("ing",),
}
ALL_CATEGORY = frozenset({"pods", "services", "deployments"})
_STATUS_KINDS = {"Ingress", "Service", "Deployment", "TargetGroupBinding", "Pod"}
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def status(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    """A strategic merge patch as the API server applies it to status: a merge patch,
    except that a ``conditions`` list merges by ``type`` (an entry replaces the one of
    its type, merged into it; the others stay)."""
    if field == "conditions" and isinstance(patch, list) and isinstance(target, list):
        out = [copy.deepcopy(c) for c in target]
        for entry in patch:
            kind = entry.get("type") if isinstance(entry, Mapping) else None
            index = next((i for i, c in enumerate(out) if isinstance(c, Mapping) and c.get("type") == kind), None)
            if index is None:
                out.append(merge_patch({}, entry))
            else:
                out[index] = merge_patch(out[index], entry)
        return out
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = strategic_merge(merged.get(key), value, key)
    return merged


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def json_patch(doc: Any, ops: list[Mapping[str, Any]]) -> Any:
    """RFC 6902 (add, remove, replace, test)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = _pointer(str(op["path"]))
        parent: Any = doc
        for part in parts[:-1]:
            parent = (
                parent[int(part)]
                if isinstance(parent, list)
                else parent.setdefault(part, {})
                if op["op"] == "add"
                else parent[part]
            )
        last = parts[-1]
        kind = op["op"]
        if kind == "test":
            current = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if current != op.get("value"):
                raise ApiError(422, "Invalid", f"test failed at {op['path']}")
        elif kind == "remove":
            if isinstance(parent, list):
                del parent[int(last)]
            else:
                del parent[last]
        elif kind in ("add", "replace"):
            if isinstance(parent, list):
                if last == "-":
                    parent.append(op["value"])
                elif kind == "add":
                    parent.insert(int(last), op["value"])
                else:
                    parent[int(last)] = op["value"]
            else:
                parent[last] = op["value"]
        else:
            raise ApiError(422, "Invalid", f"unsupported patch op {kind}")
    return doc


class Cluster:
    """The object store, its event log and the endpoints stand-in."""

    def __init__(self) -> None:
        self._objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        # (resourceVersion, plural, namespace, event, object, the object before it or None)
        self._log: list[tuple[int, str, str, str, dict[str, Any], dict[str, Any] | None]] = []
        # each live object as last logged: the "before" of its next change (selected watches)
        self._last: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._rv = 100
        self._cond = threading.Condition()
        self.compacted = 0  # watches from a resourceVersion below this get 410 Gone
        self.workloads = Workloads()
        # Rollouts and drains move one step this often; None: only when step() is called.
        self.step_seconds: float | None = 0.5
        self._timer: threading.Timer | None = None

    # --- store -------------------------------------------------------------------------

    def _bump(self, kind: Kind, event: str, obj: dict[str, Any]) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        namespace = obj["metadata"].get("namespace", "")
        key = (kind.plural, namespace, obj["metadata"]["name"])
        logged = copy.deepcopy(obj)
        before = self._last.pop(key, None) if event == "DELETED" else self._last.get(key)
        if event != "DELETED":
            self._last[key] = logged
        self._log.append((self._rv, kind.plural, namespace, event, logged, before))
        self._cond.notify_all()

    def resource_version(self) -> int:
        with self._cond:
            return self._rv

    def restore(self, rv: int) -> None:
        """An etcd restore from a backup taken at ``rv``: every object as it was then, the
        event log cut there and the resourceVersion counter back at ``rv``, so the next
        changes get versions clients have seen already. A watch from a later version
        than the counter ends with 410 Gone (its client lists again), as a restored API
        server cannot serve it."""
        with self._cond:
            if not 0 < rv <= self._rv:
                raise ValueError(f"a backup at {rv} is not in this cluster's history (now {self._rv})")
            plurals = {k.plural for k in KINDS}
            self._last = {
                (plural, ns, name): obj for plural in plurals for (ns, name), obj in self._state_at(plural, rv).items()
            }
            self._objects = {key: copy.deepcopy(obj) for key, obj in self._last.items()}
            self._log = self._log[: bisect.bisect_right(self._log, rv, key=lambda e: e[0])]
            self._rv = rv
            self._cond.notify_all()

    def list_page(
        self,
        kind: Kind,
        namespace: str | None,
        *,
        limit: int = 0,
        token: str | None = None,
        selector: Selector | None = None,
    ) -> tuple[list[dict[str, Any]], int, str | None]:
        """One page of a list: the items, the list's resourceVersion and the ``continue``
        token for the next page (None after the last). Every page of a list shows the
        cluster as it was at the first page, as the API server's snapshot does. With a
        ``selector``, only the objects it matches, ``limit`` of them a page."""
        with self._cond:
            at, after = (self._rv, None) if token is None else _read_token(token)
            if at < self.compacted:
                raise ApiError(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter.",
                )
            state = self._state_at(kind.plural, at)
            keys = sorted(
                k
                for k, obj in state.items()
                if (namespace is None or k[0] == namespace) and (not selector or selector.matches(obj))
            )
            if after is not None:
                keys = keys[bisect.bisect_right(keys, after) :]
            page = keys[:limit] if limit > 0 else keys
            items = [copy.deepcopy(state[k]) for k in page]
            more = len(page) < len(keys)
            return items, at, _write_token(at, page[-1]) if more else None

    def _state_at(self, plural: str, rv: int) -> dict[tuple[str, str], dict[str, Any]]:
        """``(namespace, name) → object`` of a kind as of ``rv`` (not copied): the store
        itself for the newest version, else replayed from the event log."""
        if rv >= self._rv:
            return {(ns, name): o for (p, ns, name), o in self._objects.items() if p == plural}
        state: dict[tuple[str, str], dict[str, Any]] = {}
        for _, p, ns, event, obj, _ in self._log[: bisect.bisect_right(self._log, rv, key=lambda e: e[0])]:
            if p == plural:
                key = (ns, obj["metadata"]["name"])
                if event == "DELETED":
                    state.pop(key, None)
                else:
                    state[key] = obj
        return state

    def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
        with self._cond:
            obj = self._objects.get((kind.plural, namespace, name))
            if obj is None:
                raise ApiError(404, "NotFound", f'{kind.plural} "{name}" not found')
            return copy.deepcopy(obj)

    def create(self, kind: Kind, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(dict(body))
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name")
        if not name:
            raise ApiError(422, "Invalid", "metadata.name is required")
        if kind.namespaced:
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        obj.update(apiVersion=kind.api_version, kind=kind.kind)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1)
        with self._cond:
            key = (kind.plural, meta.get("namespace", ""), name)
            if key in self._objects:
                raise ApiError(409, "AlreadyExists", f'{kind.plural} "{name}" already exists')
            self._objects[key] = obj
            self._bump(kind, "ADDED", obj)
            out = copy.deepcopy(obj)
        self._after_change(kind)
        return out

    def update(self, kind: Kind, namespace: str, name: str, new: Mapping[str, Any], *, status: bool) -> dict[str, Any]:
        """Replace an object (or only its status); honours resourceVersion preconditions."""
        with self._cond:
            key = (kind.plural, namespace, name)
            old = self._objects.get(key)
            if old is None:
                raise ApiError(404, "NotFound", f'{kind.plural} "{name}" not found')
            want_rv = (new.get("metadata") or {}).get("resourceVersion")
            if want_rv and want_rv != old["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'{kind.plural} "{name}": the object has been modified; '
                    "please apply your changes to the latest version",
                )
            obj = copy.deepcopy(old)
            if status:
                obj["status"] = copy.deepcopy(new.get("status"))
            else:
                keep_status = obj.get("status")
                obj = copy.deepcopy(dict(new))
                if kind.kind in _STATUS_KINDS:
                    obj["status"] = keep_status
                for field in ("uid", "creationTimestamp", "deletionTimestamp", "namespace", "name"):
                    if field in old["metadata"]:
                        obj.setdefault("metadata", {})[field] = old["metadata"][field]
                    else:
                        obj.setdefault("metadata", {}).pop(field, None)
                obj.update(apiVersion=kind.api_version, kind=kind.kind)
                if obj.get("spec") != old.get("spec"):
                    obj["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
            if obj == old:
                return copy.deepcopy(old)  # no-op updates do not bump resourceVersion
            if obj["metadata"].get("deletionTimestamp") and not obj["metadata"].get("finalizers"):
                del self._objects[key]
                self._bump(kind, "DELETED", obj)
            else:
                self._objects[key] = obj
                self._bump(kind, "MODIFIED", obj)
            if kind.kind == "Pod" and status:
                self._gates_passed(obj)
            out = copy.deepcopy(obj)
        self._after_change(kind)
        return out

    def patch(
        self, kind: Kind, namespace: str, name: str, content_type: str, patch: Any, *, status: bool
    ) -> dict[str, Any]:
        """Apply a patch atomically; only a merge patch that names a resourceVersion (or a
        JSON patch ``test`` on it) is a precondition."""
        with self._cond:
            current = self.get(kind, namespace, name)
            uid = (patch.get("metadata") or {}).get("uid") if isinstance(patch, Mapping) else None
            if uid and uid != current["metadata"].get("uid"):
                raise ApiError(
                    409,
                    "Conflict",
                    f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                    f"{current['metadata'].get('uid')}",
                )
            if "json-patch" in content_type:
                if not isinstance(patch, list):
                    raise ApiError(400, "BadRequest", "a JSON patch must be a list of operations")
                new = json_patch(current, patch)
            elif "strategic-merge-patch" in content_type:
                new = strategic_merge(current, patch)
            else:
                new = merge_patch(current, patch)
            if not _has_rv(patch):
                new.setdefault("metadata", {}).pop("resourceVersion", None)
            return self.update(kind, namespace, name, new, status=status)

    def delete(self, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
        with self._cond:
            key = (kind.plural, namespace, name)
            obj = self._objects.get(key)
            if obj is None:
                raise ApiError(404, "NotFound", f'{kind.plural} "{name}" not found')
            if obj["metadata"].get("finalizers"):
                if not obj["metadata"].get("deletionTimestamp"):
                    obj["metadata"]["deletionTimestamp"] = _now()
                    self._bump(kind, "MODIFIED", obj)
                out = copy.deepcopy(obj)
            else:
                del self._objects[key]
                self._bump(kind, "DELETED", obj)
                out = copy.deepcopy(obj)
        self._after_change(kind)
        return out

    def events_since(
        self, plural: str, namespace: str | None, rv: int, selector: Selector | None = None
    ) -> list[tuple[int, str, dict[str, Any]]]:
        """The watch events of a kind after ``rv``. With a ``selector``, as the API server
        sends them: a change into the selection is ADDED, one out of it DELETED (the
        object as it was, at the change's resourceVersion), one outside it nothing."""
        return self.scan(plural, namespace, rv, selector)[0]

    def scan(
        self, plural: str, namespace: str | None, rv: int, selector: Selector | None = None
    ) -> tuple[list[tuple[int, str, dict[str, Any]]], int]:
        """:meth:`events_since`, and the resourceVersion the scan reached (a watch may
        go on from there: nothing up to it that the selector passes was left out)."""
        with self._cond:
            newer = self._log[bisect.bisect_right(self._log, rv, key=lambda e: e[0]) :]
            out = []
            for r, p, ns, event, obj, before in newer:
                if p != plural or (namespace is not None and ns != namespace):
                    continue
                if not selector:
                    out.append((r, event, copy.deepcopy(obj)))
                    continue
                now = event != "DELETED" and selector.matches(obj)
                was = before is not None and selector.matches(before)
                if now:
                    out.append((r, "MODIFIED" if was else "ADDED", copy.deepcopy(obj)))
                elif was and before is not None:
                    gone = copy.deepcopy(obj if event == "DELETED" else before)
                    gone["metadata"]["resourceVersion"] = str(r)
                    out.append((r, "DELETED", gone))
            return out, newer[-1][0] if newer else rv

    def wait(self, timeout: float, since: int | None = None) -> None:
        """Wait for a change, at most ``timeout`` seconds; with ``since``, not at all when
        the resourceVersion has moved past it already (a change made before the wait)."""
        with self._cond:
            if since is None or self._rv == since:
                self._cond.wait(timeout)

    # --- the workload and endpoints controllers stand-in --------------------------------

    def _after_change(self, kind: Kind) -> None:
        if kind.kind in ("Service", "Deployment"):
            self.sync_endpoints()

    def _schedulable(self) -> list[str]:
        return sorted(
            o["metadata"]["name"]
            for (p, _, _), o in self._objects.items()
            if p == "nodes" and not (o.get("spec") or {}).get("unschedulable")
        )

    def sync_endpoints(self) -> None:
        """Follow the Deployments with their pods, then publish each selecting Service's
        EndpointSlice (under the lock: two syncs never write out of order)."""
        slices = _kind("endpointslices")
        with self._cond:
            services = [copy.deepcopy(o) for (p, _, _), o in self._objects.items() if p == "services"]
            deployments = [copy.deepcopy(o) for (p, _, _), o in self._objects.items() if p == "deployments"]
            self.workloads.observe(deployments, self._schedulable())
            self._publish_pods(deployments)
            self._publish_rollouts(deployments)
            for svc in services:
                selector = (svc.get("spec") or {}).get("selector")
                if not selector:
                    continue
                meta = svc["metadata"]
                selected = [
                    d for d in deployments if _selects(selector, d) and d["metadata"]["namespace"] == meta["namespace"]
                ]
                wanted = endpoint_slice(svc, deployments=selected, workloads=self.workloads)
                name = wanted["metadata"]["name"]
                try:
                    current = self.get(slices, meta["namespace"], name)
                except ApiError:
                    self.create(slices, meta["namespace"], wanted)
                    continue
                if current.get("endpoints") != wanted["endpoints"] or current.get("ports") != wanted["ports"]:
                    current.update(endpoints=wanted["endpoints"], ports=wanted["ports"])
                    self.update(slices, meta["namespace"], name, current, status=False)
            self._schedule_step()

    def _gates_passed(self, pod: Mapping[str, Any]) -> None:
        """A pod's readiness gate conditions, as written to its status, for the stand-in."""
        meta = pod["metadata"]
        for c in (pod.get("status") or {}).get("conditions") or []:
            if isinstance(c, Mapping) and str(c.get("type", "")).startswith(GATE_PREFIX + "/"):
                self.workloads.set_condition(
                    meta["namespace"], meta["name"], c["type"], status=c.get("status") == "True"
                )

    def _publish_rollouts(self, deployments: list[dict[str, Any]]) -> None:
        """Each Deployment's status as the deployment controller keeps it (``kubectl get
        deploy`` reads READY, UP-TO-DATE and AVAILABLE from it), written in place: a
        status write is no change of the Deployment for the workloads to follow."""
        kind = _kind("deployments")
        for d in deployments:
            meta = d["metadata"]
            key = ("deployments", meta["namespace"], meta["name"])
            current = self._objects.get(key)
            if current is None:
                continue
            status = {**self.workloads.status(meta["namespace"], meta["name"])}
            if "generation" in current["metadata"]:
                status["observedGeneration"] = current["metadata"]["generation"]
            if (current.get("status") or {}) != status:
                new = copy.deepcopy(current)
                new["status"] = status
                self._objects[key] = new
                self._bump(kind, "MODIFIED", new)

    def _publish_pods(self, deployments: list[dict[str, Any]]) -> None:
        """Each workload pod as a Pod object: made, changed or deleted to match. Conditions
        written to a pod's status stay, as they do on a real pod."""
        pods = _kind("pods")
        wanted: dict[tuple[str, str], dict[str, Any]] = {}
        for d in deployments:
            meta = d["metadata"]
            template = (d.get("spec") or {}).get("template") or {}
            labels = dict((template.get("metadata") or {}).get("labels") or {})
            containers = (template.get("spec") or {}).get("containers") or []
            for p in self.workloads.pods(meta["namespace"], meta["name"]):
                address = pod_ip(meta["namespace"], meta["name"], p.address)
                containers_ready = p.phase in (GATED, READY, DRAINING)
                obj: dict[str, Any] = {
                    "metadata": {"name": p.name, "namespace": meta["namespace"], "labels": labels},
                    "spec": {"containers": containers, **({"nodeName": p.node} if p.node else {})},
                    "status": {
                        # the containers run from the pod's first moment (no image pulls here)
                        "phase": "Running",
                        "podIP": address,
                        "podIPs": [{"ip": address}],
                        "containerStatuses": [
                            {
                                "name": c.get("name", ""),
                                "image": c.get("image", ""),
                                # the API requires imageID (the kubelet's resolved digest):
                                # a stable stand-in derived from the image's name
                                "imageID": _image_id(str(c.get("image", ""))),
                                "ready": containers_ready,
                                "started": True,
                                "restartCount": 0,
                                "state": {"running": {}},
                            }
                            for c in containers
                            if isinstance(c, Mapping)
                        ],
                        "conditions": [
                            {"type": "ContainersReady", "status": str(containers_ready)},
                            {"type": "Ready", "status": str(p.phase == READY)},
                        ],
                    },
                }
                if p.gates:
                    obj["spec"]["readinessGates"] = [{"conditionType": g} for g in p.gates]
                if not p.live:
                    obj["metadata"]["deletionTimestamp"] = _now()
                wanted[(meta["namespace"], p.name)] = obj
        stored = {(ns, name): o for (plural, ns, name), o in self._objects.items() if plural == "pods"}
        for (ns, name), obj in wanted.items():
            current = stored.get((ns, name))
            if current is None:
                self.create(pods, ns, obj)
                continue
            new = copy.deepcopy(current)
            written = [
                c
                for c in (current.get("status") or {}).get("conditions") or []
                if str(c.get("type", "")).startswith(GATE_PREFIX + "/")
            ]
            new["metadata"]["labels"] = obj["metadata"]["labels"]
            new["spec"] = obj["spec"]
            new["status"] = obj["status"] | {"conditions": obj["status"]["conditions"] + written}
            if current["metadata"].get("deletionTimestamp"):
                new["metadata"]["deletionTimestamp"] = current["metadata"]["deletionTimestamp"]
            elif "deletionTimestamp" in obj["metadata"]:
                new["metadata"]["deletionTimestamp"] = obj["metadata"]["deletionTimestamp"]
            if new != current:  # written in place: update() keeps deletionTimestamp as it was
                self._objects[("pods", ns, name)] = new
                self._bump(pods, "MODIFIED", new)
        for ns, name in set(stored) - set(wanted):
            self.delete(pods, ns, name)

    def step(self) -> bool:
        """Move every rollout and drain on by one pod phase (see :mod:`albatross.local.pods`)
        and publish the EndpointSlices; returns whether any pod changed."""
        with self._cond:
            changed = self.workloads.step(self._schedulable())
            if changed:
                self.sync_endpoints()
            return changed

    def settle(self, limit: int = 100) -> int:
        """Step until no pod moves; returns the steps that changed something."""
        steps = 0
        while steps < limit and self.step():
            steps += 1
        return steps

    def drain(self, node: str) -> None:
        """``kubectl drain``: cordon the node (``unschedulable``, and the taint the node
        lifecycle controller adds) and evict its pods, whose replacements start elsewhere."""
        nodes = _kind("nodes")
        with self._cond:
            obj = self.get(nodes, "", node)
            spec = obj.setdefault("spec", {})
            spec["unschedulable"] = True
            spec["taints"] = [t for t in spec.get("taints") or [] if t.get("key") != UNSCHEDULABLE_TAINT] + [
                {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}
            ]
            self.update(nodes, "", node, obj, status=False)
            if self.workloads.evict(node, self._schedulable()):
                self.sync_endpoints()

    def _schedule_step(self) -> None:
        if self.step_seconds is None or self._timer is not None or not self.workloads.moving():
            return
        self._timer = threading.Timer(self.step_seconds, self._timed_step)
        self._timer.daemon = True
        self._timer.start()

    def _timed_step(self) -> None:
        with self._cond:
            self._timer = None
            if self.step_seconds is not None:
                self.step()
                self._schedule_step()

    def stop(self) -> None:
        """No more timed steps."""
        with self._cond:
            self.step_seconds = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None


def _write_token(rv: int, last: tuple[str, str]) -> str:
    """A ``continue`` token: the snapshot's resourceVersion and the last key sent."""
    return base64.urlsafe_b64encode(json.dumps({"rv": rv, "after": list(last)}).encode()).decode()


def _read_token(token: str) -> tuple[int, tuple[str, str]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        namespace, name = data["after"]
        return int(data["rv"]), (str(namespace), str(name))
    except (binascii.Error, ValueError, TypeError, KeyError) as e:
        raise ApiError(400, "BadRequest", f"invalid continue token: {token!r}") from e


def _has_rv(patch: Any) -> bool:
    return isinstance(patch, Mapping) and bool((patch.get("metadata") or {}).get("resourceVersion"))


def _kind(plural: str) -> Kind:
    return next(k for k in KINDS if k.plural == plural)


def _selects(selector: Mapping[str, str], deployment: Mapping[str, Any]) -> bool:
    labels = (((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def _parse_path(path: str) -> tuple[Kind, str | None, str | None, str | None]:
    """(kind, namespace, name, subresource) for a resource path, or raise 404."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"]:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise ApiError(404, "NotFound", f"no route for {path}")
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest:
        raise ApiError(404, "NotFound", f"no route for {path}")
    kind = _BY_PATH.get((group, version, rest[0]))
    if kind is None:
        raise ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    return kind, namespace, name, sub


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # the base class's name
        return

    def _send(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null")
        except json.JSONDecodeError as e:
            raise ApiError(400, "BadRequest", f"body is not JSON: {e}") from e

    def _route(self, method: str) -> None:
        cluster = self.server.cluster
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.server.requests.append(Request(method, url.path, query, self.headers.get("Content-Type")))
        try:
            fault = self.server.faults.pop(0) if self.server.faults else None
            if fault is not None:
                raise ApiError(fault, "InternalError" if fault >= 500 else "TooManyRequests", "injected fault")
            if method == "GET" and self._discovery(url.path):
                return
            kind, namespace, name, sub = _parse_path(url.path)
            if method == "GET" and name is None:
                selector = self._selector(kind, query)
                if query.get("watch") in ("1", "true"):
                    self._watch(kind, namespace, query, selector)
                    return
                limit = int(query.get("limit") or 0)
                items, rv, token = cluster.list_page(
                    kind, namespace, limit=limit, token=query.get("continue") or None, selector=selector
                )
                meta = {"resourceVersion": str(rv)} | ({"continue": token} if token else {})
                self._send(
                    200,
                    self._table(kind, items, query, meta)
                    or {"kind": f"{kind.kind}List", "apiVersion": kind.api_version, "metadata": meta, "items": items},
                )
            elif method == "GET":
                obj = cluster.get(kind, namespace or "", name or "")
                meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
                self._send(200, self._table(kind, [obj], query, meta) or obj)
            elif method == "POST":
                self._send(201, cluster.create(kind, namespace or "", self._body()))
            elif method == "PUT" and name:
                self._send(200, cluster.update(kind, namespace or "", name, self._body(), status=sub == "status"))
            elif method == "PATCH" and name:
                content_type = self.headers.get("Content-Type", "")
                self._send(
                    200, cluster.patch(kind, namespace or "", name, content_type, self._body(), status=sub == "status")
                )
            elif method == "DELETE" and name:
                self._send(200, cluster.delete(kind, namespace or "", name))
            else:
                raise ApiError(405, "MethodNotAllowed", f"{method} not allowed on {url.path}")
        except ApiError as e:
            self._send(e.code, e.status())

    def _selector(self, kind: Kind, query: Mapping[str, str]) -> Selector:
        try:
            return parse_selector(
                kind.kind, labels=query.get("labelSelector") or "", fields=query.get("fieldSelector") or ""
            )
        except SelectorError as e:
            raise ApiError(400, "BadRequest", str(e)) from e

    def _table(
        self, kind: Kind, items: list[dict[str, Any]], query: Mapping[str, str], metadata: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The server-side Table the Accept header asks for (:mod:`albatross.local.tables`),
        or None for plain JSON."""
        version = wanted(self.headers.get("Accept"))
        if version is None:
            return None
        include = query.get("includeObject") or "Metadata"
        if include not in INCLUDE:
            raise ApiError(
                400,
                "BadRequest",
                f'includeObject: Unsupported value: "{include}": supported values: "None", "Object", "Metadata"',
            )
        return table(kind.kind, items, version=version, include=include, metadata=metadata)

    def _discovery(self, path: str) -> bool:
        if path == "/api":
            self._send(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        elif path == "/apis":
            versions: dict[str, str] = {k.group: k.version for k in KINDS if k.group}
            self._send(
                200,
                {
                    "kind": "APIGroupList",
                    "apiVersion": "v1",
                    "groups": [
                        {
                            "name": g,
                            "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                            "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v},
                        }
                        for g, v in sorted(versions.items())
                    ],
                },
            )
        elif path in ("/api/v1",) or (path.startswith("/apis/") and path.count("/") == 3):
            gv = "v1" if path == "/api/v1" else path[len("/apis/") :]
            self._send(
                200,
                {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": gv,
                    "resources": [
                        {
                            "name": k.plural,
                            "singularName": k.kind.lower(),
                            "namespaced": k.namespaced,
                            "kind": k.kind,
                            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                            **({"shortNames": list(SHORT_NAMES[k.plural])} if k.plural in SHORT_NAMES else {}),
                            **({"categories": ["all"]} if k.plural in ALL_CATEGORY else {}),
                        }
                        for k in KINDS
                        if k.api_version == gv
                    ],
                },
            )
        elif path == "/version":
            self._send(200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0-albatross-double"})
        else:
            return False
        return True

    def _watch(self, kind: Kind, namespace: str | None, query: Mapping[str, str], selector: Selector) -> None:
        cluster = self.server.cluster
        rv = int(query.get("resourceVersion") or cluster.resource_version())
        timeout = float(query.get("timeoutSeconds") or 300)
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            if rv < cluster.compacted:
                gone = ApiError(410, "Expired", f"too old resource version: {rv} ({cluster.compacted})")
                self._chunk({"type": "ERROR", "object": gone.status()})
            else:
                self._stream(kind, namespace, rv, bookmarks, deadline, selector=selector, query=query)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):  # the client went away
            return
        finally:
            timer.cancel()

    def _stream(
        self,
        kind: Kind,
        namespace: str | None,
        rv: int,
        bookmarks: bool,
        deadline: threading.Event,
        *,
        selector: Selector,
        query: Mapping[str, str],
    ) -> None:
        cluster = self.server.cluster
        while not deadline.is_set() and not self.server.stopping.is_set():
            # The version first, then the scan: every change up to ``current`` is in the
            # log by then, so a scan that finds none of this kind may bookmark it. Read
            # after the scan, it could pass a change made meanwhile, never to be sent.
            current = cluster.resource_version()
            if rv > current:  # the cluster was restored to an earlier version (Cluster.restore)
                gone = ApiError(410, "Expired", f"resource version {rv} is not in this cluster's history ({current})")
                self._chunk({"type": "ERROR", "object": gone.status()})
                return
            if selector:
                events, scanned = cluster.scan(kind.plural, namespace, rv, selector)
            else:
                events, scanned = cluster.events_since(kind.plural, namespace, rv), rv
            for r, event, obj in events:
                meta = {"resourceVersion": str(r)}
                self._chunk({"type": event, "object": self._table(kind, [obj], query, meta) or obj})
                rv = r
            if selector:  # the changes it left out need no second look
                rv = max(rv, scanned)
            if not events:
                if bookmarks:
                    rv = max(rv, current)
                    bookmark = {
                        "kind": kind.kind,
                        "apiVersion": kind.api_version,
                        "metadata": {"resourceVersion": str(rv)},
                    }
                    self._chunk({"type": "BOOKMARK", "object": bookmark})
                cluster.wait(0.5, since=current)

    def _chunk(self, event: Mapping[str, Any]) -> None:
        data = json.dumps(event).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def do_GET(self) -> None:  # http.server's naming
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_DELETE(self) -> None:
        self._route("DELETE")


@dataclass(frozen=True)
class Request:
    """A request as the double received it."""

    method: str
    path: str
    query: Mapping[str, str]
    content_type: str | None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cluster: Cluster, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.cluster = cluster
        self.tls = tls
        self.stopping = threading.Event()
        self.faults: list[int] = []
        self.requests: deque[Request] = deque(maxlen=1000)  # the latest, for tests to look at

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError)):
            return  # a client that went away mid-request (over TLS, without closing it first)
        super().handle_error(request, client_address)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.tls is not None:  # the handshake happens on the first read, in the request's thread
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address


@dataclass
class KubeDouble:
    cluster: Cluster
    url: str
    server: _Server

    def inject(self, *codes: int) -> None:
        """Fail the next requests with these HTTP status codes (5xx, 429)."""
        self.server.faults.extend(codes)

    @property
    def requests(self) -> list[Request]:
        """The last thousand requests received, oldest first."""
        return list(self.server.requests)


# The IngressClass a cluster running LBC has (its Helm chart makes it), which the offline
# system's cluster holds from the start: Ingresses naming ``alb`` name a class that exists.
ALB_CLASS: Mapping[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "IngressClass",
    "metadata": {"name": "alb"},
    "spec": {"controller": "ingress.k8s.aws/alb"},
}


@contextmanager
def kube_double(
    tls: ssl.SSLContext | None = None, *, objects: Sequence[Mapping[str, Any]] = ()
) -> Iterator[KubeDouble]:
    """The double on a free port of 127.0.0.1; over HTTPS with ``tls``, a server context
    holding the certificate (as an API server's, for clients configured as in a pod).
    ``objects``: what the cluster holds from the start (``ALB_CLASS``, say)."""
    cluster = Cluster()
    for obj in objects:
        kind = next(k for k in KINDS if (k.api_version, k.kind) == (obj.get("apiVersion"), obj.get("kind")))
        cluster.create(kind, str((obj.get("metadata") or {}).get("namespace") or ""), obj)
    server = _Server(cluster, tls)
    thread = threading.Thread(target=server.serve_forever, name="kube-double", daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    try:
        yield KubeDouble(cluster=cluster, url=f"{scheme}://127.0.0.1:{server.server_address[1]}", server=server)
    finally:
        cluster.stop()
        server.stopping.set()
        server.shutdown()
        server.server_close()
