"""The event contract between the in-cluster forwarder and the cloud side.

This package is all the forwarder shares with the core. Here, the wire format:

* object-change events (forwarder → EventBridge → ingest), one per Kubernetes object
  change, and the ``Resync`` event listing every live key (and the resourceVersion the
  forwarder last sent of each, so ingest can ask again for what it lost). A change too
  big for one EventBridge entry travels as a claim check: the full Detail in S3, the
  entry carrying an ``objectRef`` (:mod:`albatross.contract.claim`). A ``Secret``
  change carries only a reference to the forwarder's Secrets Manager copy, never the
  Secret's data (:mod:`albatross.contract.oidc`, ADR 0005);
* write-back messages (cloud side → SQS → forwarder): Ingress status, Events, finalizer
  removal, and ``resend`` (ingest's answer to a Resync: the objects whose stored
  snapshot is stale, to be read and sent again); a TargetGroupBinding's
  (:mod:`albatross.contract.bindings`) and pod readiness gates' (``podCondition``,
  ``readinessGates``: :mod:`albatross.contract.readiness`, :data:`OTHER_WRITEBACK_TYPES`)
  have parsers of their own, tried first.

Besides it, what both sides must decide alike: which Ingresses are ours, which
IngressGroup each joins and its finalizer (:mod:`albatross.contract.membership`, its
functions re-exported here under their old names), which objects an Ingress needs (the
Services it forwards to, the Secrets it names: :mod:`albatross.contract.needs`, whose
``services_of`` is re-exported here) and how a user's annotations are read
(:mod:`albatross.contract.reading`). Everything here is plain Python (no boto3, no
Kubernetes client) so both sides can import it. JSON schemas of the wire format live in
``events/schema/``; a contract test runs every stored event in ``events/`` through these
parsers and those schemas.

Versions: object-change and ``Resync`` details are ``schemaVersion`` 2 (1 plus claim
checks and the ``Secret`` kind; a ``Resync``'s ``versions`` are optional, so older
forwarders' Resyncs still parse); this build still reads 1, so archived and dead-lettered
events stay readable. Write-back messages are version 1; ``resend`` is a type added to
it, sent only to a forwarder whose Resyncs carry versions (an older one is never asked).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

# Re-exported: what the forwarder imports from here (it reads with these too), and the
# membership rules (albatross.contract.membership) under the names they always had here.
from albatross.contract.membership import CONTROLLER as CONTROLLER
from albatross.contract.membership import DEFAULT_CLASS_ANNOTATION as DEFAULT_CLASS_ANNOTATION
from albatross.contract.membership import EXPLICIT_FINALIZER_PREFIX as EXPLICIT_FINALIZER_PREFIX
from albatross.contract.membership import GROUP_NAME as GROUP_NAME
from albatross.contract.membership import GROUP_NAME_ANNOTATION as GROUP_NAME_ANNOTATION
from albatross.contract.membership import IMPLICIT_FINALIZER as IMPLICIT_FINALIZER
from albatross.contract.membership import LEGACY_CLASS_ANNOTATION as LEGACY_CLASS_ANNOTATION
from albatross.contract.membership import PARAMS_API_GROUP as PARAMS_API_GROUP
from albatross.contract.membership import ClassInfo as ClassInfo
from albatross.contract.membership import class_groups as class_groups
from albatross.contract.membership import class_info as class_info
from albatross.contract.membership import explicit_group as explicit_group
from albatross.contract.membership import finalizer_for as finalizer_for
from albatross.contract.membership import group_name_of as group_name_of
from albatross.contract.membership import ingress_is_ours as ingress_is_ours
from albatross.contract.membership import is_our_finalizer as is_our_finalizer
from albatross.contract.membership import params_group as params_group
from albatross.contract.membership import params_name as params_name
from albatross.contract.needs import services_of as services_of
from albatross.contract.readiness import PREFIX as GATE_PREFIX
from albatross.contract.reading import MAX_ANNOTATION_BYTES as MAX_ANNOTATION_BYTES
from albatross.contract.reading import annotation_json as annotation_json
from albatross.contract.reading import listed as listed
from albatross.contract.reading import mapping as mapping

SCHEMA_VERSION = "2"
# Details of version 1 carry no claim checks and no Secret kind; still read.
READABLE_VERSIONS = ("1", "2")
WRITEBACK_SCHEMA_VERSION = "1"
SOURCE = "albatross.k8s"
V1_KINDS = ("Ingress", "Service", "EndpointSlice", "IngressClass", "IngressClassParams", "Node", "Namespace")
# TargetGroupBinding: albatross.contract.bindings (ADR 0013); Pod: only pods gated on a
# target group, trimmed (:func:`trim_pod`, ADR 0014)
KINDS = (*V1_KINDS, "Secret", "TargetGroupBinding", "Pod")
RESYNC = "Resync"
ACTIONS = ("upsert", "delete")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# EventBridge rejects entries above 256 KB (the whole entry, not only Detail).
MAX_ENTRY_BYTES = 256 * 1024
# A resourceVersion the cloud side may compare: ASCII digits (str.isdigit() also takes
# "²", which int() refuses), at most 38 of them (DynamoDB's number precision).
_DECIMAL = re.compile(r"[0-9]{1,38}")


def is_decimal(value: object) -> bool:
    """Whether ``value`` is a resourceVersion ingest can compare and store."""
    return isinstance(value, str) and _DECIMAL.fullmatch(value) is not None


Action = Literal["upsert", "delete"]


class ContractError(ValueError):
    """An event or message does not follow the contract; it says which field and why."""


class ClaimError(ContractError):
    """A claim check cannot be redeemed: the S3 object is missing, unreadable, or not
    the detail its reference names (hash or fields differ)."""


@dataclass(frozen=True)
class ObjectChange:
    """One change of one Kubernetes object, as it travels in an event's ``Detail``."""

    cluster: str
    kind: str
    action: Action
    key: str
    resource_version: str
    object: Mapping[str, Any]
    schema_version: str = SCHEMA_VERSION

    def to_detail(self) -> dict[str, Any]:
        return {**_change_head(self), "object": dict(self.object)}


