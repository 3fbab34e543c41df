"""Pod readiness gates, the forwarder's part (docs/adr/0014-pod-readiness-gates.md): the
admission webhook's answer, the gates it reads, and the judged patch of a pod's status.

Pure: no API call, no socket. The server that answers ``POST /mutate-v1-pod``, the watch
of the gates ConfigMap and the write-back consumer call these.

* :func:`admit`: the AdmissionReview answer for a pod's creation. It is always allowed,
  and gets LBC's gates: one per gated Service of its namespace that selects it. Legacy
  ``target-health.alb.ingress.k8s.aws`` gates are removed when any are added, as LBC
  does. A pod that needs nothing gets no patch.
* :func:`stored` / :func:`store`: the gates ConfigMap
  (:data:`albatross.contract.readiness.GATES_CONFIGMAP`, a key per namespace and
  IngressGroup) as the webhook reads it (a namespace's keys together), and the merge
  patch a ``readinessGates`` write-back makes of it.
* :func:`refusal`: whether a ``podCondition`` write-back is one Albatross could have
  asked, judged against the pod as it is: the same uid, a namespace the forwarder
  watches, a pod gated on that very condition type.
* :func:`status_patch`: the strategic merge patch of ``pods/status`` that sets the
  condition. ``conditions`` merge by ``type``, so the kubelet's are untouched; a JSON
  merge patch would replace the list. The uid is a precondition, and
  ``lastTransitionTime`` moves only with the status. An empty reason or message is sent
  as null, so the old one goes (LBC's patch does the same). None when the pod shows the
  condition already.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

from albatross.contract import mapping
from albatross.contract.readiness import (
    LEGACY_PREFIX,
    PodCondition,
    ReadinessWriteBack,
    ServiceGates,
    differs,
    gates_key,
    gates_of,
    namespace_of_key,
)
from albatross.contract.reading import listed

# Why a podCondition write-back is dropped (counted per reason, as the other refusals)
REFUSALS = ("pod-gone", "uid-mismatch", "not-managed", "not-gated")
Gated = Mapping[str, ServiceGates]  # a namespace's gated Services, by name


def wanted(labels: Mapping[str, Any], services: Gated) -> list[str]:
    """The condition types a pod with ``labels`` is to be gated on."""
    return sorted({t for g in services.values() if g.selects(labels) for t in g.gates})


def admit(review: Mapping[str, Any], gated: Callable[[str], Gated]) -> dict[str, Any]:
    """The AdmissionReview (``admission.k8s.io/v1``) answer to ``review``. ``gated(ns)``:
    that namespace's gated Services. The namespace is the request's: a pod being made
    may not name its own yet (kubernetes/kubernetes#88282)."""
    request = mapping(review.get("request"))
    response: dict[str, Any] = {"uid": request.get("uid", ""), "allowed": True}
    pod = mapping(request.get("object"))
    creating = request.get("operation") == "CREATE" and mapping(request.get("resource")).get("resource") == "pods"
    types = wanted(mapping(mapping(pod.get("metadata")).get("labels")), gated(str(request.get("namespace", ""))))
    if creating and types:
        gates = [mapping(g) for g in listed(mapping(pod.get("spec")).get("readinessGates"))]
        kept = [g for g in gates if not str(g.get("conditionType", "")).startswith(LEGACY_PREFIX + "/")]
        have = {g.get("conditionType") for g in kept}
        after = kept + [{"conditionType": t} for t in types if t not in have]
        if after != gates:
            patch = [{"op": "add", "path": "/spec/readinessGates", "value": after}]
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(patch, separators=(",", ":")).encode()).decode()
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


def stored(configmap: Mapping[str, Any]) -> Mapping[str, Gated]:
    """The gates ConfigMap as namespace → gated Services, every group's together (a
    Service two groups gate has both groups' gates). A key that does not parse is left
    out: its pods get none of that group's gates, the state before the feature."""
    out: dict[str, dict[str, ServiceGates]] = {}
    for key, text in sorted(mapping(configmap.get("data")).items()):
        try:
            services = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            continue
        parsed = out.setdefault(namespace_of_key(key), {})
        for name, entry in mapping(services).items():
            selector, gates = mapping(mapping(entry).get("selector")), listed(mapping(entry).get("gates"))
            had = parsed.get(name)
            types = tuple(sorted({str(t) for t in gates} | set(had.gates if had else ())))
            parsed[name] = ServiceGates({str(k): str(v) for k, v in selector.items()}, types)
    return out


def store(wb: ReadinessWriteBack) -> dict[str, Any]:
    """The merge patch of the gates ConfigMap that a ``readinessGates`` write-back makes:
    its group's key in its namespace replaced, or removed when it gates no Service there."""
    value = None
    if wb.services:
        value = json.dumps(
            {name: {"selector": dict(g.selector), "gates": list(g.gates)} for name, g in wb.services.items()},
            separators=(",", ":"),
            sort_keys=True,
        )
    return {"data": {gates_key(wb.namespace, wb.group): value}}


def refusal(pod: Mapping[str, Any] | None, wb: ReadinessWriteBack, *, watched: Callable[[str], bool]) -> str | None:
    """Why a ``podCondition`` write-back is not applied to ``pod`` (as read now; None:
    gone), or None when it may be."""
    if pod is None:
        return "pod-gone"
    meta = mapping(pod.get("metadata"))
    if wb.uid and meta.get("uid") != wb.uid:
        return "uid-mismatch"
    if not watched(str(meta.get("namespace", ""))):
        return "not-managed"
    if wb.condition is None or wb.condition.type not in gates_of(pod):
        return "not-gated"
    return None


def status_patch(pod: Mapping[str, Any], condition: PodCondition, *, now: str) -> dict[str, Any] | None:
    """The strategic merge patch of ``pods/status`` that sets ``condition`` (``now``: an
    RFC 3339 time), or None when the pod shows it already."""
    if not differs(pod, condition):
        return None
    before = next(
        (
            mapping(c)
            for c in listed(mapping(pod.get("status")).get("conditions"))
            if mapping(c).get("type") == condition.type
        ),
        None,
    )
    moved = before is None or before.get("status") != condition.status
    entry = {
        "type": condition.type,
        "status": condition.status,
        "reason": condition.reason or None,
        "message": condition.message or None,
        "lastTransitionTime": now if moved or before is None else before.get("lastTransitionTime", now),
    }
    return {"metadata": {"uid": mapping(pod.get("metadata")).get("uid")}, "status": {"conditions": [entry]}}
