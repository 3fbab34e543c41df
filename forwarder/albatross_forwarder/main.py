"""Wire the forwarder: one watcher thread per kind, the sender, the write-back consumer,
and the finalizer for managed Ingresses. ``albatross-forwarder --help`` lists the flags
(each also read from the environment)."""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import signal
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from albatross.contract import (
    ClassInfo,
    ObjectChange,
    Resync,
    class_info,
    finalizer_for,
    ingress_is_ours,
    object_key,
    params_group,
    params_name,
    services_of,
)
from albatross_forwarder.sender import Sender
from albatross_forwarder.watch import Watcher
from albatross_forwarder.writeback import WriteBackConsumer

log = logging.getLogger("albatross.forwarder")


@dataclass(frozen=True)
class Config:
    cluster: str
    event_bus: str
    writeback_queue_url: str
    ingress_class: str = "alb"
    watch_timeout: int = 300
    writeback_wait: int = 20


def _slice_service(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace')}/{(meta.get('labels') or {}).get('kubernetes.io/service-name', '')}"


def is_managed(obj: Mapping[str, Any], ingress_class: str, classes: Mapping[str, ClassInfo] | None = None) -> bool:
    return ingress_is_ours(obj, classes=classes or {}, configured=ingress_class)


class Forwarder:
    def __init__(self, config: Config, *, api: k8s.ApiClient, events_client: Any, sqs_client: Any) -> None:
        self.config = config
        self.api = api
        self.networking = k8s.NetworkingV1Api(api)
        self.sender = Sender(events_client=events_client, bus_name=config.event_bus)
        core, discovery = k8s.CoreV1Api(api), k8s.DiscoveryV1Api(api)
        custom = k8s.CustomObjectsApi(api)
        self.classes: dict[str, ClassInfo] = {}
        self.class_params: dict[str, str] = {}  # IngressClass → its IngressClassParams
        self.params_groups: dict[str, str] = {}  # IngressClassParams → the group it sets
        self.references: dict[str, set[str]] = {}  # managed Ingress → the Services it needs
        self.referenced: frozenset[str] = frozenset()
        common = {"cluster": config.cluster, "emit": self._emit, "watch_timeout": config.watch_timeout}
        self.watchers = [
            Watcher(
                kind="Ingress",
                list_fn=self.networking.list_ingress_for_all_namespaces,
                wanted=lambda o: is_managed(o, config.ingress_class, self.classes),
                on_object=self._on_ingress,
                on_delete=self._forget_ingress,
                **common,  # type: ignore[arg-type]  # checked keys
            ),
            Watcher(
                kind="IngressClass",
                list_fn=self.networking.list_ingress_class,
                on_object=self._remember_class,
                **common,  # type: ignore[arg-type]  # checked keys
            ),
            Watcher(
                kind="IngressClassParams",
                list_fn=functools.partial(
                    custom.list_cluster_custom_object, "elbv2.k8s.aws", "v1beta1", "ingressclassparams"
                ),
                on_object=self._remember_params,
                **common,  # type: ignore[arg-type]  # checked keys
            ),
            # only the Services a managed Ingress needs, and their slices
            Watcher(
                kind="Service",
                list_fn=core.list_service_for_all_namespaces,
                wanted=lambda o: object_key(o) in self.referenced,
                **common,  # type: ignore[arg-type]  # checked keys
            ),
            Watcher(
                kind="EndpointSlice",
                list_fn=discovery.list_endpoint_slice_for_all_namespaces,
                wanted=lambda o: _slice_service(o) in self.referenced,
                **common,  # type: ignore[arg-type]  # checked keys
            ),
            # labels only matter (IngressClassParams namespace selectors); unchanged
            # namespaces are dropped by the content digest
            Watcher(kind="Namespace", list_fn=core.list_namespace, **common),  # type: ignore[arg-type]  # checked keys
            # instance-mode targets; trimmed to what makes a node serve (no heartbeats)
            Watcher(kind="Node", list_fn=core.list_node, **common),  # type: ignore[arg-type]  # checked keys
        ]
        self.writeback = WriteBackConsumer(
            sqs_client=sqs_client,
            queue_url=config.writeback_queue_url,
            api=api,
            cluster=config.cluster,
            wait_seconds=config.writeback_wait,
        )
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def _emit(self, change: ObjectChange) -> None:
        self.sender.submit(change.to_detail())

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

    def class_groups(self) -> dict[str, str]:
        return {c: self.params_groups[p] for c, p in self.class_params.items() if p in self.params_groups}

    def _on_ingress(self, obj: Mapping[str, Any]) -> None:
        self._ensure_finalizer(obj)
        key = object_key(obj)
        if is_managed(obj, self.config.ingress_class, self.classes):
            self.references[key] = services_of(obj)
        else:
            self.references.pop(key, None)
        self._references_changed()

    def _forget_ingress(self, key: str) -> None:
        self.references.pop(key, None)
        self._references_changed()

    def _references_changed(self) -> None:
        now = frozenset().union(*self.references.values())
        if now == self.referenced:
            return
        grew = not now <= self.referenced
        self.referenced = now
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
            self.networking.patch_namespaced_ingress(meta["name"], meta["namespace"], patch)
        except ApiException as e:
            # Lost a race with another writer: the watch brings the newer version back.
            log.info("finalizer patch on %s/%s not applied (%s)", meta.get("namespace"), meta.get("name"), e.status)

    def resync(self) -> None:
        keys = {w.kind: sorted(w.seen) for w in self.watchers}
        self.sender.submit(Resync(cluster=self.config.cluster, keys=keys).to_detail())

    def start(self) -> None:
        self.sender.start()
        # Classes first, so the first Ingress list already knows which Ingresses are ours;
        # Ingresses before Services and EndpointSlices, so their first lists already know
        # which Services are needed (a Resync must never leave a needed one out).
        later = {"Ingress", "Service", "EndpointSlice"}
        for w in self.watchers:
            if w.kind not in later:
                self._spawn(w.run, f"watch-{w.kind}")
        self.watchers[1].synced.wait(10)
        self._spawn(self.watchers[0].run, f"watch-{self.watchers[0].kind}")
        self.watchers[0].synced.wait(60)
        for w in self.watchers:
            if w.kind in later - {"Ingress"}:
                self._spawn(w.run, f"watch-{w.kind}")
        self._spawn(self.writeback.run, "writeback")
        self._spawn(self._resync_when_synced, "resync")

    def _resync_when_synced(self) -> None:
        for w in self.watchers:
            while not w.synced.wait(0.5):
                if self._stopping.is_set():
                    return
        self.resync()

    def _spawn(self, target: Any, name: str) -> None:
        t = threading.Thread(target=target, name=f"forwarder-{name}", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        self._stopping.set()
        for w in self.watchers:
            w.stop()
        self.writeback.stop()
        self.sender.stop()
        for t in self._threads:
            t.join(timeout=5)


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
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return Config(
        cluster=args.cluster_name,
        event_bus=args.event_bus,
        writeback_queue_url=args.writeback_queue_url,
        ingress_class=args.ingress_class,
        writeback_wait=args.writeback_wait_seconds,
    )


def main(argv: Sequence[str] | None = None) -> None:
    config = _parse(argv)
    try:
        k8s_config.load_incluster_config()  # type: ignore[no-untyped-call]  # untyped in the client
    except k8s_config.ConfigException:
        k8s_config.load_kube_config()  # type: ignore[no-untyped-call]  # untyped in the client
    forwarder = Forwarder(
        config, api=k8s.ApiClient(), events_client=boto3.client("events"), sqs_client=boto3.client("sqs")
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    forwarder.start()
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    forwarder.stop()