@dataclass(frozen=True)
class Resync:
    """Every live key of every forwarded kind, so snapshots of vanished objects can go."""

    cluster: str
    keys: Mapping[str, list[str]]
    schema_version: str = SCHEMA_VERSION
    # Per kind, the resourceVersion the forwarder's watch had reached when it read the
    # keys: a snapshot newer than that is not judged by this Resync (it was stored after
    # the keys were read, or this Resync arrived late). Absent = judge everything (v1).
    as_of: Mapping[str, str] | None = None
    # The namespaces the forwarder watches (WATCH_NAMESPACES); absent = all. Snapshots
    # of namespaced objects outside them are not the forwarder's to judge.
    namespaces: tuple[str, ...] | None = None
    # Per kind, key → the resourceVersion of what the forwarder last sent of it: a stored
    # snapshot older than that, a tombstone or none at all lost a change on its way, and
    # ingest asks for it again (a ``resend`` write-back). Absent (older forwarders): none.
    # On the wire, a list per kind in the order of its keys (half the bytes of a map).
    versions: Mapping[str, Mapping[str, str]] | None = None

    def to_detail(self) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "schemaVersion": self.schema_version,
            "cluster": self.cluster,
            "kind": RESYNC,
            "keys": {k: list(v) for k, v in self.keys.items()},
        }
        if self.as_of is not None:
            detail["asOf"] = dict(self.as_of)
        if self.namespaces is not None:
            detail["namespaces"] = list(self.namespaces)
        if self.versions is not None:
            detail["versions"] = {k: [self.versions[k][key] for key in self.keys[k]] for k in self.versions}
        return detail

    def judges(self, kind: str, key: str, rv: int) -> bool:
        """Whether this Resync may declare the stored snapshot ``kind``/``key`` at ``rv``
        gone when its key is not listed."""
        if kind not in self.keys:
            return False
        if self.namespaces is not None and "/" in key and key.split("/", 1)[0] not in self.namespaces:
            return False
        if self.as_of is None:
            return True
        mark = self.as_of.get(kind)
        return mark is not None and mark.isdigit() and rv <= int(mark)


