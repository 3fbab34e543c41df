"""Wire the forwarder: leader election, one watcher thread per kind, the coalescer, the
sender, the write-back consumer, the finalizer for managed Ingresses, and the health and
metrics server. ``albatross-forwarder --help`` lists the flags (each also read from the
environment).

Only the leader works. Each stretch of leadership (a term) starts with fresh watchers,
so a new leader lists everything and sends a Resync; losing the Lease stops the term's
watchers and write-back consumer at once. What was queued for EventBridge is still sent.

The Resync lists, per kind, every live key and the resourceVersion last sent of each;
ingest answers with ``resend`` write-backs naming what it holds older (a delivery was
lost), and the term's consumer has that term's watchers read and send them again.

Pod readiness gates (ADR 0014), on with ``--readiness-gates`` (the ``readiness-webhook``
component sets it, with ``--webhook-cert-dir``): the leader's term also watches Pods and
sends only those gated on a target group (trimmed), and every replica, leader or not,
watches the gates ConfigMap in its own namespace; with a certificate, every replica also
answers the admission webhook from it (:mod:`albatross_forwarder.webhook`).

Delivery failures (:mod:`albatross_forwarder.delivery`): the Ingresses whose changes
(theirs, or their Services' and slices') were given up get a ``FailedDeliverEvents``
Warning, at most one per Ingress every ``--delivery-warning-seconds``; ``/readyz``
fails once PutEvents has accepted nothing for ``--unready-after-failing-seconds``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
from kubernetes.client.exceptions import ApiException

from albatross.contract import (
    KINDS,
    ClassInfo,
    ObjectChange,
    Resync,
    WriteBack,
    bindings,
    class_info,
    finalizer_for,
    ingress_is_ours,
    membership,
    object_key,
    params_group,
    params_name,
    services_of,
)
from albatross.contract.readiness import GATES_CONFIGMAP, gates_of
from albatross_forwarder import heap, webhook
from albatross_forwarder import kube as k8s
from albatross_forwarder.coalesce import SERVICE_LABEL, Coalescer, slices_bucket
from albatross_forwarder.delivery import REASON as DELIVERY_REASON
from albatross_forwarder.delivery import DeliveryWarnings
from albatross_forwarder.health import HealthServer, Metric
from albatross_forwarder.leader import LeaderElector
from albatross_forwarder.secrets import SecretCopier
from albatross_forwarder.sender import Sender
from albatross_forwarder.watch import Fetch, Watcher
from albatross_forwarder.webhook import Certificate, GateTable, WebhookServer
from albatross_forwarder.writeback import RESEND_RESULTS, WriteBackConsumer

log = logging.getLogger("albatross.forwarder")


@dataclass(frozen=True)
class Config:
    cluster: str
    event_bus: str
    writeback_queue_url: str
    ingress_class: str = "alb"
    watch_timeout: int = 300
    writeback_wait: int = 20
    namespaces: tuple[str, ...] = ()  # namespaced kinds: only these (empty: all)
    lease_name: str = "albatross-forwarder"
    lease_namespace: str = "default"
    lease_duration: int = 15
    identity: str = field(default_factory=lambda: _identity(socket.gethostname()))
    health_address: str = "0.0.0.0"  # noqa: S104  # the kubelet probes the pod IP
    health_port: int | None = None  # None: no health server (embedding, most tests); 0: any free port
    resync_interval: float = 600.0  # seconds; 0: only on start and on becoming leader
    debounce: float = 0.2
    max_wait: float = 1.0
    bucket: str = ""  # the payload bucket for claim checks (empty: oversize entries are dropped)
    # pod readiness gates (ADR 0014): the Pod and gates ConfigMap watches (implied by a
    # certificate), and the webhook's serving certificate directory (tls.crt, tls.key)
    readiness_gates: bool = False
    webhook_cert_dir: str = ""
    webhook_address: str = "0.0.0.0"  # noqa: S104  # the API server calls the pod IP
    webhook_port: int = webhook.PORT  # 0: any free port
    # delivery failures: /readyz fails once PutEvents has accepted nothing this long (0:
    # never), and an Ingress gets at most one FailedDeliverEvents Warning this often
    unready_after_failing: float = 300.0
    delivery_warning_interval: float = 300.0


def _identity(pod: str) -> str:
    """The pod's name and a random suffix: a restarted container is a new candidate."""
    return f"{pod}_{uuid.uuid4().hex[:8]}"


@dataclass
class _Term:
    """One stretch of leadership: its watchers, threads and stop signal."""

    watchers: list[Watcher]
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)


# Where each watched kind is read by name, for a resend.
RESOURCES = {
    "Ingress": k8s.INGRESSES,
    "IngressClass": k8s.INGRESS_CLASSES,
    "IngressClassParams": k8s.INGRESS_CLASS_PARAMS,
    "Service": k8s.SERVICES,
    "EndpointSlice": k8s.ENDPOINT_SLICES,
    "Namespace": k8s.NAMESPACES,
    "Node": k8s.NODES,
    bindings.KIND: k8s.TARGET_GROUP_BINDINGS,
    "Pod": k8s.PODS,
}


