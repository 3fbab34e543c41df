"""Apply what the cloud side writes back: Ingress status, Events, finalizer removal.

A message is deleted from the queue only after the cluster accepted it (or the Ingress
is gone, so there is nothing left to tell); conflicts are retried with a fresh read; a
malformed message is logged and left for the queue's dead-letter redrive.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import threading
from typing import Any

from kubernetes.client.exceptions import ApiException

from albatross.contract import ContractError, WriteBack, parse_writeback
from albatross_forwarder.kube import EVENTS, INGRESSES, Kube

log = logging.getLogger("albatross.forwarder.writeback")


class WriteBackConsumer:
    def __init__(self, *, sqs_client: Any, queue_url: str, kube: Kube, cluster: str, wait_seconds: int = 20) -> None:
        self.sqs = sqs_client
        self.queue_url = queue_url
        self.kube = kube
        self.cluster = cluster
        self.wait_seconds = wait_seconds
        self._stop = threading.Event()
        self.applied = 0
        self.rejected = 0

    def stop(self) -> None:
        self._stop.set()

    def run(self, until: threading.Event | None = None) -> None:
        """Consume until stopped, or until ``until`` is set (the end of a leadership term)."""
        while not self._stop.is_set() and not (until is not None and until.is_set()):
            try:
                self.poll_once()
            except Exception:  # keep consuming; messages come back after their visibility timeout
                log.exception("write-back poll failed")
                self._stop.wait(1)

    def poll_once(self) -> int:
        resp = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=self.wait_seconds
        )
        done = 0
        for message in resp.get("Messages", []):
            try:
                wb = parse_writeback(message["Body"])
            except ContractError as e:
                self.rejected += 1
                log.error("malformed write-back message, left for the dead-letter queue: %s", e)
                continue
            if wb.cluster != self.cluster:
                log.warning("write-back for cluster %s ignored", wb.cluster)
            elif not self.apply(wb):
                continue
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            done += 1
        return done

    def apply(self, wb: WriteBack) -> bool:
        namespace, name = wb.ingress.split("/", 1)
        try:
            if wb.type == "status":
                body = {"status": {"loadBalancer": {"ingress": [{"hostname": h} for h in wb.hostnames]}}}
                self.kube.patch(INGRESSES, namespace, name, body, status=True)
            elif wb.type == "event":
                self._event(namespace, name, wb)
            else:
                self._remove_finalizer(namespace, name, wb.finalizer)
        except ApiException as e:
            if e.status == 404:
                return True  # the Ingress is gone: nothing left to tell it
            log.warning("write-back %s for %s failed (%s), will retry", wb.type, wb.ingress, e.status)
            return False
        self.applied += 1
        return True

    def _event(self, namespace: str, name: str, wb: WriteBack) -> None:
        """Record an Event; the same (type, reason, message) again bumps ``count`` on the
        existing Event, as the cluster's own event recorder aggregates repeats."""
        uid: str | None = wb.uid
        if not uid:
            uid = self.kube.get(INGRESSES, namespace, name).get("metadata", {}).get("uid")
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        digest = hashlib.sha256(f"{uid}\n{wb.event_type}\n{wb.reason}\n{wb.message}".encode()).hexdigest()[:16]
        event_name = f"{name}.{digest}"
        involved = {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1", "namespace": namespace, "name": name}
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": event_name, "namespace": namespace},
            "involvedObject": involved | ({"uid": uid} if uid else {}),
            "reason": wb.reason,
            "message": wb.message,
            "type": wb.event_type,
            "source": {"component": "albatross"},
            "reportingComponent": "albatross",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            self.kube.create(EVENTS, namespace, event)
        except ApiException as e:
            if e.status != 409:
                raise
            existing = self.kube.get(EVENTS, namespace, event_name)
            patch = {"count": int(existing.get("count") or 1) + 1, "lastTimestamp": now}
            self.kube.patch(EVENTS, namespace, event_name, patch)

    def _remove_finalizer(self, namespace: str, name: str, finalizer: str) -> None:
        for _ in range(5):
            meta = self.kube.get(INGRESSES, namespace, name).get("metadata") or {}
            finalizers = list(meta.get("finalizers") or [])
            if finalizer not in finalizers:
                return
            index = finalizers.index(finalizer)
            patch = [
                {"op": "test", "path": f"/metadata/finalizers/{index}", "value": finalizer},
                {"op": "remove", "path": f"/metadata/finalizers/{index}"},
            ]
            try:
                self.kube.patch(INGRESSES, namespace, name, patch)
                return
            except ApiException as e:
                if e.status not in (409, 422):
                    raise
        raise ApiException(status=409, reason=f"finalizer {finalizer} on {namespace}/{name} kept changing")