def _change_head(change: ObjectChange | ObjectClaim) -> dict[str, Any]:
    """What a change's Detail says besides the object (inline or by reference)."""
    return {
        "schemaVersion": change.schema_version,
        "cluster": change.cluster,
        "kind": change.kind,
        "action": change.action,
        "key": change.key,
        "resourceVersion": change.resource_version,
    }


@dataclass(frozen=True)
class PayloadRef:
    """Where the full Detail of a claim-checked change is: an S3 object and the sha256
    (hex) of its bytes."""

    bucket: str
    key: str
    sha256: str

    def to_json(self) -> dict[str, str]:
        return {"bucket": self.bucket, "key": self.key, "sha256": self.sha256}


@dataclass(frozen=True)
class ObjectClaim:
    """A change whose Detail was too big for EventBridge: everything but ``object``, and
    where the full Detail is (see :func:`albatross.contract.claim.open_claim`)."""

    cluster: str
    kind: str
    action: Action
    key: str
    resource_version: str
    ref: PayloadRef
    schema_version: str = SCHEMA_VERSION

    def to_detail(self) -> dict[str, Any]:
        return {**_change_head(self), "objectRef": self.ref.to_json()}


@dataclass(frozen=True)
class ResyncClaim:
    """A ``Resync`` too big for EventBridge (a very large cluster): where it is."""

    cluster: str
    ref: PayloadRef
    schema_version: str = SCHEMA_VERSION

    def to_detail(self) -> dict[str, Any]:
        return {
            "schemaVersion": self.schema_version,
            "cluster": self.cluster,
            "kind": RESYNC,
            "objectRef": self.ref.to_json(),
        }


Claim = ObjectClaim | ResyncClaim


def object_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name`` for namespaced objects, ``name`` for cluster-scoped ones."""
    meta = mapping(obj.get("metadata"))
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise ContractError("object has no metadata.name")
    namespace = meta.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise ContractError("object's metadata.namespace is not a string")
    return f"{namespace}/{name}" if namespace else name


def trim(obj: Mapping[str, Any], kind: str | None = None) -> dict[str, Any]:
    """Drop what the cloud side never reads: managedFields and the last-applied copy; of a
    Node, everything but its name, labels, providerID, cordon, taints and readiness (so
    heartbeats are not changes)."""
    if kind == "Node":
        return _trim_node(obj)
    if kind == "Pod":
        return trim_pod(obj)
    out = dict(obj)
    meta = dict(mapping(out.get("metadata")))
    meta.pop("managedFields", None)
    annotations = dict(mapping(meta.get("annotations")))
    if LAST_APPLIED in annotations:
        del annotations[LAST_APPLIED]
        meta["annotations"] = annotations
    out["metadata"] = meta
    return out


def _trim_node(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta, spec, status = (mapping(obj.get(part)) for part in ("metadata", "spec", "status"))
    return {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": "Node",
        "metadata": {k: meta[k] for k in ("name", "uid", "resourceVersion", "labels") if k in meta},
        "spec": {k: spec[k] for k in ("providerID", "unschedulable", "taints") if k in spec},
        "status": {
            "conditions": [
                {"type": c.get("type"), "status": c.get("status")}
                for c in listed(status.get("conditions"))
                if isinstance(c, Mapping) and c.get("type") == "Ready"
            ]
        },
    }


def trim_pod(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A gated pod as the cloud side reads it (ADR 0014): its name, uid, addresses, node,
    readiness gates, ``ContainersReady``, its target-health conditions and whether it is
    being deleted. The kubelet's other status updates (restarts, probes) are not changes."""
    meta, spec, status = (mapping(obj.get(part)) for part in ("metadata", "spec", "status"))
    kept = ("name", "namespace", "uid", "resourceVersion", "deletionTimestamp")
    conditions = [
        {k: c[k] for k in ("type", "status", "reason", "message") if k in c}
        for c in (mapping(c) for c in listed(status.get("conditions")))
        if c.get("type") == "ContainersReady" or str(c.get("type", "")).startswith(GATE_PREFIX + "/")
    ]
    return {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": "Pod",
        "metadata": {k: meta[k] for k in kept if k in meta},
        "spec": {k: spec[k] for k in ("nodeName", "readinessGates") if k in spec},
        "status": {"podIPs": listed(status.get("podIPs")), "conditions": conditions},
    }


