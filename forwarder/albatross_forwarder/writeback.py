"""Apply what the cloud side writes back: Ingress status, Events, finalizer removal.

A message is deleted from the queue only after the cluster accepted it (or the Ingress
is gone, so there is nothing left to tell); conflicts are retried with a fresh read; a
malformed message is logged and left for the queue's dead-letter redrive.

Only what Albatross itself could have asked is done. Each message is checked against the
Ingress as it is now (read first), and refused (deleted, logged with the reason and
counted per reason) when:

* it names another cluster (``other-cluster``);
* it carries a uid and the Ingress of that name is another object (``uid-mismatch``);
* a status is for an Ingress Albatross does not manage: another class, or a namespace
  not watched (``not-managed``); an Event too, unless the Ingress still carries one of
  our finalizers (a member that left the class, whose teardown is reported);
* an Event's reason is not one Albatross records (``foreign-reason``,
  :data:`albatross.contract.EVENT_REASONS`);
* a finalizer is not ours (``foreign-finalizer``: only ``ingress.k8s.aws/resources`` and
  ``group.ingress.k8s.aws/<group>``), or is the one the Ingress still needs: a live
  member of the group, not deleting (``finalizer-still-needed``). A member that is
  deleting, left the class or moved to another group loses its old group's finalizer.

A binding's write-back (``bindingStatus``: its ``status.observedGeneration``;
``bindingEvent``, :mod:`albatross.contract.bindings`) is judged the same way against the
TargetGroupBinding as it is now, read by a list selecting its name (the forwarder lists
and watches bindings, and gets none): refused when it names another cluster, another uid,
a binding the forwarder does not serve (LBC's generated ones, a namespace not watched:
``not-managed``), or an Event reason not among the bindings' (``foreign-reason``). A
binding that is gone is told nothing.

Pod readiness gates (ADR 0014, :mod:`albatross.contract.readiness`): a ``podCondition``
is judged against the pod as it is now (read by name) by
:func:`albatross_forwarder.readiness.refusal` (``pod-gone``, ``uid-mismatch``,
``not-managed``, ``not-gated``), then applied as a strategic merge patch of
``pods/status`` (:func:`~albatross_forwarder.readiness.status_patch`: the pod's uid as
precondition; nothing when the pod shows the condition already). A ``readinessGates``
replaces its group's key of the gates ConfigMap in the forwarder's own namespace (made
when missing), which both replicas' webhooks read. Without the RBAC the
``readiness-webhook`` component grants (403), either is dropped as ``not-enabled``.

A ``resend`` (ingest's answer to a Resync: objects whose change was lost on its way) is
handed to the leadership term that runs this consumer, which reads and sends again only
what it forwards (``Forwarder.resend``): at most what the forwarder would send anyway,
and at most :data:`albatross.contract.RESEND_MAX_KEYS` reads a message. Without a term
to hand it to, it is left on the queue for the leader.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from albatross.contract import (
    EVENT_REASONS,
    ContractError,
    WriteBack,
    bindings,
    is_our_finalizer,
    mapping,
    parse_writeback,
)
from albatross.contract import readiness as gates
from albatross_forwarder import readiness
from albatross_forwarder.kube import CONFIGMAPS, EVENTS, INGRESSES, PODS, TARGET_GROUP_BINDINGS, Kube

log = logging.getLogger("albatross.forwarder.writeback")


REFUSALS = (
    "other-cluster",
    "uid-mismatch",
    "not-managed",
    "foreign-reason",
    "foreign-finalizer",
    "finalizer-still-needed",
    *readiness.REFUSALS,
    "not-enabled",  # a readiness write-back without the readiness-webhook component's RBAC
)
# What became of each object a resend names (albatross_forwarder_resends_total{result})
# (failed: a Secret's read or copy failed, and is tried again as any)
RESEND_RESULTS = ("sent", "deleted", "unchanged", "not-forwarded", "unknown-kind", "failed")
Ingress = Mapping[str, Any]
# Hands a resend to the term that consumes: False when it cannot act (the term ended)
Resend = Callable[[WriteBack], bool]


class WriteBackConsumer:
    def __init__(
        self,
        *,
        sqs_client: Any,
        queue_url: str,
        kube: Kube,
        cluster: str,
        manages: Callable[[Ingress], bool],
        finalizer_of: Callable[[Ingress], str],
        wait_seconds: int = 20,
        namespaces: tuple[str, ...] = (),
        gates_namespace: str = "default",
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        """``manages``: whether Albatross manages an Ingress (its class, the namespaces
        watched); ``finalizer_of``: the finalizer a managed Ingress's group gives it;
        ``namespaces``: those watched (empty: all), for bindings and pods;
        ``gates_namespace``: where the readiness gates ConfigMap lives (the forwarder's)."""
        self.sqs = sqs_client
        self.queue_url = queue_url
        self.kube = kube
        self.cluster = cluster
        self.manages = manages
        self.finalizer_of = finalizer_of
        self.wait_seconds = wait_seconds
        self.namespaces = frozenset(namespaces)
        self.gates_namespace = gates_namespace
        self.clock = clock
        self._stop = threading.Event()
        self.applied = 0
        self.rejected = 0
        self.refused: Counter[str] = Counter(dict.fromkeys(REFUSALS, 0))

    def stop(self) -> None:
        self._stop.set()

    def run(self, until: threading.Event | None = None, resend: Resend | None = None) -> None:
        """Consume until stopped, or until ``until`` is set (the end of a leadership term);
        ``resend``: what that term does with a resend."""
        while not self._stop.is_set() and not (until is not None and until.is_set()):
            try:
                self.poll_once(resend)
            except Exception:  # keep consuming; messages come back after their visibility timeout
                log.exception("write-back poll failed")
                self._stop.wait(1)

    def poll_once(self, resend: Resend | None = None) -> int:
        resp = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=self.wait_seconds
        )
        done = 0
        for message in resp.get("Messages", []):
            try:
                about_binding = bindings.parse_binding_writeback(message["Body"])
                about_pods = gates.parse_readiness_writeback(message["Body"])
            except (bindings.BindingWriteBackError, gates.ReadinessWriteBackError) as e:
                self.rejected += 1
                log.error("malformed write-back message, left for the dead-letter queue: %s", e)
                continue
            if about_pods is not None:
                if self._readiness(about_pods):
                    self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                    done += 1
                continue
            if about_binding is not None:
                if self._binding(about_binding):
                    self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                    done += 1
                continue
            try:
                wb = parse_writeback(message["Body"])
            except ContractError as e:
                self.rejected += 1
                log.error("malformed write-back message, left for the dead-letter queue: %s", e)
                continue
            try:
                if wb.cluster != self.cluster:
                    self._refuse(wb, "other-cluster", f"this is cluster {self.cluster}")
                elif wb.type == "resend":
                    if resend is None or not resend(wb):
                        continue  # no term to act: the leader's consumer takes it
                elif not self.apply(wb):
                    continue
            except Exception:  # one message's failure holds up none of the others
                log.exception("write-back %s for %s failed, will retry", wb.type, wb.ingress)
                continue
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            done += 1
        return done

    def apply(self, wb: WriteBack) -> bool:
        """Apply one write-back, or refuse it; False: try again later."""
        namespace, name = wb.ingress.split("/", 1)
        try:
            live = self.kube.get(INGRESSES, namespace, name)
            refusal = self.refusal(wb, live)
            if refusal is not None:
                self._refuse(wb, *refusal)
                return True
            if wb.type == "status":
                body = {"status": {"loadBalancer": {"ingress": [{"hostname": h} for h in wb.hostnames]}}}
                self.kube.patch(INGRESSES, namespace, name, body, status=True)
            elif wb.type == "event":
                self._event(namespace, name, wb, str(mapping(live.get("metadata")).get("uid") or ""))
            elif not self._remove_finalizer(namespace, name, wb, live):
                return True  # refused on a later read (counted there)
        except ApiException as e:
            if e.status == 404:
                return True  # the Ingress is gone: nothing left to tell it
            log.warning("write-back %s for %s failed (%s), will retry", wb.type, wb.ingress, e.status)
            return False
        self.applied += 1
        return True

    def refusal(self, wb: WriteBack, live: Ingress) -> tuple[str, str] | None:
        """Why ``wb`` must not be applied to ``live`` (the Ingress it names, as it is now):
        (reason, detail), or None."""
        meta = mapping(live.get("metadata"))
        uid = meta.get("uid")
        if wb.uid and wb.uid != uid:
            return "uid-mismatch", f"the message is for uid {wb.uid}, the Ingress is {uid}"
        finalizers = [f for f in meta.get("finalizers") or [] if isinstance(f, str)]
        if wb.type == "status":
            return None if self.manages(live) else ("not-managed", "not an Ingress Albatross manages")
        if wb.type == "event":
            if wb.reason not in EVENT_REASONS:
                return "foreign-reason", f"reason {wb.reason!r} is not one Albatross records"
            if self.manages(live) or any(is_our_finalizer(f) for f in finalizers):
                return None
            return "not-managed", "not an Ingress Albatross manages, and it carries none of its finalizers"
        if not is_our_finalizer(wb.finalizer):
            return "foreign-finalizer", f"finalizer {wb.finalizer!r} is not one Albatross adds"
        if not meta.get("deletionTimestamp") and self.manages(live) and self.finalizer_of(live) == wb.finalizer:
            return "finalizer-still-needed", f"the Ingress is a live member of the group {wb.finalizer} stands for"
        return None

    def _refuse(self, wb: WriteBack, reason: str, detail: str) -> None:
        self.refused[reason] += 1
        log.warning("write-back %s for %s refused and dropped (%s): %s", wb.type, wb.ingress, reason, detail)

    # --- bindings ---------------------------------------------------------------------

    def _binding(self, wb: bindings.BindingWriteBack) -> bool:
        """Apply one binding write-back, or refuse it; False: try again later."""
        if wb.cluster != self.cluster:
            self._refuse_binding(wb, "other-cluster", f"this is cluster {self.cluster}")
            return True
        namespace, name = wb.binding.split("/", 1)
        try:
            page = self.kube.call(
                "GET", TARGET_GROUP_BINDINGS.path(namespace), query={"fieldSelector": f"metadata.name={name}"}
            )
            live = next(
                (
                    item
                    for item in page.get("items") or []
                    if isinstance(item, dict) and mapping(item.get("metadata")).get("name") == name
                ),
                None,
            )
            if live is None:
                return True  # gone: nothing left to tell it
            refusal = self.binding_refusal(wb, live)
            if refusal is not None:
                self._refuse_binding(wb, *refusal)
                return True
            uid = str(mapping(live.get("metadata")).get("uid") or "")
            if wb.type == "bindingStatus":
                body = {"status": {"observedGeneration": wb.observed_generation}}
                self.kube.patch(TARGET_GROUP_BINDINGS, namespace, name, body, status=True)
            else:
                involved = {
                    "kind": bindings.KIND,
                    "apiVersion": f"{bindings.API_GROUP}/{bindings.API_VERSION}",
                    "namespace": namespace,
                    "name": name,
                }
                self._record(namespace, name, involved, uid, wb.event_type, wb.reason, wb.message)
        except ApiException as e:
            if e.status == 404:
                return True  # the binding (or its kind) is gone
            log.warning("write-back %s for %s failed (%s), will retry", wb.type, wb.binding, e.status)
            return False
        except Exception:  # one message's failure holds up none of the others
            log.exception("write-back %s for %s failed, will retry", wb.type, wb.binding)
            return False
        self.applied += 1
        return True

    def binding_refusal(self, wb: bindings.BindingWriteBack, live: Mapping[str, Any]) -> tuple[str, str] | None:
        """Why ``wb`` must not be applied to ``live`` (the binding it names, as it is now)."""
        meta = mapping(live.get("metadata"))
        if wb.uid and wb.uid != meta.get("uid"):
            return "uid-mismatch", f"the message is for uid {wb.uid}, the binding is {meta.get('uid')}"
        if (self.namespaces and meta.get("namespace") not in self.namespaces) or not bindings.served(live):
            return "not-managed", "not a TargetGroupBinding Albatross serves"
        if wb.type == "bindingEvent" and wb.reason not in bindings.EVENT_REASONS:
            return "foreign-reason", f"reason {wb.reason!r} is not one Albatross records on bindings"
        return None

    def _refuse_binding(self, wb: bindings.BindingWriteBack, reason: str, detail: str) -> None:
        self.refused[reason] += 1
        log.warning("write-back %s for %s refused and dropped (%s): %s", wb.type, wb.binding, reason, detail)

    # --- pod readiness gates (ADR 0014) --------------------------------------------------

    def _readiness(self, wb: gates.ReadinessWriteBack) -> bool:
        """Apply one readiness write-back, or refuse it; False: try again later."""
        what = wb.pod or f"{wb.namespace} gates of {wb.group}"
        if wb.cluster != self.cluster:
            self._refuse_readiness(wb, "other-cluster", f"this is cluster {self.cluster}")
            return True
        try:
            if wb.type == "readinessGates":
                self._store_gates(wb)
            elif not self._pod_condition(wb):
                return True  # refused (counted there)
        except ApiException as e:
            if e.status == 403:
                self._refuse_readiness(wb, "not-enabled", "forbidden: the readiness-webhook component is not installed")
                return True
            log.warning("write-back %s for %s failed (%s), will retry", wb.type, what, e.status)
            return False
        except Exception:  # one message's failure holds up none of the others
            log.exception("write-back %s for %s failed, will retry", wb.type, what)
            return False
        self.applied += 1
        return True

    def _pod_condition(self, wb: gates.ReadinessWriteBack) -> bool:
        """Set the condition on the pod as it is now; False when refused. A uid that
        changed between the read and the patch fails the patch's precondition (409):
        tried again, and then refused on the fresh read."""
        namespace, name = wb.pod.split("/", 1)
        try:
            pod: dict[str, Any] | None = self.kube.get(PODS, namespace, name)
        except ApiException as e:
            if e.status != 404:
                raise
            pod = None
        why = readiness.refusal(pod, wb, watched=lambda ns: not self.namespaces or ns in self.namespaces)
        if why is not None or pod is None or wb.condition is None:
            self._refuse_readiness(wb, why or "pod-gone", "judged against the pod as it is")
            return False
        now = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = readiness.status_patch(pod, wb.condition, now=now)
        if patch is not None:  # None: the pod shows it already (a duplicate)
            self.kube.patch(PODS, namespace, name, patch, status=True, strategic=True)
        return True

    def _store_gates(self, wb: gates.ReadinessWriteBack) -> None:
        """The group's key of the gates ConfigMap, replaced (the ConfigMap made when missing)."""
        patch = readiness.store(wb)
        try:
            self.kube.patch(CONFIGMAPS, self.gates_namespace, gates.GATES_CONFIGMAP, patch)
        except ApiException as e:
            if e.status != 404:
                raise
            data = {k: v for k, v in patch["data"].items() if v is not None}
            body = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": gates.GATES_CONFIGMAP, "namespace": self.gates_namespace},
                "data": data,
            }
            try:
                self.kube.create(CONFIGMAPS, self.gates_namespace, body)
            except ApiException as again:
                if again.status != 409:
                    raise
                # made meanwhile (another write-back): patched as it is
                self.kube.patch(CONFIGMAPS, self.gates_namespace, gates.GATES_CONFIGMAP, patch)

    def _refuse_readiness(self, wb: gates.ReadinessWriteBack, reason: str, detail: str) -> None:
        self.refused[reason] += 1
        what = wb.pod or f"namespace {wb.namespace}"
        log.warning("write-back %s for %s refused and dropped (%s): %s", wb.type, what, reason, detail)

    # --- Ingresses ----------------------------------------------------------------------

    def _event(self, namespace: str, name: str, wb: WriteBack, uid: str) -> None:
        self.ingress_event(namespace, name, uid=uid, event_type=wb.event_type, reason=wb.reason, message=wb.message)

    def ingress_event(self, namespace: str, name: str, *, uid: str, event_type: str, reason: str, message: str) -> None:
        """Record an Event on an Ingress: a write-back's, or the forwarder's own (a delivery failure)."""
        involved = {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1", "namespace": namespace, "name": name}
        self._record(namespace, name, involved, uid, event_type, reason, message)

    def _record(
        self,
        namespace: str,
        name: str,
        involved: Mapping[str, str],
        uid: str,
        event_type: str,
        reason: str,
        message: str,
    ) -> None:
        """Record an Event about the object of ``uid``; the same (type, reason, message)
        again bumps ``count`` on the existing Event, as the cluster's own event recorder
        aggregates repeats."""
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        digest = hashlib.sha256(f"{uid}\n{event_type}\n{reason}\n{message}".encode()).hexdigest()[:16]
        event_name = f"{name}.{digest}"
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": event_name, "namespace": namespace},
            "involvedObject": dict(involved) | ({"uid": uid} if uid else {}),
            "reason": reason,
            "message": message,
            "type": event_type,
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

    def _remove_finalizer(self, namespace: str, name: str, wb: WriteBack, live: Ingress) -> bool:
        """Drop ``wb.finalizer`` from ``live``, reading again on a conflict (and judging
        the message again); False when it was refused on such a read."""
        finalizer = wb.finalizer
        for attempt in range(5):
            if attempt:
                live = self.kube.get(INGRESSES, namespace, name)
                if (refusal := self.refusal(wb, live)) is not None:
                    self._refuse(wb, *refusal)
                    return False
            meta = mapping(live.get("metadata"))
            finalizers = list(meta.get("finalizers") or [])
            if finalizer not in finalizers:
                return True
            index = finalizers.index(finalizer)
            # the uid too: the object judged is the object patched, not one recreated since
            patch: list[dict[str, Any]] = [
                {"op": "test", "path": "/metadata/uid", "value": meta.get("uid")},
                {"op": "test", "path": f"/metadata/finalizers/{index}", "value": finalizer},
                {"op": "remove", "path": f"/metadata/finalizers/{index}"},
            ]
            try:
                self.kube.patch(INGRESSES, namespace, name, patch)
                return True
            except ApiException as e:
                if e.status not in (409, 422):
                    raise
        raise ApiException(status=409, reason=f"finalizer {finalizer} on {namespace}/{name} kept changing")