def reader(kube: k8s.Kube, resource: k8s.Resource) -> Fetch:
    """Reads one object of ``resource`` by name: the object, or None when there is none.

    A list selecting the name, not a get: the forwarder may list and watch these kinds
    but get only Ingresses (and Secrets), and every kind takes the ``metadata.name``
    field selector. A list without a resourceVersion reads the latest, as a get does; the
    items are matched by name again (a server ignoring the selector answers with more)."""

    def fetch(namespace: str | None, name: str) -> dict[str, Any] | None:
        page = kube.call("GET", resource.path(namespace), query={"fieldSelector": f"metadata.name={name}"})
        for item in page.get("items") or []:
            meta = item.get("metadata") if isinstance(item, dict) else None
            if isinstance(meta, dict) and meta.get("name") == name and meta.get("namespace") == namespace:
                return dict(item)
        return None

    return fetch


def _slice_service(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace')}/{(meta.get('labels') or {}).get('kubernetes.io/service-name', '')}"


def is_managed(obj: Mapping[str, Any], ingress_class: str, classes: Mapping[str, ClassInfo] | None = None) -> bool:
    return ingress_is_ours(obj, classes=classes or {}, configured=ingress_class)


class Forwarder:
    def __init__(
        self, config: Config, *, kube: k8s.Kube, events_client: Any, sqs_client: Any, s3_client: Any = None
    ) -> None:
        self.config = config
        self.kube = kube
        self.sender = Sender(
            events_client=events_client,
            bus_name=config.event_bus,
            s3_client=s3_client,
            make_s3_client=lambda: boto3.client("s3"),
            bucket=config.bucket,
            on_failed=self._undelivered,
        )
        self.delivery = DeliveryWarnings(
            record=self._warn_undelivered, bus=config.event_bus, interval=config.delivery_warning_interval
        )
        self.classes: dict[str, ClassInfo] = {}
        self.class_params: dict[str, str] = {}  # IngressClass → its IngressClassParams
        self.params_groups: dict[str, str] = {}  # IngressClassParams → the group it sets
        self.references: dict[str, tuple[str, ...]] = {}  # managed Ingress → the Services it needs
        self.bound: dict[str, str] = {}  # served TargetGroupBinding → the Service it binds
        # Service → how many of those need it: each change costs its own Services only (a
        # union of every Ingress's Services on each change was quadratic in the Ingresses)
        self.referenced: Counter[str] = Counter()
        self._refs_lock = threading.Lock()
        common = {
            "cluster": config.cluster,
            "emit": self._emit,
            "watch_timeout": config.watch_timeout,
            "namespaces": config.namespaces,
            "backlog": self.sender.pending,  # a list waits for delivery rather than queue it all
        }
        self.watchers = [
            Watcher(
                kind="Ingress",
                source=kube.collection(k8s.INGRESSES),
                wanted=lambda o: is_managed(o, config.ingress_class, self.classes),
                on_object=self._on_ingress,
                on_delete=self._forget_ingress,
                **common,  # type: ignore[arg-type]  # checked keys
            ),
            Watcher(
                kind="IngressClass",
                source=kube.collection(k8s.INGRESS_CLASSES),
                on_object=self._remember_class,
                **common,  # type: ignore[arg-type]  # checked keys
            ),
            Watcher(
                kind="IngressClassParams",
                source=kube.collection(k8s.INGRESS_CLASS_PARAMS),
                on_object=self._remember_params,
                **common,  # type: ignore[arg-type]  # checked keys
            ),
            # only the Services a managed Ingress needs, and their slices
            Watcher(
                kind="Service",
                source=kube.collection(k8s.SERVICES),
                wanted=lambda o: object_key(o) in self.referenced,
                **common,  # type: ignore[arg-type]  # checked keys
            ),
            Watcher(
                kind="EndpointSlice",
                source=kube.collection(k8s.ENDPOINT_SLICES),
                wanted=lambda o: _slice_service(o) in self.referenced,
                **common,  # type: ignore[arg-type]  # checked keys
            ),
            # labels only matter (IngressClassParams namespace selectors); unchanged
            # namespaces are dropped by the content digest
            Watcher(kind="Namespace", source=kube.collection(k8s.NAMESPACES), **common),  # type: ignore[arg-type]  # checked keys
            # instance-mode targets; trimmed to what makes a node serve (no heartbeats). Small
            # pages: a Node lists its images and conditions (10-20 KB, parsed five times that)
            Watcher(kind="Node", source=kube.collection(k8s.NODES), page_size=50, **common),  # type: ignore[arg-type]  # checked keys
            # users' target groups bound to a Service (ADR 0013); not those LBC generated
            # for its own stacks. Their Services are needed as an Ingress's are.
            Watcher(
                kind=bindings.KIND,
                source=kube.collection(k8s.TARGET_GROUP_BINDINGS),
                wanted=bindings.served,
                on_object=self._on_binding,
                on_delete=self._forget_binding,
                **common,  # type: ignore[arg-type]  # checked keys
            ),
        ]
        # Pod readiness gates (ADR 0014): only pods gated on a target group are sent (their
        # gates are fixed at creation, so others never become wanted), trimmed to what
        # registration reads; small pages, as a pod's full object is large
        self.gates = GateTable()
        self.gates_watcher: Watcher | None = None
        if config.readiness_gates or config.webhook_cert_dir:
            self.watchers.append(
                Watcher(
                    kind="Pod",
                    source=kube.collection(k8s.PODS),
                    wanted=lambda o: bool(gates_of(o)),
                    page_size=50,
                    **common,  # type: ignore[arg-type]  # checked keys
                )
            )
            # the gates to inject, as the leader stored them: read by every replica
            self.gates_watcher = Watcher(
                kind="ConfigMap",
                source=kube.collection(
                    k8s.CONFIGMAPS, field_selector=f"metadata.name={GATES_CONFIGMAP}", namespace=config.lease_namespace
                ),
                cluster=config.cluster,
                emit=lambda _: None,  # read, never sent
                # a server that ignores the field selector (the API double) answers with more
                wanted=lambda o: (o.get("metadata") or {}).get("name") == GATES_CONFIGMAP,
                on_object=self._gates_changed,
                on_delete=lambda key: self.gates.update({}) if key.endswith("/" + GATES_CONFIGMAP) else None,
                watch_timeout=config.watch_timeout,
            )
        # OIDC client credentials: a Secrets Manager copy of each Secret that a managed
        # Ingress (or a Service it needs) names, read by name (no list or watch of
        # Secrets); events carry only the copy's ARN and version
        self.secrets = SecretCopier(
            cluster=config.cluster,
            emit=self._emit,
            client=lambda: boto3.client("secretsmanager"),
            fetch=self._read_secret,
        )
        for watcher in self.watchers:
            if watcher.kind in ("Ingress", "Service"):
                self.secrets.follow(watcher)
        self.writeback = WriteBackConsumer(
            sqs_client=sqs_client,
            queue_url=config.writeback_queue_url,
            kube=kube,
            cluster=config.cluster,
            manages=self.manages,
            finalizer_of=lambda o: finalizer_for(o, self.class_groups()),
            wait_seconds=config.writeback_wait,
            namespaces=config.namespaces,
            gates_namespace=config.lease_namespace,
        )
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self.coalescer = Coalescer(send=self._send, debounce=config.debounce, max_wait=config.max_wait)
        self.elector = LeaderElector(
            kube=kube,
            namespace=config.lease_namespace,
            name=config.lease_name,
            identity=config.identity,
            duration=config.lease_duration,
            on_started=self._lead,
            on_stopped=self._follow,
        )
        self.health: HealthServer | None = None
        self.webhook: WebhookServer | None = None
        self.resyncs = 0
        # objects a resend asked for, by what became of them (RESEND_RESULTS)
        self.resent: Counter[str] = Counter(dict.fromkeys(RESEND_RESULTS, 0))
        self._resent_lock = threading.Lock()
        self._term: _Term | None = None
        self._term_lock = threading.Lock()
        self._retired: Counter[tuple[str, str]] = Counter()  # counters of ended terms' watchers

    def _gates_changed(self, obj: Mapping[str, Any]) -> None:
        if (obj.get("metadata") or {}).get("name") == GATES_CONFIGMAP:
            self.gates.update(obj)

    def _read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.kube.get(k8s.SECRETS, namespace, name)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def _emit(self, change: ObjectChange) -> None:
        self.coalescer.submit(change)

    def _send(self, change: ObjectChange) -> None:
        self.sender.submit(change.to_detail())

    def _undelivered(self, entries: list[dict[str, str]], reason: str) -> None:
        """Entries the sender gave up: the Ingresses each was about (an Ingress's own
        change, or its Service's or slice's) are told, by :class:`DeliveryWarnings`."""
        by_service: dict[str, list[str]] = {}
        for ingress, services in self.references.copy().items():  # a copy is atomic: watchers change it
            for service in services:
                by_service.setdefault(service, []).append(ingress)
        ingresses: list[str] = []
        for entry in entries:
            try:
                detail = json.loads(entry.get("Detail") or "{}")
            except ValueError:
                continue
            kind, key = detail.get("kind"), str(detail.get("key") or "")
            if kind == "Ingress":
                ingresses.append(key)
            elif kind == "Service":
                ingresses += by_service.get(key, [])
            elif kind == "EndpointSlice" and isinstance(detail.get("object"), dict):
                ingresses += by_service.get(_slice_service(detail["object"]), [])
        self.delivery.failed(sorted(set(ingresses)), reason)

    def _warn_undelivered(self, ingress: str, message: str) -> bool:
        namespace, name = ingress.split("/", 1)
        try:
            live = self.kube.get(k8s.INGRESSES, namespace, name)
        except ApiException as e:
            if e.status == 404:
                return False  # gone: nothing to tell
            raise
        if not self.manages(live):
            return False  # no longer ours (another class, a namespace not watched): not ours to tell
        uid = str((live.get("metadata") or {}).get("uid") or "")
        self.writeback.ingress_event(
            namespace, name, uid=uid, event_type="Warning", reason=DELIVERY_REASON, message=message
        )
        return True

    def _remember_class(self, obj: Mapping[str, Any]) -> None:
        name = (obj.get("metadata") or {}).get("name")
        if not name:
            return
        info, params = class_info(obj), params_name(obj)
        if self.classes.get(str(name)) != info or self.class_params.get(str(name)) != params:
            self.classes[str(name)] = info
            if params:
                self.class_params[str(name)] = params
            else:
                self.class_params.pop(str(name), None)
            self.watchers[0].relist_soon()  # Ingresses of that class may now be ours (or not)

    def _remember_params(self, obj: Mapping[str, Any]) -> None:
        name = str((obj.get("metadata") or {}).get("name") or "")
        group = params_group(obj)
        if name and self.params_groups.get(name) != group:
            if group:
                self.params_groups[name] = group
            else:
                self.params_groups.pop(name, None)
            self.watchers[0].relist_soon()  # finalizers follow the group (ADR 0004)

    def manages(self, obj: Mapping[str, Any]) -> bool:
        """Whether this forwarder manages an Ingress: ours by class, in a namespace watched."""
        namespace = (obj.get("metadata") or {}).get("namespace")
        if self.config.namespaces and namespace not in self.config.namespaces:
            return False
        return is_managed(obj, self.config.ingress_class, self.classes)

    def class_groups(self) -> dict[str, str]:
        # with the default class's group under "": an Ingress naming no class joins it (ADR 0004)
        return membership.class_groups_of(self.classes, self.params_groups)

    def _on_ingress(self, obj: Mapping[str, Any]) -> None:
        self._ensure_finalizer(obj)
        key = object_key(obj)
        managed = is_managed(obj, self.config.ingress_class, self.classes)
        with self._refs_lock:
            before = self.references.pop(key, ())
            now = tuple(sorted(services_of(obj))) if managed else ()  # a tuple: a third of a set's size
            new = [service for service in now if service not in self.referenced]
            if now:
                self.references[key] = now
            self._references_changed(before, now)
        if new:
            self._backends_ahead(new)

    def _backends_ahead(self, services: Sequence[str]) -> None:
        """During the first Ingress list (before the Service watcher lists): send each
        Service the Ingress being handled is the first to need, then its EndpointSlices,
        all before that Ingress. Ingest holds an adopted one-Ingress group until its
        Services and their slices are stored (the sync hold): sent behind the whole
        Ingress list, one shared Service released every such group at once, and a user's
        edit among them waited for all of it; a Service without its slices would be
        reconciled with no endpoints (its targets deregistered, then registered again).
        The watchers remember what they sent, so their own lists do not send them again;
        a read that fails leaves the Service (or its slices) to those lists."""
        term = self._term
        if term is None or term.stop.is_set():
            return
        kinds = {w.kind: w for w in term.watchers}
        service_watcher, slice_watcher = kinds.get("Service"), kinds.get("EndpointSlice")
        if service_watcher is None or slice_watcher is None or service_watcher.relists or slice_watcher.relists:
            return  # their lists have begun: they send them
        fetch = reader(self.kube, RESOURCES["Service"])
        for key in services:
            namespace, _, name = key.rpartition("/")
            try:
                found = fetch(namespace or None, name)
                if found is None:
                    continue  # not there (yet): its list, or its watch, sends it
                slices = self.kube.call(
                    "GET",
                    k8s.ENDPOINT_SLICES.path(namespace or None),
                    query={"labelSelector": f"{SERVICE_LABEL}={name}"},
                ).get("items")
                service_watcher.send_ahead({"kind": "Service", **found})
                for item in slices or []:
                    if isinstance(item, dict) and _slice_service(item) == key:  # a server ignoring the selector
                        slice_watcher.send_ahead({"kind": "EndpointSlice", **item})
            except Exception as e:  # noqa: BLE001  # any API or transport error: the lists send them
                log.info("Service %s not read ahead of its list: %s", key, e)
            # slices wait in the coalescer (0.2-1 s): out now, right behind their Service
            self.coalescer.flush(slices_bucket(key))

    def _forget_ingress(self, key: str) -> None:
        with self._refs_lock:
            self._references_changed(self.references.pop(key, ()), ())

    def _on_binding(self, obj: Mapping[str, Any]) -> None:
        key, service = object_key(obj), bindings.service_of(obj)
        with self._refs_lock:
            before = self.bound.pop(key, None)
            if service is not None:
                self.bound[key] = service
            self._references_changed((before,) if before else (), (service,) if service else ())

    def _forget_binding(self, key: str) -> None:
        with self._refs_lock:
            before = self.bound.pop(key, None)
            self._references_changed((before,) if before else (), ())

    def _references_changed(self, before: Sequence[str], now: Sequence[str]) -> None:
        """One Ingress or binding needed ``before`` and needs ``now`` (under ``_refs_lock``)."""
        grew = False
        for service in now:  # counted up first: a Service in both never drops to none
            grew |= self.referenced[service] == 0
            self.referenced[service] += 1
        for service in before:
            self.referenced[service] -= 1
            if self.referenced[service] <= 0:
                del self.referenced[service]
        # A Service no longer needed is sent as a delete by the next relist; one newly
        # needed must be sent now, with its slices: list them again.
        if grew:
            for watcher in self.watchers:
                if watcher.kind in ("Service", "EndpointSlice"):
                    watcher.relist_soon()

    def _ensure_finalizer(self, obj: Mapping[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        if meta.get("deletionTimestamp") or not is_managed(obj, self.config.ingress_class, self.classes):
            return
        finalizer = finalizer_for(obj, self.class_groups())
        current = meta.get("finalizers")
        if current and finalizer in current:
            return
        patch: list[dict[str, Any]] = (
            [
                {"op": "test", "path": "/metadata/finalizers", "value": current},
                {"op": "add", "path": "/metadata/finalizers/-", "value": finalizer},
            ]
            if current
            else [
                {"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")},
                {"op": "add", "path": "/metadata/finalizers", "value": [finalizer]},
            ]
        )
        try:
            self.kube.patch(k8s.INGRESSES, meta["namespace"], meta["name"], patch)
        except ApiException as e:
            # Lost a race with another writer: the watch brings the newer version back.
            log.info("finalizer patch on %s/%s not applied (%s)", meta.get("namespace"), meta.get("name"), e.status)

    def resync(self, term: _Term) -> None:
        """Send every live key of this term's watchers. Where each watch stood is read
        *before* the keys: an object seen after that is newer than the mark, so ingest
        never tombstones it for missing from a list read a moment earlier, nor when this
        Resync arrives late (or is redriven days later)."""
        self.secrets.refresh(term.stop)  # a rotated Secret is copied and sent before the Resync
        self.coalescer.flush()  # held changes first: the Resync is the newest word
        as_of = {w.kind: w.position for w in term.watchers}
        versions = {w.kind: w.sent_versions() for w in term.watchers}
        versions["Secret"], as_of["Secret"] = self.secrets.resync_versions()
        keys = {kind: sorted(sent) for kind, sent in versions.items()}
        if term.stop.is_set():  # the term ended meanwhile: its watchers speak for no one
            return
        namespaces = self.config.namespaces or None
        resync = Resync(cluster=self.config.cluster, keys=keys, as_of=as_of, namespaces=namespaces, versions=versions)
        self.sender.submit(resync.to_detail())
        self.resyncs += 1

    def start(self) -> None:
        """Start sending and competing for the Lease; the work starts on becoming leader."""
        self.sender.start()
        self.coalescer.start()
        if self.config.health_port is not None:
            self.health = HealthServer(
                host=self.config.health_address,
                port=self.config.health_port,
                healthz=self.healthz,
                readyz=self.readyz,
                metrics=self.metrics,
            )
            self.health.start()
        if self.config.webhook_cert_dir:
            directory = self.config.webhook_cert_dir
            self.webhook = WebhookServer(
                host=self.config.webhook_address,
                port=self.config.webhook_port,
                certificate=Certificate(os.path.join(directory, "tls.crt"), os.path.join(directory, "tls.key")),
                gated=self.gates,
            )
            self.webhook.start()
        if self.gates_watcher is not None:
            self._spawn(self.gates_watcher.run, "watch-gates")
        self._spawn(self.elector.run, "leader-election")
        self._spawn(self.delivery.run, "delivery-warnings")

    # --- leadership terms ---------------------------------------------------------------

    def _lead(self) -> None:
        """Became leader: start a term with no memory of earlier ones."""
        with self._term_lock:
            if self._stopping.is_set():
                return
            self.watchers = [w.fresh() for w in self.watchers]
            self.classes, self.class_params, self.params_groups = {}, {}, {}
            self.references, self.referenced, self.bound = {}, Counter(), {}
            term = self._term = _Term(watchers=self.watchers)
            self.secrets.begin_term(term.stop)
        self._spawn(lambda: self._run_term(term), "term", term)

    def _run_term(self, term: _Term) -> None:
        # Classes first, so the first Ingress list already knows which Ingresses are ours;
        # Ingresses (and bindings) before Services and EndpointSlices, so their first lists
        # already know which Services are needed (a Resync must never leave a needed one out).
        later = {"Ingress", "Service", "EndpointSlice"}
        for w in term.watchers:
            if w.kind not in later:
                self._spawn(w.run, f"watch-{w.kind}", term)
        self._spawn(lambda: self.secrets.run(until=term.stop), "secrets", term)
        self._wait_synced(term, [w for w in term.watchers if w.kind == "IngressClass"], 10)
        self._spawn(term.watchers[0].run, f"watch-{term.watchers[0].kind}", term)
        self._wait_synced(term, [w for w in term.watchers if w.kind in ("Ingress", bindings.KIND)], 60)
        for w in term.watchers:
            if w.kind in later - {"Ingress"}:
                self._spawn(w.run, f"watch-{w.kind}", term)
        # Write-backs are judged by the Ingress's class and group (writeback.py): start once
        # the classes and their IngressClassParams are known (or a minute went by).
        self._wait_synced(term, [w for w in term.watchers if w.kind in ("IngressClass", "IngressClassParams")], 60)
        self._spawn(
            lambda: self.writeback.run(until=term.stop, resend=lambda wb: self.resend(term, wb)), "writeback", term
        )
        # a Resync once every kind has listed, then periodically
        if not self._wait_synced(term, term.watchers, None):
            return
        self.resync(term)
        self._trim_when_sent(term)
        interval = self.config.resync_interval
        while not term.stop.wait(interval if interval > 0 else None):  # lives as long as the term
            self.resync(term)
            self._trim_when_sent(term)

    def resend(self, term: _Term, wb: WriteBack) -> bool:
        """Ingest's answer to a Resync: read each object ``wb`` names and send it again,
        or its delete when it is gone; only what this term forwards (the watchers' and the
        Secret copier's own judgement: what they sent and remember), never more than
        ``wb`` names (the contract caps it). A kind not forwarded is dropped and counted.
        False: the term ended, leave the message to the next leader; an API error is
        raised (the message comes back)."""
        if term.stop.is_set():
            return False
        watchers = {w.kind: w for w in term.watchers}
        outcome: Counter[str] = Counter()
        for kind, keys in wb.objects.items():
            if kind == "Secret":
                outcome.update(self.secrets.resend(key, term.stop) for key in keys)
            elif kind in watchers and kind in RESOURCES:
                fetch = reader(self.kube, RESOURCES[kind])
                outcome.update(watchers[kind].resend(key, fetch) for key in keys)
            else:
                outcome["unknown-kind"] += len(keys)
                log.warning(
                    "resend of %d %s dropped: not a kind this forwarder sends (%s)",
                    len(keys),
                    kind[:63],
                    ", ".join(KINDS),
                )
        with self._resent_lock:
            self.resent.update(outcome)
        log.info("resend: %s", ", ".join(f"{n} {r}" for r, n in sorted(outcome.items())))
        return True

    def _trim_when_sent(self, term: _Term, timeout: float = 120) -> None:
        """Once what the lists queued has gone out, hand the heap they used back."""
        deadline = time.monotonic() + timeout
        while self.sender.pending() and time.monotonic() < deadline and not term.stop.wait(0.2):
            pass
        heap.trim()

    @staticmethod
    def _wait_synced(term: _Term, watchers: Sequence[Watcher], timeout: float | None) -> bool:
        """Wait for the watchers' first lists; False when the term ended meanwhile."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for w in watchers:
            while not w.synced.wait(0.1):
                if term.stop.is_set():
                    return False
                if deadline is not None and time.monotonic() > deadline:
                    return True  # go on without it (an optional kind may never answer)
        return not term.stop.is_set()

    def _follow(self) -> None:
        """Lost the Lease: stop working; becoming leader again starts from a full list."""
        self._end_term()

    def _end_term(self) -> _Term | None:
        """Lost the Lease (or stopping): stop watching and consuming at once."""
        with self._term_lock:
            term, self._term = self._term, None
        if term is None:
            return None
        term.stop.set()
        for w in term.watchers:
            w.stop()
            self._retired["relists", w.kind] += w.relists
            self._retired["restarts", w.kind] += w.restarts
            self._retired["skipped", w.kind] += w.skipped
        return term

    def _spawn(self, target: Any, name: str, term: _Term | None = None) -> None:
        t = threading.Thread(target=target, name=f"forwarder-{name}", daemon=True)
        t.start()
        (term.threads if term else self._threads).append(t)

    def stop(self, *, release: bool = True) -> None:
        """Stop watching, send everything queued, then release the Lease so a standby
        takes over at once. ``release=False`` leaves the Lease to expire, as a crash would."""
        self._stopping.set()
        self.elector.stop()
        term = self._end_term()
        self.writeback.stop()
        for t in term.threads if term else []:
            if t.name.startswith("forwarder-watch-"):
                t.join(timeout=5)
        self.coalescer.stop()
        self.sender.stop()
        self.delivery.stop()
        if release:
            self.elector.release()
        if self.health is not None:
            self.health.stop()
        if self.gates_watcher is not None:
            self.gates_watcher.stop()
        if self.webhook is not None:
            self.webhook.stop()
        for t in self._threads:
            t.join(timeout=5)

    # --- health and metrics --------------------------------------------------------------

    def healthz(self) -> tuple[bool, str]:
        """Alive: no thread that should run has died."""
        term = self._term
        if self._stopping.is_set():
            return True, "ok"
        threads = [*self._threads, self.coalescer.thread, *(term.threads if term else [])]
        dead = [t.name for t in threads if not t.is_alive()]
        if not self.sender.alive():
            dead.append("forwarder-sender")
        return (False, "dead threads: " + ", ".join(dead)) if dead else (True, "ok")

    def readyz(self) -> tuple[bool, str]:
        """The leader is ready once every kind has listed; a standby is ready while it can
        read the Lease (ready to take over: a new leader lists everything anyway). Neither
        is once PutEvents has accepted nothing for ``unready_after_failing`` seconds."""
        failing, limit = self.sender.failing_for(), self.config.unready_after_failing
        if limit > 0 and failing > limit:
            return False, f"delivery to EventBridge failing for {failing:.0f} s ({self.sender.last_error})"
        if self.elector.leading:
            term = self._term
            listing = [w.kind for w in term.watchers if not w.synced.is_set()] if term else ["(starting)"]
            return (False, "leader, listing " + ", ".join(listing)) if listing else (True, "leader, synced")
        contact = self.elector.last_contact
        if contact is None or time.monotonic() - contact > 2 * self.config.lease_duration:
            return False, "standby, cannot read the lease"
        return True, f"standby, leader is {self.elector.holder or '(none)'}"

    def metrics(self) -> list[Metric]:
        term = self._term
        live = term.watchers if term else []
        totals: Counter[tuple[str, str]] = Counter(self._retired)
        for w in live:
            totals["relists", w.kind] += w.relists
            totals["restarts", w.kind] += w.restarts
            totals["skipped", w.kind] += w.skipped
        kinds = sorted({w.kind for w in self.watchers})

        def per_kind(what: str) -> list[tuple[dict[str, str], float]]:
            return [({"kind": k}, totals[what, k]) for k in kinds]

        prefix = "albatross_forwarder_"
        return [
            Metric.one(prefix + "events_sent_total", "counter", "Entries EventBridge accepted.", self.sender.sent),
            Metric.one(
                prefix + "events_failed_total",
                "counter",
                "Entries not sent: rejected for good, out of retries, or too large.",
                self.sender.dropped,
            ),
            Metric.one(
                prefix + "events_coalesced_total",
                "counter",
                "EndpointSlice and Node changes replaced by a later change before sending.",
                self.coalescer.coalesced,
            ),
            Metric(prefix + "watch_restarts_total", "counter", "Watches resumed after an error.", per_kind("restarts")),
            Metric(
                prefix + "relists_total", "counter", "Full lists (start, 410 Gone, scope changes).", per_kind("relists")
            ),
            Metric(
                prefix + "objects_skipped_total",
                "counter",
                "Objects whose handling raised: logged and left out, the watch went on.",
                per_kind("skipped"),
            ),
            Metric(
                prefix + "watched_objects",
                "gauge",
                "Objects remembered (sent and live) per kind.",
                [({"kind": w.kind}, len(w.seen)) for w in live] + [({"kind": "Secret"}, len(self.secrets.sent))],
            ),
            Metric.one(
                prefix + "delivery_failing_seconds",
                "gauge",
                "Seconds PutEvents has accepted nothing (every call failed or was refused); 0 while delivery works.",
                self.sender.failing_for(),
            ),
            Metric.one(
                prefix + "delivery_warnings_total",
                "counter",
                f"{DELIVERY_REASON} Warning Events recorded on Ingresses whose changes were not delivered.",
                self.delivery.recorded,
            ),
            Metric.one(
                prefix + "delivery_warnings_dropped_total",
                "counter",
                f"{DELIVERY_REASON} Warnings the Kubernetes API refused for good (403, 404, 422): logged, not retried.",
                self.delivery.dropped,
            ),
            Metric.one(prefix + "resyncs_total", "counter", "Resync events sent.", self.resyncs),
            Metric(
                prefix + "resends_total",
                "counter",
                "Objects ingest asked for again after a Resync (a change of each was lost), by result: sent, "
                "deleted (gone), unchanged (a newer version was sent meanwhile), not-forwarded, unknown-kind, "
                "failed (a Secret's read or copy: tried again 30 s later).",
                [({"result": r}, n) for r, n in sorted(self.resent.items())],
            ),
            Metric.one(
                prefix + "writeback_applied_total",
                "counter",
                "Write-backs the cluster accepted.",
                self.writeback.applied,
            ),
            Metric.one(
                prefix + "writeback_rejected_total",
                "counter",
                "Malformed write-back messages, left for the dead-letter queue.",
                self.writeback.rejected,
            ),
            Metric(
                prefix + "writebacks_refused_total",
                "counter",
                "Write-backs Albatross could not have asked for (another cluster, another object, an Ingress "
                "not managed, a foreign finalizer or Event reason, a finalizer still needed, a pod gone or "
                "not gated on the condition, readiness gates without their RBAC): dropped.",
                [({"reason": r}, n) for r, n in sorted(self.writeback.refused.items())],
            ),
            Metric.one(
                prefix + "claim_checks_total",
                "counter",
                "Entries over 256 KB sent by claim check (the object in the payload bucket).",
                self.sender.claimed,
            ),
            Metric(
                prefix + "secret_copies_total",
                "counter",
                "Copies of OIDC Secrets to Secrets Manager, by result (failed: the read or the copy; "
                "tried again 30 s later).",
                [({"result": "copied"}, self.secrets.copied), ({"result": "failed"}, self.secrets.failed)],
            ),
            Metric.one(
                prefix + "secret_reads_total",
                "counter",
                "Secrets read by name (each named Secret on a change naming it, on every Resync, "
                "and while missing); Secrets are never listed or watched.",
                self.secrets.reads,
            ),
            Metric.one(
                prefix + "sender_backlog",
                "gauge",
                "Entries not yet accepted by PutEvents (queued or being sent).",
                self.sender.pending(),
            ),
            Metric.one(
                prefix + "coalescer_pending", "gauge", "Changes held by the coalescer.", self.coalescer.pending()
            ),
            Metric.one(
                prefix + "queue_lag_seconds",
                "gauge",
                "Age of the oldest change not yet accepted by PutEvents: held by the coalescer, "
                "or queued for the sender since the coalescer let it go.",
                max(self.coalescer.oldest_age(), self.sender.oldest_age()),
            ),
            *(self.webhook.metrics() if self.webhook is not None else []),
            Metric.one(prefix + "is_leader", "gauge", "1 while this replica holds the Lease.", self.elector.leading),
            Metric.one(
                prefix + "leadership_acquired_total",
                "counter",
                "Times this replica became leader.",
                self.elector.acquired,
            ),
        ]


def _parse(argv: Sequence[str] | None) -> Config:
    env = os.environ
    p = argparse.ArgumentParser(prog="albatross-forwarder", description=__doc__)
    p.add_argument("--cluster-name", default=env.get("CLUSTER_NAME"), required="CLUSTER_NAME" not in env)
    p.add_argument("--event-bus", default=env.get("EVENT_BUS_NAME"), required="EVENT_BUS_NAME" not in env)
    p.add_argument(
        "--writeback-queue-url", default=env.get("WRITEBACK_QUEUE_URL"), required="WRITEBACK_QUEUE_URL" not in env
    )
    p.add_argument("--ingress-class", default=env.get("INGRESS_CLASS", "alb"))
    p.add_argument("--log-level", default=env.get("LOG_LEVEL", "INFO"))
    p.add_argument("--writeback-wait-seconds", type=int, default=int(env.get("WRITEBACK_WAIT_SECONDS", "20")))
    p.add_argument(
        "--namespaces",
        default=env.get("WATCH_NAMESPACES", ""),
        help="comma-separated namespaces to watch for namespaced kinds; empty: all",
    )
    p.add_argument("--lease-name", default=env.get("LEASE_NAME", "albatross-forwarder"))
    p.add_argument("--lease-namespace", default=env.get("LEASE_NAMESPACE") or _own_namespace())
    p.add_argument("--lease-duration-seconds", type=int, default=int(env.get("LEASE_DURATION_SECONDS", "15")))
    p.add_argument(
        "--pod-name",
        default=env.get("POD_NAME") or socket.gethostname(),
        help="the Lease holder identity is this and a random suffix",
    )
    p.add_argument("--health-address", default=env.get("HEALTH_ADDRESS", "0.0.0.0"))  # noqa: S104  # probes
    p.add_argument(
        "--health-port", type=int, default=int(env.get("HEALTH_PORT", "8080")), help="/healthz /readyz /metrics; 0: any"
    )
    p.add_argument("--resync-seconds", type=float, default=float(env.get("RESYNC_SECONDS", "600")), help="0: off")
    p.add_argument(
        "--coalesce-debounce-seconds", type=float, default=float(env.get("COALESCE_DEBOUNCE_SECONDS", "0.2"))
    )
    p.add_argument(
        "--coalesce-max-wait-seconds", type=float, default=float(env.get("COALESCE_MAX_WAIT_SECONDS", "1.0"))
    )
    p.add_argument(
        "--bucket", default=env.get("PAYLOAD_BUCKET", ""), help="S3 bucket for entries over 256 KB (claim check)"
    )
    p.add_argument(
        "--readiness-gates",
        action="store_true",
        default=env.get("READINESS_GATES", "").lower() in ("1", "true"),
        help="pod readiness gates: watch gated Pods and the gates ConfigMap (implied by --webhook-cert-dir)",
    )
    p.add_argument(
        "--webhook-cert-dir",
        default=env.get("WEBHOOK_CERT_DIR", ""),
        help="pod readiness gates: the webhook's tls.crt and tls.key; empty: off (no webhook, no Pod watch)",
    )
    p.add_argument("--webhook-port", type=int, default=int(env.get("WEBHOOK_PORT", str(webhook.PORT))))
    p.add_argument(
        "--unready-after-failing-seconds",
        type=float,
        default=float(env.get("UNREADY_AFTER_FAILING_SECONDS", "300")),
        help="/readyz fails once PutEvents has accepted nothing this long; 0: never",
    )
    p.add_argument(
        "--delivery-warning-seconds",
        type=float,
        default=float(env.get("DELIVERY_WARNING_SECONDS", "300")),
        help=f"at most one {DELIVERY_REASON} Warning per Ingress this often",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return Config(
        cluster=args.cluster_name,
        event_bus=args.event_bus,
        writeback_queue_url=args.writeback_queue_url,
        ingress_class=args.ingress_class,
        writeback_wait=args.writeback_wait_seconds,
        namespaces=tuple(n.strip() for n in args.namespaces.split(",") if n.strip()),
        lease_name=args.lease_name,
        lease_namespace=args.lease_namespace,
        lease_duration=args.lease_duration_seconds,
        identity=_identity(args.pod_name),
        health_address=args.health_address,
        health_port=args.health_port,
        resync_interval=args.resync_seconds,
        debounce=args.coalesce_debounce_seconds,
        max_wait=args.coalesce_max_wait_seconds,
        bucket=args.bucket,
        readiness_gates=args.readiness_gates,
        webhook_cert_dir=args.webhook_cert_dir,
        webhook_port=args.webhook_port,
        unready_after_failing=args.unready_after_failing_seconds,
        delivery_warning_interval=args.delivery_warning_seconds,
    )


def _own_namespace() -> str:
    """The pod's namespace: POD_NAMESPACE, else the service account's, else ``default``."""
    if env := os.environ.get("POD_NAMESPACE"):
        return env
    try:
        return (k8s.SERVICE_ACCOUNT / "namespace").read_text().strip() or "default"
    except OSError:
        return "default"


def main(argv: Sequence[str] | None = None) -> None:
    config = _parse(argv)
    forwarder = Forwarder(
        config,
        kube=k8s.Kube(k8s.configuration()),
        events_client=boto3.client("events"),
        sqs_client=boto3.client("sqs"),
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    forwarder.start()
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    forwarder.stop()  # flush, then release the Lease