def _require_str(detail: Mapping[str, Any], name: str) -> str:
    value = detail.get(name)
    if not isinstance(value, str) or not value:
        raise ContractError(f"detail.{name} must be a non-empty string, got {value!r}")
    return value


def parse_detail(detail: Mapping[str, Any]) -> ObjectChange | Resync | Claim:
    """Validate an event ``Detail`` and return its typed form, or raise ContractError."""
    if not isinstance(detail, Mapping):
        raise ContractError("detail must be a JSON object")
    version = _require_str(detail, "schemaVersion")
    if version not in READABLE_VERSIONS:
        raise ContractError(
            f"unsupported schemaVersion {version!r} (this build reads {', '.join(map(repr, READABLE_VERSIONS))})"
        )
    kinds = KINDS if version != "1" else V1_KINDS
    cluster = _require_str(detail, "cluster")
    kind = _require_str(detail, "kind")
    if kind == RESYNC and "objectRef" in detail and version != "1":
        if "keys" in detail or "versions" in detail:
            raise ContractError("detail carries both keys (or versions) and objectRef")
        return ResyncClaim(cluster=cluster, ref=_payload_ref(detail.get("objectRef")), schema_version=version)
    if kind == RESYNC:
        keys = detail.get("keys")
        if not isinstance(keys, Mapping) or not all(
            k in kinds and isinstance(v, list) and all(isinstance(x, str) for x in v) for k, v in keys.items()
        ):
            raise ContractError("detail.keys must map each kind to a list of keys")
        as_of = detail.get("asOf")
        if as_of is not None and not (
            isinstance(as_of, Mapping) and all(k in kinds and is_decimal(v) for k, v in as_of.items())
        ):
            raise ContractError("detail.asOf must map kinds to decimal resourceVersions")
        namespaces = detail.get("namespaces")
        if namespaces is not None and not (
            isinstance(namespaces, list) and all(isinstance(n, str) and n for n in namespaces)
        ):
            raise ContractError("detail.namespaces must be a list of namespace names")
        return Resync(
            cluster=cluster,
            keys={k: list(v) for k, v in keys.items()},
            schema_version=version,
            as_of=dict(as_of) if as_of is not None else None,
            namespaces=tuple(namespaces) if namespaces is not None else None,
            versions=_resync_versions(detail.get("versions"), keys) if "versions" in detail else None,
        )
    if kind not in kinds:
        raise ContractError(f"detail.kind {kind!r} is not one of {', '.join(kinds)}")
    action = _require_str(detail, "action")
    if action not in ACTIONS:
        raise ContractError(f"detail.action {action!r} is not upsert or delete")
    key = _require_str(detail, "key")
    rv = _require_str(detail, "resourceVersion")
    if not is_decimal(rv):
        raise ContractError(f"detail.resourceVersion {rv[:50]!r} is not a decimal revision")
    typed: Action = "upsert" if action == "upsert" else "delete"
    if "objectRef" in detail and version != "1":
        if "object" in detail:
            raise ContractError("detail carries both object and objectRef")
        return ObjectClaim(
            cluster=cluster,
            kind=kind,
            action=typed,
            key=key,
            resource_version=rv,
            ref=_payload_ref(detail.get("objectRef")),
            schema_version=version,
        )
    obj = detail.get("object")
    if not isinstance(obj, Mapping):
        raise ContractError("detail.object must be a JSON object")
    if object_key(obj) != key:
        raise ContractError(f"detail.key {key!r} does not name detail.object ({object_key(obj)!r})")
    _check_object_shape(obj)
    if kind == "Secret":
        _check_secret_object(obj)
    return ObjectChange(
        cluster=cluster,
        kind=kind,
        action=typed,
        key=key,
        resource_version=rv,
        object=obj,
        schema_version=version,
    )


def _resync_versions(value: Any, keys: Mapping[str, list[str]]) -> dict[str, dict[str, str]]:
    """A Resync's ``versions``: per kind it lists, one decimal resourceVersion for each
    of its keys, in their order."""
    if not isinstance(value, Mapping):
        raise ContractError("detail.versions must map kinds to lists of resourceVersions")
    out: dict[str, dict[str, str]] = {}
    for kind, listed_versions in value.items():
        if kind not in keys:
            raise ContractError(f"detail.versions names {str(kind)[:50]!r}, a kind detail.keys does not list")
        if not isinstance(listed_versions, list) or len(listed_versions) != len(keys[kind]):
            raise ContractError(f"detail.versions.{kind} must list one resourceVersion for each of its keys")
        if not all(is_decimal(v) for v in listed_versions):
            raise ContractError(f"detail.versions.{kind} must hold decimal resourceVersions")
        out[kind] = dict(zip(keys[kind], listed_versions, strict=True))
    return out


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _check_object_shape(obj: Mapping[str, Any]) -> None:
    """What every API object has, in the shapes an API server gives them: readers on the
    cloud side may then take them as such (a crafted event is refused here, whole)."""
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        raise ContractError("detail.object.metadata must be a JSON object")
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is not None and not (
            isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            raise ContractError(f"detail.object.metadata.{field} must map strings to strings")
    for part in ("spec", "status"):
        if obj.get(part) is not None and not isinstance(obj.get(part), Mapping):
            raise ContractError(f"detail.object.{part} must be a JSON object")


def _payload_ref(value: Any) -> PayloadRef:
    if not isinstance(value, Mapping):
        raise ContractError("detail.objectRef must be a JSON object")
    bucket, key, digest = (_require_str(value, f) for f in ("bucket", "key", "sha256"))
    if not _SHA256.match(digest):
        raise ContractError(f"detail.objectRef.sha256 {digest!r} is not 64 lowercase hex digits")
    return PayloadRef(bucket=bucket, key=key, sha256=digest)


# What a Secret change may carry: names, its version, and where the forwarder's Secrets
# Manager copy is (or which of the two keys the Secret lacks). Anything else, its data
# above all, makes the event malformed.
SECRET_OBJECT_FIELDS = frozenset({"apiVersion", "kind", "metadata", "secretsManager", "missingKeys"})
SECRET_METADATA_FIELDS = frozenset({"name", "namespace", "resourceVersion"})
SECRET_KEYS = ("clientID", "clientSecret")


def _check_secret_object(obj: Mapping[str, Any]) -> None:
    extra = set(obj) - SECRET_OBJECT_FIELDS
    extra |= {f"metadata.{k}" for k in set(obj.get("metadata") or {}) - SECRET_METADATA_FIELDS}
    if extra:
        raise ContractError(f"a Secret change carries only a reference, not {', '.join(sorted(extra))}")
    ref = obj.get("secretsManager")
    if ref is not None and not (
        isinstance(ref, Mapping)
        and set(ref) == {"secretArn", "versionId"}
        and all(isinstance(v, str) and v for v in ref.values())
        and str(ref["secretArn"]).startswith("arn:")
    ):
        raise ContractError("detail.object.secretsManager must be {secretArn, versionId}")
    missing = obj.get("missingKeys")
    if missing is not None and (not isinstance(missing, list) or not set(missing) <= set(SECRET_KEYS)):
        raise ContractError(f"detail.object.missingKeys must list some of {', '.join(SECRET_KEYS)}")


def put_events_entry(*, bus_name: str, detail: Mapping[str, Any]) -> dict[str, str]:
    """The PutEvents entry for a Detail; DetailType is the kind (or ``Resync``)."""
    return {
        "EventBusName": bus_name,
        "Source": SOURCE,
        "DetailType": str(detail["kind"]),
        "Detail": json.dumps(detail, separators=(",", ":"), sort_keys=True),
    }


# The ownership tag (LBC's): the model tags ALB resources with it, the forwarder its
# Secrets Manager copies (albatross.model.names has the whole tag spec).
CLUSTER_TAG = "elbv2.k8s.aws/cluster"

# --- write-back: cloud side → forwarder -------------------------------------------------

WRITEBACK_TYPES = ("status", "event", "removeFinalizer", "resend")
# Parsed by their own modules (bindings, readiness), which a consumer asks first
OTHER_WRITEBACK_TYPES = ("bindingStatus", "bindingEvent", "podCondition", "readinessGates")
# A resend names at most this many objects (ingest splits longer lists): what one
# message can make the forwarder read from the API server is bounded.
RESEND_MAX_KEYS = 100
# A key as the forwarder makes them (``name``, or ``namespace/name``), no longer than an
# API server's names can make one.
_RESEND_KEY = re.compile(r"[^/]{1,253}(/[^/]{1,253})?")
# The reasons of the Events Albatross records on Ingresses: LBC's Ingress event reasons
# (pkg/k8s/events.go), so alerts written for LBC keep working, and Albatross's own
# DuplicateLoadBalancer (a load balancer tagged for the group's stack that Albatross did
# not make: left alone, for a human). The forwarder records no Event with another
# reason, whatever a write-back asks (tests/unit/test_writeback_rules.py holds every
# reason the cloud side writes to this list).
EVENT_REASONS = frozenset(
    {
        "ConflictingIngressClass",
        "FailedLoadGroupID",
        "FailedAddFinalizer",
        "FailedRemoveFinalizer",
        "FailedUpdateStatus",
        "FailedBuildModel",
        "FailedDeployModel",
        "SuccessfullyReconciled",
        "DuplicateLoadBalancer",
    }
)


@dataclass(frozen=True)
class WriteBack:
    """One instruction for the forwarder about one Ingress, or (``resend``) about objects
    it forwards.

    * ``status``: set ``status.loadBalancer.ingress`` to ``hostnames``;
    * ``event``: record a Kubernetes Event (``event_type`` Normal/Warning, ``reason``,
      ``message``);
    * ``removeFinalizer``: drop ``finalizer`` from the Ingress (its resources are gone);
    * ``resend``: read each object of ``objects`` (kind → keys, at most
      :data:`RESEND_MAX_KEYS` in all; ``ingress`` is empty) and send it again, changed or
      not, or its delete when it is gone: ingest's answer to a Resync whose versions say
      a change was lost on its way.
    """

    type: str
    cluster: str
    ingress: str
    # the Ingress's metadata.uid when the message was made: the forwarder applies it only
    # to that object, not to another of the same name (empty: not checked, as in older
    # messages)
    uid: str = ""
    hostnames: tuple[str, ...] = ()
    event_type: str = ""
    reason: str = ""
    message: str = ""
    finalizer: str = ""
    objects: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    schema_version: str = WRITEBACK_SCHEMA_VERSION

    def to_body(self) -> str:
        body: dict[str, Any] = {"schemaVersion": self.schema_version, "type": self.type, "cluster": self.cluster}
        if self.type != "resend":
            body["ingress"] = self.ingress
        if self.uid:
            body["uid"] = self.uid
        if self.type == "status":
            body["hostnames"] = list(self.hostnames)
        elif self.type == "event":
            body.update(eventType=self.event_type, reason=self.reason, message=self.message)
        elif self.type == "resend":
            body["objects"] = {kind: list(keys) for kind, keys in self.objects.items()}
        else:
            body["finalizer"] = self.finalizer
        return json.dumps(body, separators=(",", ":"), sort_keys=True)


def resend_messages(cluster: str, stale: Mapping[str, Iterable[str]]) -> list[WriteBack]:
    """``resend`` write-backs asking for every key of ``stale`` (kind → keys), each
    message naming at most :data:`RESEND_MAX_KEYS`."""
    flat = [(kind, key) for kind in sorted(stale) for key in sorted(set(stale[kind]))]
    out: list[WriteBack] = []
    for i in range(0, len(flat), RESEND_MAX_KEYS):
        objects: dict[str, list[str]] = {}
        for kind, key in flat[i : i + RESEND_MAX_KEYS]:
            objects.setdefault(kind, []).append(key)
        out.append(
            WriteBack(type="resend", cluster=cluster, ingress="", objects={k: tuple(v) for k, v in objects.items()})
        )
    return out


def parse_writeback(body: str) -> WriteBack:
    """Parse and validate a write-back message body, or raise ContractError."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as e:  # not JSON, or nested past the parser's depth
        raise ContractError(f"write-back body is not JSON: {str(e)[:200]}") from e
    if not isinstance(data, dict):
        raise ContractError("write-back body must be a JSON object")
    if data.get("schemaVersion") != WRITEBACK_SCHEMA_VERSION:
        raise ContractError(f"unsupported write-back schemaVersion {data.get('schemaVersion')!r}")
    kind = _require_str(data, "type")
    if kind not in WRITEBACK_TYPES:
        raise ContractError(f"write-back type {kind[:50]!r} is not one of {', '.join(WRITEBACK_TYPES)}")
    if kind == "resend":
        return WriteBack(
            type=kind, cluster=_require_str(data, "cluster"), ingress="", objects=_resend_objects(data.get("objects"))
        )
    ingress = _require_str(data, "ingress")
    if ingress.count("/") != 1:
        raise ContractError(f"write-back ingress {ingress!r} is not namespace/name")
    cluster, uid = _require_str(data, "cluster"), str(data.get("uid", ""))
    if kind == "status":
        hostnames = data.get("hostnames")
        if not isinstance(hostnames, list) or not all(isinstance(h, str) for h in hostnames):
            raise ContractError("write-back hostnames must be a list of strings")
        return WriteBack(type=kind, cluster=cluster, ingress=ingress, uid=uid, hostnames=tuple(hostnames))
    if kind == "event":
        event_type = _require_str(data, "eventType")
        if event_type not in ("Normal", "Warning"):
            raise ContractError(f"write-back eventType {event_type!r} is not Normal or Warning")
        return WriteBack(
            type=kind,
            event_type=event_type,
            reason=_require_str(data, "reason"),
            message=_require_str(data, "message"),
            cluster=cluster,
            ingress=ingress,
            uid=uid,
        )
    return WriteBack(type=kind, cluster=cluster, ingress=ingress, uid=uid, finalizer=_require_str(data, "finalizer"))


def _resend_objects(value: Any) -> dict[str, tuple[str, ...]]:
    """A resend's ``objects``: kind → keys, at most :data:`RESEND_MAX_KEYS` keys in all.
    A kind this build does not know is kept (the forwarder drops and counts it: a newer
    ingest may ask for a kind an older forwarder does not forward)."""
    if not isinstance(value, Mapping) or not value:
        raise ContractError("write-back objects must map kinds to lists of keys")
    out: dict[str, tuple[str, ...]] = {}
    count = 0
    for kind, keys in value.items():
        if not isinstance(kind, str) or not 0 < len(kind) <= 63:
            raise ContractError("write-back objects must be keyed by kind names")
        if not isinstance(keys, list):
            raise ContractError(f"write-back objects.{kind} must be a list of keys")
        count += len(keys)
        if count > RESEND_MAX_KEYS:
            raise ContractError(f"write-back objects name more than {RESEND_MAX_KEYS} keys")
        if not all(isinstance(k, str) and _RESEND_KEY.fullmatch(k) for k in keys):
            raise ContractError(f"write-back objects.{kind} must hold keys: name or namespace/name")
        out[kind] = tuple(keys)
    return out
